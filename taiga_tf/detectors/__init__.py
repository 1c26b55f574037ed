"""Detectors: what the generic pipeline asks of one (one package per detector).

The data, training, export, generation and evaluation stages never import a
detector's modules: they ask a `Detector` for what they need, chosen by the
`detector` entry of a dataset's metadata (TFDS `info.metadata`) or of a model's
stored config (`config.json`, the SavedModel's model.json). Adding a detector
means adding a package `taiga_tf/detectors/<name>/` whose `detector.py` defines
`DETECTOR` (a `Detector` subclass), and a TFDS builder `datasets/<name>` that
writes `detector='<name>'` and the subclass's metadata keys.
"""
from __future__ import annotations

import abc
import importlib
import re

import numpy as np

DEFAULT = 'taiga_iact'     # datasets and models written before detectors had names


class Detector(abc.ABC):
  """Image geometry, preprocessing, conditioning classes, physics features, drawing.

  Images are square float32 [S, S] arrays in the detector's unit; `mask` marks the
  real pixels (the TAIGA camera's hexagonal lattice; every pixel of a LArTPC crop).
  """
  name: str = ''
  unit: str = ''                       # of image values, for axis labels
  particles: tuple[str, ...] = ()      # the dataset's `particle` ClassLabel names
  summary_feature_name: str = ''       # the per-image physics quantity of the conditioning check
  group_name: str = 'class'            # what `condition_group` returns, e.g. 'energy_bin'

  # -- geometry
  @property
  @abc.abstractmethod
  def image_size(self) -> int:
    """S: images are S x S."""

  @property
  @abc.abstractmethod
  def mask(self) -> np.ndarray:
    """bool [S, S]: True where the detector has a pixel."""

  @property
  def flat_index(self) -> np.ndarray:
    """int32 [n_pixels]: the pixels' positions in an image flattened row-major, in the
    detector's pixel order (default: row-major over the mask)."""
    return np.flatnonzero(self.mask.reshape(-1)).astype(np.int32)

  def to_vector(self, images) -> np.ndarray:
    """[..., S, S] -> [..., n_pixels], the pixels in `flat_index` order."""
    images = np.asarray(images)
    return images.reshape(images.shape[:-2] + (-1,))[..., self.flat_index]

  # -- conditioning classes
  @property
  @abc.abstractmethod
  def n_classes(self) -> int:
    """Number of conditioning classes (class_id of the dataset) per particle."""

  @abc.abstractmethod
  def class_name(self, class_id: int) -> str:
    """A short human name of a class, e.g. for plot titles."""

  @property
  def n_groups(self) -> int:
    return self.n_classes

  def condition_group(self, class_id):
    """The group of a class the conditioning check compares per group (default: itself)."""
    return np.asarray(class_id)

  # -- transform, stored state, export
  @abc.abstractmethod
  def preprocessing(self):
    """The default reversible transform image <-> network space (taiga_tf.preprocessing)."""

  @abc.abstractmethod
  def metadata(self) -> dict:
    """JSON-able dict (with 'detector') from which `from_metadata` rebuilds this detector;
    stored in a model's config.json and SavedModel."""

  @classmethod
  @abc.abstractmethod
  def from_metadata(cls, metadata: dict) -> 'Detector':
    """The detector of a dataset's TFDS metadata or of a model's stored config."""

  def export_constants(self) -> dict:
    """Numpy constants a SavedModel's metadata() returns besides the common ones."""
    return {}

  # -- generated datasets
  def generated_features(self) -> dict:
    """TFDS features (integers) a generated dataset stores per example beside class_id."""
    return {}

  def generated_columns(self, class_id: int) -> dict:
    """The values of `generated_features` for an example of class_id."""
    return {}

  def describe_counts(self, counts) -> list[str]:
    """Console lines describing a plan's counts per model label."""
    counts = np.asarray(counts).reshape(-1, self.n_classes)
    lines = []
    for p, row in enumerate(counts):
      block = f' (label block {p})' if len(counts) > 1 else ''
      lines.append(f'  per-class counts{block}: ' + ', '.join(
          f'{self.class_name(c)} {int(n)}' for c, n in enumerate(row)))
    return lines

  # -- physics
  def columns(self, ex: dict) -> dict:
    """tf: per-example scalar columns (beside 'label') that reports read from a dataset."""
    return {}

  report_feature_names: tuple[str, ...] = ()

  def report_features(self, images) -> np.ndarray:
    """numpy (N, len(report_feature_names)) of [N, S, S] images: the physics features a
    fidelity report compares (NaN where undefined, e.g. an empty image)."""
    raise NotImplementedError(f'{self.name}: no physics features for the report yet')

  @abc.abstractmethod
  def summary_feature(self, images) -> np.ndarray:
    """numpy [N] of [N, S, S] images: the quantity the training's conditioning check
    compares per class group (TAIGA: Hillas size; LArTPC: total charge)."""

  # -- drawing
  @abc.abstractmethod
  def draw(self, ax, image, vmax=None):
    """Draws one [S, S] image on a matplotlib axis."""

  def grid_figure(self, rows, titles=None, row_labels=None):
    """Figure with `rows[r][c]` an [S, S] image (or None)."""
    from taiga_tf import plotting  # pylint: disable=g-import-not-at-top
    return plotting.image_grid_figure(lambda ax, im: self.draw(ax, im), rows, titles, row_labels)


def detector_name(metadata: dict) -> str:
  name = metadata.get('detector', DEFAULT)
  if not isinstance(name, str) or not re.fullmatch(r'[a-z][a-z0-9_]*', name):
    raise ValueError(f'bad detector name {name!r} in the metadata')
  return name


def from_metadata(metadata: dict) -> Detector:
  """The Detector named by metadata['detector'] (taiga_iact when absent)."""
  name = detector_name(metadata)
  try:
    module = importlib.import_module(f'taiga_tf.detectors.{name}.detector')
  except ModuleNotFoundError as e:
    if e.name and e.name.startswith(f'taiga_tf.detectors.{name}'):
      raise ValueError(f'unknown detector {name!r}: no package taiga_tf/detectors/{name}/'
                       'detector.py') from None
    raise
  return module.DETECTOR.from_metadata(metadata)
