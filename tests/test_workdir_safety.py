"""Training never loses work and never starts over a workdir it cannot read.

- every flag's range is checked before anything is written (an error naming the flag);
- config.json is written atomically, and a damaged one is an error naming it;
- resume and export restore the newest intact checkpoint, naming the missing or
  damaged newer ones they skip, which stay out of the rotation (the intact older
  checkpoints are not deleted in their place);
- a workdir with traces of a run but nothing restorable is refused, untouched.
"""
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from taiga_tf import cluster, training, workdir as workdir_lib

SMALL = dict(dataset='taiga_iact/mc', batch_size=8, g_channels=4, d_channels=4, z_dim=8,
             embed_dim=8, log_every=2, eval_every=0, ckpt_every=2, export=False)
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')


def _cfg(data_dir, workdir, steps=4, **kw):
  return training.TrainConfig(workdir=str(workdir), data_dir=str(data_dir),
                              **{**SMALL, 'steps': steps, **kw})


def _snapshot(d):
  """{relative path: (size, mtime)} of every file under d."""
  out = {}
  for root, _, files in os.walk(d):
    for f in files:
      p = os.path.join(root, f)
      st = os.stat(p)
      out[os.path.relpath(p, d)] = (st.st_size, st.st_mtime_ns)
  return out


# ---------------------------------------------------------------- flags
@pytest.mark.parametrize('kw,pattern', [
    (dict(ckpt_every=0), r'--ckpt_every=0: must be >= 1'),
    (dict(log_every=0), r'--log_every=0: must be >= 1'),
    (dict(eval_every=-1), r'--eval_every=-1: must be >= 0 \(0: never\)'),
    (dict(steps=0), r'--steps=0: must be >= 1'),
    (dict(batch_size=0), r'--batch_size=0: must be >= 1'),
    (dict(g_lr=float('nan')), r'--g_lr=nan: expected a finite number'),
    (dict(d_lr=float('inf')), r'--d_lr=inf: expected a finite number'),
    (dict(g_lr=0.0), r'--g_lr=0.0: must be > 0'),
    (dict(lr=-1e-4, model='diffusion'), r'--lr=-0.0001: must be > 0'),
    (dict(beta2=1.0), r'--beta2=1.0: must be >= 0 and < 1'),
    (dict(ema_decay=1.5), r'--ema_decay=1.5: must be >= 0 and <= 1'),
    (dict(seed=-1), r'--seed=-1: must be >= 0'),
    (dict(n_disc=0), r'--n_disc=0'),
    (dict(steps=2.5), r'--steps=2.5: expected an integer'),
    (dict(model='vae'), r"--model='vae': one of cgan, diffusion"),
    (dict(jit_compile='maybe'), r"--jit_compile='maybe': one of auto, true, false"),
    (dict(sampler='euler'), r"--sampler='euler': one of heun"),
    (dict(model='diffusion', channel_mult='1,two'), r"--channel_mult='1,two': expected comma-sep"),
    (dict(model='diffusion', channel_mult='1,0'), r"--channel_mult='1,0': every entry must be >= 1"),
    (dict(model='diffusion', channel_mult=''), r"--channel_mult='': give at least one"),
    (dict(model='diffusion', attn_resolutions='8;16'), r"--attn_resolutions='8;16'"),
    (dict(model='diffusion', channels=12), r'--channels=12 with --channel_mult'),
    (dict(model='diffusion', num_steps=0), r'--num_steps=0: must be >= 1'),
    (dict(model='diffusion', p_uncond=1.5), r'--p_uncond=1.5'),
])
def test_a_flag_out_of_range_is_an_error_naming_it_before_anything_is_written(tmp_path, kw,
                                                                             pattern):
  workdir = tmp_path / 'w'
  with pytest.raises(ValueError, match=pattern):
    training.train(_cfg(tmp_path / 'no_data', workdir, **kw), log=lambda *a: None)
  assert not workdir.exists()


@pytest.mark.parametrize('kw,size,replicas,pattern', [
    (dict(batch_size=9), 32, 2, r'--batch_size=9: .* 2 replicas and must be divisible by 2'),
    (dict(model='diffusion', channel_mult='1,1,1,1,1,1,1'), 32, 1,
     r"--channel_mult='1,1,1,1,1,1,1': 7 resolutions .* at most 6 multipliers"),
    (dict(model='diffusion', channel_mult='1,2', attn_resolutions='8'), 32, 1,
     r"--attn_resolutions='8': 8 is not one of the U-Net's resolutions 32, 16"),
])
def test_flags_checked_against_the_data_and_the_devices(kw, size, replicas, pattern):
  cfg = training.TrainConfig(workdir='w', data_dir='d', **kw)
  training.check_config(cfg)
  with pytest.raises(ValueError, match=pattern):
    training.check_config_for(cfg, size, replicas)


def test_the_shipped_configs_pass_the_checks():
  training.check_config_for(training.TrainConfig(workdir='w', data_dir='d'), 32, 1)
  for kw, size in ((dict(model='diffusion', channel_mult='1,2,2,2', attn_resolutions='16,8'), 64),
                   (dict(model='diffusion', channel_mult='1,2', attn_resolutions='16'), 32),
                   (dict(model='cgan', batch_size=32), 64)):
    cfg = training.TrainConfig(workdir='w', data_dir='d', **kw)
    training.check_config(cfg)
    training.check_config_for(cfg, size, 1)


def test_a_diverged_loss_or_weight_stops_before_the_save():
  class Manager:
    latest_checkpoint = '/w/checkpoints/ckpt-4'
  with pytest.raises(ValueError, match=r'step 6: d_loss = nan: the training diverged; .*'
                                       r'ckpt-4, is kept'):
    training._check_finite({'d_loss': math.nan, 'g_loss': 1.0}, 6, Manager())
  training._check_finite({'d_loss': 1.0}, 6, Manager())

  class Model:
    def __init__(self, value):
      import keras  # pylint: disable=g-import-not-at-top
      self.dense = keras.layers.Dense(2)
      self.dense.build((None, 3))
      self.dense.kernel.assign(np.full((3, 2), value, np.float32))

    def online_network(self):
      return self.dense

    def ema_network(self):
      return self.dense

  training._check_finite({'loss': 1.0}, 6, Manager(), Model(1.0))
  with pytest.raises(ValueError, match=r'step 6: weight .*kernel is not finite'):
    training._check_finite({'loss': 1.0}, 6, Manager(), Model(np.inf))


# ---------------------------------------------------------------- config.json
@pytest.mark.parametrize('content,pattern', [
    (b'{"model": "cgan", "train_config": {"steps": 4', r'is damaged: not JSON \(.*line 1 column'),
    (b'', r'is damaged: not JSON'),
    (b'{"train_config": {"model": "\xff"}}', r'is damaged: byte 28 is not UTF-8'),
    (b'[1, 2]', r'is not a taiga_tf.train config \(expected a JSON object .* got list\)'),
    (b'null', r'got NoneType'),
    (b'{"model": "cgan"}', r'got dict without one'),
])
def test_a_damaged_config_json_is_an_error_naming_it(tmp_path, content, pattern):
  (tmp_path / 'config.json').write_bytes(content)
  name = str(tmp_path / 'config.json')
  with pytest.raises(ValueError, match=pattern) as e:
    training.stored_config(str(tmp_path))
  assert name in str(e.value)
  before = _snapshot(tmp_path)
  with pytest.raises(ValueError, match=pattern):
    training.train(_cfg(tmp_path / 'no_data', tmp_path), log=lambda *a: None)
  with pytest.raises(ValueError, match=pattern):
    training.export_workdir(str(tmp_path), log=lambda *a: None)
  assert _snapshot(tmp_path) == before


def test_a_config_json_from_another_version_or_edited_names_the_file(tmp_path):
  good = dict(model='cgan', train_config=dict(workdir='x', data_dir='d', steps=4))
  for tc, pattern in (({'data_dir': 'd', 'new_flag': 1}, r'flags this taiga_tf does not know '
                                                         r'\(new_flag\)'),
                      ({'data_dir': 'd', 'ckpt_every': 0}, r'config.json: --ckpt_every=0'),
                      ({'steps': 4}, r'train_config has no data_dir')):
    (tmp_path / 'config.json').write_text(json.dumps(dict(good, train_config=tc)))
    with pytest.raises(ValueError, match=pattern):
      training.export_workdir(str(tmp_path), log=lambda *a: None)


def test_config_json_is_replaced_atomically(tmp_path, monkeypatch):
  path = str(tmp_path / 'config.json')
  workdir_lib.write_json_atomic(path, {'train_config': {'a': 1}})
  assert json.loads(open(path).read()) == {'train_config': {'a': 1}}

  def dump_half(obj, f, **kw):
    f.write('{"train_config": {')
    raise OSError(28, 'No space left on device')
  monkeypatch.setattr(workdir_lib.json, 'dump', dump_half)
  with pytest.raises(OSError):
    workdir_lib.write_json_atomic(path, {'train_config': {'a': 2}})
  assert json.loads(open(path).read()) == {'train_config': {'a': 1}}    # the old one, whole
  assert os.listdir(tmp_path) == ['config.json']                         # no temporary left


# ---------------------------------------------------------------- checkpoints, no model
def _tiny_checkpoints(directory, steps=(2, 4, 6)):
  """A Checkpoint of two variables saved at `steps`; its variable w holds the step."""
  v, w = tf.Variable(tf.range(1000, dtype=tf.float32)), tf.Variable(0.0)
  ckpt = tf.train.Checkpoint(v=v, w=w)
  m = cluster.CheckpointManager(ckpt, str(directory), cluster.Role())
  for s in steps:
    w.assign(float(s))
    m.save(checkpoint_number=s)
  w.assign(-1.0)
  return ckpt, w


def _cut(path, keep=0.5):
  with open(path, 'r+b') as f:
    f.truncate(int(os.path.getsize(path) * keep))


DAMAGE = {
    'files missing': lambda d: [os.remove(d / f) for f in os.listdir(d) if f.startswith('ckpt-6.')],
    'data cut short': lambda d: _cut(d / 'ckpt-6.data-00000-of-00001'),
    'index cut short': lambda d: _cut(d / 'ckpt-6.index'),
    'index empty': lambda d: _cut(d / 'ckpt-6.index', 0),
    'bytes flipped': lambda d: _flip(d / 'ckpt-6.data-00000-of-00001'),
    'no .index': lambda d: os.remove(d / 'ckpt-6.index'),
    'no data file': lambda d: os.remove(d / 'ckpt-6.data-00000-of-00001'),
}


def _flip(path):
  with open(path, 'r+b') as f:
    f.seek(200)
    b = f.read(8)
    f.seek(200)
    f.write(bytes(x ^ 0xFF for x in b))


@pytest.mark.parametrize('damage', sorted(DAMAGE))
def test_restore_skips_a_damaged_newest_checkpoint_and_keeps_the_older_ones(tmp_path, damage):
  d = tmp_path / 'checkpoints'
  _tiny_checkpoints(d)
  DAMAGE[damage](d)
  ckpt, w = _tiny_checkpoints(tmp_path / 'unused', steps=())
  m = cluster.CheckpointManager(ckpt, str(d), cluster.Role())
  r = m.restore()
  assert r.path == str(d / 'ckpt-4') and float(w.numpy()) == 4.0
  assert [n for n, _ in r.skipped] == ['ckpt-6'], r.skipped
  # new saves after the restore: the damaged ckpt-6 does not count in the rotation
  # (max_to_keep 3), so the intact ckpt-2 and ckpt-4 stay until newer ones replace them
  w.assign(5.0)
  m.save(checkpoint_number=5)
  assert {'ckpt-2.index', 'ckpt-4.index', 'ckpt-5.index'} <= set(os.listdir(d))
  assert tf.train.latest_checkpoint(str(d)) == str(d / 'ckpt-5')
  # the next start restores ckpt-5, the newest intact one, not the damaged ckpt-6
  ckpt2, w2 = _tiny_checkpoints(tmp_path / 'unused2', steps=())
  r = cluster.CheckpointManager(ckpt2, str(d), cluster.Role()).restore()
  assert float(w2.numpy()) == 5.0
  # a damaged ckpt-6 is still on disk (named again), a missing one is forgotten
  assert [n for n, _ in r.skipped] == ([] if damage == 'files missing' else ['ckpt-6'])


def test_restore_reads_the_files_when_the_index_is_damaged_or_gone(tmp_path):
  d = tmp_path / 'checkpoints'
  _tiny_checkpoints(d)
  for text in (b'model_checkpoint_path: "ckpt-', b'\x00\xff garbage', None):
    if text is None:
      os.remove(d / 'checkpoint')
    else:
      (d / 'checkpoint').write_bytes(text)
    ckpt, w = _tiny_checkpoints(tmp_path / 'unused', steps=())
    m = cluster.CheckpointManager(ckpt, str(d), cluster.Role())
    r = m.restore()
    assert float(w.numpy()) == 6.0 and r.skipped == []
    assert (r.index_problem is None) == (text is None), r.index_problem
  m.save(checkpoint_number=7)        # a fresh index: the rotation goes on over the intact ones
  assert tf.train.get_checkpoint_state(str(d)).all_model_checkpoint_paths == [
      str(d / f'ckpt-{s}') for s in (4, 6, 7)]


def test_restore_ignores_paths_outside_the_folder(tmp_path):
  """An index copied from another machine names absolute paths: only this folder counts."""
  _tiny_checkpoints(tmp_path / 'other', steps=(8,))
  d = tmp_path / 'checkpoints'
  _tiny_checkpoints(d, steps=(2,))
  (d / 'checkpoint').write_text(f'model_checkpoint_path: "{tmp_path}/other/ckpt-8"\n'
                                f'all_model_checkpoint_paths: "{tmp_path}/other/ckpt-8"\n')
  ckpt, w = _tiny_checkpoints(tmp_path / 'unused', steps=())
  r = cluster.CheckpointManager(ckpt, str(d), cluster.Role()).restore()
  assert r.path == str(d / 'ckpt-2') and float(w.numpy()) == 2.0
  assert r.skipped == [('ckpt-8', 'named by the checkpoint index, but its files are missing')]


# ---------------------------------------------------------------- training runs
@pytest.fixture(scope='module')
def base_run(dummy_data_dir, tmp_path_factory):
  """A 4-step cGAN run: checkpoints 0, 2, 4, config.json, TensorBoard events."""
  workdir = tmp_path_factory.mktemp('base') / 'run'
  training.train(_cfg(dummy_data_dir, workdir), log=lambda *a: None)
  assert {f'ckpt-{s}.index' for s in (0, 2, 4)} <= set(os.listdir(workdir / 'checkpoints'))
  return workdir


def _copy(base_run, tmp_path):
  w = tmp_path / 'run'
  shutil.copytree(base_run, w)
  return w


@pytest.mark.slow
@pytest.mark.parametrize('damage', ['files missing', 'data cut short', 'index cut short'])
def test_resume_falls_back_to_the_newest_intact_checkpoint(dummy_data_dir, base_run, tmp_path,
                                                           damage):
  w = _copy(base_run, tmp_path)
  d = w / 'checkpoints'
  {'files missing': lambda: [os.remove(d / f) for f in os.listdir(d) if f.startswith('ckpt-4.')],
   'data cut short': lambda: _cut(d / 'ckpt-4.data-00000-of-00001'),
   'index cut short': lambda: _cut(d / 'ckpt-4.index')}[damage]()
  lines = []
  training.train(_cfg(dummy_data_dir, w, steps=6), log=lines.append)
  text = '\n'.join(lines)
  assert 'train: warning: skipped checkpoints/ckpt-4 (' in text, text
  assert f'train: resumed from {d / "ckpt-2"} at step 2' in text, text
  # the run continued from step 2 exactly: the step-4 checkpoint it wrote again is the
  # original one's twin, and the run reached step 6
  ref = tf.train.load_checkpoint(str(base_run / 'checkpoints' / 'ckpt-4'))
  new = tf.train.load_checkpoint(str(d / 'ckpt-4'))
  names = [n for n in ref.get_variable_to_shape_map() if 'save_counter' not in n
           and not n.startswith('_CHECKPOINTABLE')]
  assert len(names) > 20
  assert [n for n in names if not np.array_equal(ref.get_tensor(n), new.get_tensor(n))] == []
  assert tf.train.latest_checkpoint(str(d)) == str(d / 'ckpt-6')


@pytest.mark.slow
def test_export_falls_back_to_the_newest_intact_checkpoint(base_run, tmp_path):
  w = _copy(base_run, tmp_path)
  _cut(w / 'checkpoints' / 'ckpt-4.data-00000-of-00001')
  lines = []
  path = training.export_workdir(str(w), log=lines.append)
  text = '\n'.join(lines)
  assert 'export: warning: skipped checkpoints/ckpt-4 (damaged' in text, text
  assert f'export: from {w / "checkpoints" / "ckpt-2"} (step 2)' in text, text
  assert os.path.isdir(path)


@pytest.mark.parametrize('remove', ['checkpoint files', 'checkpoints/', 'config.json'])
def test_a_run_with_nothing_restorable_is_refused_untouched(dummy_data_dir, base_run, tmp_path,
                                                            remove):
  w = _copy(base_run, tmp_path)
  d = w / 'checkpoints'
  if remove == 'checkpoint files':           # the index is there, the files it names are not
    for f in os.listdir(d):
      if f.startswith('ckpt-'):
        os.remove(d / f)
  elif remove == 'checkpoints/':
    shutil.rmtree(d)
  else:
    os.remove(w / 'config.json')
  before = _snapshot(w)
  with pytest.raises(ValueError, match=r'holds an earlier run \(.*\) but no') as e:
    training.train(_cfg(dummy_data_dir, w, steps=6), log=lambda *a: None)
  assert 'train/ (' in str(e.value) and '--workdir' in str(e.value)
  if remove == 'checkpoint files':
    assert 'ckpt-4: named by the checkpoint index, but its files are missing' in str(e.value)
  if remove != 'config.json':
    with pytest.raises(ValueError, match=r'holds an earlier run .* no checkpoint of it can be '
                                         r'restored'):
      training.export_workdir(str(w), log=lambda *a: None)
  assert _snapshot(w) == before


def test_export_refuses_an_untrained_step_0_checkpoint(base_run, tmp_path):
  w = _copy(base_run, tmp_path)
  for f in os.listdir(w / 'checkpoints'):
    if f.startswith(('ckpt-2.', 'ckpt-4.')):
      os.remove(w / 'checkpoints' / f)
  with pytest.raises(ValueError, match=r'is the untrained step 0: nothing to export'):
    training.export_workdir(str(w), log=lambda *a: None)
  assert not (w / 'saved_model').exists()


# ---------------------------------------------------------------- the apps
def test_the_apps_print_the_flag_error_and_exit_2(tmp_path):
  workdir = tmp_path / 'w'
  r = subprocess.run([sys.executable, '-m', 'taiga_tf.train', f'--workdir={workdir}',
                      f'--data_dir={tmp_path}', '--ckpt_every=0'],
                     capture_output=True, text=True, env=ENV, timeout=300)
  assert r.returncode == 2, r.stderr[-3000:]
  assert 'taiga_tf.train: error: --ckpt_every=0: must be >= 1' in r.stderr, r.stderr[-3000:]
  assert 'Traceback' not in r.stderr and not workdir.exists()
  workdir.mkdir()
  (workdir / 'config.json').write_text('{"model": "cgan", "train_')
  r = subprocess.run([sys.executable, '-m', 'taiga_tf.export', f'--workdir={workdir}'],
                     capture_output=True, text=True, env=ENV, timeout=300)
  assert r.returncode == 2, r.stderr[-3000:]
  assert f'taiga_tf.export: error: {workdir / "config.json"} is damaged: not JSON' in r.stderr
