"""Fixed-shape, optionally XLA-compiled sampling from an exported generator.

A sampler takes a generator function `fn(class_id, seed, index) -> {'image',
'pixels'}` (the SavedModel's `generate_indexed`: the cGAN today, the diffusion
model through the same export interface) and calls it on batches of one fixed
size, padding the last one, so the compiled function is traced once.

That size is the batch size rounded up to a multiple of 8: measured on this
CPU (oneDNN on or off), per-sample outputs are bitwise the same for every even
batch size but not for odd ones (remainder kernels), so with the rounding a
dataset does not depend on --batch_size (tests/test_generate.py checks it).
"""
from __future__ import annotations

import json
import time

import numpy as np
import tensorflow as tf


class Sampler:

  def __init__(self, fn, batch_size: int, jit_compile: bool):
    self.batch_size = batch_size
    self.compute_batch = -(-batch_size // 8) * 8
    self.jit_compile = jit_compile
    spec = [tf.TensorSpec([self.compute_batch], tf.int32), tf.TensorSpec([2], tf.int64),
            tf.TensorSpec([self.compute_batch], tf.int64)]
    self._fn = tf.function(lambda y, s, i: fn(class_id=y, seed=s, index=i)['image'],
                           input_signature=spec, jit_compile=jit_compile)

  def __call__(self, labels, seed, first_index: int) -> np.ndarray:
    """Images [n, S, S] (pe) of samples first_index .. first_index + n - 1."""
    n = len(labels)
    if n > self.batch_size:
      raise ValueError(f'at most {self.batch_size} labels per call, got {n}')
    y = np.zeros(self.compute_batch, np.int32)
    y[:n] = labels
    y[n:] = labels[-1] if n else 0
    idx = np.arange(first_index, first_index + self.compute_batch, dtype=np.int64)
    out = self._fn(tf.constant(y), tf.constant(seed, tf.int64), tf.constant(idx))
    return out.numpy()[:n]


def load_generator(path: str):
  """Loads an exported SavedModel: (generate_indexed fn, model info dict, metadata dict)."""
  model = tf.saved_model.load(path)
  if not hasattr(model, 'generate_indexed'):
    raise ValueError(f'{path} is not a taiga_tf generator export (no generate_indexed)')
  meta = {k: v.numpy() for k, v in model.metadata().items()}
  info = json.loads(meta['model_json'].decode() if isinstance(meta['model_json'], bytes)
                    else str(meta['model_json']))
  return model, info, meta


def make_sampler(model, batch_size: int, n_batches: int, flag: str, log=print) -> Sampler:
  """A Sampler of model.generate_indexed with jit_compile from `flag`.

  'true'/'false' as given; 'auto': XLA on GPUs, on CPU the faster of XLA and the
  plain graph timed on 3 batches (only when there are at least 20 to do); the
  timed, already traced sampler is the one returned.
  """
  fn = model.generate_indexed
  if flag in ('true', 'false'):
    return Sampler(fn, batch_size, flag == 'true')
  if tf.config.list_logical_devices('GPU'):
    return Sampler(fn, batch_size, True)
  if n_batches < 20:
    return Sampler(fn, batch_size, False)
  times, candidates = {}, {}
  labels = np.zeros(batch_size, np.int32)
  for jit in (False, True):
    s = candidates[jit] = Sampler(fn, batch_size, jit)
    s(labels, (0, 0), 0)                     # trace / compile
    t0 = time.time()
    for k in range(3):
      s(labels, (0, 0), k * batch_size)
    times[jit] = time.time() - t0
  best = times[True] < times[False]
  log(f'generate: jit_compile=auto -> {best} (3 batches: XLA {times[True]:.2f} s, '
      f'graph {times[False]:.2f} s)')
  return candidates[best]
