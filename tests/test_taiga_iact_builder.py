"""Builder tests on dummy_data in the real text format (tfds.testing)."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow_datasets as tfds

from builder_utils import BUILDER_DIR, load_builder_module
from helpers import time_limit

builder_mod = load_builder_module()


class TaigaIactMcTest(tfds.testing.DatasetBuilderTestCase):
  """Builds the `mc` config from dummy_data/{gamma,proton}/*.txt."""
  DATASET_CLASS = builder_mod.Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ['mc']
  DUMMY_DATA = BUILDER_DIR / 'dummy_data'
  # counts printed by tools/make_dummy_data.py (split by shower, see _split_of)
  SPLITS = {'train': 28 + 24, 'validation': 5 + 4, 'test': 7 + 2}
  SKIP_CHECKSUMS = True


def test_split_keeps_showers_together():
  splits = {builder_mod._split_of('gamma', 'f.txt', n) for _ in range(3) for n in [5]}
  assert len(splits) == 1
  counts = {}
  for n in range(20000):
    s = builder_mod._split_of('gamma', 'f.txt', n)
    counts[s] = counts.get(s, 0) + 1
  assert abs(counts['train'] / 20000 - 0.8) < 0.02
  assert abs(counts['validation'] / 20000 - 0.1) < 0.02


def _copy_dummy(manual):
  for p in ('gamma', 'proton'):
    (manual / p).mkdir(parents=True)
    for f in (BUILDER_DIR / 'dummy_data' / p).glob('*.txt'):
      (manual / p / f.name).write_bytes(f.read_bytes())


@pytest.fixture(scope='module')
def built_mc(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp('data')
  b = builder_mod.Builder(config='mc', data_dir=data_dir)
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(BUILDER_DIR / 'dummy_data')))
  return b


def test_built_splits_keep_each_shower_in_one_split(built_mc):
  where = {}
  for split in ('train', 'validation', 'test'):
    for ex in tfds.as_numpy(built_mc.as_dataset(split=split)):
      where.setdefault((ex['file'], int(ex['particle']), int(ex['n_shower'])), set()).add(split)
  assert len(where) > 20
  assert all(len(s) == 1 for s in where.values())
  # some showers contributed several core scatterings
  n_scat = {}
  for split in ('train', 'validation', 'test'):
    for ex in tfds.as_numpy(built_mc.as_dataset(split=split)):
      key = (ex['file'], int(ex['n_shower']))
      n_scat[key] = n_scat.get(key, 0) + 1
  assert max(n_scat.values()) > 1


def test_features_metadata_and_classes(built_mc):
  info = built_mc.info
  meta = info.metadata
  assert len(meta['energy_edges_tev']) == 11 and len(meta['distance_edges']) == 11
  assert meta['camera']['square_size'] == 32 and len(meta['camera']['q']) == 560
  counts = meta['class_counts']
  assert sum(counts['train']['gamma']) == 28 and sum(counts['train']['proton']) == 24
  assert sum(counts['test']['gamma']) + sum(counts['test']['proton']) == 9
  ds = tfds.as_numpy(built_mc.as_dataset(split='train'))
  e_edges, d_edges = np.array(meta['energy_edges_tev']), np.array(meta['distance_edges'])
  n = n_with_size = 0
  for ex in ds:
    n += 1
    assert ex['image'].shape == (32, 32) and ex['image'].dtype == np.float32
    e_bin = min(max(np.searchsorted(e_edges, ex['energy'], 'right') - 1, 0), 9)
    d_bin = min(max(np.searchsorted(d_edges, ex['impact_distance'], 'right') - 1, 0), 9)
    assert ex['class_id'] == e_bin * 10 + d_bin
    np.testing.assert_allclose(ex['impact_distance'], np.hypot(ex['core_x'], ex['core_y']),
                               rtol=1e-5)
    # nothing outside the camera
    from taiga_tf.detectors.taiga_iact.camera import Camera
    cam = Camera.from_dict(meta['camera'])
    assert np.all(ex['image'][~cam.mask] == 0)
    assert ex['hillas']['size'] >= 0
    n_with_size += ex['hillas']['size'] > 0
  assert n == 52
  # triggered (2 pixels >= 10 pe) but no 14 pe pixel: empty after 14/7 cleaning
  assert n_with_size > 40


def test_signal_images_from_the_matching_c_file(built_mc):
  """gamma: events from iact29_gamma_cb4.txt, signal from iact29_gamma_c.txt (the
  NSB, image - signal, is the MC's sigma 4 pe noise on every camera pixel, and
  the signal is exactly 0 where the _c file lists no pixel); proton: no _c file."""
  from taiga_tf.detectors.taiga_iact.camera import Camera
  from taiga_tf.detectors.taiga_iact.formats import taiga_text
  meta = built_mc.info.metadata
  cam = Camera.from_dict(meta['camera'])
  assert meta['signal_counts']['train'] == {'gamma': 28, 'proton': 0}
  assert meta['signal_counts']['test'] == {'gamma': 7, 'proton': 0}
  c_file = BUILDER_DIR / 'dummy_data' / 'gamma' / 'iact29_gamma_c.txt'
  truth = {(b.n_shower, b.i_scat): b.amplitudes(cam) for b in taiga_text.read_events(c_file)}
  diffs, n = [], 0
  for ex in tfds.as_numpy(built_mc.as_dataset(split='train')):
    if ex['particle'] == 1:
      assert not ex['has_signal'] and not ex['image_signal'].any()
      continue
    n += 1
    assert ex['has_signal'] and ex['file'] == b'iact29_gamma_cb4.txt'
    sig = cam.to_vector(ex['image_signal'])
    np.testing.assert_array_equal(sig, truth[(int(ex['n_shower']), int(ex['i_scat']))])
    assert np.all(ex['image_signal'][~cam.mask] == 0)
    diffs.append(cam.to_vector(ex['image']) - sig)
  assert n == 28
  d = np.concatenate(diffs)
  assert abs(d.std() - 4.0) < 0.1 and abs(d.mean()) < 0.1   # 28 x 560 NSB values


def test_pairing_of_signal_files():
  pair = builder_mod.pair_signal_files
  names = ['a_c.txt', 'a_cb4.txt', 'a_cb5.5.txt', 'b_cb4.txt', 'c_c.txt', 'd.txt']
  assert pair(names) == [('a_cb4.txt', 'a_c.txt'), ('a_cb5.5.txt', 'a_c.txt'),
                         ('b_cb4.txt', None), ('c_c.txt', 'c_c.txt'), ('d.txt', None)]


def test_signal_file_out_of_step_fails_with_both_files(tmp_path):
  from taiga_tf.detectors.taiga_iact.formats import taiga_text
  manual = tmp_path / 'manual'
  _copy_dummy(manual)
  c_file = manual / 'gamma' / 'iact29_gamma_c.txt'
  blocks = list(taiga_text.read_events(c_file))
  taiga_text.write_blocks(c_file, [(b.header, b.pixels) for b in blocks[:3] + blocks[4:]])
  b = builder_mod.Builder(config='mc', data_dir=tmp_path / 'data')
  with pytest.raises(Exception, match=r'iact29_gamma_cb4.txt:\d+: event n_shower=\d+ i_scat=\d+ '
                                      r'has no signal event in step: .*iact29_gamma_c.txt:\d+'):
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.fspath(manual)))


def test_loads_without_taiga_tf(built_mc, tmp_path):
  """builder_from_directory in a process that never imports taiga_tf."""
  script = textwrap.dedent(f'''
      import sys, json
      import tensorflow_datasets as tfds
      b = tfds.builder_from_directory({os.fspath(built_mc.data_path)!r})
      ds = b.as_dataset(split='test')
      n = sum(1 for _ in ds)
      assert not any(m.startswith('taiga_tf') for m in sys.modules), 'taiga_tf imported'
      print(json.dumps({{'n': n, 'edges': len(b.info.metadata['energy_edges_tev']),
                        'shards': b.info.splits['train'].num_shards}}))
  ''')
  env = dict(os.environ, PYTHONPATH='')
  out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  res = json.loads(out.stdout.strip().splitlines()[-1])
  assert res['n'] == 9 and res['edges'] == 11


def test_bad_file_fails_build_with_file_and_line(tmp_path):
  manual = tmp_path / 'manual'
  _copy_dummy(manual)
  bad = manual / 'proton' / 'iact01_proton_cb4.txt'
  lines = bad.read_text().splitlines()
  lines[5] = lines[5].rsplit(' ', 1)[0] + ' nan'
  bad.write_text('\n'.join(lines) + '\n')
  data_dir = tmp_path / 'data'
  b = builder_mod.Builder(config='mc', data_dir=data_dir)
  with pytest.raises(Exception, match=r'iact01_proton_cb4.txt:6:'):
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.fspath(manual)))
  # no half-written dataset version left behind
  version_dir = data_dir / 'taiga_iact' / 'mc' / builder_mod.Builder.VERSION.__str__()
  assert not version_dir.exists()


def test_gzip_inputs_and_empty_files(tmp_path, capsys):
  """A gzip-compressed pair builds the same examples; an empty file is warned about."""
  import gzip
  manual = tmp_path / 'manual'
  _copy_dummy(manual)
  for f in (manual / 'gamma').glob('*.txt'):
    (manual / 'gamma' / (f.name + '.gz')).write_bytes(gzip.compress(f.read_bytes()))
    f.unlink()
  (manual / 'proton' / 'iact02_proton_cb4.txt').write_text('')
  b = builder_mod.Builder(config='mc', data_dir=tmp_path / 'data')
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(manual)))
  assert 'WARNING: 1 of the 2 proton event files hold no event' in capsys.readouterr().out
  assert b.info.metadata['signal_counts']['train'] == {'gamma': 28, 'proton': 0}
  assert {k: v.num_examples for k, v in b.info.splits.items()} == {
      'train': 52, 'validation': 9, 'test': 9}


def test_particle_without_events_fails(tmp_path):
  manual = tmp_path / 'manual'
  _copy_dummy(manual)
  for f in (manual / 'proton').glob('*.txt'):
    f.write_text('\n')
  (manual / 'proton' / 'iact03_proton_cb4.txt').write_text('')
  b = builder_mod.Builder(config='mc', data_dir=tmp_path / 'data')
  with pytest.raises(ValueError, match=r'no proton events: every event file in .*proton is empty'):
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.fspath(manual)))


def test_missing_manual_dir_explains(tmp_path):
  b = builder_mod.Builder(config='mc', data_dir=tmp_path / 'data')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(Exception, match='gamma'):
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.fspath(tmp_path / 'empty')))


# ------------------------------------------------------------ inputs read twice or never
@pytest.mark.parametrize('names', [['a_c.txt', 'a_c.txt.gz', 'a_cb4.txt'],
                                   ['a_c.txt', 'a_cb4.txt', 'a_cb4.txt.gz'],
                                   ['d.txt.gz', 'd.txt']])
def test_one_file_plain_and_gzipped_is_refused(names):
  """x.txt.gz is x.txt: both would read every event twice (the _c copy as events without NSB)."""
  plain = next(n for n in names if n + '.gz' in names)
  with pytest.raises(ValueError, match=rf'{plain} and {plain}.gz are one event file .* given twice'):
    builder_mod.pair_signal_files(names)


def test_plain_and_gzipped_copy_fails_the_build_naming_both(tmp_path):
  import gzip
  manual = tmp_path / 'manual'
  _copy_dummy(manual)
  c_file = manual / 'gamma' / 'iact29_gamma_c.txt'
  (manual / 'gamma' / 'iact29_gamma_c.txt.gz').write_bytes(gzip.compress(c_file.read_bytes()))
  b = builder_mod.Builder(config='mc', data_dir=tmp_path / 'data')
  with pytest.raises(ValueError, match=r'gamma/iact29_gamma_c.txt and .*gamma/iact29_gamma_c.txt.gz '
                                       r'are one event file'):
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.fspath(manual)))


def test_a_fifo_named_like_an_event_file_fails_the_build(tmp_path):
  manual = tmp_path / 'manual'
  _copy_dummy(manual)
  os.mkfifo(manual / 'gamma' / 'iact30_gamma_cb4.txt')
  b = builder_mod.Builder(config='mc', data_dir=tmp_path / 'data')
  with time_limit(60, 'tfds build blocked on a FIFO'):
    with pytest.raises(ValueError, match=r'iact30_gamma_cb4.txt: a FIFO \(named pipe\), not a '
                                         'regular file'):
      b.download_and_prepare(download_config=tfds.download.DownloadConfig(
          manual_dir=os.fspath(manual)))


def _work_units(examples_of):
  """A WorkUnits builder stand-in whose maker yields examples_of[unit]."""
  from taiga_tf import tfds_builders

  class Maker:
    def __call__(self, unit, split):
      return iter(examples_of[unit])

    tally = staticmethod(lambda ex: ['n'])
    describe = staticmethod(lambda unit: f'/data/{unit}')
    why_empty = staticmethod(lambda split: f'nothing falls in {split}')

  class Fake(tfds_builders.WorkUnits):
    name = 'fake'
    builder_config = type('Cfg', (), {'name': 'cfg'})()
    _set_tally = lambda self, split, counts: None

  return Fake(), Maker()


def test_two_examples_of_one_key_name_both_files():
  b, maker = _work_units({'a.txt': [('k/1', {}), ('k/2', {})], 'a.txt.gz': [('k/2', {})],
                          'b.h5': [('b/0/1', {}), ('b/0/1', {})]})
  with pytest.raises(ValueError, match=r"two examples of split 'train' have the key 'k/2': "
                                       r'/data/a.txt and /data/a.txt.gz: the same event read twice'):
    list(b._local_examples(maker, ['a.txt', 'a.txt.gz'], 'train'))
  with pytest.raises(ValueError, match=r"key 'b/0/1': /data/b.h5 \(twice\)"):
    list(b._local_examples(maker, ['b.h5'], 'train'))


def test_a_split_without_examples_says_why_and_names_the_files():
  b, maker = _work_units({'a.txt': [], 'b.txt': []})
  with pytest.raises(ValueError, match=r"fake \(cfg\): split 'test' has no example: nothing falls "
                                       r'in test; read 2 file\(s\): /data/a.txt, /data/b.txt'):
    list(b._local_examples(maker, ['a.txt', 'b.txt'], 'test'))


def test_one_file_under_two_names_is_refused(tmp_path):
  """A link (here: the proton file linked into gamma) would be read twice, under two names."""
  from taiga_tf import tfds_builders
  manual = tmp_path / 'manual'
  _copy_dummy(manual)
  (manual / 'gamma' / 'iact01_copy_cb4.txt').symlink_to(manual / 'proton' / 'iact01_proton_cb4.txt')
  b = builder_mod.Builder(config='mc', data_dir=tmp_path / 'data')
  with pytest.raises(ValueError, match=r'iact01_copy_cb4.txt and .*iact01_proton_cb4.txt are the '
                                       r'same file|iact01_proton_cb4.txt and .*iact01_copy_cb4.txt '
                                       r'are the same file'):
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.fspath(manual)))
  with pytest.raises(ValueError, match='a.h5 and .*a.h5 are the same file'):
    (tmp_path / 'a.h5').write_text('x')
    tfds_builders.refuse_same_files([tmp_path / 'a.h5', tmp_path / 'a.h5'])
