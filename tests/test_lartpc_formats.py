"""larcv3 HDF5 and the reference npy arrays: the real sample file, round trips, hostile inputs."""
import os
import shutil
import tracemalloc

import h5py
import numpy as np
import pytest

from taiga_tf.detectors.lartpc.formats import larcv3, npy_arrays
from taiga_tf.detectors.lartpc.formats.larcv3 import Larcv3Error, Larcv3Reader, Larcv3Writer


def test_reads_the_real_larcv3_sample(larcv3_sample):
  sample = larcv3_sample
  with Larcv3Reader(sample) as f:
    assert len(f) == 5 and f.sparse2d_producers == ['data']
    events = list(f.events('data'))
  raw = h5py.File(sample, 'r')['Data/sparse2d_data_group']
  vext = raw['voxel_extents'][:]
  for i, ev in enumerate(events):
    assert ev.event_id == (1, 0, i)
    assert [p.projection_id for p in ev.projections] == [0, 1, 2]
    for k, p in enumerate(ev.projections):
      assert p.shape == (512, 512) and p.pixel_size == pytest.approx((0.3, 0.3))
      assert len(p.ids) == vext[3 * i + k]['N']
      img = p.dense()
      assert img.sum() == pytest.approx(float(p.values.sum()), rel=1e-5)
      r, c = divmod(int(p.ids[0]), 512)                       # C order: row = id // nx
      assert img[r, c] == p.values[0]


def test_writer_reproduces_the_sample_bit_for_bit(larcv3_sample, tmp_path):
  sample = larcv3_sample
  out = tmp_path / 'copy.h5'
  with Larcv3Reader(sample) as f, Larcv3Writer(out, ['data']) as w:
    for ev in f.events('data'):
      w.add_event(ev.event_id, {'data': ev.projections})
  a, b = h5py.File(sample, 'r'), h5py.File(out, 'r')
  for k in ('extents', 'voxel_extents', 'image_meta', 'voxels'):
    x, y = a[f'Data/sparse2d_data_group/{k}'], b[f'Data/sparse2d_data_group/{k}']
    assert x.dtype == y.dtype, k
    np.testing.assert_array_equal(x[:], y[:])
  np.testing.assert_array_equal(a['Events/event_id'][:], b['Events/event_id'][:])


def _write(path, n_events=3, n_vox=50, shape=(64, 64), producers=('data', 'label')):
  rng = np.random.default_rng(0)
  with Larcv3Writer(path, list(producers)) as w:
    for i in range(n_events):
      prods = {}
      for name in producers:
        ids = np.sort(rng.choice(shape[0] * shape[1], n_vox, replace=False)).astype(np.uint64)
        prods[name] = [larcv3.Projection(0, shape, (shape[0] * 0.3, shape[1] * 0.3), (0.0, 0.0), ids,
                                         rng.random(n_vox).astype(np.float32))]
      w.add_event((7, 1, i), prods)
  return path


def test_round_trip_of_several_products(tmp_path):
  path = _write(tmp_path / 'mc.h5')
  with Larcv3Reader(path) as f:
    assert f.sparse2d_producers == ['data', 'label']
    ev = f.read(2, 'label')
    assert ev.event_id == (7, 1, 2) and ev.projections[0].shape == (64, 64)
    dense = larcv3.sparse_projection(ev.projections[0].dense())
    np.testing.assert_array_equal(dense.ids, ev.projections[0].ids)
    with pytest.raises(Larcv3Error, match="no sparse2d product 'charge'.*data, label"):
      f.read(0, 'charge')


def test_reading_streams_event_by_event(tmp_path):
  path = _write(tmp_path / 'big.h5', n_events=120, n_vox=20000, shape=(512, 512), producers=('data',))
  total = 120 * 20000 * 16
  tracemalloc.start()
  with Larcv3Reader(path) as f:
    n = sum(len(ev.projections[0].ids) for ev in f.events('data'))
  peak = tracemalloc.get_traced_memory()[1]
  tracemalloc.stop()
  assert n == 120 * 20000
  assert peak < total / 10, (peak, total)        # a few events at a time, never the file


def test_hostile_files_name_the_file_and_event(tmp_path):
  path = _write(tmp_path / 'ok.h5')
  # truncated
  cut = tmp_path / 'cut.h5'
  cut.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
  with pytest.raises(Larcv3Error, match='cut.h5: not a readable HDF5'):
    Larcv3Reader(cut)
  # not larcv3
  other = tmp_path / 'other.h5'
  with h5py.File(other, 'w') as f:
    f.create_dataset('x', data=[1])
  with pytest.raises(Larcv3Error, match="other.h5: missing 'Events/event_id'"):
    Larcv3Reader(other)
  # a voxel id outside the image, NaN charge
  for field, value, msg in (('id', 64 * 64 + 5, 'voxel id 4101 outside the 64 x 64 image'),
                            ('value', np.nan, 'has charge nan')):
    bad = tmp_path / f'bad_{field}.h5'
    shutil.copy(path, bad)
    with h5py.File(bad, 'r+') as f:
      vox = f['Data/sparse2d_data_group/voxels']
      row = vox[110]
      row[field] = value
      vox[110] = row
    with Larcv3Reader(bad) as f:
      with pytest.raises(Larcv3Error, match=f'bad_{field}.h5: event 2 \\(run 7, subrun 1, event 2\\), '
                                            f'data: projection 0: .*{msg}'):
        list(f.events('data'))
  # a missing dataset in a product
  gone = tmp_path / 'gone.h5'
  shutil.copy(path, gone)
  with h5py.File(gone, 'r+') as f:
    del f['Data/sparse2d_label_group/voxels']
  with Larcv3Reader(gone) as f:
    with pytest.raises(Larcv3Error, match='sparse2d_label_group/voxels missing'):
      f.read(0, 'label')


def test_writer_leaves_nothing_on_error(tmp_path):
  path = tmp_path / 'w.h5'
  with pytest.raises(ValueError, match='outside'):
    with Larcv3Writer(path, ['data']) as w:
      w.add_event((1, 0, 0), {'data': [larcv3.Projection(0, (4, 4), (1.2, 1.2), (0, 0),
                                                         np.array([99], np.uint64), np.ones(1, np.float32))]})
  assert not path.exists() and not list(tmp_path.iterdir())


# ------------------------------------------------------------------ npy arrays
@pytest.mark.parametrize('shape', [(5, 64, 64), (5, 64, 64, 1), (5, 64, 64, 3)])
def test_npy_arrays_read_each_layout(tmp_path, shape):
  rng = np.random.default_rng(1)
  grey = rng.integers(0, 256, (5, 64, 64), dtype=np.uint8)
  arr = grey if len(shape) == 3 else np.repeat(grey[..., None], shape[3], axis=3)
  path = tmp_path / 'larcv_png_64_train_tracks.npy'
  np.save(path, arr)
  got = list(npy_arrays.read_images(path))
  assert [i for i, _ in got] == list(range(5))
  np.testing.assert_array_equal(np.stack([g for _, g in got]), grey)
  assert npy_arrays.parse_name(path) == {'size': 64, 'split': 'train', 'kind': 'tracks'}


def test_npy_arrays_hostile(tmp_path):
  p = tmp_path / 'larcv_png_64_test_showers.npy'
  np.save(p, np.zeros((3, 64, 64), np.float32))
  with pytest.raises(npy_arrays.NpyFormatError, match='dtype float32, expected uint8'):
    npy_arrays.open_array(p)
  np.save(p, np.zeros((3, 32, 32), np.uint8))
  with pytest.raises(npy_arrays.NpyFormatError, match=r'shape \(3, 32, 32\), expected \(N, 64, 64\)'):
    npy_arrays.open_array(p)
  rgb = np.zeros((3, 64, 64, 3), np.uint8)
  rgb[1, 5, 5, 2] = 9
  np.save(p, rgb)
  with pytest.raises(npy_arrays.NpyFormatError, match='entry 1: the three channels differ'):
    list(npy_arrays.read_images(p))
  p.write_bytes(b'not an array')
  with pytest.raises(npy_arrays.NpyFormatError, match='not a readable .npy'):
    npy_arrays.open_array(p)
  with pytest.raises(npy_arrays.NpyFormatError, match='not a reference array name'):
    npy_arrays.parse_name('tracks.npy')
