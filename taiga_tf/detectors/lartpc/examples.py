"""larcv3 files and the reference's npy arrays -> the examples of the `lartpc` TFDS builder.

The builder (datasets/lartpc) owns the TFDS side; this module makes the examples of
one work unit (a larcv3 file, or one npy array) so that the same code runs in the
builder's process or on Apache Beam workers (which import taiga_tf, not the builder
module). Every projection of an event gives one crop around the charge-weighted
centre, kept when more than `min_occupancy` of its pixels are non-zero.

The crop is cut from the sparse voxels (the centre in float64, so a charge near
float32's maximum does not overflow it; only the crop is made dense), so an
event costs memory in its voxels, not in its image size. Besides the reader's
checks (larcv3.py) a larcv3 event must hold: charge >= 0; for every `data`
projection a `label` projection of the same id, shape, pixel size and origin,
whose values are 0, 1 or 2 on distinct pixels; images at least as large as the
crop; a projection id within int32; truth rows with integer `pdg` and a finite
`momentum`. Anything else is a Larcv3Error naming the file, the event and the
projection.
"""
from __future__ import annotations

import collections
import math
import os

import numpy as np

from taiga_tf import tfds_builders
from taiga_tf.detectors.lartpc.detector import CLASSES
from taiga_tf.detectors.lartpc.formats import larcv3, npy_arrays

PDG_TO_PARTICLE = {13: 'muon', -13: 'muon', 211: 'pion', -211: 'pion', 2212: 'proton',
                   11: 'electron', -11: 'electron', 22: 'photon'}
TRACK_PARTICLES = ('muon', 'pion', 'proton')


def split_of(key: str) -> str:
  return tfds_builders.split_of(key)


INT32_MAX = 2**31 - 1
LABEL_VALUES = (0, 1, 2)          # background, track, shower


def crop_origin(rows, cols, values, shape, size):
  """(r0, c0) of the size x size crop around the charge-weighted centre of pixels
  (rows, cols) with `values`, clamped inside an image of `shape`; the sums are float64
  (float32 overflows near its maximum). The image centre when the total is not > 0."""
  h, w = shape
  values = np.asarray(values, np.float64)
  tot = values.sum()
  if not tot > 0:
    return (h - size) // 2, (w - size) // 2
  r = float((np.asarray(rows, np.float64) * values).sum() / tot)
  c = float((np.asarray(cols, np.float64) * values).sum() / tot)
  return (int(np.clip(round(r - size / 2), 0, h - size)),
          int(np.clip(round(c - size / 2), 0, w - size)))


def crop_and_keep(charge, label, size, min_occupancy):
  """The size x size crop of a dense image around its charge-weighted centre, or None
  when too empty."""
  if charge.shape[0] < size or charge.shape[1] < size:
    raise ValueError(f'image {charge.shape} is smaller than the {size} x {size} crop')
  rows, cols = np.nonzero(charge)
  r0, c0 = crop_origin(rows, cols, charge[rows, cols], charge.shape, size)
  c = charge[r0:r0 + size, c0:c0 + size]
  l = label[r0:r0 + size, c0:c0 + size]
  occ = float(np.mean(c != 0))
  return (c, l, occ) if occ > min_occupancy else None


def _window(proj, r0, c0, size):
  """The size x size float32 window at (r0, c0) of a sparse projection (voxels summed)."""
  rows, cols = np.divmod(proj.ids.astype(np.int64), proj.shape[1])
  inside = (rows >= r0) & (rows < r0 + size) & (cols >= c0) & (cols < c0 + size)
  out = np.zeros(size * size, np.float32)
  np.add.at(out, (rows[inside] - r0) * size + (cols[inside] - c0), proj.values[inside])
  return out.reshape(size, size)


def crop_sparse(proj, label_proj, size, min_occupancy, where=''):
  """crop_and_keep of a larcv3 projection (and its label projection or None), from the
  voxels: (charge, label uint8, occupancy) or None when too empty."""
  h, w = proj.shape
  if h < size or w < size:
    raise larcv3.Larcv3Error(f'{where}: projection {proj.projection_id}: image {h} x {w} is '
                             f'smaller than the {size} x {size} crop')
  rows, cols = np.divmod(proj.ids.astype(np.int64), w)
  r0, c0 = crop_origin(rows, cols, proj.values, proj.shape, size)
  charge = _window(proj, r0, c0, size)
  occ = float(np.mean(charge != 0))
  if not occ > min_occupancy:
    return None
  label = (_window(label_proj, r0, c0, size).astype(np.uint8) if label_proj is not None
           else np.zeros((size, size), np.uint8))
  return charge, label, occ


def check_charge(proj, where):
  """Charge is a deposit: a negative voxel is a Larcv3Error (the reader checked finiteness)."""
  if len(proj.values) and proj.values.min() < 0:
    k = int(np.argmin(proj.values))
    raise larcv3.Larcv3Error(f'{where}: projection {proj.projection_id}: voxel {int(proj.ids[k])} '
                             f'has charge {proj.values[k]} (expected >= 0)')


def matching_labels(data_ev, label_ev, where):
  """{projection id: label projection} for every data projection, checked to be the same
  image (shape, pixel size, origin) with values 0, 1, 2 on distinct pixels."""
  by_id = {p.projection_id: p for p in label_ev.projections}
  out = {}
  for p in data_ev.projections:
    pid, lab = p.projection_id, by_id.get(p.projection_id)
    if lab is None:
      raise larcv3.Larcv3Error(
          f'{where}: data projection {pid} has no label projection (label has '
          f'{sorted(by_id) or "none"}: {len(label_ev.projections)} label projections for '
          f'{len(data_ev.projections)} data projections)')
    if (lab.shape != p.shape or not np.allclose(lab.image_sizes, p.image_sizes, rtol=1e-6)
        or not np.allclose(lab.origin, p.origin, rtol=1e-6, atol=1e-6)):
      raise larcv3.Larcv3Error(
          f'{where}: projection {pid}: the label image ({lab.shape[0]} x {lab.shape[1]} pixels, '
          f'{lab.image_sizes} cm at {lab.origin}) is not the data image ({p.shape[0]} x '
          f'{p.shape[1]}, {p.image_sizes} cm at {p.origin}): labels must be per data pixel')
    bad = ~np.isin(lab.values, LABEL_VALUES)
    if bad.any():
      k = int(np.flatnonzero(bad)[0])
      raise larcv3.Larcv3Error(f'{where}: projection {pid}: label voxel {int(lab.ids[k])} is '
                               f'{lab.values[k]} (expected 0 background, 1 track or 2 shower)')
    if len(np.unique(lab.ids)) != len(lab.ids):
      raise larcv3.Larcv3Error(f'{where}: projection {pid}: a label pixel is listed twice')
    out[pid] = lab
  return out


def truth_of(t, where):
  """(particle, momentum) of a `Truth/particle` row (or None: unknown, -1)."""
  if t is None:
    return 'unknown', -1.0
  names = t.dtype.names or ()
  for field, kinds in (('pdg', 'iu'), ('momentum', 'iuf')):
    if field not in names or t.dtype[field].kind not in kinds or t.dtype[field].shape != ():
      raise larcv3.Larcv3Error(f'{where}: Truth/particle has fields {names} ({t.dtype}): expected '
                               'an integer pdg and a number momentum (MeV/c)')
  momentum = float(t['momentum'])
  if not (math.isfinite(momentum) and abs(momentum) <= larcv3.FLOAT32_MAX):
    raise larcv3.Larcv3Error(f'{where}: Truth/particle momentum is {momentum} (expected a finite '
                             'float32 number)')
  return PDG_TO_PARTICLE.get(int(t['pdg']), 'unknown'), momentum


class ExampleMaker:
  """maker(unit, split) -> (key, example) of the split in the unit. Picklable.

  Units: ('larcv3', path) or ('npy', source split 'train' | 'test', 'tracks' | 'showers', path).
  """

  def __init__(self, crop: int = 64, min_occupancy: float = 0.01, full_scale: float = 2.5,
               producer: str = 'data', label_producer: str = 'label'):
    self.crop, self.min_occupancy, self.full_scale = crop, min_occupancy, full_scale
    self.producer, self.label_producer = producer, label_producer
    self.counts = collections.defaultdict(collections.Counter)   # split -> events, crops read

  @staticmethod
  def tally(ex) -> list:
    return [f"class/{ex['class_id']}"]

  @staticmethod
  def describe(unit) -> str:
    """The file of a work unit, for error messages."""
    return os.fspath(unit[-1] if unit[0] == 'npy' else unit[1])

  def why_empty(self, split) -> str:
    """Why a split got no example (from what this maker read in this process)."""
    n = self.counts[split]
    if not n['events']:
      return f'no entry falls in split {split!r}'
    return (f"{n['events']} events in split {split!r} gave {n['crops']} crops, none with more "
            f'than {self.min_occupancy:.0%} non-zero pixels (the crop rule; a custom config '
            'with a lower min_occupancy keeps sparser crops)')

  def __call__(self, unit, split):
    if unit[0] == 'npy':
      return self._npy_examples(*unit[1:], split)
    if unit[0] == 'larcv3':
      return self._larcv3_examples(unit[1], split)
    raise ValueError(f"unknown work unit {unit!r}: expected ('larcv3', path) or ('npy', ...)")

  def _npy_examples(self, src_split, kind, path, split):
    name = os.path.basename(os.fspath(path))
    if (src_split == 'test') != (split == 'test'):
      return
    for i, img in npy_arrays.read_images(path, self.crop):
      if src_split == 'train' and (split_of(f'{name}/{i}') == 'validation') != (split == 'validation'):
        continue
      self.counts[split].update(('events', 'crops'))
      yield f'{name}/{i}', {
          'image': img, 'charge': img.astype(np.float32) * (self.full_scale / 255.0),
          'label': np.zeros_like(img), 'has_label': False,
          'class_id': CLASSES.index(kind[:-1]), 'class_known': True, 'particle': 'unknown',
          'momentum': -1.0, 'occupancy': float(np.mean(img != 0)), 'file': name,
          'run': -1, 'subrun': -1, 'event': -1, 'entry': i, 'projection': 0}

  def _larcv3_examples(self, path, split):
    from taiga_tf.detectors.lartpc.mc.simulate import to_uint8  # pylint: disable=g-import-not-at-top
    name = os.path.basename(os.fspath(path))
    counts = self.counts[split]
    with larcv3.Larcv3Reader(path) as f:
      have_label = self.label_producer in f.sparse2d_producers
      for i in range(len(f)):
        if split_of(f'{name}/{i}') != split:
          continue
        counts['events'] += 1
        ev = f.read(i, self.producer)
        where = f.where(i)
        labels = matching_labels(ev, f.read(i, self.label_producer), where) if have_label else {}
        particle, momentum = truth_of(f.truth(i), where)
        for proj in ev.projections:
          counts['crops'] += 1
          if not 0 <= proj.projection_id <= INT32_MAX:
            raise larcv3.Larcv3Error(f'{where}: projection id {proj.projection_id} is beyond '
                                     'int32, which the dataset stores')
          check_charge(proj, where)
          kept = crop_sparse(proj, labels.get(proj.projection_id), self.crop, self.min_occupancy,
                             where)
          if kept is None:
            continue
          charge, lab, occ = kept
          if particle != 'unknown':
            cls, known = CLASSES.index('track' if particle in TRACK_PARTICLES else 'shower'), True
          elif have_label and (lab > 0).any():
            q = [charge[lab == v].sum(dtype=np.float64) for v in (1, 2)]
            cls, known = int(np.argmax(q)), True
          else:
            cls, known = 0, False
          with np.errstate(over='ignore'):                      # near float32's max: 255
            image = to_uint8(charge, self.full_scale)
          yield f'{name}/{i}/{proj.projection_id}', {
              'image': image, 'charge': charge,
              'label': lab, 'has_label': have_label, 'class_id': cls, 'class_known': known,
              'particle': particle, 'momentum': momentum,
              'occupancy': occ, 'file': name, 'run': ev.event_id[0], 'subrun': ev.event_id[1],
              'event': ev.event_id[2], 'entry': i, 'projection': proj.projection_id}
