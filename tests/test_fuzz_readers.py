"""Bounded fuzzing of the readers (hypothesis): the TAIGA text reader and the larcv3 reader.

Inputs are derived from valid files and mutated (truncation, byte flips, tokens replaced by
huge or special numbers, long lines, lines deleted or repeated, gzip; for larcv3 hostile
values in every field of every table, tables of another dtype, damaged compressed chunks,
declared but unwritten rows). The property: the reader (and the example maker the TFDS
builder runs) returns valid events, or raises a ValueError-family error whose message
names the file; never another exception type, never a hang (a timer fails the example).
Derandomized and bounded (200 examples each), so the run is the same on every machine and
takes a few seconds.
"""
import gzip
import os
import shutil

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import time_limit
from taiga_tf.detectors.lartpc import examples as lartpc_examples
from taiga_tf.detectors.lartpc.detector import CLASSES, PARTICLES
from taiga_tf.detectors.lartpc.formats import larcv3
from taiga_tf.detectors.lartpc.mc.simulate import TRUTH_DTYPE
from taiga_tf.detectors.taiga_iact import examples as taiga_examples
from taiga_tf.detectors.taiga_iact.camera import builtin_camera
from taiga_tf.detectors.taiga_iact.formats import taiga_text

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
CAM = builtin_camera()
F32 = float(np.finfo(np.float32).max)


def no_hang(seconds=10):
  return time_limit(seconds, 'the reader hangs')


# ------------------------------------------------------------------ TAIGA text files
def _taiga_base() -> bytes:
  rng = np.random.default_rng(5)
  blocks = []
  for s in range(3):
    amps = np.zeros(CAM.n_pixels)
    amps[rng.choice(CAM.n_pixels, 6, replace=False)] = np.round(rng.uniform(1, 200, 6), 2)
    header = dict(n_shower=s, i_scat=s % 2, n_pix=0, energy=5.25 + s, x_ground=-120.5,
                  y_ground=33.25, tel_theta=0.0, tel_phi=0.0, src_theta=0.01, src_phi=1.5,
                  xmax=412.5)
    blocks.append(taiga_text.format_block(header, taiga_text.pixel_lines(CAM, amps)))
  return ''.join(blocks).encode()


TAIGA_BASE = _taiga_base()
TOKENS = [b'nan', b'inf', b'-inf', b'1e39', b'-4e38', b'3.4e38', b'99999999999', b'2147483648',
          b'1e400', b'-1', b'0', b'1.5', b'0x1f', b'', b'\xc3\xa9', b'\xe9', b'\x00', b'1' * 5000,
          b' ' * 5000, b'1e-400', b'10000', b'10001', b'560', b'\n', b'\r\n', b'1 2 3 4 5 6']

text_mutation = st.one_of(
    st.tuples(st.just('truncate'), st.floats(0, 1)),
    st.tuples(st.just('flip'), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just('token'), st.floats(0, 1), st.sampled_from(TOKENS)),
    st.tuples(st.just('header_token'), st.floats(0, 1), st.integers(0, 10), st.sampled_from(TOKENS)),
    st.tuples(st.just('delete_line'), st.floats(0, 1)),
    st.tuples(st.just('repeat_line'), st.floats(0, 1), st.integers(1, 3)),
    st.tuples(st.just('long_line'), st.floats(0, 1), st.integers(4000, 200_000)),
)


def _mutate_text(data: bytes, ops) -> bytes:
  for op in ops:
    pos = int(op[1] * len(data))
    if op[0] == 'truncate':
      data = data[:pos]
    elif op[0] == 'flip' and data:
      data = data[:pos] + bytes([op[2]]) + data[pos + 1:]
    elif op[0] == 'header_token':        # field k of one of the 11-field header lines
      lines = data.split(b'\n')
      heads = [i for i, line in enumerate(lines) if len(line.split()) == 11]
      if heads:
        i = heads[min(int(op[1] * len(heads)), len(heads) - 1)]
        fields = lines[i].split()
        fields[op[2]] = op[3]
        lines[i] = b' '.join(fields)
        data = b'\n'.join(lines)
    elif op[0] == 'token':
      tokens = data.split(b' ')
      k = min(int(op[1] * len(tokens)), len(tokens) - 1)
      tokens[k] = op[2]
      data = b' '.join(tokens)
    else:
      lines = data.split(b'\n')
      k = min(int(op[1] * len(lines)), len(lines) - 1)
      if op[0] == 'delete_line':
        del lines[k]
      elif op[0] == 'repeat_line':
        lines[k:k] = [lines[k]] * op[2]
      else:
        lines.insert(k, b'7' * op[2])
      data = b'\n'.join(lines)
  return data


def _check_taiga_file(path):
  """Valid events, or a ValueError naming the file."""
  name = os.path.basename(path)
  try:
    with no_hang():
      for b in taiga_text.read_events(path):
        assert b.pixels.shape == (b.header['n_pix'], 5) and np.isfinite(b.pixels).all()
        for k, v in b.header.items():
          if k in ('n_shower', 'i_scat', 'n_pix'):
            assert isinstance(v, int) and 0 <= v < 2**31
          else:
            assert np.isfinite(v) and abs(v) <= F32
        a = b.amplitudes(CAM)
        assert a.shape == (CAM.n_pixels,) and a.dtype == np.float32 and np.isfinite(a).all()
      # and what `tfds build` runs on it: examples with finite float32 features
      maker = taiga_examples.ExampleMaker()
      for split in ('train', 'validation', 'test'):
        for key, ex in maker(('gamma', path, path), split):
          assert key.startswith('gamma/') and ex['image'].shape == CAM.square_shape
          assert np.isfinite(ex['image']).all() and np.isfinite(ex['image_signal']).all()
          assert all(np.isfinite(v) for v in ex['hillas'].values())
  except ValueError as e:
    assert name in str(e), f'{type(e).__name__} does not name the file: {e}'
    return 'error'
  return 'ok'


@FUZZ
@given(ops=st.lists(text_mutation, min_size=1, max_size=4), compress=st.booleans(),
       cut_compressed=st.one_of(st.none(), st.floats(0, 1)))
def test_fuzz_taiga_text_reader(tmp_path, ops, compress, cut_compressed):
  data = _mutate_text(TAIGA_BASE, ops)
  path = tmp_path / ('fuzz_c.txt.gz' if compress else 'fuzz_c.txt')
  if compress:
    data = gzip.compress(data)
    if cut_compressed is not None:
      data = data[:int(cut_compressed * len(data))]
  path.write_bytes(data)
  _check_taiga_file(os.fspath(path))


def test_fuzz_base_taiga_file_is_valid(tmp_path):
  path = tmp_path / 'ok_c.txt'
  path.write_bytes(TAIGA_BASE)
  assert _check_taiga_file(os.fspath(path)) == 'ok'


# ------------------------------------------------------------------ larcv3 files
CROP = 16


@pytest.fixture(scope='module')
def larcv3_base(tmp_path_factory):
  """3 events, 32 x 32 data and label projections (kept by a 16 x 16 crop), truth rows."""
  path = tmp_path_factory.mktemp('fuzz') / 'base.h5'
  rng = np.random.default_rng(0)
  with larcv3.Larcv3Writer(path, ['data', 'label'], truth_dtype=TRUTH_DTYPE) as w:
    for i in range(3):
      ids = np.unique(rng.integers(0, 32 * 32, 60)).astype(np.uint64)
      meta = (0, (32, 32), (9.6, 9.6), (0.0, 0.0))
      w.add_event((7, 1, i), {
          'data': [larcv3.Projection(*meta, ids, rng.uniform(0.1, 2, len(ids)).astype(np.float32))],
          'label': [larcv3.Projection(*meta, ids, rng.integers(1, 3, len(ids)).astype(np.float32))]},
          truth=(13, 250.0, (0, 0, 1), (0, 0, 0), 10.0))
  return path


TABLES = ['Events/event_id', 'Truth/particle'] + [
    f'Data/sparse2d_{p}_group/{t}' for p in ('data', 'label')
    for t in ('extents', 'voxel_extents', 'image_meta', 'voxels')]
VALUES = {
    'u': [0, 1, 2, 3, 31, 32, 1024, 2**31, 2**32, 2**63 + 1, 2**64 - 1],
    'i': [-1, 0, 1, 7, 2**31, -2**63, 2**63 - 1],
    'f': [float('nan'), float('inf'), -float('inf'), -1.0, 0.0, 1.5, 7.0, 3e38, -3e38, 1e-45,
          1e300, 2.0**64],
}

larcv3_mutation = st.one_of(
    # a hostile value in one field of one row (or of every row)
    st.tuples(st.just('value'), st.sampled_from(TABLES), st.floats(0, 1), st.integers(0, 30),
              st.integers(0, 20), st.booleans()),
    # a field of another kind (float ids, float event ids, ...) or a field dropped
    st.tuples(st.just('retype'), st.sampled_from(TABLES), st.integers(0, 30),
              st.sampled_from(['<f8', '<i8', '<u1', 'drop'])),
    st.tuples(st.just('delete'), st.sampled_from(TABLES + ['Data/sparse2d_label_group',
                                                          'Data/sparse2d_data_group'])),
    st.tuples(st.just('resize'), st.sampled_from(TABLES), st.sampled_from([0, 1, 2, 10**9])),
    st.tuples(st.just('chunk_bytes'), st.floats(0, 1), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just('truncate'), st.floats(0, 1)),
)


def _set_value(ds, row_frac, field_k, value_k, every_row):
  if not ds.dtype.names or not ds.shape[0]:
    return
  field = ds.dtype.names[field_k % len(ds.dtype.names)]
  kind = ds.dtype[field].base.kind
  if kind not in VALUES:
    return
  values = VALUES[kind]
  value = values[value_k % len(values)]
  base = ds.dtype[field].base
  if kind == 'u' and value >= 2**(8 * base.itemsize) or kind == 'i' and not (
      -2**(8 * base.itemsize - 1) <= value < 2**(8 * base.itemsize - 1)):
    return
  if kind == 'f' and base.itemsize == 4 and np.isfinite(value) and abs(value) > F32:
    value = 3.4e38
  n = min(ds.shape[0], 100)              # (a table resized to 10^9 rows: its first rows)
  rows = range(n) if every_row else [min(int(row_frac * n), n - 1)]
  for r in rows:
    row = ds[r]
    row[field] = value
    ds[r] = row


def _retype(f, name, field_k, new):
  ds = f[name]
  if not ds.dtype.names or ds.shape[0] > 1000:
    return
  data = ds[:]
  field = ds.dtype.names[field_k % len(ds.dtype.names)]
  fields = [(n, ds.dtype[n]) for n in ds.dtype.names if not (new == 'drop' and n == field)]
  if new != 'drop':
    fields = [(n, np.dtype((new, dt.shape)) if n == field else dt) for n, dt in fields]
  if not fields:
    return
  out = np.zeros(len(data), fields)
  with np.errstate(all='ignore'):
    for n, _ in fields:
      out[n] = data[n]
  del f[name]
  f.create_dataset(name, data=out, maxshape=(None,), chunks=True)


def _mutate_larcv3(base, path, ops):
  shutil.copy(base, path)
  with h5py.File(path, 'r+') as f:
    for op in ops:
      if op[0] in ('chunk_bytes', 'truncate') or op[1] not in f:
        continue
      if op[0] == 'value':
        _set_value(f[op[1]], *op[2:])
      elif op[0] == 'retype':
        _retype(f, op[1], op[2], op[3])
      elif op[0] == 'delete':
        del f[op[1]]
      elif op[0] == 'resize':
        f[op[1]].resize((op[2],))
    chunks = []
    def visit(_, obj):
      if isinstance(obj, h5py.Dataset) and obj.chunks:
        chunks.extend(obj.id.get_chunk_info(k) for k in range(obj.id.get_num_chunks()))
    f.visititems(visit)
  data = bytearray(path.read_bytes())
  for op in ops:
    # byte flips only inside the compressed data chunks: flips in HDF5's own metadata can
    # corrupt libhdf5's heap (a crash of the C library, not of this reader)
    if op[0] == 'chunk_bytes' and chunks:
      ci = chunks[min(int(op[1] * len(chunks)), len(chunks) - 1)]
      data[ci.byte_offset + min(int(op[2] * ci.size), ci.size - 1)] = op[3]
  for op in ops:
    if op[0] == 'truncate':
      data = data[:int(op[1] * len(data))]
  path.write_bytes(bytes(data))


def _check_larcv3_file(path):
  """Valid events and examples, or a ValueError naming the file."""
  path = os.fspath(path)
  try:
    with no_hang():
      with larcv3.Larcv3Reader(path) as f:
        for producer in f.sparse2d_producers:
          for ev in f.events(producer):
            for p in ev.projections:
              assert p.shape[0] * p.shape[1] <= larcv3.MAX_PIXELS
              assert len(p.ids) <= larcv3.MAX_VOXELS and p.values.dtype == np.float32
              assert np.isfinite(p.values).all() and (p.ids < p.shape[0] * p.shape[1]).all()
      maker = lartpc_examples.ExampleMaker(crop=CROP)
      for split in ('train', 'validation', 'test'):
        for key, ex in maker(('larcv3', path), split):
          assert key.startswith('m.h5/')
          assert ex['image'].shape == ex['charge'].shape == ex['label'].shape == (CROP, CROP)
          assert ex['image'].dtype == ex['label'].dtype == np.uint8
          assert ex['charge'].dtype == np.float32 and np.isfinite(ex['charge']).all()
          assert (ex['charge'] >= 0).all() and set(np.unique(ex['label'])) <= {0, 1, 2}
          assert 0.01 < ex['occupancy'] <= 1 and 0 <= ex['class_id'] < len(CLASSES)
          assert ex['particle'] in PARTICLES and np.isfinite(ex['momentum'])
          assert 0 <= ex['projection'] < 2**31
          assert all(-2**63 <= ex[k] < 2**63 for k in ('run', 'subrun', 'event'))
  except ValueError as e:
    assert path in str(e), f'{type(e).__name__} does not name the file: {e}'
    return 'error'
  return 'ok'


@FUZZ
@given(ops=st.lists(larcv3_mutation, min_size=1, max_size=3))
def test_fuzz_larcv3_reader(larcv3_base, tmp_path, ops):
  path = tmp_path / 'm.h5'
  with no_hang():
    _mutate_larcv3(larcv3_base, path, ops)
  _check_larcv3_file(path)


def test_fuzz_base_larcv3_file_is_valid(larcv3_base, tmp_path):
  shutil.copy(larcv3_base, tmp_path / 'm.h5')
  assert _check_larcv3_file(tmp_path / 'm.h5') == 'ok'
