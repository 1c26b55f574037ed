"""Leakage and concentration of cleaned camera images (numpy), ctapipe's definitions.

Vectorised over a batch of per-pixel images (N, n_pixels) with their cleaning
masks and Hillas parameters (taiga_tf.detectors.taiga_iact.hillas), as ctapipe's
`leakage_parameters(geom, image, mask)` and
`concentration_parameters(geom[mask], image[mask], hillas)`:
- leakage: fraction of the cleaned pixels (`leakage_pixels_k`) and of the cleaned
  intensity (`leakage_intensity_k`) in the outer k = 1, 2 pixel rings of the
  camera (ring 1: pixels with fewer neighbours than the most; ring 2: pixels
  with a neighbour in ring 1);
- concentration: fraction of the size in the cleaned pixels within one pixel
  width (the pitch) of the centre of gravity (`conc_cog`), inside the Hillas
  ellipse (`conc_core`), and in the brightest cleaned pixel (`conc_pixel`).
Images with no cleaned pixel give NaN.
"""
from __future__ import annotations

import numpy as np

from taiga_tf.detectors.taiga_iact.camera import DEG_PER_CM, Camera

FEATURE_FIELDS = ('leakage_pixels_1', 'leakage_pixels_2', 'leakage_intensity_1',
                  'leakage_intensity_2', 'conc_cog', 'conc_core', 'conc_pixel')


def border_masks(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
  """Outer pixel rings of widths 1 and 2 (ctapipe's get_border_pixel_mask)."""
  n_nb = np.array([len(nb) for nb in camera.neighbor_lists()])
  ring1 = n_nb < n_nb.max()
  ring2 = np.zeros_like(ring1)
  for i, nb in enumerate(camera.neighbor_lists()):
    ring2[i] = ring1[nb].any()
  return ring1, ring2


def leakage(camera: Camera, images, mask) -> dict:
  images = np.atleast_2d(np.asarray(images, np.float64))
  mask = np.atleast_2d(np.asarray(mask, bool))
  n_pix, size = mask.sum(-1), np.where(mask, images, 0.0).sum(-1)
  out = {}
  with np.errstate(invalid='ignore', divide='ignore'):
    for k, ring in zip((1, 2), border_masks(camera)):
      m = mask & ring
      out[f'leakage_pixels_{k}'] = np.where(n_pix > 0, m.sum(-1) / n_pix, np.nan)
      out[f'leakage_intensity_{k}'] = np.where(n_pix > 0, np.where(m, images, 0.0).sum(-1) / size,
                                               np.nan)
  return out


def concentration(camera: Camera, images, mask, hillas: dict) -> dict:
  """hillas: hillas.hillas_parameters of the same images and masks (degrees)."""
  images = np.atleast_2d(np.asarray(images, np.float64))
  mask = np.atleast_2d(np.asarray(mask, bool))
  w = np.where(mask, images, 0.0)
  size = w.sum(-1)
  x, y = camera.x * DEG_PER_CM, camera.y * DEG_PER_CM
  width_deg = camera.pitch * DEG_PER_CM
  cx, cy = np.asarray(hillas['cog_x'])[:, None], np.asarray(hillas['cog_y'])[:, None]
  dx, dy = x - cx, y - cy
  psi = np.radians(np.asarray(hillas['psi']))[:, None]
  length, width = np.asarray(hillas['length'])[:, None], np.asarray(hillas['width'])[:, None]
  with np.errstate(invalid='ignore', divide='ignore'):
    cog = np.where(dx ** 2 + dy ** 2 < width_deg ** 2, w, 0.0).sum(-1) / size
    longi = dx * np.cos(psi) + dy * np.sin(psi)
    trans = -dx * np.sin(psi) + dy * np.cos(psi)
    inside = longi ** 2 / length ** 2 + trans ** 2 / width ** 2 <= 1.0
    core = np.where(width[:, 0] != 0, np.where(inside, w, 0.0).sum(-1) / size, 0.0)
    pixel = np.where(mask, images, -np.inf).max(-1) / size
  bad = (mask.sum(-1) == 0) | ~np.isfinite(np.asarray(hillas['cog_x']))
  return {'conc_cog': np.where(bad, np.nan, cog), 'conc_core': np.where(bad, np.nan, core),
          'conc_pixel': np.where(bad, np.nan, pixel)}


def image_features(camera: Camera, images, mask, hillas: dict) -> dict:
  """Leakage and concentration, FEATURE_FIELDS -> (N,) arrays."""
  return {**leakage(camera, images, mask), **concentration(camera, images, mask, hillas)}
