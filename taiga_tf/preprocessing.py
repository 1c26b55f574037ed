"""The reversible image transform between photoelectrons and network space.

    forward(pe) = asinh(pe / scale) / norm        inverse(x) = scale * sinh(x * norm)

asinh is linear around 0 (the +-NSB noise, which can be negative) and
logarithmic for bright pixels (a shower spans 1-10^4 pe), and it is defined and
invertible for every real number. Training, sampling and export all read the
transform from `Preprocessing` (stored in the workdir's config and inside the
SavedModel), so a model is never paired with the wrong inverse.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  scale: float = 4.0      # pe; ~ the NSB sigma: the linear part of asinh
  norm: float = 7.0       # asinh(4000 pe / 4) ~ 7.6: bright pixels end near 1

  def forward(self, pe):
    """Photoelectrons -> network space (tf, works inside tf.data and tf.function)."""
    pe = tf.convert_to_tensor(pe, tf.float32)
    return tf.math.asinh(pe / self.scale) / self.norm

  def inverse(self, x):
    """Network space -> photoelectrons."""
    x = tf.convert_to_tensor(x, tf.float32)
    return self.scale * tf.math.sinh(x * self.norm)

  def to_dict(self) -> dict:
    return {'kind': 'asinh', 'scale': self.scale, 'norm': self.norm}

  @classmethod
  def from_dict(cls, d: dict) -> 'Preprocessing':
    if d.get('kind', 'asinh') != 'asinh':
      raise ValueError(f'unknown preprocessing {d!r}')
    return cls(scale=float(d['scale']), norm=float(d['norm']))
