"""TAIGA-IACT event files -> the examples of the `taiga_iact` TFDS builder.

The builder (datasets/taiga_iact) owns the TFDS side (features, configs, splits);
this module makes the examples of one work unit, an events file with its signal
file, so that the same code runs in the builder's process or on Apache Beam
workers (which import taiga_tf, not the builder module). numpy only.

Signal images: the chain writes every triggered event twice, `<stem>_c.txt`
before and `<stem>_cbN.txt` after the night-sky background (NSB) is added; see
`pair_signal_files` and the builder's docstring.
"""
from __future__ import annotations

import os
import re

import numpy as np

from taiga_tf import tfds_builders
from taiga_tf.detectors.taiga_iact import camera as camera_lib
from taiga_tf.detectors.taiga_iact import hillas
from taiga_tf.detectors.taiga_iact.formats import taiga_text

PARTICLES = ('gamma', 'proton')
HILLAS_KEYS = ('size', 'n_pixels', 'cog_x', 'cog_y', 'length', 'width', 'psi', 'dist',
               'alpha', 'miss', 'con2', 'skewness', 'kurtosis')
CLEANING = {'picture_pe': 14.0, 'boundary_pe': 7.0, 'brightest_island': True}
DISTANCE_RANGES = {'impact': (0.0, 500.0, 'm'), 'offset': (0.0, 6.0, 'deg')}
_SIGNAL_NAME = re.compile(r'^(?P<stem>.+)_c\.txt(\.gz)?$')
_NSB_NAME = re.compile(r'^(?P<stem>.+)_cb[0-9.]+\.txt(\.gz)?$')


def pair_signal_files(paths) -> list:
  """[(events file, its signal file or None)] of a particle's files.

  `<stem>_cbN.txt` pairs with `<stem>_c.txt` (several NSB levels may share one
  signal file); a `_c` file with a partner is not read as events of its own; a
  `_c` file alone is its own signal. `x.txt.gz` is `x.txt` compressed: both of
  one name (or the same name twice) would read every event twice, so that is a
  ValueError naming both files.
  """
  paths = sorted(paths, key=lambda p: os.path.basename(os.fspath(p)))
  seen = {}
  for p in paths:
    plain = os.path.basename(os.fspath(p)).removesuffix('.gz')
    if plain in seen:
      raise ValueError(f'{os.fspath(seen[plain])} and {os.fspath(p)} are one event file '
                       f'({plain}) given twice (plain and gzip-compressed?): its events would be '
                       'read twice; keep one of them')
    seen[plain] = p
  by_name = {os.path.basename(os.fspath(p)): p for p in paths}
  used, out = set(), []
  for name, p in by_name.items():
    m = _NSB_NAME.match(name)
    partner = m and next((c for c in (f'{m["stem"]}_c.txt', f'{m["stem"]}_c.txt.gz')
                          if c in by_name), None)
    if partner:
      used.update((name, partner))
      out.append((p, by_name[partner]))
  for name, p in by_name.items():
    if name not in used:
      out.append((p, p if _SIGNAL_NAME.match(name) else None))
  return sorted(out, key=lambda pq: os.path.basename(os.fspath(pq[0])))


def split_of(particle: str, file_name: str, n_shower: int) -> str:
  """All core scatterings of one shower land in the same split."""
  return tfds_builders.split_of(f'{particle}/{file_name}/{n_shower}')


def class_edges(energy_range, n_energy_bins: int, distance: str, n_distance_bins: int):
  """(energy edges in TeV, log-spaced; distance edges, linear over DISTANCE_RANGES)."""
  if distance not in DISTANCE_RANGES:
    raise ValueError(f'distance must be one of {sorted(DISTANCE_RANGES)}, got {distance!r}')
  e = np.geomspace(energy_range[0], energy_range[1], n_energy_bins + 1)
  lo, hi, _ = DISTANCE_RANGES[distance]
  return e, np.linspace(lo, hi, n_distance_bins + 1)


class ExampleMaker:
  """maker((particle, events file, signal file | None), split) -> (key, example) of the split.

  Picklable (plain settings; the camera and its neighbour table are rebuilt where it
  runs). `tally(example)` names what the builder's metadata counts.
  """

  def __init__(self, camera: str = 'builtin', distance: str = 'impact',
               energy_range=(1.0, 100.0), n_energy_bins: int = 10, n_distance_bins: int = 10,
               batch: int = 256):
    self.camera, self.distance = camera, distance
    self.energy_range, self.batch = tuple(energy_range), batch
    self.n_energy_bins, self.n_distance_bins = n_energy_bins, n_distance_bins
    self.e_edges, self.d_edges = class_edges(energy_range, n_energy_bins, distance, n_distance_bins)
    self._geometry = None

  def __getstate__(self):
    state = dict(self.__dict__)
    state['_geometry'] = None
    return state

  def geometry(self):
    if self._geometry is None:
      cam = camera_lib.get_camera(self.camera)
      self._geometry = cam, hillas.neighbour_table(cam)
    return self._geometry

  @staticmethod
  def tally(ex) -> list:
    out = [f"class/{ex['particle']}/{ex['class_id']}"]
    if ex['has_signal']:
      out.append(f"signal/{ex['particle']}")
    return out

  @staticmethod
  def describe(unit) -> str:
    """The files of a work unit, for error messages."""
    return os.fspath(unit[1]) + (f' (signal {os.fspath(unit[2])})' if unit[2] not in (None, unit[1])
                                 else '')

  @staticmethod
  def why_empty(split) -> str:
    """Why a split got no example (every event of a split makes one)."""
    return (f'none of their events falls in split {split!r} (splits are 80/10/10 by a hash of '
            '(particle, file, n_shower): a handful of showers need not fill all three)')

  def __call__(self, unit, split):
    particle, path, signal_path = unit
    # the split, the key and `file` do not depend on compression: x_cb4.txt.gz is x_cb4.txt
    name = os.path.basename(os.fspath(path)).removesuffix('.gz')
    pending = []
    in_split = lambda h: split_of(particle, name, h['n_shower']) == split
    for block, sig in _with_signal(path, signal_path, in_split):
      amps = block.amplitudes(self.geometry()[0])
      if sig is block:
        sig = amps
      elif sig is not None:
        sig = sig.amplitudes(self.geometry()[0])
      pending.append((block, amps, sig))
      if len(pending) == self.batch:
        yield from self._examples(pending, particle, name)
        pending = []
    if pending:
      yield from self._examples(pending, particle, name)

  def _examples(self, pending, particle, name):
    cam, table = self.geometry()
    blocks = [b for b, _, _ in pending]
    amps = np.stack([a for _, a, _ in pending])
    zeros = np.zeros(cam.n_pixels, np.float32)
    signals = cam.to_square(np.stack([zeros if s is None else s for _, _, s in pending]))
    h = lambda k: np.array([b.header[k] for b in blocks], dtype=np.float64)
    sx, sy, offset = camera_lib.source_position(h('src_theta'), h('src_phi'),
                                                h('tel_theta'), h('tel_phi'))
    par, _ = hillas.clean_and_parametrize(
        cam, amps, CLEANING['picture_pe'], CLEANING['boundary_pe'],
        CLEANING['brightest_island'], np.stack([sx, sy], -1), table)
    impact = np.hypot(h('x_ground'), h('y_ground'))
    dist = impact if self.distance == 'impact' else offset
    e_edges, d_edges = self.e_edges, self.d_edges
    e_bin = np.clip(np.searchsorted(e_edges, h('energy'), side='right') - 1, 0, len(e_edges) - 2)
    d_bin = np.clip(np.searchsorted(d_edges, dist, side='right') - 1, 0, len(d_edges) - 2)
    images = cam.to_square(amps)
    par = {k: v if k == 'n_pixels' else np.nan_to_num(v) for k, v in par.items()}  # NaN: empty
    for i, b in enumerate(blocks):
      yield f'{particle}/{name}/{b.line}', {
          'image': images[i],
          'image_signal': signals[i], 'has_signal': pending[i][2] is not None,
          'particle': particle,
          'energy': b.energy, 'impact_distance': impact[i],
          'core_x': b.x_ground, 'core_y': b.y_ground,
          'source_offset': offset[i], 'source_x': sx[i], 'source_y': sy[i],
          'xmax': b.xmax, 'file': name, 'n_shower': b.n_shower, 'i_scat': b.i_scat,
          'hillas': {k: par[k][i] for k in HILLAS_KEYS},
          'energy_bin': e_bin[i], 'distance_bin': d_bin[i],
          'class_id': int(e_bin[i] * self.n_distance_bins + d_bin[i]),
      }


def _with_signal(path, signal_path, keep):
  """(event block, its signal block | the block itself | None) of an events file.

  The `_c` file is read in step with the `_cbN` file (both streaming); an event
  missing from either, or out of order, is an error naming both files and lines.
  """
  events = taiga_text.read_events(path, keep=keep)
  if signal_path is None:
    yield from ((b, None) for b in events)
    return
  if os.fspath(signal_path) == os.fspath(path):
    yield from ((b, b) for b in events)
    return
  signals = taiga_text.read_events(signal_path, keep=keep)
  key = lambda b: (b.header['n_shower'], b.header['i_scat'])
  for b in events:
    s = next(signals, None)
    if s is None or key(s) != key(b):
      where = (f'{s.path}:{s.line} has n_shower={key(s)[0]} i_scat={key(s)[1]}' if s is not None
               else f'{os.fspath(signal_path)} has no more events')
      raise taiga_text.FormatError(
          f'{b.path}:{b.line}: event n_shower={key(b)[0]} i_scat={key(b)[1]} has no signal '
          f'event in step: {where} (a _cbN file and its _c file must list the same events '
          'in the same order)')
    yield b, s
  extra = next(signals, None)
  if extra is not None:
    raise taiga_text.FormatError(
        f'{extra.path}:{extra.line}: signal event n_shower={key(extra)[0]} '
        f'i_scat={key(extra)[1]} has no event in {os.fspath(path)}')
