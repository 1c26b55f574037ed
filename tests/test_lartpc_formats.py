"""larcv3 HDF5 and the reference npy arrays: the real sample file, round trips, hostile inputs."""
import os
import shutil
import tracemalloc

import h5py
import numpy as np
import pytest

from helpers import time_limit
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


# ------------------------------------------------------------ out-of-format larcv3 inputs
from taiga_tf.detectors.lartpc import examples as lartpc_examples  # noqa: E402
from taiga_tf.detectors.lartpc.mc.simulate import TRUTH_DTYPE  # noqa: E402


def _write_labelled(path, n_events=4, shape=(64, 64), n_vox=120, n_proj=1, truth=True):
  """Events a maker keeps: a blob of charge near the centre, labelled 1 (a track)."""
  rng = np.random.default_rng(3)
  h, w = shape
  with Larcv3Writer(path, ['data', 'label'], truth_dtype=TRUTH_DTYPE if truth else None) as w_:
    for i in range(n_events):
      prods = {'data': [], 'label': []}
      for k in range(n_proj):
        r = rng.integers(h // 2 - 10, h // 2 + 10, n_vox)
        c = rng.integers(w // 2 - 10, w // 2 + 10, n_vox)
        ids = np.unique(r * w + c).astype(np.uint64)
        meta = (k, shape, (h * 0.3, w * 0.3), (0.0, 0.0))
        prods['data'].append(larcv3.Projection(*meta, ids, rng.uniform(0.1, 2, len(ids)).astype(np.float32)))
        prods['label'].append(larcv3.Projection(*meta, ids, np.ones(len(ids), np.float32)))
      w_.add_event((7, 1, i), prods, truth=(13, 250.0, (0, 0, 1), (0, 0, 0), 10.0) if truth else None)
  return path


def _examples(path, **kw):
  maker = lartpc_examples.ExampleMaker(**kw)
  return [ex for split in ('train', 'validation', 'test') for _, ex in maker(('larcv3', os.fspath(path)), split)]


def _edit(path, dataset, field, value, row=0):
  with h5py.File(path, 'r+') as f:
    ds = f[dataset]
    r = ds[row]
    r[field] = value
    ds[row] = r


def test_valid_labelled_file_makes_examples(tmp_path):
  exs = _examples(_write_labelled(tmp_path / 'ok.h5'))
  assert len(exs) == 4
  for ex in exs:
    assert ex['label'].max() == 1 and (ex['label'][ex['charge'] > 0] == 1).all()
    assert ex['class_known'] and ex['particle'] == 'muon'


def test_sparse_crop_equals_the_dense_crop():
  from taiga_tf.detectors.lartpc.mc import simulate
  cfg = simulate.LArTPCConfig(particle='electron')
  for ev in simulate.generate(cfg, 6, seed=4):
    proj = larcv3.sparse_projection(ev.charge)
    lab = larcv3.sparse_projection(ev.label.astype(np.float32))
    dense = lartpc_examples.crop_and_keep(ev.charge.astype(np.float32), ev.label.astype(np.uint8), 64, 0.0)
    sparse = lartpc_examples.crop_sparse(proj, lab, 64, 0.0)
    for a, b in zip(dense, sparse):
      np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('breakage,pattern', [
    # labels of another image than the data: they would land on other pixels
    ('label_shape', r'projection 0: the label image \(128 x 64 pixels.*is not the data image'),
    ('label_origin', r'projection 0: the label image .* is not the data image'),
    ('label_value', r'projection 0: label voxel \d+ is 7.0 \(expected 0 background, 1 track or 2 shower\)'),
    ('label_fraction', r'label voxel \d+ is 1.5'),
    ('fewer_labels', r'data projection 1 has no label projection \(label has \[0\]: 1 label '
                     r'projections for 2 data projections\)'),
    ('negative_charge', r'projection 0: voxel \d+ has charge -[\d.]+ \(expected >= 0\)'),
    ('small_image', r'projection 0: image 32 x 32 is smaller than the 64 x 64 crop'),
    ('projection_id', r'projection id 4294967296 is beyond int32'),
    ('duplicate_projection', r'data: projection id 0 listed twice in one event'),
])
def test_out_of_format_events_name_file_event_and_projection(tmp_path, breakage, pattern):
  path = tmp_path / 'odd.h5'
  if breakage == 'small_image':
    _write_labelled(path, shape=(32, 32), n_vox=60)
  elif breakage in ('fewer_labels', 'duplicate_projection'):
    _write_labelled(path, n_proj=2)
    with h5py.File(path, 'r+') as f:
      if breakage == 'fewer_labels':
        ext = f['Data/sparse2d_label_group/extents']
        for i in range(ext.shape[0]):
          r = ext[i]
          r['N'] = 1
          ext[i] = r
      else:
        for i in range(0, 8):
          meta = f['Data/sparse2d_data_group/image_meta']
          r = meta[i]
          r['projection_id'] = 0
          meta[i] = r
  else:
    _write_labelled(path)
    g = 'Data/sparse2d_label_group/'
    with h5py.File(path, 'r+') as f:
      n = f['Events/event_id'].shape[0]
    for i in range(n):                         # every event, whatever its split
      if breakage == 'label_shape':
        _edit(path, g + 'image_meta', 'number_of_voxels', (128, 64), i)
      elif breakage == 'label_origin':
        _edit(path, g + 'image_meta', 'origin', (3.0, 0.0), i)
      elif breakage == 'projection_id':
        for grp in ('data', 'label'):
          _edit(path, f'Data/sparse2d_{grp}_group/image_meta', 'projection_id', 2**32, i)
    with h5py.File(path, 'r+') as f:
      vox = f[g + 'voxels' if breakage.startswith('label') else 'Data/sparse2d_data_group/voxels']
      v = vox[:]
      if breakage == 'label_value':
        v['value'][5] = 7
      elif breakage == 'label_fraction':
        v['value'][5] = 1.5
      elif breakage == 'negative_charge':
        v['value'] = -v['value']
      vox[:] = v
  with pytest.raises(Larcv3Error, match=r'odd.h5: event \d+ \(run 7, subrun 1, event \d+\).*' + pattern):
    _examples(path)


def test_charge_near_float32_max_is_cropped_at_its_centre(tmp_path):
  """3e38 per voxel: the float32 sum overflowed and the crop went to the corner."""
  path = tmp_path / 'big.h5'
  with Larcv3Writer(path, ['data']) as w:
    ids = np.array([300 * 512 + 300, 300 * 512 + 301, 301 * 512 + 300], np.uint64)
    w.add_event((1, 0, 0), {'data': [larcv3.Projection(0, (512, 512), (153.6, 153.6), (0, 0), ids,
                                                       np.full(3, 3e38, np.float32))]})
  import warnings
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    (ex,) = _examples(path, min_occupancy=0.0)
  assert (ex['charge'] == np.float32(3e38)).sum() == 3 and (ex['image'] == 255).sum() == 3
  r, c = np.nonzero(ex['charge'])
  assert 28 <= r.min() and r.max() <= 35 and 28 <= c.min() and c.max() <= 35   # centred


@pytest.mark.parametrize('breakage,pattern', [
    ('truth_fields', r'odd.h5: event 0 \(run 7, subrun 1, event 0\): Truth/particle has fields '
                     r"\('momentum',\).*expected an integer pdg"),
    ('event_id_float', r'odd.h5: Events/event_id has dtype .* expected a 1-D table with fields '
                       r'run \(integer\)'),
    ('voxel_dtype', r'odd.h5: Data/sparse2d_data_group/voxels has dtype .*expected a 1-D table '
                    r'with fields id \(integer\), value \(number\)'),
    ('voxel_plain', r'odd.h5: Data/sparse2d_data_group/voxels has dtype float32'),
    ('event_id_uint64', r'odd.h5: event 0: event id .* is beyond int64'),
])
def test_tables_of_another_dtype_name_the_file(tmp_path, breakage, pattern):
  path = _write_labelled(tmp_path / 'odd.h5')
  with h5py.File(path, 'r+') as f:
    if breakage == 'truth_fields':
      t = f['Truth/particle'][:]
      del f['Truth/particle']
      f['Truth/particle'] = np.array([(r['momentum'],) for r in t], [('momentum', '<f4')])
    elif breakage.startswith('event_id'):
      ids = f['Events/event_id'][:]
      del f['Events/event_id']
      kind = '<f8' if breakage == 'event_id_float' else '<u8'
      new = np.zeros(len(ids), [('run', kind), ('subrun', kind), ('event', kind)])
      for k in ('run', 'subrun', 'event'):
        new[k] = ids[k]
      if breakage == 'event_id_uint64':
        new['event'][:] = 2**63 + 5
      f['Events/event_id'] = new
    else:
      g = f['Data/sparse2d_data_group']
      v = g['voxels'][:]
      del g['voxels']
      if breakage == 'voxel_dtype':
        g['voxels'] = np.array(list(zip(v['id'].astype(float), v['value'])),
                               [('id', '<f8'), ('value', '<f4')])
      else:
        g['voxels'] = v['value']
  with pytest.raises(Larcv3Error, match=pattern):
    _examples(path)


@pytest.mark.parametrize('shape', [(100000, 100000), (8000, 8000)])
def test_an_image_header_cannot_make_the_reader_allocate_gigabytes(tmp_path, shape):
  path = tmp_path / 'huge.h5'
  with Larcv3Writer(path, ['data']) as w:
    w.add_event((1, 0, 0), {'data': [larcv3.Projection(0, shape, (1.0, 1.0), (0, 0),
                                                       np.arange(5, dtype=np.uint64),
                                                       np.ones(5, np.float32))]})
  with Larcv3Reader(path) as f:
    with pytest.raises(Larcv3Error, match=rf'huge.h5: event 0 \(run 1, subrun 0, event 0\), data: '
                                          rf'projection 0: image of {shape[0]} x {shape[1]} pixels'):
      f.read(0)
  with pytest.raises(Larcv3Error, match='huge.h5: event 0'):
    _examples(path)


def test_examples_cost_memory_in_voxels_not_in_image_size(tmp_path):
  """A 4096 x 4096 image (allowed) with a few hundred voxels: only the crop is made dense."""
  path = tmp_path / 'wide.h5'
  ids = (np.arange(2000, 2060)[:, None] * 4096 + np.arange(2000, 2010)[None]).ravel().astype(np.uint64)
  with Larcv3Writer(path, ['data']) as w:
    w.add_event((1, 0, 0), {'data': [larcv3.Projection(0, (4096, 4096), (1228.8, 1228.8), (0, 0), ids,
                                                       np.ones(len(ids), np.float32))]})
  tracemalloc.start()
  (ex,) = _examples(path)
  peak = tracemalloc.get_traced_memory()[1]
  tracemalloc.stop()
  assert (ex['charge'] > 0).sum() == 600
  assert peak < 8_000_000, peak            # the dense image alone is 64 MB


def test_voxel_extents_beyond_the_voxel_bound(tmp_path):
  path = _write_labelled(tmp_path / 'odd.h5')
  _edit(path, 'Data/sparse2d_data_group/voxel_extents', 'N', 5000)
  with Larcv3Reader(path) as f:
    with pytest.raises(Larcv3Error, match=r'odd.h5: event 0 .* voxel_extents \(0, 5000\): expected '
                                          r'a non-negative first voxel and at most 4096 voxels'):
      f.read(0)


def test_a_damaged_compressed_chunk_names_the_event(tmp_path):
  path = _write(tmp_path / 'ok.h5', n_events=3, n_vox=2000, producers=('data',))
  with h5py.File(path, 'r') as f:
    info = f['Data/sparse2d_data_group/voxels'].id.get_chunk_info(0)
  raw = bytearray(path.read_bytes())
  raw[info.byte_offset + 20: info.byte_offset + 60] = bytes(40)
  path.write_bytes(bytes(raw))
  with Larcv3Reader(path) as f:
    with pytest.raises(Larcv3Error, match=r'ok.h5: event 0 \(run 7, subrun 1, event 0\), data: '
                                          r'unreadable \(OSError: .*\): a damaged file'):
      f.read(0)


def test_only_regular_files_are_opened(tmp_path):
  with time_limit(10, 'blocked on a FIFO'):
    os.mkfifo(tmp_path / 'pipe.h5')
    with pytest.raises(Larcv3Error, match=r'pipe.h5: a FIFO \(named pipe\), not a regular file'):
      Larcv3Reader(tmp_path / 'pipe.h5')
    os.mkfifo(tmp_path / 'larcv_png_64_test_tracks.npy')
    with pytest.raises(npy_arrays.NpyFormatError, match='larcv_png_64_test_tracks.npy: not a '
                                                        'regular file'):
      list(npy_arrays.read_images(tmp_path / 'larcv_png_64_test_tracks.npy'))


def test_tables_declaring_rows_they_do_not_store(tmp_path):
  """A small file whose tables declare 10^9 unwritten rows (fill values): refused, not
  read for ever."""
  path = _write_labelled(tmp_path / 'odd.h5')
  with h5py.File(path, 'r+') as f:
    for name in ('Events/event_id', 'Truth/particle', 'Data/sparse2d_data_group/extents',
                 'Data/sparse2d_label_group/extents'):
      f[name].resize((10**9,))
  assert os.path.getsize(path) < 100_000
  with time_limit(20, 'reading 10^9 declared events'):
    with pytest.raises(Larcv3Error, match=r'odd.h5: Events/event_id declares 1000000000 rows but '
                                          r'stores at most 100'):
      _examples(path)
