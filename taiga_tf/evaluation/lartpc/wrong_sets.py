"""Deliberately wrong "generated" LArTPC sets built from held-out MC (the calibration of
the report, taiga_tf.evaluation.calibration), per class (track or shower):

  mc              the MC itself: the null, what "as good as the MC" scores
  other_particle  the other class's MC labelled as this one (showers as tracks)
  charge_x1.3     every pixel value scaled by 1.3 (clipped at 255): a miscalibrated charge
  blurred         each image convolved with a Gaussian of 1 px: tracks too wide, charge spread
  hot_pixels      the MC with 1 % of its pixels lit at random (uniform 5-60): detector noise
  noise           Gaussian noise with the MC's per-pixel mean and std (post-processed as a
                  generator's output: clipped to 0-255, values at or below 4 set to 0)
  memorised       MC training images: what the memorisation check must catch

Images are on the 0-255 scale of the `image` feature (float32).
"""
from __future__ import annotations

import numpy as np

WRONG_SETS = ('mc', 'other_particle', 'charge_x1.3', 'blurred', 'hot_pixels', 'noise',
              'memorised')
# a measure is evidence when it sees both REQUIRED sets; the memorisation check is made to
# see copies of training images, not bad images
REQUIRED_BY_MEASURE = {'nn_memorised_fraction': ('memorised',)}
ZERO_AT = 4.0          # the reference's post-processing: values at or below 4 are 0


def _blur(images: np.ndarray, sigma: float = 1.0) -> np.ndarray:
  r = int(np.ceil(3 * sigma))
  k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
  k /= k.sum()
  out = images.astype(np.float64)
  for axis in (1, 2):
    pad = [(0, 0)] * 3
    pad[axis] = (r, r)
    p = np.pad(out, pad)
    out = sum(w * np.take(p, np.arange(i, i + images.shape[axis]), axis=axis)
              for i, w in enumerate(k))
  return out


def _post(images: np.ndarray) -> np.ndarray:
  out = np.clip(images, 0.0, 255.0)
  out[out <= ZERO_AT] = 0.0
  return out.astype(np.float32)


def wrong_set(name: str, mc: np.ndarray, other: np.ndarray, train: np.ndarray,
              seed: int = 0) -> np.ndarray:
  """Images of wrong set `name` from the class's held-out MC images `mc` [N, H, W], the
  other class's `other` and the class's training images `train`."""
  rng = np.random.default_rng([seed, WRONG_SETS.index(name) if name in WRONG_SETS else 99])
  if name == 'mc':
    return mc.astype(np.float32)
  if name == 'other_particle':
    return other[: len(mc)].astype(np.float32)
  if name == 'charge_x1.3':
    return _post(mc * 1.3)
  if name == 'blurred':
    return _post(_blur(mc, 1.0))
  if name == 'hot_pixels':
    hot = rng.random(mc.shape) < 0.01
    return _post(np.where(hot & (mc == 0), rng.uniform(5, 60, mc.shape), mc))
  if name == 'noise':
    mean, std = mc.mean(0), mc.std(0)
    return _post(mean + std * rng.standard_normal(mc.shape))
  if name == 'memorised':
    return train[: len(mc)].astype(np.float32)
  raise ValueError(f'unknown wrong set {name!r}: one of {", ".join(WRONG_SETS)}')
