"""The LArTPC detector as the generic pipeline sees it.

Images are square crops (64 x 64 by default) on the reference work's uint8 0-255
scale, every pixel real; the conditioning classes are track and shower; the
transform to network space is the reference's linear map to [-1, 1] with its
post-processing (values <= 4 set to 0) in the inverse; the physics quantity of the
conditioning check is the total charge on that scale.
"""
from __future__ import annotations

import numpy as np

from taiga_tf import detectors
from taiga_tf.preprocessing import Linear

CLASSES = ('track', 'shower')
PARTICLES = ('muon', 'pion', 'proton', 'electron', 'photon', 'unknown')
LABELS = ('background', 'track', 'shower')


class LArTPC(detectors.Detector):
  name = 'lartpc'
  unit = '0-255 scale'
  particles = PARTICLES
  summary_feature_name = 'total_charge'
  group_name = 'class'

  def __init__(self, crop: int = 64, pixel_cm: float = 0.3, full_scale: float = 2.5):
    self.crop, self.pixel_cm, self.full_scale = int(crop), float(pixel_cm), float(full_scale)
    if self.crop < 8:
      raise ValueError(f'lartpc crop must be at least 8 pixels, got {self.crop}')

  @classmethod
  def from_metadata(cls, metadata: dict) -> 'LArTPC':
    return cls(metadata.get('crop', 64), metadata.get('pixel_cm', 0.3),
               metadata.get('full_scale', 2.5))

  def metadata(self) -> dict:
    return {'detector': self.name, 'crop': self.crop, 'pixel_cm': self.pixel_cm,
            'full_scale': self.full_scale, 'class_names': list(CLASSES)}

  def export_constants(self) -> dict:
    return {'pixel_cm': np.float32(self.pixel_cm), 'full_scale': np.float32(self.full_scale),
            'class_names': np.array(CLASSES)}

  @property
  def image_size(self) -> int:
    return self.crop

  @property
  def mask(self) -> np.ndarray:
    return np.ones((self.crop, self.crop), bool)

  @property
  def n_classes(self) -> int:
    return len(CLASSES)

  def class_name(self, class_id: int) -> str:
    return CLASSES[int(class_id)]

  def preprocessing(self) -> Linear:
    return Linear(0.0, 255.0, 4.0)

  def columns(self, ex: dict) -> dict:
    return {'momentum': ex['momentum'], 'occupancy': ex['occupancy']}

  def summary_feature(self, images) -> np.ndarray:
    images = np.asarray(images, np.float64)
    return images.reshape(len(images), -1).sum(axis=1)

  def draw(self, ax, image, vmax=None):
    img = np.log1p(np.maximum(np.asarray(image, np.float32), 0))
    return ax.imshow(img, cmap='magma', interpolation='nearest', vmin=0,
                     vmax=np.log1p(vmax) if vmax is not None else np.log1p(255.0))


DETECTOR = LArTPC
