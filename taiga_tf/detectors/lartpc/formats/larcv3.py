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
open (truncated, not HDF5), a path that is not a regular file (a FIFO would
block), a missing group or dataset, a table of another dtype than larcv3's
(fields and integer/float kinds; event ids must be integers within int64),
extents that run past their tables, voxel ids outside the image, a projection
id listed twice in one event, NaN, infinite or beyond-float32 charge, and a
damaged compressed chunk. What a file can make the reader allocate is bounded
(`max_pixels` per image, `max_voxels` and `max_projections` per event): an
image header asking for more is refused before anything is allocated.
The writer appends event by event to chunked, gzip-compressed datasets of the
same dtypes, into a temporary file renamed when closed without error.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
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


# bounds of what one image header / event may make the reader allocate
MAX_PIXELS = 2**25          # 33.5 M pixels (128 MiB as float32): a full 3456 x 9600 MicroBooNE plane fits
MAX_VOXELS = 2**22          # 4.2 M voxels (64 MiB) per projection
MAX_PROJECTIONS = 1024      # per event and product (detectors have 1-3 planes)
FLOAT32_MAX = float(np.finfo(np.float32).max)
INT64_MAX = 2**63 - 1

# the fields the reader needs: name -> (numpy kinds, shape)
_INT, _NUM = 'iu', 'iuf'
_NEEDED_FIELDS = {
    'Events/event_id': {'run': (_INT, ()), 'subrun': (_INT, ()), 'event': (_INT, ())},
    'extents': {'first': (_INT, ()), 'N': (_INT, ())},
    'voxel_extents': {'first': (_INT, ()), 'N': (_INT, ())},
    'image_meta': {'projection_id': (_INT, ()), 'image_sizes': (_NUM, (2,)),
                   'number_of_voxels': (_INT, (2,)), 'origin': (_NUM, (2,))},
    'voxels': {'id': (_INT, ()), 'value': (_NUM, ())},
}


class Larcv3Error(ValueError):
  """Malformed larcv3 file; the message names the file, the event and the problem."""


# what h5py / numpy raise on a damaged file (metadata or chunks): OSError for a failed
# read or filter, and, from corrupted headers, anything from a bad string to a bad size
_DAMAGED = (OSError, RuntimeError, ValueError, TypeError, KeyError, IndexError, OverflowError,
            MemoryError)


@contextlib.contextmanager
def _reading(where):
  """Turns what a damaged file makes h5py raise into a Larcv3Error naming `where`."""
  try:
    yield
  except Larcv3Error:
    raise
  except _DAMAGED as e:
    raise Larcv3Error(f'{where}: unreadable ({type(e).__name__}: {e}): a damaged file?') from e


def _check_table(ds, path, name):
  """`ds` is a 1-D dataset with the fields (and kinds) the reader needs, or a Larcv3Error."""
  h5py = _h5py()
  if not isinstance(ds, h5py.Dataset):
    raise Larcv3Error(f'{path}: {name} is a {type(ds).__name__}, expected a dataset (larcv3 layout)')
  need = _NEEDED_FIELDS[name.rsplit('/', 1)[-1] if not name.startswith('Events') else name]
  dt = ds.dtype
  bad = [] if dt.names else list(need)
  for field, (kinds, shape) in need.items():
    if dt.names and (field not in dt.names or dt[field].base.kind not in kinds
                     or dt[field].shape != shape):
      bad.append(field)
  if len(ds.shape) != 1 or bad:
    want = ', '.join(f'{f} ({"integer" if k == _INT else "number"}{"[2]" if s else ""})'
                     for f, (k, s) in need.items())
    raise Larcv3Error(f'{path}: {name} has dtype {dt} and shape {ds.shape}; expected a 1-D table '
                      f'with fields {want} (the larcv3 layout)')
  _check_stored(ds, path, name)
  return ds


def _check_stored(ds, path, name):
  """The rows a table declares are stored: a small file declaring 10^12 unwritten rows
  (read back as fill values) would make the reader loop for ever."""
  h5d = _h5py().h5d
  n = ds.shape[0]
  layout = ds.id.get_create_plist().get_layout()
  if n == 0 or layout not in (h5d.CHUNKED, h5d.CONTIGUOUS):
    return
  stored = (ds.id.get_num_chunks() * ds.chunks[0] if layout == h5d.CHUNKED
            else ds.id.get_storage_size() // max(ds.dtype.itemsize, 1))
  if stored < n:
    raise Larcv3Error(f'{path}: {name} declares {n} rows but stores at most {stored}: a damaged '
                      'or truncated file')


def check_regular_file(path):
  """A Larcv3Error unless `path` is a regular file (a FIFO would block the reader)."""
  mode = os.stat(path).st_mode
  if not stat.S_ISREG(mode):
    kind = ('a directory' if stat.S_ISDIR(mode) else 'a FIFO (named pipe)' if stat.S_ISFIFO(mode)
            else 'a device or socket')
    raise Larcv3Error(f'{os.fspath(path)}: {kind}, not a regular file: only regular files are read')


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

  def __init__(self, path: str | os.PathLike, max_pixels: int = MAX_PIXELS,
               max_voxels: int = MAX_VOXELS, max_projections: int = MAX_PROJECTIONS):
    self.path = os.fspath(path)
    self.max_pixels, self.max_voxels = max_pixels, max_voxels
    self.max_projections = max_projections
    check_regular_file(self.path)
    h5py = _h5py()
    try:
      self._f = h5py.File(self.path, 'r')
    except OSError as e:
      raise Larcv3Error(f'{self.path}: not a readable HDF5 file (truncated or not HDF5): {e}') from e
    try:
      with _reading(self.path):
        for need in ('Events/event_id', 'Data'):
          if need not in self._f:
            raise Larcv3Error(f'{self.path}: missing {need!r}; not a larcv3 file')
        if not isinstance(self._f['Data'], h5py.Group):
          raise Larcv3Error(f'{self.path}: Data is not a group; not a larcv3 file')
        self._event_ids = _check_table(self._f['Events/event_id'], self.path, 'Events/event_id')
        self.n_events = int(self._event_ids.shape[0])
    except Larcv3Error:
      self.close()
      raise
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
    with _reading(f'{self.path}: Data'):
      return sorted(k[len('sparse2d_'):-len('_group')] for k in self._f['Data']
                    if k.startswith('sparse2d_') and k.endswith('_group'))

  def _group(self, producer):
    """The product's group, checked once per reader (read() is called per event)."""
    if producer not in self._groups:
      with _reading(f'{self.path}: sparse2d product {producer!r}'):
        self._groups[producer] = self._checked_group(producer)
    return self._groups[producer]

  def _checked_group(self, producer):
    name = f'Data/sparse2d_{producer}_group'
    if name not in self._f:
      raise Larcv3Error(f'{self.path}: no sparse2d product {producer!r} (group {name} missing); '
                        f'the file has: {", ".join(self.sparse2d_producers) or "none"}')
    g = self._f[name]
    if not isinstance(g, _h5py().Group):
      raise Larcv3Error(f'{self.path}: {name} is not a group (larcv3 layout)')
    for d in ('extents', 'voxel_extents', 'image_meta', 'voxels'):
      if d not in g:
        raise Larcv3Error(f'{self.path}: {name}/{d} missing')
      _check_table(g[d], self.path, f'{name}/{d}')
    if g['extents'].shape[0] != self.n_events:
      raise Larcv3Error(f'{self.path}: {name}/extents has {g["extents"].shape[0]} entries for '
                        f'{self.n_events} events')
    return g

  def truth(self, i: int):
    """Event i's row of `Truth/particle` (files of the built-in MC), or None."""
    with _reading(f'{self.path}: event {i}: Truth/particle'):
      return self._truth(i)

  def _truth(self, i: int):
    if 'Truth/particle' not in self._f:
      return None
    t = self._f['Truth/particle']
    if not isinstance(t, _h5py().Dataset) or len(t.shape) != 1 or not t.dtype.names:
      raise Larcv3Error(f'{self.path}: Truth/particle is not a 1-D table of named fields')
    if t.shape[0] != self.n_events:
      raise Larcv3Error(f'{self.path}: Truth/particle has {t.shape[0]} rows for {self.n_events} events')
    if not getattr(self, '_truth_checked', False):
      _check_stored(t, self.path, 'Truth/particle')
      self._truth_checked = True
    return t[i]

  def event_id(self, i: int) -> tuple[int, int, int]:
    if not 0 <= i < self.n_events:
      raise IndexError(f'{self.path}: event {i} out of range ({self.n_events} events)')
    with _reading(f'{self.path}: event {i}: Events/event_id'):
      r = self._event_ids[i]
      eid = (int(r['run']), int(r['subrun']), int(r['event']))
    if any(not -INT64_MAX - 1 <= v <= INT64_MAX for v in eid):
      raise Larcv3Error(f'{self.path}: event {i}: event id (run, subrun, event) = {eid} is beyond '
                        'int64, which the dataset stores')
    return eid

  def where(self, i: int, producer: str | None = None) -> str:
    """'<file>: event i (run r, subrun s, event e)[, producer]' for messages."""
    run, subrun, event = self.event_id(i)
    return (f'{self.path}: event {i} (run {run}, subrun {subrun}, event {event})'
            + (f', {producer}' if producer else ''))

  def read(self, i: int, producer: str = 'data', check: bool = True) -> Event:
    g = self._group(producer)
    return self._read(g, i, producer, check)

  def _read(self, g, i, producer, check) -> Event:
    eid = self.event_id(i)
    where = (f'{self.path}: event {i} (run {eid[0]}, subrun {eid[1]}, event {eid[2]}), '
             f'{producer}')
    with _reading(where):       # h5py on a damaged chunk: inflate failed, wrong sizes, ...
      return Event(i, eid, self._projections(g, i, where, check))

  def _projections(self, g, i, where, check) -> list:
    ext = g['extents'][i]
    first, n = int(ext['first']), int(ext['N'])
    if first < 0 or n < 0 or n > self.max_projections:
      raise Larcv3Error(f'{where}: extents ({first}, {n}): expected 0 to {self.max_projections} '
                        'projections from a non-negative first entry')
    if first + n > g['image_meta'].shape[0] or first + n > g['voxel_extents'].shape[0]:
      raise Larcv3Error(f'{where}: extents ({first}, {n}) run past image_meta/voxel_extents '
                        f'({g["image_meta"].shape[0]} entries): truncated file?')
    metas, vext = g['image_meta'][first:first + n], g['voxel_extents'][first:first + n]
    n_vox = g['voxels'].shape[0]
    out, seen = [], set()
    for meta, ve in zip(metas, vext):
      vfirst, vn, pid = int(ve['first']), int(ve['N']), int(meta['projection_id'])
      shape = tuple(int(v) for v in meta['number_of_voxels'])
      if min(shape) < 1 or shape[0] * shape[1] > self.max_pixels:
        raise Larcv3Error(f'{where}: projection {pid}: image of {shape[0]} x {shape[1]} pixels '
                          f'(number_of_voxels): expected 1 to {self.max_pixels} pixels '
                          '(Larcv3Reader max_pixels)')
      if vfirst < 0 or vn < 0 or vn > min(self.max_voxels, shape[0] * shape[1]):
        raise Larcv3Error(f'{where}: projection {pid}: voxel_extents ({vfirst}, {vn}): expected a '
                          f'non-negative first voxel and at most '
                          f'{min(self.max_voxels, shape[0] * shape[1])} voxels (no more than the '
                          f'{shape[0]} x {shape[1]} pixels; Larcv3Reader max_voxels)')
      if vfirst + vn > n_vox:
        raise Larcv3Error(f'{where}: projection {pid} voxels '
                          f'[{vfirst}, {vfirst + vn}) run past the {n_vox} stored: truncated file?')
      if check and pid in seen:
        raise Larcv3Error(f'{where}: projection id {pid} listed twice in one event')
      seen.add(pid)
      vox = g['voxels'][vfirst:vfirst + vn]
      ids, values = vox['id'], vox['value']
      sizes = tuple(float(v) for v in meta['image_sizes'])
      origin = tuple(float(v) for v in meta['origin'])
      if check:
        if vn and ids.dtype.kind == 'i' and int(ids.min()) < 0:
          raise Larcv3Error(f'{where}: projection {pid}: voxel id {int(ids.min())} is negative')
        if vn and int(ids.max()) >= shape[0] * shape[1]:
          bad = int(ids[ids >= shape[0] * shape[1]][0])
          raise Larcv3Error(f'{where}: projection {pid}: voxel id {bad} outside the '
                            f'{shape[0]} x {shape[1]} image (ids must be < {shape[0] * shape[1]})')
        bad = ~np.isfinite(values) | (np.abs(values.astype(np.float64)) > FLOAT32_MAX)
        if bad.any():
          k = int(np.flatnonzero(bad)[0])
          raise Larcv3Error(f'{where}: projection {pid}: voxel {int(ids[k])} has charge '
                            f'{values[k]} (expected a finite number within float32)')
        if not all(np.isfinite(sizes + origin)):
          raise Larcv3Error(f'{where}: projection {pid}: image_sizes {sizes} and origin {origin} '
                            'must be finite')
      out.append(Projection(pid, shape, sizes, origin, ids.astype(np.uint64),
                            values.astype(np.float32)))
    return out

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
