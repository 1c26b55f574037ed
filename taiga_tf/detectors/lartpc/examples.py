"""larcv3 files and the reference's npy arrays -> the examples of the `lartpc` TFDS builder.

The builder (datasets/lartpc) owns the TFDS side; this module makes the examples of
one work unit (a larcv3 file, or one npy array) so that the same code runs in the
builder's process or on Apache Beam workers (which import taiga_tf, not the builder
module). Every projection of an event gives one crop around the charge-weighted
centre, kept when more than `min_occupancy` of its pixels are non-zero.
"""
from __future__ import annotations

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


def crop_and_keep(charge, label, size, min_occupancy):
  """The size x size crop around the charge-weighted centre, or None when too empty."""
  from taiga_tf.detectors.lartpc.mc.simulate import crop  # pylint: disable=g-import-not-at-top
  if charge.shape[0] < size or charge.shape[1] < size:
    raise ValueError(f'image {charge.shape} is smaller than the {size} x {size} crop')
  c, l = crop(charge, size, label)
  occ = float(np.mean(c != 0))
  return (c, l, occ) if occ > min_occupancy else None


class ExampleMaker:
  """maker(unit, split) -> (key, example) of the split in the unit. Picklable.

  Units: ('larcv3', path) or ('npy', source split 'train' | 'test', 'tracks' | 'showers', path).
  """

  def __init__(self, crop: int = 64, min_occupancy: float = 0.01, full_scale: float = 2.5,
               producer: str = 'data', label_producer: str = 'label'):
    self.crop, self.min_occupancy, self.full_scale = crop, min_occupancy, full_scale
    self.producer, self.label_producer = producer, label_producer

  @staticmethod
  def tally(ex) -> list:
    return [f"class/{ex['class_id']}"]

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
      yield f'{name}/{i}', {
          'image': img, 'charge': img.astype(np.float32) * (self.full_scale / 255.0),
          'label': np.zeros_like(img), 'has_label': False,
          'class_id': CLASSES.index(kind[:-1]), 'class_known': True, 'particle': 'unknown',
          'momentum': -1.0, 'occupancy': float(np.mean(img != 0)), 'file': name,
          'run': -1, 'subrun': -1, 'event': -1, 'entry': i, 'projection': 0}

  def _larcv3_examples(self, path, split):
    from taiga_tf.detectors.lartpc.mc.simulate import to_uint8  # pylint: disable=g-import-not-at-top
    name = os.path.basename(os.fspath(path))
    with larcv3.Larcv3Reader(path) as f:
      have_label = self.label_producer in f.sparse2d_producers
      for i in range(len(f)):
        if split_of(f'{name}/{i}') != split:
          continue
        ev = f.read(i, self.producer)
        lab_ev = f.read(i, self.label_producer) if have_label else None
        truth = f.truth(i)
        particle = PDG_TO_PARTICLE.get(int(truth['pdg']), 'unknown') if truth is not None else 'unknown'
        for k, proj in enumerate(ev.projections):
          label = (lab_ev.projections[k].dense().astype(np.uint8) if have_label
                   else np.zeros(proj.shape, np.uint8))
          kept = crop_and_keep(proj.dense(), label, self.crop, self.min_occupancy)
          if kept is None:
            continue
          charge, lab, occ = kept
          if particle != 'unknown':
            cls, known = CLASSES.index('track' if particle in TRACK_PARTICLES else 'shower'), True
          elif have_label and (lab > 0).any():
            q = [charge[lab == v].sum() for v in (1, 2)]
            cls, known = int(np.argmax(q)), True
          else:
            cls, known = 0, False
          yield f'{name}/{i}/{proj.projection_id}', {
              'image': to_uint8(charge, self.full_scale), 'charge': charge.astype(np.float32),
              'label': lab, 'has_label': have_label, 'class_id': cls, 'class_known': known,
              'particle': particle,
              'momentum': float(truth['momentum']) if truth is not None else -1.0,
              'occupancy': occ, 'file': name, 'run': ev.event_id[0], 'subrun': ev.event_id[1],
              'event': ev.event_id[2], 'entry': i, 'projection': proj.projection_id}
