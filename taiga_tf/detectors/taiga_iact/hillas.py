"""Tail-cut cleaning and Hillas parameters on the hexagonal camera (numpy).

Vectorised over a batch of images given as per-pixel vectors (N, n_pixels).
Cleaning follows the usual two-threshold rule (ctapipe's `tailcuts_clean` with
keep_isolated_pixels=False): a pixel survives if it is >= picture and has a
neighbour >= boundary, or it is >= boundary and has a neighbour >= picture.
Moments follow ctapipe's `hillas_parameters` (weights = cleaned amplitudes,
population covariance). Lengths are returned in degrees (cm * DEG_PER_CM), as in
the chain's Hillas tables.
"""
from __future__ import annotations

import numpy as np

from taiga_tf.detectors.taiga_iact.camera import DEG_PER_CM, Camera

HILLAS_FIELDS = ('size', 'n_pixels', 'cog_x', 'cog_y', 'length', 'width', 'psi',
                 'dist', 'alpha', 'miss', 'con2', 'skewness', 'kurtosis')


def neighbour_table(camera: Camera) -> np.ndarray:
  """(n_pixels, 6) neighbour indices, padded with n_pixels (a zero dummy)."""
  table = np.full((camera.n_pixels, 6), camera.n_pixels, dtype=np.int64)
  for i, nb in enumerate(camera.neighbor_lists()):
    table[i, :len(nb)] = nb
  return table


def _any_neighbour(flags: np.ndarray, table: np.ndarray) -> np.ndarray:
  padded = np.concatenate([flags, np.zeros(flags.shape[:-1] + (1,), bool)], axis=-1)
  return padded[..., table].any(axis=-1)


def tailcuts_clean(camera: Camera, images, picture=14.0, boundary=7.0,
                   table=None) -> np.ndarray:
  """Boolean mask (N, n_pixels) of pixels surviving two-threshold cleaning."""
  images = np.asarray(images)
  table = neighbour_table(camera) if table is None else table
  pic = images >= picture
  bnd = images >= boundary
  return (bnd & _any_neighbour(pic, table)) | (pic & _any_neighbour(bnd, table))


def islands(mask: np.ndarray, table: np.ndarray) -> np.ndarray:
  """Connected-component labels (N, n_pixels): -1 off mask, else min pixel index."""
  n = mask.shape[-1]
  big = np.int64(n + 1)
  labels = np.where(mask, np.arange(n), big)
  while True:
    padded = np.concatenate([labels, np.full(labels.shape[:-1] + (1,), big)], axis=-1)
    new = np.where(mask, np.minimum(labels, padded[..., table].min(axis=-1)), big)
    if np.array_equal(new, labels):
      break
    labels = new
  return np.where(mask, labels, -1)


def brightest_island(images, mask, table) -> np.ndarray:
  """Keeps only the island with the largest summed amplitude."""
  labels = islands(mask, table)
  n = mask.shape[-1]
  out = np.zeros_like(mask)
  for k in range(mask.shape[0]):
    if not mask[k].any():
      continue
    sums = np.bincount(labels[k][mask[k]], weights=images[k][mask[k]], minlength=n)
    out[k] = labels[k] == np.argmax(sums)
  return out


def count_islands(mask, table) -> np.ndarray:
  labels = islands(mask, table)
  return np.array([len(np.unique(l[l >= 0])) for l in labels], dtype=np.int32)


def hillas_parameters(camera: Camera, images, mask=None, source_xy_cm=(0.0, 0.0)):
  """Hillas parameters of a batch of images.

  Args:
    camera: the camera geometry.
    images (array_like): (N, n_pixels) amplitudes in photoelectrons.
    mask (array_like): (N, n_pixels) pixels to use (default: all positive pixels).
    source_xy_cm (array_like): source position in the camera, (2,) or (N, 2), cm.
  Returns:
    dict of (N,) arrays, HILLAS_FIELDS; lengths in degrees, angles in degrees.
    Images with fewer than 2 pixels (or zero size) give NaN moments.
  """
  images = np.asarray(images, dtype=np.float64)
  single = images.ndim == 1
  images = np.atleast_2d(images)
  if mask is None:
    mask = images > 0
  w = np.where(mask, images, 0.0)
  size = w.sum(-1)
  npix = mask.sum(-1)
  x = camera.x * DEG_PER_CM
  y = camera.y * DEG_PER_CM
  with np.errstate(invalid='ignore', divide='ignore'):
    cx = (w * x).sum(-1) / size
    cy = (w * y).sum(-1) / size
    dx, dy = x - cx[:, None], y - cy[:, None]
    sxx = (w * dx * dx).sum(-1) / size
    syy = (w * dy * dy).sum(-1) / size
    sxy = (w * dx * dy).sum(-1) / size
    # eigen-decomposition of the 2x2 covariance, closed form
    tr, det_term = sxx + syy, np.sqrt(((sxx - syy) / 2) ** 2 + sxy ** 2)
    lam1, lam2 = tr / 2 + det_term, tr / 2 - det_term
    # major-axis direction in (-90, 90] deg, as ctapipe (fixes the sign of skewness)
    psi = np.where((sxy == 0) & (sxx >= syy), 0.0,
                   np.where((sxy == 0), np.pi / 2, np.arctan((lam1 - sxx) / sxy)))
    length = np.sqrt(np.maximum(lam1, 0))
    width = np.sqrt(np.maximum(lam2, 0))
    long = dx * np.cos(psi)[:, None] + dy * np.sin(psi)[:, None]
    m3 = (w * long ** 3).sum(-1) / size
    m4 = (w * long ** 4).sum(-1) / size
    skew = m3 / length ** 3
    kurt = m4 / length ** 4
    src = np.broadcast_to(np.asarray(source_xy_cm, dtype=np.float64) * DEG_PER_CM,
                          (images.shape[0], 2))
    ox, oy = cx - src[:, 0], cy - src[:, 1]
    dist = np.hypot(ox, oy)
    # alpha: angle between the major axis and the line source -> centroid
    cos_a = np.abs(ox * np.cos(psi) + oy * np.sin(psi)) / dist
    alpha = np.degrees(np.arccos(np.clip(cos_a, 0, 1)))
    miss = np.abs(-ox * np.sin(psi) + oy * np.cos(psi))
    top2 = np.sort(w, axis=-1)[:, -2:].sum(-1)
    con2 = top2 / size
  bad = (npix < 2) | (size <= 0)
  out = {'size': size, 'n_pixels': npix.astype(np.int32), 'cog_x': cx, 'cog_y': cy,
         'length': length, 'width': width, 'psi': np.degrees(psi), 'dist': dist,
         'alpha': alpha, 'miss': miss, 'con2': con2, 'skewness': skew, 'kurtosis': kurt}
  for k in HILLAS_FIELDS:
    if k not in ('size', 'n_pixels'):
      out[k] = np.where(bad, np.nan, out[k])
  if single:
    out = {k: v[0] for k, v in out.items()}
  return out


def clean_and_parametrize(camera: Camera, images, picture=14.0, boundary=7.0,
                          brightest_only=True, source_xy_cm=(0.0, 0.0), table=None):
  """Cleaning (optionally brightest island) then Hillas parameters."""
  images = np.atleast_2d(np.asarray(images, dtype=np.float64))
  table = neighbour_table(camera) if table is None else table
  mask = tailcuts_clean(camera, images, picture, boundary, table)
  if brightest_only:
    mask = brightest_island(images, mask, table)
  return hillas_parameters(camera, images, mask, source_xy_cm), mask
