"""The TAIGA-IACT detector as the generic pipeline sees it.

Images are photoelectrons on the hexagonal camera mapped to a square (the camera
mask marks the real pixels); a class is energy_bin * n_distance_bins +
distance_bin; the physics quantity of the conditioning check is the Hillas size
after the dataset's cleaning; images are drawn as hexagons.
"""
from __future__ import annotations

import functools

import numpy as np

from taiga_tf import detectors
from taiga_tf.detectors.taiga_iact import hillas, image_features
from taiga_tf.detectors.taiga_iact.camera import Camera
from taiga_tf.preprocessing import Preprocessing

PARTICLES = ('gamma', 'proton')
# the physics features of the report: Hillas parameters, n_pixels, leakage, concentration
PARAMS = ('log10_size', 'length', 'width', 'dist', 'alpha', 'con2', 'skewness', 'kurtosis')
FEATURES = PARAMS + ('n_pixels',) + image_features.FEATURE_FIELDS
# the metadata keys this detector reads (the taiga_iact builder writes them; a model's
# config.json and SavedModel store them under the same names)
KEYS = ('camera', 'energy_edges_tev', 'distance_edges', 'distance', 'n_energy_bins',
        'n_distance_bins', 'cleaning')


class TaigaIACT(detectors.Detector):
  name = 'taiga_iact'
  unit = 'photoelectrons'
  particles = PARTICLES
  summary_feature_name = 'size'
  group_name = 'energy_bin'

  def __init__(self, camera: Camera, energy_edges_tev, distance_edges, n_energy_bins: int,
               n_distance_bins: int, cleaning: dict, distance: str = 'impact'):
    self.camera = camera
    self.energy_edges = np.asarray(energy_edges_tev, np.float64)
    self.distance_edges = np.asarray(distance_edges, np.float64)
    self.n_energy_bins, self.n_distance_bins = int(n_energy_bins), int(n_distance_bins)
    self.cleaning = dict(cleaning)
    self.distance = distance

  @classmethod
  def from_metadata(cls, metadata: dict) -> 'TaigaIACT':
    missing = [k for k in KEYS if k not in metadata and k != 'distance']
    if missing:
      raise ValueError(f'taiga_iact metadata lacks {", ".join(missing)}')
    return cls(Camera.from_dict(metadata['camera']), metadata['energy_edges_tev'],
               metadata['distance_edges'], metadata['n_energy_bins'], metadata['n_distance_bins'],
               metadata['cleaning'], metadata.get('distance', 'impact'))

  def metadata(self) -> dict:
    return {'detector': self.name, 'camera': self.camera.to_dict(),
            'energy_edges_tev': self.energy_edges.tolist(),
            'distance_edges': self.distance_edges.tolist(), 'distance': self.distance,
            'n_energy_bins': self.n_energy_bins, 'n_distance_bins': self.n_distance_bins,
            'cleaning': self.cleaning}

  def export_constants(self) -> dict:
    c = self.camera
    return {'pixel_row': c.row, 'pixel_col': c.col, 'pixel_x_cm': c.x.astype(np.float32),
            'pixel_y_cm': c.y.astype(np.float32),
            'energy_edges_tev': self.energy_edges.astype(np.float32),
            'distance_edges': self.distance_edges.astype(np.float32)}

  # -- geometry and classes
  @property
  def image_size(self) -> int:
    return self.camera.square_size

  @property
  def mask(self) -> np.ndarray:
    return self.camera.mask

  @property
  def flat_index(self) -> np.ndarray:
    return self.camera.flat_index

  @property
  def n_classes(self) -> int:
    return self.n_energy_bins * self.n_distance_bins

  @property
  def n_groups(self) -> int:
    return self.n_energy_bins

  def condition_group(self, class_id):
    return np.asarray(class_id) // self.n_distance_bins

  def class_name(self, class_id: int) -> str:
    e, d = divmod(int(class_id), self.n_distance_bins)
    return f'E {self.energy_edges[e]:.3g}-{self.energy_edges[e + 1]:.3g} TeV, ' \
           f'{self.distance} {self.distance_edges[d]:.0f}-{self.distance_edges[d + 1]:.0f} m'

  def generated_features(self) -> dict:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    return {'energy_bin': tfds.features.Scalar(dtype=np.int32),
            'distance_bin': tfds.features.Scalar(dtype=np.int32)}

  def generated_columns(self, class_id: int) -> dict:
    return {'energy_bin': class_id // self.n_distance_bins,
            'distance_bin': class_id % self.n_distance_bins}

  def describe_counts(self, counts) -> list[str]:
    """The plan as a table: energy bins (rows) x distance bins (columns), per label block."""
    n_e, n_d = self.n_energy_bins, self.n_distance_bins
    c = np.asarray(counts).reshape(-1, n_e, n_d)
    e, d = self.energy_edges, self.distance_edges
    lines = []
    for p, grid in enumerate(c):
      title = f' (label block {p})' if len(c) > 1 else ''
      lines.append(f'  per-class counts{title}: rows energy (TeV), columns distance '
                   + ' '.join(f'{d[j]:.4g}-{d[j + 1]:.4g}' for j in range(n_d)))
      for k in range(n_e):
        lines.append(f'  {e[k]:>6.3g}-{e[k + 1]:<6.3g}' + ''.join(f'{int(x):>8}' for x in grid[k])
                     + f'  | {int(grid[k].sum())}')
    return lines

  def preprocessing(self) -> Preprocessing:
    return Preprocessing()

  # -- physics
  def columns(self, ex: dict) -> dict:
    return {'energy_bin': ex['energy_bin'], 'distance_bin': ex['distance_bin'],
            'size': ex['hillas']['size']}

  @functools.cached_property
  def neighbour_table(self) -> np.ndarray:
    return hillas.neighbour_table(self.camera)

  def hillas(self, images):
    """Hillas parameters (dict of [N]) and cleaning masks after the dataset's cleaning."""
    cl = self.cleaning
    return hillas.clean_and_parametrize(self.camera, self.camera.to_vector(images),
                                        cl['picture_pe'], cl['boundary_pe'],
                                        cl['brightest_island'], table=self.neighbour_table)

  report_feature_names = FEATURES

  def report_features(self, images) -> np.ndarray:
    """(N, len(FEATURES)) of [N, S, S] images: Hillas parameters after the dataset's
    cleaning, n_pixels, leakage and concentration (ctapipe's definitions)."""
    vec = self.camera.to_vector(images)
    par, mask = self.hillas(images)
    extra = image_features.image_features(self.camera, vec, mask, par)
    cols = ([np.log10(1 + np.nan_to_num(par['size']))] + [par[k] for k in PARAMS[1:]]
            + [par['n_pixels'].astype(np.float64)] + [extra[k] for k in image_features.FEATURE_FIELDS])
    return np.stack(cols, axis=1)

  def summary_feature(self, images) -> np.ndarray:
    return np.nan_to_num(self.hillas(images)[0]['size'])

  # -- drawing
  def draw(self, ax, image, vmax=None):
    from taiga_tf.detectors.taiga_iact.plotting import draw_camera  # pylint: disable=g-import-not-at-top
    return draw_camera(ax, self.camera, self.camera.to_vector(image), vmax=vmax, colorbar=False)


DETECTOR = TaigaIACT
