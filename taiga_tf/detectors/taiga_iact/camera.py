"""TAIGA-IACT camera geometry: hexagonal pixel lattice <-> square array.

Coordinates are in the *optics frame* of the MC chain's text files: the pixel
table rotated so that the rows of the hexagonal lattice are horizontal (row
pitch = pitch * sqrt(3) / 2), in cm in the focal plane.

A hexagonal lattice with horizontal rows has exact integer axial coordinates

    r = y / row_pitch,        q = x / pitch - r / 2,

and (q, r) -> (row, col) of a square array is a bijection on the camera pixels.
The six lattice neighbours (+-1, 0), (0, +-1), (+1, -1), (-1, +1) are all among
the eight neighbours of a square cell, so convolutions on the square array see
every hexagonal neighbour. Cells outside the camera are masked.

Numpy only (no TensorFlow): readers and the MC use it.
"""
from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

PITCH_CM = 3.0
FOCAL_LENGTH_CM = 475.0
#: Angle in the sky per cm in the focal plane: 180 / (pi * 475) = 0.1206 deg.
DEG_PER_CM = 180.0 / (math.pi * FOCAL_LENGTH_CM)
SQRT3_2 = math.sqrt(3.0) / 2.0
#: The six axial offsets of hexagonal neighbours.
HEX_NEIGHBOUR_OFFSETS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1))
#: Pixel-table columns (FORMATS.md): cluster pix_in_cluster global_id x y adc_hi adc_lo channel
N_TABLE_COLUMNS = 8


class CameraError(ValueError):
  """Bad pixel table, or a coordinate that is not a camera pixel."""


@dataclasses.dataclass(frozen=True, eq=False)
class Camera:
  """Pixels of a hexagonal camera and their square-array representation.

  Attributes (per pixel, length n_pixels): cluster, channel (electronic channel
  inside its cluster, as in the text files), pixel_id (global id), x, y (cm,
  optics frame, on the ideal lattice), q, r (axial lattice coordinates), row, col
  (cell of the square array of side `square_size`).
  """
  name: str
  cluster: np.ndarray
  channel: np.ndarray
  pixel_id: np.ndarray
  q: np.ndarray
  r: np.ndarray
  square_size: int
  pitch: float = PITCH_CM
  x0: float = 0.0
  y0: float = 0.0
  rotation_deg: float = 0.0

  def __post_init__(self):
    for f in ('cluster', 'channel', 'pixel_id', 'q', 'r'):
      object.__setattr__(self, f, np.asarray(getattr(self, f), dtype=np.int32))
    keys = self.q.astype(np.int64) * 100003 + self.r
    if len(np.unique(keys)) != self.n_pixels:
      raise CameraError(f'camera {self.name!r}: two pixels on one lattice site')
    extent = max(self.q.max() - self.q.min(), self.r.max() - self.r.min()) + 1
    if self.square_size < extent:
      raise CameraError(f'camera {self.name!r} spans {extent} cells: square_size '
                        f'{self.square_size} is too small')
    # Centre the lattice bounding box in the (padded) square array; rows run
    # top to bottom (y decreasing) so an image displays the right way up.
    q_off = self.q.min() - (self.square_size - (self.q.max() - self.q.min() + 1)) // 2
    r_top = self.r.max() + (self.square_size - (self.r.max() - self.r.min() + 1)) // 2
    object.__setattr__(self, 'col', (self.q - q_off).astype(np.int32))
    object.__setattr__(self, 'row', (r_top - self.r).astype(np.int32))
    object.__setattr__(self, '_q_off', int(q_off))
    object.__setattr__(self, '_r_top', int(r_top))
    # dense (q, r) -> pixel table with a border of -1, for vectorised lookups
    qmin, rmin = int(self.q.min()) - 1, int(self.r.min()) - 1
    sites = np.full((int(self.q.max()) - qmin + 2, int(self.r.max()) - rmin + 2), -1,
                    dtype=np.int64)
    sites[self.q - qmin, self.r - rmin] = np.arange(self.n_pixels)
    object.__setattr__(self, '_sites', (sites, qmin, rmin))

  # ------------------------------------------------------------------ basics
  @property
  def n_pixels(self) -> int:
    return int(self.q.shape[0])

  @property
  def row_pitch(self) -> float:
    return self.pitch * SQRT3_2

  @property
  def x(self) -> np.ndarray:
    return self.x0 + self.pitch * (self.q + 0.5 * self.r)

  @property
  def y(self) -> np.ndarray:
    return self.y0 + self.row_pitch * self.r

  @property
  def square_shape(self) -> tuple[int, int]:
    return (self.square_size, self.square_size)

  @property
  def mask(self) -> np.ndarray:
    """Boolean (S, S) array, True on camera pixels."""
    m = np.zeros(self.square_shape, dtype=bool)
    m[self.row, self.col] = True
    return m

  @property
  def flat_index(self) -> np.ndarray:
    """Index of each pixel in the row-major flattened square array."""
    return (self.row * self.square_size + self.col).astype(np.int32)

  # ---------------------------------------------------------------- mapping
  def to_square(self, values, fill=0.0) -> np.ndarray:
    """(..., n_pixels) per-pixel values -> (..., S, S) square images."""
    values = np.asarray(values)
    if values.shape[-1] != self.n_pixels:
      raise CameraError(f'expected last axis {self.n_pixels}, got {values.shape}')
    out = np.full(values.shape[:-1] + self.square_shape, fill, dtype=values.dtype)
    out[..., self.row, self.col] = values
    return out

  def to_vector(self, images) -> np.ndarray:
    """(..., S, S) square images -> (..., n_pixels); cells off camera dropped."""
    images = np.asarray(images)
    if images.shape[-2:] != self.square_shape:
      raise CameraError(f'expected (..., {self.square_size}, {self.square_size}), '
                        f'got {images.shape}')
    return images[..., self.row, self.col]

  def axial(self, x, y):
    """Fractional axial coordinates of optics-frame points (cm)."""
    r = (np.asarray(y, dtype=np.float64) - self.y0) / self.row_pitch
    q = (np.asarray(x, dtype=np.float64) - self.x0) / self.pitch - 0.5 * r
    return q, r

  def locate(self, x, y, tolerance_cm: float = 0.3) -> np.ndarray:
    """Pixel index of each (x, y) in cm, or -1 when not on a camera pixel.

    A point is on pixel i when it lies within `tolerance_cm` of the pixel centre
    (default 0.3 cm, a tenth of the pitch: text files carry ~0.001 cm rounding).
    """
    q, r = self.axial(x, y)
    qi, ri = _round_axial(q, r)
    dx = np.asarray(x) - (self.x0 + self.pitch * (qi + 0.5 * ri))
    dy = np.asarray(y) - (self.y0 + self.row_pitch * ri)
    out = self.site_index(qi, ri)
    out[np.hypot(dx, dy) > tolerance_cm] = -1
    return out

  def site_index(self, q, r) -> np.ndarray:
    """Pixel index of integer axial sites (vectorised), -1 off camera."""
    sites, qmin, rmin = self._sites
    qi = np.asarray(q, dtype=np.int64) - qmin
    ri = np.asarray(r, dtype=np.int64) - rmin
    inside = (qi >= 0) & (qi < sites.shape[0]) & (ri >= 0) & (ri < sites.shape[1])
    return np.where(inside, sites[np.clip(qi, 0, sites.shape[0] - 1),
                                  np.clip(ri, 0, sites.shape[1] - 1)], -1)

  def nearest_pixel(self, x, y) -> np.ndarray:
    """Pixel whose hexagon contains (x, y) cm (Voronoi cell), -1 off camera."""
    return self.site_index(*_round_axial(*self.axial(x, y)))

  def pixel_at(self, q: int, r: int) -> int:
    return int(self.site_index(q, r))

  @property
  def neighbors(self) -> np.ndarray:
    """(n_pairs, 2) int32 array of neighbouring pixel index pairs, i < j."""
    i = np.arange(self.n_pixels)
    pairs = []
    for dq, dr in HEX_NEIGHBOUR_OFFSETS:
      j = self.site_index(self.q + dq, self.r + dr)
      keep = j > i
      pairs.append(np.stack([i[keep], j[keep]], axis=1))
    pairs = np.concatenate(pairs)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))].astype(np.int32)

  def neighbor_lists(self) -> list[np.ndarray]:
    """Per pixel, the indices of its lattice neighbours."""
    out = [[] for _ in range(self.n_pixels)]
    for i, j in self.neighbors:
      out[i].append(j)
      out[j].append(i)
    return [np.asarray(sorted(v), dtype=np.int32) for v in out]

  # ------------------------------------------------------------ persistence
  def to_dict(self) -> dict:
    """JSON-able description (stored in dataset metadata and SavedModels)."""
    return {
        'name': self.name, 'pitch_cm': self.pitch, 'x0_cm': self.x0,
        'y0_cm': self.y0, 'rotation_deg': self.rotation_deg,
        'square_size': self.square_size, 'deg_per_cm': DEG_PER_CM,
        'cluster': self.cluster.tolist(), 'channel': self.channel.tolist(),
        'pixel_id': self.pixel_id.tolist(), 'q': self.q.tolist(),
        'r': self.r.tolist(), 'row': self.row.tolist(), 'col': self.col.tolist(),
    }

  @classmethod
  def from_dict(cls, d: dict) -> 'Camera':
    cam = cls(name=d['name'], cluster=d['cluster'], channel=d['channel'],
              pixel_id=d['pixel_id'], q=d['q'], r=d['r'],
              square_size=int(d['square_size']), pitch=float(d['pitch_cm']),
              x0=float(d['x0_cm']), y0=float(d['y0_cm']),
              rotation_deg=float(d['rotation_deg']))
    if 'row' in d and (list(cam.row) != list(d['row']) or list(cam.col) != list(d['col'])):
      raise CameraError('stored square-array map disagrees with the lattice')
    return cam

  def __repr__(self):
    return (f'Camera({self.name!r}, {self.n_pixels} pixels, '
            f'{len(np.unique(self.cluster))} clusters, {self.square_size}x{self.square_size})')


def direction_to_camera(v, tel_theta=0.0, tel_phi=0.0):
  """Sky directions -> focal-plane position (cm) in the optics frame.

  v: (n, 3) unit vectors (x east, y north, z up) towards the sky. The telescope
  points at zenith angle tel_theta and azimuth tel_phi (radians). In the
  telescope frame a direction at angle theta from the axis with azimuth phi is
  imaged at x = -F tan(theta) cos(phi), y = F tan(theta) sin(phi): the chain's
  phi' = pi - phi convention. Directions behind the mirror give inf.
  """
  v = np.atleast_2d(np.asarray(v, dtype=np.float64))
  tt = np.broadcast_to(np.asarray(tel_theta, np.float64), v.shape[:1])
  tp = np.broadcast_to(np.asarray(tel_phi, np.float64), v.shape[:1])
  if np.any(tt != 0) or np.any(tp != 0):
    # rotate the azimuth to 0, then the pointing to zenith, per direction
    ct, st, cp, sp = np.cos(tt), np.sin(tt), np.cos(tp), np.sin(tp)
    x1 = cp * v[:, 0] + sp * v[:, 1]
    y1 = -sp * v[:, 0] + cp * v[:, 1]
    v = np.stack([ct * x1 - st * v[:, 2], y1, st * x1 + ct * v[:, 2]], axis=-1)
  with np.errstate(divide='ignore', invalid='ignore'):
    x = -FOCAL_LENGTH_CM * v[:, 0] / v[:, 2]
    y = FOCAL_LENGTH_CM * v[:, 1] / v[:, 2]
  behind = v[:, 2] <= 0
  return np.where(behind, np.inf, x), np.where(behind, np.inf, y)


def unit_vector(theta, phi):
  """(n, 3) unit vectors of zenith angles theta and azimuths phi (radians)."""
  theta, phi = np.asarray(theta, np.float64), np.asarray(phi, np.float64)
  return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi),
                   np.cos(theta)], axis=-1).reshape(-1, 3)


def source_position(src_theta, src_phi, tel_theta=0.0, tel_phi=0.0):
  """Camera position (cm) of the primary's direction, and its offset (deg)."""
  v = unit_vector(src_theta, src_phi)
  x, y = direction_to_camera(v, tel_theta, tel_phi)
  p = unit_vector(np.broadcast_to(tel_theta, np.shape(src_theta)),
                  np.broadcast_to(tel_phi, np.shape(src_theta)))
  offset = np.degrees(np.arccos(np.clip((v * p).sum(-1), -1, 1)))
  return x, y, offset


def _round_axial(q, r):
  """Nearest lattice site of fractional axial coordinates (cube rounding)."""
  x, z = np.asarray(q, dtype=np.float64), np.asarray(r, dtype=np.float64)
  y = -x - z
  rx, ry, rz = np.round(x), np.round(y), np.round(z)
  dx, dy, dz = np.abs(rx - x), np.abs(ry - y), np.abs(rz - z)
  fix_x = (dx > dy) & (dx > dz)
  fix_z = ~fix_x & (dz >= dy)
  rx = np.where(fix_x, -ry - rz, rx)
  rz = np.where(fix_z, -rx - ry, rz)
  return rx.astype(np.int64), rz.astype(np.int64)


def _padded_size(extent: int, multiple: int = 8) -> int:
  return int(math.ceil(extent / multiple) * multiple)


def builtin_camera(square_size: int = 32) -> Camera:
  """The built-in TAIGA-IACT camera: 560 pixels, 20 clusters of 28, 3.0 cm pitch.

  The 560 lattice sites nearest the camera centre (ties broken by polar angle)
  form a round camera spanning 29x29 axial cells, padded to 32x32 (a size that
  halves cleanly through the networks' down-sampling). Clusters: the 28 central
  pixels, then 6 clusters of 28 in the next shell and 13 in the outer shell,
  each shell cut into equal polar-angle sectors.
  """
  n = 24
  q, r = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing='ij')
  q, r = q.ravel(), r.ravel()
  x, y = PITCH_CM * (q + 0.5 * r), PITCH_CM * SQRT3_2 * r
  dist = np.round(np.hypot(x, y), 6)
  ang = np.mod(np.arctan2(y, x), 2 * np.pi)
  order = np.lexsort((np.round(ang, 9), dist))[:560]
  q, r, x, y, ang = q[order], r[order], x[order], y[order], ang[order]
  cluster = np.zeros(560, dtype=np.int32)
  start, next_cluster = 0, 1
  for n_clusters in (1, 6, 13):
    shell = np.arange(start, start + 28 * n_clusters)
    by_angle = shell[np.argsort(ang[shell], kind='stable')]
    cluster[by_angle] = next_cluster + np.arange(len(shell)) // 28
    start += len(shell)
    next_cluster += n_clusters
  # Order pixels by cluster, then by distance to the cluster centroid.
  channel = np.zeros(560, dtype=np.int32)
  final = []
  for c in range(1, 21):
    idx = np.flatnonzero(cluster == c)
    cx, cy = x[idx].mean(), y[idx].mean()
    idx = idx[np.lexsort((np.round(np.arctan2(y[idx] - cy, x[idx] - cx), 9),
                          np.round(np.hypot(x[idx] - cx, y[idx] - cy), 6)))]
    channel[idx] = np.arange(1, 29)
    final.extend(idx)
  final = np.asarray(final)
  return Camera(name='taiga_builtin_560', cluster=cluster[final],
                channel=channel[final], pixel_id=np.arange(1, 561), q=q[final],
                r=r[final], square_size=square_size)


def load_pixel_table(path: str | os.PathLike, rotation_deg: float | None = None,
                     square_size: int | None = None,
                     pitch: float = PITCH_CM) -> Camera:
  """Reads a TAIGA pixel table (8 columns, FORMATS.md) into the optics frame.

  The lattice angle is measured from nearest-neighbour vectors; by default the
  table is rotated by (60 - angle) mod 60 degrees (37.5 deg for the 2020 table,
  as the MC chain does) so that the lattice rows become horizontal, then snapped
  to the ideal lattice. A table that is not a hexagonal lattice of `pitch` is an
  error naming the offending line.
  """
  path = os.fspath(path)
  rows = []
  with open(path) as f:
    for lineno, line in enumerate(f, 1):
      parts = line.split()
      if not parts or parts[0].startswith('#'):
        continue
      if len(parts) != N_TABLE_COLUMNS:
        raise CameraError(f'{path}:{lineno}: expected {N_TABLE_COLUMNS} columns '
                          f'(cluster pix_in_cluster global_id x y adc_hi adc_lo '
                          f'channel), got {len(parts)}')
      try:
        vals = [float(p) for p in parts]
      except ValueError:
        raise CameraError(f'{path}:{lineno}: non-numeric field in {line.strip()!r}') from None
      if not all(math.isfinite(v) for v in vals):
        raise CameraError(f'{path}:{lineno}: non-finite field in {line.strip()!r}')
      rows.append(vals + [lineno])
  if len(rows) < 7:
    raise CameraError(f'{path}: only {len(rows)} pixels')
  t = np.asarray(rows)
  xy = t[:, 3:5]
  d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
  np.fill_diagonal(d2, np.inf)
  nn = np.argmin(d2, axis=1)
  if rotation_deg is None:
    v = xy[nn] - xy
    lattice_angle = np.median(np.mod(np.degrees(np.arctan2(v[:, 1], v[:, 0])), 60.0))
    rotation_deg = float(np.mod(60.0 - lattice_angle, 60.0))
    rotation_deg = round(rotation_deg * 2) / 2 if abs(rotation_deg * 2 - round(rotation_deg * 2)) < 0.05 else rotation_deg
  th = math.radians(rotation_deg)
  xr = xy[:, 0] * math.cos(th) - xy[:, 1] * math.sin(th)
  yr = xy[:, 0] * math.sin(th) + xy[:, 1] * math.cos(th)
  origin = int(np.argmin(np.hypot(xr, yr)))
  x0, y0 = round(xr[origin], 3), round(yr[origin], 3)
  r = (yr - y0) / (pitch * SQRT3_2)
  q = (xr - x0) / pitch - 0.5 * r
  qi, ri = _round_axial(q, r)
  err = np.hypot(xr - (x0 + pitch * (qi + 0.5 * ri)), yr - (y0 + pitch * SQRT3_2 * ri))
  bad = np.flatnonzero(err > 0.1 * pitch)
  if len(bad):
    i = bad[0]
    raise CameraError(f'{path}:{int(t[i, 8])}: pixel at ({xy[i, 0]}, {xy[i, 1]}) cm is '
                      f'{err[i]:.2f} cm off a hexagonal lattice of pitch {pitch} cm '
                      f'rotated by {rotation_deg} deg')
  extent = max(qi.max() - qi.min(), ri.max() - ri.min()) + 1
  return Camera(name=os.path.basename(path), cluster=t[:, 0], channel=t[:, 7],
                pixel_id=t[:, 2], q=qi, r=ri,
                square_size=square_size or _padded_size(extent), pitch=pitch,
                x0=float(x0), y0=float(y0), rotation_deg=float(rotation_deg))


def get_camera(spec: str | None = None, square_size: int | None = None) -> Camera:
  """'builtin' (default) or the path of a pixel table."""
  if not spec or spec == 'builtin':
    return builtin_camera(square_size or 32)
  return load_pixel_table(spec, square_size=square_size)
