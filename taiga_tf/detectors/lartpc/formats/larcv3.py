"""larcv3 HDF5 sparse2d files (PILArNet-style), with h5py only: a streaming reader and a writer.

Layout (../shared/reference/lartpc/LARTPC.md; written by larcv3 3.5.1):

  Events/event_id                       (run, subrun, event) per event
  Data/sparse2d_<producer>_group/
    extents        per event (first, N) into voxel_extents and image_meta
    voxel_extents  per projection (first, N, ID) into voxels
    image_meta     per projection (valid, projection_id, image_sizes[2],
                   number_of_voxels[2], origin[2])
    voxels         (id uint64, value float32); id is the C-order flat index into
                   the (number_of_voxels[0], number_of_voxels[1]) image

The reader opens one event at a time (slices of the datasets), so memory stays
flat in the file size. Every problem is a Larcv3Error naming the file, the event
(entry index and run/subrun/event) and what was expected: a file HDF5 cannot
open (truncated, not HDF5), a missing group or dataset, extents that run past
their tables, voxel ids outside the image, NaN or infinite charge.
The writer appends event by event to chunked, gzip-compressed datasets of the
same dtypes, into a temporary file renamed when closed without error.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Iterator, Sequence

import numpy as np

# the dtypes larcv3 writes (with its padding: itemsize 16 for extents and voxels)
EXTENTS_DTYPE = np.dtype({'names': ['first', 'N'], 'formats': ['<u8', '<u4'], 'offsets': [0, 8],
                          'itemsize': 16})
VOXEL_EXTENTS_DTYPE = np.dtype([('first', '<u8'), ('N', '<u4'), ('ID', '<u4')])
VOXEL_DTYPE = np.dtype({'names': ['id', 'value'], 'formats': ['<u8', '<f4'], 'offsets': [0, 8],
                        'itemsize': 16})
EVENT_ID_DTYPE = np.dtype([('run', '<i8'), ('subrun', '<i8'), ('event', '<i8')])
IMAGE_META2D_DTYPE = np.dtype({
    'names': ['valid', 'projection_id', 'image_sizes', 'number_of_voxels', 'origin'],
    'formats': ['u1', '<u8', ('<f8', (2,)), ('<u8', (2,)), ('<f8', (2,))],
    'offsets': [0, 8, 16, 32, 48], 'itemsize': 72})


class Larcv3Error(ValueError):
  """Malformed larcv3 file; the message names the file, the event and the problem."""


@dataclasses.dataclass
class Projection:
  """One sparse2d projection of one event."""
  projection_id: int
  shape: tuple[int, int]               # number_of_voxels
  image_sizes: tuple[float, float]     # cm
  origin: tuple[float, float]          # cm
  ids: np.ndarray                      # uint64 flat C-order indices
  values: np.ndarray                   # float32

  @property
  def pixel_size(self) -> tuple[float, float]:
    return (self.image_sizes[0] / self.shape[0], self.image_sizes[1] / self.shape[1])

  def dense(self) -> np.ndarray:
    out = np.zeros(self.shape[0] * self.shape[1], np.float32)
    np.add.at(out, self.ids.astype(np.int64), self.values)
    return out.reshape(self.shape)


@dataclasses.dataclass
class Event:
  index: int
  event_id: tuple[int, int, int]        # run, subrun, event
  projections: list[Projection]


def _h5py():
  import h5py  # pylint: disable=g-import-not-at-top
  return h5py


class Larcv3Reader:
  """A larcv3 file's sparse2d products, read one event at a time.

    with Larcv3Reader(path) as f:
      for ev in f.events('data'):
        image = ev.projections[0].dense()
  """

  def __init__(self, path: str | os.PathLike):
    self.path = os.fspath(path)
    try:
      self._f = _h5py().File(self.path, 'r')
    except OSError as e:
      raise Larcv3Error(f'{self.path}: not a readable HDF5 file (truncated or not HDF5): {e}') from e
    for need in ('Events/event_id', 'Data'):
      if need not in self._f:
        self.close()
        raise Larcv3Error(f'{self.path}: missing {need!r}; not a larcv3 file')
    self.n_events = int(self._f['Events/event_id'].shape[0])
    self._groups = {}

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def close(self):
    if getattr(self, '_f', None) is not None:
      self._f.close()
      self._f = None

  def __len__(self):
    return self.n_events

  @property
  def sparse2d_producers(self) -> list[str]:
    return sorted(k[len('sparse2d_'):-len('_group')] for k in self._f['Data']
                  if k.startswith('sparse2d_') and k.endswith('_group'))

  def _group(self, producer):
    """The product's group, checked once per reader (read() is called per event)."""
    if producer not in self._groups:
      self._groups[producer] = self._checked_group(producer)
    return self._groups[producer]

  def _checked_group(self, producer):
    name = f'Data/sparse2d_{producer}_group'
    if name not in self._f:
      raise Larcv3Error(f'{self.path}: no sparse2d product {producer!r} (group {name} missing); '
                        f'the file has: {", ".join(self.sparse2d_producers) or "none"}')
    g = self._f[name]
    for d in ('extents', 'voxel_extents', 'image_meta', 'voxels'):
      if d not in g:
        raise Larcv3Error(f'{self.path}: {name}/{d} missing')
    if g['extents'].shape[0] != self.n_events:
      raise Larcv3Error(f'{self.path}: {name}/extents has {g["extents"].shape[0]} entries for '
                        f'{self.n_events} events')
    return g

  def truth(self, i: int):
    """Event i's row of `Truth/particle` (files of the built-in MC), or None."""
    if 'Truth/particle' not in self._f:
      return None
    t = self._f['Truth/particle']
    if t.shape[0] != self.n_events:
      raise Larcv3Error(f'{self.path}: Truth/particle has {t.shape[0]} rows for {self.n_events} events')
    return t[i]

  def event_id(self, i: int) -> tuple[int, int, int]:
    r = self._f['Events/event_id'][i]
    return (int(r['run']), int(r['subrun']), int(r['event']))

  def read(self, i: int, producer: str = 'data', check: bool = True) -> Event:
    g = self._group(producer)
    return self._read(g, i, producer, check)

  def _read(self, g, i, producer, check) -> Event:
    eid = self.event_id(i)
    where = f'{self.path}: event {i} (run {eid[0]}, subrun {eid[1]}, event {eid[2]}), {producer}'
    first, n = (int(v) for v in g['extents'][i])
    if first + n > g['image_meta'].shape[0] or first + n > g['voxel_extents'].shape[0]:
      raise Larcv3Error(f'{where}: extents ({first}, {n}) run past image_meta/voxel_extents '
                        f'({g["image_meta"].shape[0]} entries): truncated file?')
    metas, vext = g['image_meta'][first:first + n], g['voxel_extents'][first:first + n]
    n_vox = g['voxels'].shape[0]
    out = []
    for meta, (vfirst, vn, _) in zip(metas, vext):
      vfirst, vn = int(vfirst), int(vn)
      if vfirst + vn > n_vox:
        raise Larcv3Error(f'{where}: projection {int(meta["projection_id"])} voxels '
                          f'[{vfirst}, {vfirst + vn}) run past the {n_vox} stored: truncated file?')
      vox = g['voxels'][vfirst:vfirst + vn]
      shape = tuple(int(v) for v in meta['number_of_voxels'])
      p = Projection(int(meta['projection_id']), shape, tuple(float(v) for v in meta['image_sizes']),
                     tuple(float(v) for v in meta['origin']), vox['id'].astype(np.uint64),
                     vox['value'].astype(np.float32))
      if check:
        pid = p.projection_id
        if vn and int(p.ids.max()) >= shape[0] * shape[1]:
          bad = int(p.ids[p.ids >= shape[0] * shape[1]][0])
          raise Larcv3Error(f'{where}: projection {pid}: voxel id {bad} outside the '
                            f'{shape[0]} x {shape[1]} image (ids must be < {shape[0] * shape[1]})')
        if not np.isfinite(p.values).all():
          k = int(np.flatnonzero(~np.isfinite(p.values))[0])
          raise Larcv3Error(f'{where}: projection {pid}: voxel {int(p.ids[k])} has charge '
                            f'{p.values[k]} (expected a finite number)')
      out.append(p)
    return Event(i, eid, out)

  def events(self, producer: str = 'data', check: bool = True) -> Iterator[Event]:
    g = self._group(producer)
    for i in range(self.n_events):
      yield self._read(g, i, producer, check)


class Larcv3Writer:
  """Writes events of sparse2d products, appending; renamed into place on close.

    with Larcv3Writer(path, ['data', 'label']) as w:
      w.add_event((run, subrun, event), {'data': [proj0, ...], 'label': [...]})
  """

  def __init__(self, path: str | os.PathLike, producers: Sequence[str], chunk: int = 4096,
               truth_dtype: np.dtype | None = None):
    """truth_dtype: optional per-event truth rows, stored in `Truth/particle` (not a
    larcv3 product: larcv3 and this reader's events ignore it; `truth()` reads it)."""
    self.path = os.fspath(path)
    self._tmp = self.path + '.partial'
    self._f = _h5py().File(self._tmp, 'w')
    self.producers = list(producers)
    mk = lambda g, name, dtype, c: g.create_dataset(name, (0,), dtype=dtype, maxshape=(None,),
                                                    chunks=(c,), compression='gzip')
    self._ev = mk(self._f.create_group('Events'), 'event_id', EVENT_ID_DTYPE, 100)
    data = self._f.create_group('Data')
    self._g = {}
    for p in self.producers:
      g = data.create_group(f'sparse2d_{p}_group')
      self._g[p] = {'extents': mk(g, 'extents', EXTENTS_DTYPE, 100),
                    'voxel_extents': mk(g, 'voxel_extents', VOXEL_EXTENTS_DTYPE, 100),
                    'image_meta': mk(g, 'image_meta', IMAGE_META2D_DTYPE, 100),
                    'voxels': mk(g, 'voxels', VOXEL_DTYPE, chunk)}
    self._truth = (mk(self._f.create_group('Truth'), 'particle', truth_dtype, 100)
                   if truth_dtype is not None else None)
    self.n_events = 0

  def __enter__(self):
    return self

  def __exit__(self, exc_type, *exc):
    if exc_type is None:
      self.close()
    else:
      self.abort()

  @staticmethod
  def _append(ds, rows):
    n = ds.shape[0]
    ds.resize((n + len(rows),))
    if len(rows):
      ds[n:] = rows
    return n

  def add_event(self, event_id, products: dict[str, list[Projection]], truth=None):
    if set(products) != set(self.producers):
      raise ValueError(f'event {event_id}: products {sorted(products)} != {sorted(self.producers)}')
    if (truth is None) != (self._truth is None):
      raise ValueError(f'event {event_id}: truth rows are given for all events or none')
    self._append(self._ev, np.array([tuple(int(v) for v in event_id)], EVENT_ID_DTYPE))
    if truth is not None:
      self._append(self._truth, np.array([truth], self._truth.dtype))
    for name, projs in products.items():
      g = self._g[name]
      meta = np.zeros(len(projs), IMAGE_META2D_DTYPE)
      vext = np.zeros(len(projs), VOXEL_EXTENTS_DTYPE)
      for k, p in enumerate(projs):
        ids = np.asarray(p.ids, np.uint64)
        if len(ids) and int(ids.max()) >= p.shape[0] * p.shape[1]:
          raise ValueError(f'event {event_id} {name}: voxel id outside the {p.shape} image')
        vox = np.zeros(len(ids), VOXEL_DTYPE)
        vox['id'], vox['value'] = ids, np.asarray(p.values, np.float32)
        first = self._append(g['voxels'], vox)
        vext[k] = (first, len(ids), p.projection_id)
        meta[k] = (1, p.projection_id, p.image_sizes, p.shape, p.origin)
      first = self._append(g['image_meta'], meta)
      self._append(g['voxel_extents'], vext)
      self._append(g['extents'], np.array([(first, len(projs))], EXTENTS_DTYPE))
    self.n_events += 1

  def close(self):
    if self._f is not None:
      self._f.close()
      self._f = None
      os.replace(self._tmp, self.path)

  def abort(self):
    if self._f is not None:
      self._f.close()
      self._f = None
      if os.path.exists(self._tmp):
        os.remove(self._tmp)


def sparse_projection(image: np.ndarray, projection_id: int = 0, pixel_cm: float = 0.3,
                      origin=(0.0, 0.0)) -> Projection:
  """A dense (H, W) image as a sparse2d projection of its non-zero pixels."""
  image = np.asarray(image, np.float32)
  flat = image.ravel()
  ids = np.flatnonzero(flat).astype(np.uint64)
  return Projection(projection_id, image.shape, (image.shape[0] * pixel_cm, image.shape[1] * pixel_cm),
                    tuple(origin), ids, flat[ids.astype(np.int64)])
