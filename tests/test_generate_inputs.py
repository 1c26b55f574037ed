"""Hostile arguments to taiga_tf.generate: every check runs before the first byte is
written, a wrong --model folder is a one-line error, and no setting writes a non-finite
image (issue #24)."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from taiga_tf import generation, samplers
from taiga_tf.dataset_writer import DatasetWriter, serialize_generated


def _cfg(model, data_dir, out, **kw):
  kw = {'plan': 'imbalanced', 'num_examples': 8, **kw}
  return generation.GenerateConfig(model=model, output_dir=str(out), data_dir=str(data_dir),
                                   jit_compile='false', **kw)


@pytest.mark.parametrize('kw,pattern', [
    (dict(seed=-1), r'seed must be in \[0, 2\^63\), got -1'),
    (dict(seed=2 ** 63), r'seed must be in \[0, 2\^63\)'),
    (dict(seed=10 ** 20), r'seed must be in \[0, 2\^63\)'),
    (dict(num_steps=0), r'num_steps must be an integer in \[1, 10000\], got 0'),
    (dict(num_steps=1_000_000), r'num_steps must be an integer in \[1, 10000\]'),
    (dict(num_steps=2 ** 40), r'num_steps must be an integer in \[1, 10000\]'),
    (dict(guidance=float('nan')), r'guidance must be a finite number in \[0, 100\]'),
    (dict(guidance=float('inf')), r'guidance must be a finite number in \[0, 100\]'),
    (dict(guidance=1e39), r'guidance must be a finite number in \[0, 100\]'),   # beyond float32
    (dict(guidance=-1.0), r'guidance must be a finite number in \[0, 100\]'),
    (dict(num_examples=2 ** 32 + 1), 'num_examples must be at most 4294967296'),
    (dict(num_examples=10 ** 10), 'num_examples must be at most 4294967296'),
    (dict(batch_size=10 ** 9), 'batch_size must be at most 65536'),
    (dict(num_shards=10 ** 12), 'num_shards must be >= 1 and at most 100000'),
    (dict(num_workers=10 ** 9), 'num_workers must be at most 100000'),
    (dict(num_workers=3, num_shards=2), '3 workers for 2 shards: give --num_shards of at least 3'),
])
def test_bad_arguments_are_refused_before_any_byte(smoke_saved_model, dummy_data_dir, tmp_path, kw,
                                                   pattern):
  with pytest.raises(ValueError, match=pattern):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'x', **kw),
                        log=lambda *a: None)
  assert os.listdir(tmp_path) == []          # no lock, no .incomplete, no state.json


def test_checks_that_need_the_model_leave_nothing_and_the_fix_runs(smoke_saved_model,
                                                                   dummy_data_dir, tmp_path):
  """A refused run must not pin its arguments: the corrected command is not "an
  interrupted run with other arguments"."""
  out = tmp_path / 'out'
  plan = tmp_path / 'plan.json'
  for text, pattern in (('{"12": 2.7}', 'count 2.7 is not a whole number'),
                        ('{"12": 1e12}', 'more than one seed gives'),
                        ('{"gamma": 3}', "key 'gamma' is not a class id")):
    plan.write_text(text)
    with pytest.raises(ValueError, match=pattern):
      generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, plan=f'counts:{plan}',
                               num_examples=None), log=lambda *a: None)
    assert sorted(os.listdir(tmp_path)) == ['plan.json']
  with pytest.raises(ValueError, match='3 workers for a plan of 2 examples'):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, num_examples=2,
                             num_workers=3), log=lambda *a: None)
  assert sorted(os.listdir(tmp_path)) == ['plan.json']
  with pytest.raises(ValueError, match='diffusion exports only'):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, num_steps=5),
                        log=lambda *a: None)
  s = generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, seed=1),
                          log=lambda *a: None)
  assert s['complete'] and sorted(os.listdir(tmp_path)) == ['out', 'plan.json']


def _nan_sampler():
  def make(model, batch_size, flag, sampling=None):
    del model, flag, sampling
    fn = lambda class_id, seed, index: {'image': tf.fill([tf.size(class_id), 32, 32], np.nan)}
    return samplers.Sampler(fn, batch_size, False, ' (a diverging model)')
  return make


def test_non_finite_images_are_never_written(smoke_saved_model, dummy_data_dir, tmp_path,
                                             monkeypatch):
  monkeypatch.setattr(samplers, 'make_sampler', _nan_sampler())
  with pytest.raises(ValueError, match=r'samples 0\.\.1 \(a diverging model\): sample 0 \(class '
                                       r'\d+\) and 1 more are not finite \(NaN or inf\)'):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'x'),
                        log=lambda *a: None)
  assert os.listdir(tmp_path) == []      # nothing written, nothing pinned for a resume


def test_the_writer_refuses_a_non_finite_image():
  img = np.zeros((32, 32), np.float32)
  serialize_generated(img, {'seed_index': 3})
  for bad in (np.nan, np.inf, -np.inf):
    img[4, 5] = bad
    with pytest.raises(ValueError, match='example 3: the image is not finite'):
      serialize_generated(img, {'seed_index': 3})


def test_a_dataset_writer_writes_nothing_before_begin(tmp_path):
  out = str(tmp_path / 'gen')
  w = DatasetWriter(out, None, 10, 2, {'seed': 1}, 'n')
  assert w.pending_shards() == [0, 1] and os.listdir(tmp_path) == []
  assert w.begin() is True
  assert os.listdir(tmp_path / 'gen.incomplete') == ['state.json']
  assert w.begin() is False                               # the same run again: fine
  with pytest.raises(ValueError, match=r"other arguments \(differs in \['seed'\]\)"):
    DatasetWriter(out, None, 10, 2, {'seed': 2}, 'n')
  DatasetWriter.discard_if_empty(out)                     # only a state.json: removed
  assert os.listdir(tmp_path) == []
  w.begin()
  open(w.shard_path(0), 'wb').close()
  DatasetWriter.discard_if_empty(out)                     # a written shard: kept for a resume
  assert sorted(os.listdir(tmp_path / 'gen.incomplete'))[-1] == 'state.json'


@pytest.fixture
def broken_models(smoke_saved_model, dummy_data_dir, tmp_path):
  workdir = tmp_path / 'workdir'
  (workdir / 'saved_model').mkdir(parents=True)
  truncated = tmp_path / 'truncated'
  shutil.copytree(smoke_saved_model, truncated)
  for f in (truncated / 'variables').iterdir():
    if '.data-' in f.name:
      with open(f, 'r+b') as fh:
        fh.truncate(max(1, f.stat().st_size // 3))
  garbage = tmp_path / 'garbage'
  garbage.mkdir()
  (garbage / 'saved_model.pb').write_bytes(b'\x00not a protobuf\xff' * 10)
  afile = tmp_path / 'afile'
  afile.write_text('x')
  return {
      'workdir': (workdir, r'a training workdir: its export is --model=.*workdir/saved_model'),
      'dataset': (dummy_data_dir / 'taiga_iact' / 'mc' / '1.1.0', 'a TFDS dataset, not a model'),
      'missing': (tmp_path / 'nowhere', 'no such folder'),
      'file': (afile, 'a file, not a folder'),
      'empty': (tmp_path, 'no saved_model.pb in it'),
      'truncated': (truncated, 'it cannot be loaded .*; export it again'),
      'garbage': (garbage, 'it cannot be loaded .*; export it again'),
  }


def test_a_wrong_model_folder_is_an_error_naming_it(broken_models):
  for path, why in broken_models.values():
    with pytest.raises((ValueError, FileNotFoundError),
                       match=rf'--model {path} is not an exported taiga_tf model .*{why}'):
      samplers.load_generator(str(path))


@pytest.mark.slow
def test_the_app_says_so_in_one_line(broken_models, dummy_data_dir, tmp_path):
  env = {k: v for k, v in os.environ.items() if k != 'TAIGA_TF_TRACEBACK'}
  for key in ('workdir', 'truncated'):
    path, why = broken_models[key]
    r = subprocess.run([sys.executable, '-m', 'taiga_tf.generate', f'--model={path}',
                        f'--output_dir={tmp_path / "out"}', f'--data_dir={dummy_data_dir}',
                        '--plan=imbalanced', '--num_examples=8'],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('taiga_tf.generate: error: --model'), lines
    assert re.search(why, lines[0]), (why, lines[0])
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'out.incomplete').exists()
