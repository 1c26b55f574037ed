"""`python -m taiga_tf.train` on two local workers (MultiWorkerMirroredStrategy via TF_CONFIG).

A two-worker step equals the one-process step on the same global batch, and a two-worker
run killed after a checkpoint and started again continues as the uninterrupted run.

"Equals" is checked on what the networks compute: the discriminator and generator losses
of every step (TensorBoard, full float32), which depend on the weights of the step before,
to a relative 1e-4. The weights themselves are not compared bit for bit: a convolution bias
that a batch norm follows has a gradient that is zero up to rounding, and Adam turns that
rounding into steps of the learning rate's size in a direction the reduction order decides
(5e-5 after 4 steps here), without any effect on what the network computes.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from taiga_tf import cluster


def _free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


def _args(data_dir, workdir, steps):
  return [sys.executable, '-m', 'taiga_tf.train', '--model=cgan', '--dataset=taiga_iact/mc',
          f'--data_dir={data_dir}', f'--workdir={workdir}', f'--steps={steps}', '--batch_size=8',
          '--g_channels=4', '--d_channels=4', '--z_dim=8', '--embed_dim=8', '--log_every=1',
          '--eval_every=0', '--ckpt_every=2', '--noexport', '--jit_compile=false']


def _env(tf_config=None):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', TF_NUM_INTRAOP_THREADS='1',
             TF_NUM_INTEROP_THREADS='1')
  env.pop('TF_CONFIG', None)
  if tf_config is not None:
    env['TF_CONFIG'] = json.dumps(tf_config)
  return env


def _start_workers(data_dir, workdir, steps):
  hosts = [f'127.0.0.1:{p}' for p in _free_ports(2)]
  return [subprocess.Popen(_args(data_dir, workdir, steps),
                           env=_env({'cluster': {'worker': hosts},
                                     'task': {'type': 'worker', 'index': i}}),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for i in range(2)]


def _finish(procs, timeout=420):
  outs = [p.communicate(timeout=timeout) for p in procs]
  assert all(p.returncode == 0 for p in procs), [o[1][-3000:] for o in outs]
  return [o[0] for o in outs]


REF_STEPS = 40
TAGS = ('losses/d_loss', 'losses/g_loss', 'discriminator/d_real', 'discriminator/d_fake')


def _scalars(workdir):
  """{tag: {step: value}} from the TensorBoard events (a restart's orphaned steps purged)."""
  from tensorboard.backend.event_processing import event_accumulator
  ea = event_accumulator.EventAccumulator(str(workdir / 'train'), size_guidance={'tensors': 0})
  ea.Reload()
  return {t: {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in ea.Tensors(t)} for t in TAGS}


def _assert_same_steps(run, ref, steps):
  for tag in TAGS:
    got = [run[tag][s] for s in steps]
    want = [ref[tag][s] for s in steps]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=tag)


@pytest.fixture(scope='module')
def single_run(dummy_data_dir, tmp_path_factory):
  """The one-process reference: REF_STEPS steps, every step's losses in TensorBoard."""
  workdir = tmp_path_factory.mktemp('single')
  r = subprocess.run(_args(dummy_data_dir, workdir, REF_STEPS), env=_env(), capture_output=True,
                     text=True, timeout=420)
  assert r.returncode == 0, r.stderr[-3000:]
  return _scalars(workdir)


@pytest.mark.slow
def test_two_workers_step_equals_one_process(dummy_data_dir, single_run, tmp_path):
  outs = _finish(_start_workers(dummy_data_dir, tmp_path / 'w', 4))
  assert all('2 replica(s) (worker' in o for o in outs), outs[0][-2000:]
  assert (tmp_path / 'w' / 'checkpoints' / 'ckpt-4.index').exists()
  losses = single_run['losses/d_loss']
  assert abs(losses[4] - losses[1]) > 1e-3        # the weights did move between the steps
  _assert_same_steps(_scalars(tmp_path / 'w'), single_run, [1, 2, 3, 4])
  # the chief alone wrote config.json and TensorBoard; the other worker left no scratch
  assert (tmp_path / 'w' / 'config.json').exists()
  assert len(list((tmp_path / 'w' / 'train').glob('events.out.tfevents.*'))) == 1
  assert not (tmp_path / 'w' / '.scratch').exists()


@pytest.mark.slow
def test_killed_two_worker_run_resumes(dummy_data_dir, single_run, tmp_path):
  workdir = tmp_path / 'w'
  procs = _start_workers(dummy_data_dir, workdir, 100000)
  try:
    deadline = time.time() + 400
    while not (workdir / 'checkpoints' / 'ckpt-2.index').exists():
      assert time.time() < deadline and all(p.poll() is None for p in procs), [
          p.communicate()[1][-3000:] for p in procs if p.poll() is not None]
      time.sleep(0.2)
  finally:
    for p in procs:
      p.send_signal(signal.SIGKILL)
      p.communicate()
  start = int(tf.train.latest_checkpoint(str(workdir / 'checkpoints')).rsplit('-', 1)[1])
  assert 2 <= start <= REF_STEPS - 2
  outs = _finish(_start_workers(dummy_data_dir, workdir, start + 2))
  assert all('train: resumed from' in o and f'at step {start}' in o for o in outs), outs[0][-2000:]
  _assert_same_steps(_scalars(workdir), single_run, [start + 1, start + 2])


@pytest.mark.parametrize('value,pattern', [
    ('{"cluster": ', 'TF_CONFIG is not valid JSON'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}}', 'TF_CONFIG must hold "cluster"'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
     'is not one of the cluster'),
])
def test_bad_tf_config_is_a_clear_error(monkeypatch, value, pattern):
  monkeypatch.setenv('TF_CONFIG', value)
  with pytest.raises(ValueError, match=pattern):
    cluster.role()


def test_roles(monkeypatch):
  monkeypatch.delenv('TF_CONFIG', raising=False)
  assert cluster.role() == cluster.Role()
  monkeypatch.setenv('TF_CONFIG', json.dumps({'cluster': {'worker': ['a:1']},
                                              'task': {'type': 'worker', 'index': 0}}))
  assert cluster.role().num_workers == 1           # one task: not a cluster
  monkeypatch.setenv('TF_CONFIG', json.dumps({'cluster': {'worker': ['a:1', 'b:2']},
                                              'task': {'type': 'worker', 'index': 1}}))
  assert cluster.role() == cluster.Role('worker', 1, 2, False)
  monkeypatch.setenv('TF_CONFIG', json.dumps({'cluster': {'chief': ['c:0'], 'worker': ['a:1']},
                                              'task': {'type': 'worker', 'index': 0}}))
  assert cluster.role() == cluster.Role('worker', 0, 2, False)
