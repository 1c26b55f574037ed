"""Deliberately wrong "generated" TAIGA-IACT sets built from held-out MC (the calibration
of the report, taiga_tf.evaluation.calibration):

  mc              the MC itself: the null, what "as good as the MC" scores
  energy_shift    images of energy bin e labelled as bin e + 1
  random_class    the class labels shuffled (the images' mix is the MC's)
  other_particle  the other particle's MC (protons for a gamma report) labelled as this one
  amplitude_x1.2  every pixel amplitude scaled by 1.2
  rotated_30deg   images rotated by 30 degrees about the camera centre (nearest pixel)
  noise           Gaussian noise with the MC's per-pixel mean and std, no shower
"""
from __future__ import annotations

import numpy as np

from taiga_tf.detectors.taiga_iact.camera import Camera

WRONG_SETS = ('mc', 'energy_shift', 'random_class', 'other_particle', 'amplitude_x1.2',
              'rotated_30deg', 'noise')
REQUIRED = ('noise', 'other_particle')     # a measure blind to either is not evidence
DERIVED = ('features', 'x')                 # per-image columns computed from 'image'


def _relabel(cols, energy_bin, distance_bin, n_distance_bins):
  out = dict(cols)
  out['energy_bin'] = energy_bin.astype(np.int64)
  out['distance_bin'] = distance_bin.astype(np.int64)
  out['class_id'] = (energy_bin * n_distance_bins + distance_bin).astype(np.int64)
  return out


def _images_only(cols):
  return {k: v for k, v in cols.items() if k not in DERIVED}


def rotation_map(camera: Camera, angle_deg: float) -> np.ndarray:
  """For each pixel, the pixel nearest to where a rotation by angle_deg brings it from."""
  a = np.radians(angle_deg)
  x, y = camera.x, camera.y
  xs, ys = np.cos(a) * x + np.sin(a) * y, -np.sin(a) * x + np.cos(a) * y   # R(-a) (x, y)
  d2 = (xs[:, None] - x[None]) ** 2 + (ys[:, None] - y[None]) ** 2
  return d2.argmin(1)


def wrong_set(name: str, cols: dict, other: dict, camera: Camera, n_energy_bins: int,
              n_distance_bins: int, particle_id: int, seed: int = 0) -> dict:
  """One wrong set from MC columns (image (N, S, S), class_id, energy_bin, distance_bin).

  other: MC columns of the other particle (used by 'other_particle'). Columns
  derived from the images (DERIVED) follow the events they belong to, and are
  dropped where the images change.
  """
  rng = np.random.default_rng(seed)
  e, d = cols['energy_bin'], cols['distance_bin']
  if name == 'mc':
    out = dict(cols)
  elif name == 'energy_shift':
    keep = e < n_energy_bins - 1
    out = _relabel({k: v[keep] for k, v in cols.items()}, e[keep] + 1, d[keep], n_distance_bins)
  elif name == 'random_class':
    perm = rng.permutation(len(e))
    out = _relabel(cols, e[perm], d[perm], n_distance_bins)
  elif name == 'other_particle':
    out = dict(other)
  elif name == 'amplitude_x1.2':
    out = dict(_images_only(cols), image=cols['image'] * np.float32(1.2))
  elif name == 'rotated_30deg':
    vec = camera.to_vector(cols['image'])[:, rotation_map(camera, 30.0)]
    out = dict(_images_only(cols), image=camera.to_square(vec).astype(cols['image'].dtype))
  elif name == 'noise':
    vec = camera.to_vector(cols['image']).astype(np.float64)
    noise = rng.normal(vec.mean(0), vec.std(0), vec.shape)
    out = dict(_images_only(cols), image=camera.to_square(noise).astype(np.float32))
  else:
    raise ValueError(f'unknown wrong set {name!r}; known: {", ".join(WRONG_SETS)}')
  out['particle'] = np.full(len(out['class_id']), particle_id, np.int64)
  return out
