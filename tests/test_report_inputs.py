"""The report's checks before any work: arguments, splits (never the training split),
the --generated folder and its images, the classifier cache, and groups too small to
compare. Generated datasets are written directly (no model): MC images relabelled."""
import json
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

from builder_utils import DATASETS_DIR, load_builder_module
from taiga_tf import evaluation
from taiga_tf.evaluation import common, inputs

EVAL = dict(epochs=1, n_boot=10, max_train=50)


@pytest.fixture(scope='module')
def lartpc_data_dir(tmp_path_factory):
  """The LArTPC builder's larcv3 config on its dummy data (train 9 tracks + 8 showers,
  validation 3 tracks, test 3 showers)."""
  import tensorflow_datasets as tfds
  d = tmp_path_factory.mktemp('lartpc_tfds')
  b = load_builder_module('lartpc').Builder(config='larcv3', data_dir=d)
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(DATASETS_DIR / 'lartpc' / 'dummy_data')))
  return d


def _mc(data_dir, reference, split):
  import tensorflow_datasets as tfds
  from taiga_tf import data as data_lib
  spec = data_lib.open_dataset(reference, os.fspath(data_dir))
  rows = list(tfds.as_numpy(spec.builder.as_dataset(split=split)))
  return spec, rows


def write_generated(out, det, images, class_id, particle):
  """A generated dataset as taiga_tf.generate lays it out, records built by hand (the
  writer itself refuses non-finite images: this is how an older or foreign one looks)."""
  import tensorflow as tf
  from taiga_tf import dataset_writer as dw
  feats = dw.generated_features(det.image_size, det.n_classes * len(det.particles), det.n_classes,
                                det.particles, det.generated_features())
  w = dw.DatasetWriter(os.fspath(out), feats, len(images), 1, {}, f'{det.name}_generated')
  if hasattr(w, 'begin'):
    w.begin()
  shard = w.open_shard(0)
  for i, im in enumerate(images):
    ex = tf.train.Example()
    f = ex.features.feature
    f['image'].bytes_list.value.append(zlib.compress(np.asarray(im, np.float32).tobytes()))
    ints = {'class_id': int(class_id[i]), 'model_label': int(class_id[i]),
            'particle': int(particle[i]), **det.generated_columns(int(class_id[i])),
            'seed_index': i}
    for k, v in ints.items():
      f[k].int64_list.value.append(v)
    shard.write_serialized(ex.SerializeToString())
  shard.commit()
  return w.finalize({'source': 'generated', **det.metadata(), 'model_kind': 'cgan'}, 'test')


def generated_from_mc(data_dir, reference, split, out, transform=None, class_id=None):
  spec, rows = _mc(data_dir, reference, split)
  images = np.stack([r['image'] for r in rows]).astype(np.float32)
  images = transform(images) if transform else images
  cls = np.array([r['class_id'] for r in rows]) if class_id is None else class_id
  return write_generated(out, spec.detector, images, cls, [r['particle'] for r in rows])


def cfg_for(data_dir, reference, generated, out, **kw):
  return evaluation.EvalConfig(generated=os.fspath(generated), reference=reference,
                               data_dir=os.fspath(data_dir), output_dir=os.fspath(out),
                               **{**EVAL, **kw})


def _no_work_done(out, logs):
  assert not os.path.exists(out), os.listdir(out)      # no plot, no classifier, nothing
  assert not any('trained' in line for line in logs), logs


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize('flag, value, match', [
    ('max_examples', 0, '--max_examples=0: expected an integer >= 2'),
    ('n_boot', 0, '--n_boot=0: expected an integer >= 10'),
    ('n_mc_splits', 0, '--n_mc_splits=0'),
    ('epochs', 0, '--epochs=0'),
    ('patience', -1, '--patience=-1'),
    ('seed', -1, '--seed=-1'),
    ('max_train', 0, '--max_train=0'),
    ('mc_split', 'train[:50%]', 'reads the training split'),
    ('mc_split', 'test+train[10:]', 'reads the training split'),
    ('mc_split', 'all', 'reads every split'),
    ('mc_split', 'test[', 'is not a TFDS split'),
    ('mc_split', '', '--mc_split is empty'),
])
def test_bad_arguments_are_named(flag, value, match, tmp_path):
  cfg = cfg_for('d', 'lartpc/larcv3', 'g', tmp_path / 'out', **{flag: value})
  with pytest.raises(ValueError, match=match.replace('[', r'\[').replace('+', r'\+')):
    inputs.check_config(cfg)
  with pytest.raises(ValueError, match=match.replace('[', r'\[').replace('+', r'\+')):
    evaluation.evaluate(cfg, log=lambda *a: None)       # (before the reference is opened)
  assert not (tmp_path / 'out').exists()


def test_splits_are_parsed_against_the_reference(lartpc_data_dir):
  from taiga_tf import data as data_lib
  spec = data_lib.open_dataset('lartpc/larcv3', os.fspath(lartpc_data_dir))
  cfg = lambda **kw: cfg_for(lartpc_data_dir, 'lartpc/larcv3', 'g', 'o', **kw)
  inputs.check_splits(cfg(mc_split='validation + test[:50%]'), spec)
  for split, match in (('Train', "Unknown split 'Train'"), ('test[:500]', 'incompatible with 3'),
                       ('validation[:0]', 'reads no example')):
    with pytest.raises(ValueError, match=match):
      inputs.check_splits(cfg(mc_split=split), spec)
  # calibration: held out from training and from --mc_split, example by example
  inputs.check_calibration_split(cfg(mc_split='validation[1:]+test',
                                     calibration_split='validation[:1]'), spec)
  for mc, src in (('test[:2]', 'test[1:]'), ('test', 'test'), ('test', 'validation+train[:2]'),
                  ('test', 'all')):
    with pytest.raises(ValueError, match='must be held out'):
      inputs.check_calibration_split(cfg(mc_split=mc, calibration_split=src), spec)
  # the API's escape for toy sets (no flag): the report says so
  inputs.check_mc_split(cfg(mc_split='train', allow_training_split=True))


# ------------------------------------------------------------------ the --generated folder
def test_a_wrong_generated_folder_is_named_before_any_work(lartpc_data_dir, tmp_path):
  workdir = tmp_path / 'run'
  (workdir / 'saved_model').mkdir(parents=True)
  (workdir / 'config.json').write_text('{"train_config": {}}')
  a_file = tmp_path / 'notes.txt'
  a_file.write_text('x')
  (tmp_path / 'unfinished.incomplete').mkdir()
  mc_dir = lartpc_data_dir / 'lartpc' / 'larcv3' / '1.0.0'
  for generated, match in (
      (tmp_path / 'missing', 'no such folder'),
      (tmp_path / 'unfinished', 'is not finished'),
      (a_file, 'is a file, not a dataset folder'),
      (workdir, 'is a training workdir'),
      (mc_dir, 'is the dataset lartpc/larcv3/1.0.0 .*not a generated one'),
      (lartpc_data_dir, 'holds one below it')):
    logs = []
    out = tmp_path / 'out'
    with pytest.raises((ValueError, FileNotFoundError, NotADirectoryError), match=match):
      evaluation.evaluate(cfg_for(lartpc_data_dir, 'lartpc/larcv3', generated, out,
                                  mc_split='validation+test'), log=logs.append)
    _no_work_done(out, logs)


def test_a_set_of_another_detector_is_refused_at_once(lartpc_data_dir, dummy_data_dir, tmp_path):
  lar = generated_from_mc(lartpc_data_dir, 'lartpc/larcv3', 'test', tmp_path / 'lar')
  taiga = generated_from_mc(dummy_data_dir, 'taiga_iact/mc', 'test', tmp_path / 'taiga')
  for generated, reference, data_dir, match in (
      (lar, 'taiga_iact/mc', dummy_data_dir, 'holds lartpc images, but the --reference is a '
       'taiga_iact dataset'),
      (taiga, 'lartpc/larcv3', lartpc_data_dir, 'holds taiga_iact images')):
    logs = []
    with pytest.raises(ValueError, match=match):
      evaluation.evaluate(cfg_for(data_dir, reference, generated, tmp_path / 'out',
                                  mc_split='validation+test'), log=logs.append)
    _no_work_done(tmp_path / 'out', logs)


def _nan_and_inf(images):
  images = images.copy()
  images[0, 3, 3] = np.nan
  images[0, 4, 4] = np.nan
  images[2, 5, 5] = np.inf
  return images


def test_non_finite_pixels_are_counted(lartpc_data_dir, dummy_data_dir, tmp_path):
  for data_dir, reference in ((lartpc_data_dir, 'lartpc/larcv3'), (dummy_data_dir, 'taiga_iact/mc')):
    gen = generated_from_mc(data_dir, reference, 'test', tmp_path / reference.split('/')[0],
                            transform=_nan_and_inf)
    logs = []
    with pytest.raises(ValueError, match=r'2 of \d+ images have pixels that are not finite '
                       r'\(2 NaN and 1 infinite pixels; examples 0, 2'):
      evaluation.evaluate(cfg_for(data_dir, reference, gen, tmp_path / 'out',
                                  mc_split='validation+test'), log=logs.append)
    _no_work_done(tmp_path / 'out', logs)


def test_frechet_distance_of_non_finite_rows_is_nan():
  from taiga_tf.evaluation.lartpc import report
  a = np.random.default_rng(0).normal(size=(50, 4))
  b = a.copy()
  b[3, 1] = np.nan
  assert np.isnan(report.frechet_distance(a, b))        # (scipy's sqrtm: "Internal error")
  b[3, 1] = 1e300
  with np.errstate(all='ignore'):
    assert np.isnan(report.frechet_distance(a, b))      # covariances overflow


# ------------------------------------------------------------------ groups too small
def test_nothing_to_compare_fails_before_any_training(lartpc_data_dir, dummy_data_dir, tmp_path):
  spec, rows = _mc(lartpc_data_dir, 'lartpc/larcv3', 'test')
  one = write_generated(tmp_path / 'one', spec.detector, [rows[0]['image']], [1], [4])
  logs = []
  with pytest.raises(evaluation.NoOverlapError, match='1 generated and 3 MC validation\\+test '
                     'showers'):
    evaluation.evaluate(cfg_for(lartpc_data_dir, 'lartpc/larcv3', one, tmp_path / 'out',
                                mc_split='validation+test'), log=logs.append)
  _no_work_done(tmp_path / 'out', logs)
  # TAIGA: protons of a class the MC split has none of
  _, rows = _mc(dummy_data_dir, 'taiga_iact/mc', 'test')
  protons = [r for r in rows if r['particle'] == 1]
  from taiga_tf import data as data_lib
  det = data_lib.open_dataset('taiga_iact/mc', os.fspath(dummy_data_dir)).detector
  gen = write_generated(tmp_path / 'protons', det, [r['image'] for r in protons],
                        [0] * len(protons), [1] * len(protons))
  with pytest.raises(evaluation.NoOverlapError, match='protons share 0 class-matched events'):
    evaluation.evaluate(cfg_for(dummy_data_dir, 'taiga_iact/mc', gen, tmp_path / 'out'),
                        log=logs.append)
  _no_work_done(tmp_path / 'out', logs)


@pytest.mark.slow
def test_one_shower_beside_tracks_is_skipped_not_fatal(lartpc_data_dir, tmp_path):
  spec, tracks = _mc(lartpc_data_dir, 'lartpc/larcv3', 'validation')
  _, showers = _mc(lartpc_data_dir, 'lartpc/larcv3', 'test')
  images = [r['image'] for r in tracks] + [showers[0]['image']]
  gen = write_generated(tmp_path / 'gen', spec.detector, images, [0, 0, 0, 1], [0, 0, 0, 3])
  out = tmp_path / 'out'
  rep = evaluation.evaluate(cfg_for(lartpc_data_dir, 'lartpc/larcv3', gen, out,
                                    mc_split='validation+test'), log=lambda *a: None)
  assert set(rep['classes']) == {'track'} and 'at least 2' in rep['skipped']['shower']
  assert json.loads((out / 'report.json').read_text())['skipped'] == rep['skipped']
  assert (out / 'track' / 'images_ssnet.png').exists() and not (out / 'shower').exists()
  assert 'showers: not compared' in evaluation.summary_table(rep)
  assert any('showers not compared' in line
             for line in evaluation.summary_lines(rep, 'validation+test'))


def test_report_json_only_beside_a_complete_report(tmp_path):
  (tmp_path / 'report.json').write_text('{"old": 1}')

  def plots_fail():
    (tmp_path / 'a.png').write_bytes(b'')
    raise OSError('disk full')
  with pytest.raises(OSError, match='disk full'):
    common.write_report(os.fspath(tmp_path), {'particles': {}}, plots_fail)
  assert not (tmp_path / 'report.json').exists()         # the old one went first
  common.write_report(os.fspath(tmp_path), {'particles': {}}, lambda: [])
  assert json.loads((tmp_path / 'report.json').read_text()) == {'particles': {}}
  assert not [p for p in os.listdir(tmp_path) if '.tmp' in p]


# ------------------------------------------------------------------ caches
def test_a_damaged_classifier_cache_is_named_and_retrained(tmp_path):
  cfg = cfg_for('d', 'r', 'g', tmp_path, epochs=1)
  x = np.random.default_rng(0).normal(size=(20, 16, 16, 1)).astype(np.float32)
  y = {'y': (np.arange(20) % 2).astype(np.float32)}
  train = lambda logs: common.train_classifier('c', x, y, {'y': 1}, cfg, os.fspath(tmp_path),
                                               logs.append, key={'k': 1})
  train([])
  path = tmp_path / 'c.keras'
  assert path.exists() and (tmp_path / 'c.keras.json').exists()
  assert sorted(os.listdir(tmp_path)) == ['c.keras', 'c.keras.json']    # no temporary left
  logs = []
  train(logs)
  assert any('reusing' in line for line in logs)
  path.write_bytes(path.read_bytes()[:3000])             # cut: a killed copy, a full disk
  logs = []
  train(logs)
  assert any(f'{path} is damaged' in line and 'training it again' in line for line in logs), logs
  assert any('trained c on 20 images' in line for line in logs)
  (tmp_path / 'c.keras.json').write_bytes(b'{"key": \xff')
  logs = []
  train(logs)
  assert any(f'{path}.json is damaged' in line for line in logs), logs
  logs = []
  train(logs)
  assert any('reusing' in line for line in logs)


def test_a_damaged_calibration_file_is_named(tmp_path):
  path = tmp_path / 'calibration.json'
  cfg = cfg_for('d', 'r', 'g', tmp_path, calibration=os.fspath(path))
  for content in (b'{"reference": ', b'\xff\xfe', b'[1, 2]', b'{"reference": "r"}'):
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f'calibration file {path} is'):
      common.load_calibration(cfg, 'r', lambda *a: None)


# ------------------------------------------------------------------ the app
@pytest.mark.slow
def test_the_app_says_error_and_exits_2(lartpc_data_dir, tmp_path):
  (tmp_path / 'run' / 'saved_model').mkdir(parents=True)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  base = [sys.executable, '-m', 'taiga_tf.evaluate', '--reference=lartpc/larcv3',
          f'--data_dir={lartpc_data_dir}', f'--output_dir={tmp_path / "out"}']
  for flags, match in (([f'--generated={tmp_path / "run"}'], 'is a training workdir'),
                       ([f'--generated={tmp_path / "run"}', '--mc_split=train[:50%]'],
                        'reads the training split'),
                       ([f'--generated={tmp_path / "run"}', '--max_examples=0'],
                        '--max_examples=0: expected')):
    r = subprocess.run(base + flags, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2, r.stderr[-3000:]
    lines = [line for line in r.stderr.splitlines() if line.startswith('taiga_tf.evaluate:')]
    assert len(lines) == 1 and match in lines[0] and 'Traceback' not in r.stderr, r.stderr[-3000:]
  assert not (tmp_path / 'out').exists()
