"""The reversible image transforms between a detector's unit and network space.

Asinh (TAIGA-IACT photoelectrons):
    forward(pe) = asinh(pe / scale) / norm        inverse(x) = scale * sinh(x * norm)

asinh is linear around 0 (the +-NSB noise, which can be negative) and
logarithmic for bright pixels (a shower spans 1-10^4 pe), and it is defined and
invertible for every real number. Training, sampling and export all read the
transform from `Preprocessing` (stored in the workdir's config and inside the
SavedModel), so a model is never paired with the wrong inverse.

Linear (LArTPC crops on the reference's 0-255 scale, as the reference work did):
    forward(v) = 2 (v - low) / (high - low) - 1   inverse(x): clipped to [low, high],
    then values at or below `zero_at_or_below` set to 0 (the reference's post-processing).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  scale: float = 4.0      # pe; ~ the NSB sigma: the linear part of asinh
  norm: float = 7.0       # asinh(4000 pe / 4) ~ 7.6: bright pixels end near 1

  def forward(self, pe):
    """Photoelectrons -> network space (tf, works inside tf.data and tf.function)."""
    pe = tf.cast(tf.convert_to_tensor(pe), tf.float32)
    return tf.math.asinh(pe / self.scale) / self.norm

  def inverse(self, x):
    """Network space -> photoelectrons."""
    x = tf.convert_to_tensor(x, tf.float32)
    return self.scale * tf.math.sinh(x * self.norm)

  def to_dict(self) -> dict:
    return {'kind': 'asinh', 'scale': self.scale, 'norm': self.norm}

  def constants(self) -> dict:
    """What a SavedModel's metadata() reports of the transform."""
    return {'preprocessing_kind': 'asinh', 'preprocessing_scale': np.float32(self.scale),
            'preprocessing_norm': np.float32(self.norm)}

  @classmethod
  def from_dict(cls, d: dict) -> 'Preprocessing':
    return from_dict(d)


@dataclasses.dataclass(frozen=True)
class Linear:
  low: float = 0.0
  high: float = 255.0
  zero_at_or_below: float = 4.0

  def forward(self, v):
    v = tf.cast(tf.convert_to_tensor(v), tf.float32)
    return 2.0 * (v - self.low) / (self.high - self.low) - 1.0

  def inverse(self, x):
    x = tf.convert_to_tensor(x, tf.float32)
    v = tf.clip_by_value(self.low + (x + 1.0) * 0.5 * (self.high - self.low), self.low, self.high)
    return tf.where(v <= self.zero_at_or_below, tf.zeros_like(v), v)

  def to_dict(self) -> dict:
    return {'kind': 'linear', 'low': self.low, 'high': self.high,
            'zero_at_or_below': self.zero_at_or_below}

  def constants(self) -> dict:
    return {'preprocessing_kind': 'linear', 'preprocessing_low': np.float32(self.low),
            'preprocessing_high': np.float32(self.high),
            'preprocessing_zero_at_or_below': np.float32(self.zero_at_or_below)}


def from_dict(d: dict):
  """The transform a stored dict describes (stored before 'kind' existed: asinh)."""
  kind = d.get('kind', 'asinh')
  if kind == 'asinh':
    return Preprocessing(scale=float(d['scale']), norm=float(d['norm']))
  if kind == 'linear':
    return Linear(float(d['low']), float(d['high']), float(d['zero_at_or_below']))
  raise ValueError(f'unknown preprocessing {d!r}: kind must be asinh or linear')
