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

builder_mod = load_builder_module()


class TaigaIactMcTest(tfds.testing.DatasetBuilderTestCase):
  """Builds the `mc` config from dummy_data/{gamma,proton}/*.txt."""
  DATASET_CLASS = builder_mod.Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ['mc']
  DUMMY_DATA = BUILDER_DIR / 'dummy_data'
  # counts printed by tools/make_dummy_data.py (split by shower, see _split_of)
  SPLITS = {'train': 26 + 24, 'validation': 7 + 4, 'test': 7 + 2}
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
  assert sum(counts['train']['gamma']) == 26 and sum(counts['train']['proton']) == 24
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
    from taiga_tf.camera import Camera
    cam = Camera.from_dict(meta['camera'])
    assert np.all(ex['image'][~cam.mask] == 0)
    assert ex['hillas']['size'] >= 0
    n_with_size += ex['hillas']['size'] > 0
  assert n == 50
  # triggered (2 pixels >= 10 pe) but no 14 pe pixel: empty after 14/7 cleaning
  assert n_with_size > 40


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
  for p in ('gamma', 'proton'):
    (manual / p).mkdir(parents=True)
    src = BUILDER_DIR / 'dummy_data' / p
    for f in src.glob('*.txt'):
      (manual / p / f.name).write_text(f.read_text())
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
  version_dir = data_dir / 'taiga_iact' / 'mc' / '1.0.0'
  assert not version_dir.exists()


def test_missing_manual_dir_explains(tmp_path):
  b = builder_mod.Builder(config='mc', data_dir=tmp_path / 'data')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(Exception, match='gamma'):
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.fspath(tmp_path / 'empty')))
