"""End-to-end: `python -m taiga_tf.train --flagfile=cgan_smoke.cfg`, SIGKILL + resume,
TensorBoard events, `python -m taiga_tf.export`, and the SavedModel in plain TF."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest


REPO = pathlib.Path(__file__).resolve().parents[1]
SMOKE = REPO / 'taiga_tf' / 'configs' / 'cgan_smoke.cfg'
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')


def _kill_after_checkpoint(cmd, workdir, step, cwd):
  """Starts cmd, waits for checkpoint `step`, kills it with SIGKILL; asserts it was still running."""
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=ENV, cwd=cwd)
  deadline = time.time() + 300
  while time.time() < deadline:
    if (workdir / 'checkpoints' / f'ckpt-{step}.index').exists() and proc.poll() is None:
      break
    time.sleep(0.2)
  killed_early = proc.poll() is None
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert killed_early, 'the run finished before it could be killed'


def _train_cmd(data_dir, workdir, *extra):
  return [sys.executable, '-m', 'taiga_tf.train', f'--flagfile={SMOKE}',
          '--dataset=taiga_iact/mc', f'--data_dir={data_dir}', f'--workdir={workdir}', *extra]


@pytest.mark.slow
def test_sigkill_resume_tensorboard_and_export(dummy_data_dir, tmp_path):
  data_dir = dummy_data_dir
  workdir = tmp_path / 'run'
  cmd = _train_cmd(data_dir, workdir, '--steps=40', '--ckpt_every=10', '--log_every=5',
                   '--eval_every=20', '--batch_size=8')
  _kill_after_checkpoint(cmd, workdir, 20, tmp_path)   # kill -9 after the step-20 checkpoint
  assert not (workdir / 'saved_model').exists()
  out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  text = out.stdout + out.stderr
  resumed = [l for l in text.splitlines() if 'resumed from' in l]
  assert resumed, text[-3000:]
  start = int(resumed[0].rsplit('step', 1)[1])
  assert 20 <= start < 40
  assert f'step     {start + 5:>2}/40' in text or f'step {start + 5:>6}/40' in text
  assert 'taiga_tf.train: 40 steps' in out.stdout.strip().splitlines()[-1]
  assert (workdir / 'checkpoints' / 'ckpt-40.index').exists()
  # TensorBoard scalars, histograms and images were written
  from tensorboard.backend.event_processing import event_accumulator
  ea = event_accumulator.EventAccumulator(str(workdir / 'train'), size_guidance={'tensors': 0})
  ea.Reload()
  tags = set(ea.Tags()['tensors'])
  for tag in ('losses/d_loss', 'losses/g_loss', 'discriminator/d_real', 'discriminator/d_fake',
              'learning_rate/generator', 'conditioning/w1_log_size', 'images/mc_vs_generated'):
    assert tag in tags, (tag, sorted(tags))
  assert any(t.startswith('size_log10/generated/energy_bin_') for t in tags)
  assert any(t.startswith('conditioning/median_size_rel_err/energy_bin_') for t in tags)
  steps = sorted(e.step for e in ea.Tensors('losses/d_loss'))
  assert steps[-1] == 40

  # re-export from the last checkpoint with the export app
  (workdir / 'saved_model').rename(workdir / 'saved_model_train')
  out = subprocess.run([sys.executable, '-m', 'taiga_tf.export', f'--workdir={workdir}'],
                       capture_output=True, text=True, env=ENV, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  check_saved_model(workdir / 'saved_model', tmp_path, other=workdir / 'saved_model_train')


LOAD_SCRIPT = textwrap.dedent('''
    import json, sys
    # keras and taiga_tf cannot be imported in this process (TF works without keras)
    sys.modules['keras'] = None
    sys.modules['taiga_tf'] = None
    import numpy as np
    import tensorflow as tf
    m = tf.saved_model.load(sys.argv[1])
    seed = tf.constant([5, 6], tf.int64)
    a = m.generate(class_id=tf.constant([3, 13, 3], tf.int32), seed=seed)
    b = m.generate(class_id=tf.constant([3, 13, 3], tf.int32), seed=seed)
    c = m.generate(class_id=tf.constant([3, 13, 3], tf.int32), seed=tf.constant([5, 7], tf.int64))
    d = m.generate_indexed(class_id=tf.constant([3], tf.int32), seed=seed,
                           index=tf.constant([2], tf.int64))
    meta = m.metadata()
    mask = meta['mask'].numpy().astype(bool)
    img = a['image'].numpy()
    row, col = meta['pixel_row'].numpy(), meta['pixel_col'].numpy()
    err = ''
    try:
      m.generate(class_id=tf.constant([0, 100], tf.int32), seed=seed)
    except tf.errors.InvalidArgumentError as e:
      err = e.message
    other = tf.saved_model.load(sys.argv[2]) if len(sys.argv) > 2 else m
    e = other.generate(class_id=tf.constant([3, 13, 3], tf.int32), seed=seed)
    print(json.dumps({
        'shape': list(img.shape), 'pixels': list(a['pixels'].shape),
        'same_seed': float(np.abs(img - b['image'].numpy()).max()),
        'other_seed': float(np.abs(img - c['image'].numpy()).mean()),
        'indexed': float(np.abs(img[2] - d['image'].numpy()[0]).max()),
        'scale': float(np.abs(img).max()),
        'outside': float(np.abs(img[:, ~mask]).max()),
        'pixels_match': float(np.abs(img[:, row, col] - a['pixels'].numpy()).max()),
        'n_classes': int(meta['num_classes']), 'edges': len(meta['energy_edges_tev'].numpy()),
        'error': err, 'train_vs_export': float(np.abs(img - e['image'].numpy()).max()),
        'assets': sorted(__import__('os').listdir(sys.argv[1] + '/assets')),
        'imported': sorted(k for k, v in sys.modules.items()
                           if v is not None and k.split('.')[0] in ('keras', 'taiga_tf')),
    }))
''')


def check_saved_model(path, cwd, other=None, rel_tol=None):
  """rel_tol: None checks the batch-1 / batch-3 and train / export differences to 1e-4 pe;
  else to rel_tol times the largest pixel. A batch of 1 against a batch of 3 changes
  oneDNN's summation order in the last bits and a diffusion sampler's steps amplify
  that (the generate app rounds its batches to multiples of 8, which makes datasets
  bitwise batch-independent: tests/test_generate.py)."""
  args = [sys.executable, '-c', LOAD_SCRIPT, str(path)] + ([str(other)] if other else [])
  env = dict(ENV, PYTHONPATH='')
  out = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  r = json.loads(out.stdout.strip().splitlines()[-1])
  assert r['imported'] == [], r['imported']           # plain TensorFlow only, keras blocked
  assert r['shape'] == [3, 32, 32] and r['pixels'] == [3, 560]
  tol = 1e-4 if rel_tol is None else rel_tol * max(1.0, r['scale'])
  assert r['same_seed'] == 0.0 and r['other_seed'] > 0 and r['indexed'] < tol, (r, tol)
  assert r['outside'] == 0.0 and r['pixels_match'] == 0.0
  assert r['n_classes'] == 100 and r['edges'] == 11
  assert 'class_id must be in [0, 100)' in r['error']
  assert r['assets'] == ['model.json.src']
  if other:
    assert r['train_vs_export'] < tol               # checkpoint export == end-of-training export


DIFFUSION_SMOKE = REPO / 'taiga_tf' / 'configs' / 'diffusion_smoke.cfg'


@pytest.mark.slow
def test_diffusion_sigkill_resume_tensorboard_and_export(dummy_data_dir, tmp_path):
  """`--model=diffusion` through the same app: kill -9 after a checkpoint, resume,
  TensorBoard (loss per noise level, images, conditioning), export app, plain TF."""
  workdir = tmp_path / 'run'
  cmd = [sys.executable, '-m', 'taiga_tf.train', f'--flagfile={DIFFUSION_SMOKE}',
         '--dataset=taiga_iact/mc', f'--data_dir={dummy_data_dir}', f'--workdir={workdir}',
         '--steps=30', '--ckpt_every=10', '--log_every=5', '--eval_every=30', '--batch_size=8',
         '--eval_examples=16', '--num_steps=3']
  _kill_after_checkpoint(cmd, workdir, 10, tmp_path)
  sd = json.loads((workdir / 'config.json').read_text())['state']['sigma_data']
  out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  text = out.stdout + out.stderr
  resumed = [l for l in text.splitlines() if 'resumed from' in l]
  assert resumed, text[-3000:]
  assert 'sigma_data =' not in text          # measured once, reused from config.json on resume
  assert json.loads((workdir / 'config.json').read_text())['state']['sigma_data'] == sd
  assert 'taiga_tf.train: 30 steps (diffusion)' in out.stdout.strip().splitlines()[-1]
  from tensorboard.backend.event_processing import event_accumulator
  ea = event_accumulator.EventAccumulator(str(workdir / 'train'), size_guidance={'tensors': 0})
  ea.Reload()
  tags = set(ea.Tags()['tensors'])
  for tag in ('losses/loss', 'learning_rate/unet', 'speed/images_per_s',
              'conditioning/w1_log_size', 'images/mc_vs_generated'):
    assert tag in tags, (tag, sorted(tags))
  assert any(t.startswith('losses/by_noise_level/') for t in tags), sorted(tags)
  (workdir / 'saved_model').rename(workdir / 'saved_model_train')
  out = subprocess.run([sys.executable, '-m', 'taiga_tf.export', f'--workdir={workdir}'],
                       capture_output=True, text=True, env=ENV, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  check_saved_model(workdir / 'saved_model', tmp_path, other=workdir / 'saved_model_train',
                    rel_tol=1e-3)
