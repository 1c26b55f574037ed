"""Shared helper of the benchmarks: run Python code in a fresh process, read its JSON line."""
import json
import os
import subprocess
import sys


def run_child(code: str, cwd=None) -> dict:
  """Runs `code` with this interpreter; returns the JSON object on its last stdout line."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env,
                       cwd=cwd)
  if out.returncode:
    raise RuntimeError(out.stderr[-3000:])
  return json.loads(out.stdout.strip().splitlines()[-1])


def time_train_steps(model, strategy, jit: bool, batch_size: int, steps: int, n_slots: int = 1,
                     key: str = 'loss') -> float:
  """Training images/s of `steps` train steps on one in-memory random batch (after 3 warm-up
  steps). Runs inside a benchmark's child process (needs TensorFlow imported there)."""
  import time  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from taiga_tf.training import make_step_fn  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  B = batch_size
  batch = {'image': rng.normal(size=(B, n_slots, 32, 32, 1)).astype(np.float32) * 0.1,
           'label': rng.integers(0, 100, size=(B, n_slots)).astype(np.int32),
           'pos': np.arange(B, dtype=np.int32)}
  ds = tf.data.Dataset.from_tensor_slices(batch).batch(B).cache().repeat()
  it = iter(strategy.experimental_distribute_dataset(ds))
  step = make_step_fn(model, strategy, jit)
  for _ in range(3):
    out = step(next(it))
  float(out[key])
  t0 = time.time()
  for _ in range(steps):
    out = step(next(it))
  float(out[key])
  return steps * B / (time.time() - t0)
