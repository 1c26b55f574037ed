"""Fixed-shape, optionally XLA-compiled sampling from an exported generator.

A sampler takes a generator function `fn(class_id, seed, index) -> {'image',
'pixels'}` (the SavedModel's `generate_indexed`, which every model kind exports)
and calls it on batches of one fixed size, padding the last one, so the compiled
function is traced once.

That size is the batch size rounded up to a multiple of 8: measured on this
CPU (oneDNN on or off), per-sample outputs are bitwise the same for every even
batch size but not for odd ones (remainder kernels), so with the rounding a
dataset does not depend on --batch_size (tests/test_generate.py checks it).
"""
from __future__ import annotations

import json
import os
import re

import numpy as np
import tensorflow as tf

from taiga_tf import cluster
from taiga_tf.diffusion import solvers


class Sampler:

  def __init__(self, fn, batch_size: int, jit_compile: bool, settings: str = ''):
    self.batch_size = batch_size
    self.settings = settings            # for error messages, e.g. ' (heun, 18 steps, ...)'
    self.compute_batch = -(-batch_size // 8) * 8
    self.jit_compile = jit_compile
    spec = [tf.TensorSpec([self.compute_batch], tf.int32), tf.TensorSpec([2], tf.int64),
            tf.TensorSpec([self.compute_batch], tf.int64)]
    self._fn = tf.function(lambda y, s, i: fn(class_id=y, seed=s, index=i)['image'],
                           input_signature=spec, jit_compile=jit_compile)

  def warm_up(self, label: int, seed) -> None:
    """Traces (and with XLA compiles) the sampling function before timed work. Without
    XLA tracing is enough; running it would cost a whole batch of sampling (for a score
    model with 1000 steps, as much as the images of a small shard)."""
    if self.jit_compile:
      self([label], seed, 0)
    else:
      self._fn.get_concrete_function()

  def __call__(self, labels, seed, first_index: int) -> np.ndarray:
    """Images [n, S, S] (pe) of samples first_index .. first_index + n - 1."""
    n = len(labels)
    if n > self.batch_size:
      raise ValueError(f'at most {self.batch_size} labels per call, got {n}')
    y = np.zeros(self.compute_batch, np.int32)
    y[:n] = labels
    y[n:] = labels[-1] if n else 0
    idx = np.arange(first_index, first_index + self.compute_batch, dtype=np.int64)
    what = f'samples {first_index}..{first_index + n - 1}{self.settings}'
    try:
      out = self._fn(tf.constant(y), tf.constant(seed, tf.int64), tf.constant(idx)).numpy()[:n]
    except tf.errors.InvalidArgumentError as e:     # the endpoint's own checks
      raise ValueError(f'{what}: {assertion_message(e)}') from None
    bad = ~np.isfinite(out.reshape(max(n, 1), -1)).all(axis=1)[:n]
    if bad.any():
      j = int(np.argmax(bad))
      raise ValueError(f'{what}: sample {first_index + j} (class {int(labels[j])}) and '
                       f'{int(bad.sum()) - 1} more are not finite (NaN or inf): the model or its '
                       'sampler settings diverge; nothing was written for them')
    return out


def assertion_message(e: Exception) -> str:
  """The message of a tf.debugging assert that failed (the first bracketed part of an
  InvalidArgumentError), or the error's first line."""
  text = getattr(e, 'message', None) or str(e)
  m = re.search(r'assertion failed: \[(.*?)\]', text, re.S)
  return m.group(1) if m else (text.strip().splitlines() or ['no message'])[0]


def _not_an_export(path: str) -> str:
  """Why the folder `path` is not a SavedModel, in the user's terms."""
  if not os.path.exists(path):
    return 'no such folder'
  if not os.path.isdir(path):
    return 'a file, not a folder'
  if os.path.isdir(os.path.join(path, 'saved_model')):
    return f'a training workdir: its export is --model={os.path.join(path, "saved_model")}'
  if os.path.exists(os.path.join(path, 'dataset_info.json')):
    return 'a TFDS dataset, not a model'
  return 'no saved_model.pb in it'


def load_generator(path: str):
  """Loads an exported SavedModel: (the loaded module, model info dict, metadata dict).
  A folder that is not a complete taiga_tf export (a workdir, a dataset, a missing
  folder, a truncated or damaged file) is a ValueError/FileNotFoundError naming it."""
  what = f'--model {path} is not an exported taiga_tf model (<workdir>/saved_model)'
  if not os.path.isfile(os.path.join(path, 'saved_model.pb')):
    raise FileNotFoundError(f'{what}: {_not_an_export(path)}')
  try:
    model = tf.saved_model.load(path)
  except Exception as e:  # pylint: disable=broad-except  # damaged files: any of TF's errors
    first = (getattr(e, 'message', None) or str(e)).strip().splitlines()
    raise ValueError(f'{what}: it cannot be loaded ({type(e).__name__}: '
                     f'{first[0] if first else "no message"}); export it again') from None
  if not hasattr(model, 'generate_indexed') or not hasattr(model, 'metadata'):
    raise ValueError(f'{what}: the SavedModel has no generate_indexed/metadata endpoints')
  try:
    meta = {k: v.numpy() for k, v in model.metadata().items()}
    info = json.loads(meta['model_json'].decode() if isinstance(meta['model_json'], bytes)
                      else str(meta['model_json']))
  except (tf.errors.OpError, KeyError, ValueError, AttributeError) as e:
    raise ValueError(f'{what}: its metadata() has no readable model_json ({e})') from None
  if not isinstance(info, dict) or 'num_classes' not in meta:
    raise ValueError(f'{what}: its metadata() is not a taiga_tf export\'s')
  return model, info, meta


def sampling_settings(model, meta: dict, sampler: str | None, num_steps: int | None,
                      guidance: float | None) -> dict | None:
  """The sampler settings of a diffusion export ({} defaults from its metadata);
  None for a cGAN export (which takes none: giving one is an error)."""
  if 'default_sampler' not in meta:
    if sampler or num_steps is not None or guidance is not None:
      raise ValueError('--sampler, --num_steps and --guidance apply to diffusion exports only; '
                       'this model is a cGAN')
    return None
  dec = lambda v: v.decode() if isinstance(v, bytes) else str(v)
  known = [dec(v) for v in meta['samplers']]
  name = sampler or dec(meta['default_sampler'])
  if name not in known:
    raise ValueError(f'unknown sampler {name!r}: this export has {", ".join(known)}')
  steps = int(num_steps) if num_steps is not None else int(meta['default_num_steps'])
  g = float(guidance) if guidance is not None else float(meta['default_guidance'])
  solvers.check_settings(steps, g)     # NaN, inf, beyond float32, 0 or 10^6 steps: refused
  return {'sampler': name, 'num_steps': steps, 'guidance': g}


def make_sampler(model, batch_size: int, flag: str, sampling: dict | None = None) -> Sampler:
  """A Sampler of the export: generate_indexed (cGAN), or sample_<sampler> with fixed
  num_steps and guidance (diffusion), compiled with XLA by `cluster.resolve_jit(flag)`."""
  if sampling is None:
    fn = model.generate_indexed
  else:
    endpoint = getattr(model, f'sample_{sampling["sampler"]}')
    steps = tf.constant(sampling['num_steps'], tf.int32)
    g = tf.constant(sampling['guidance'], tf.float32)

    def fn(class_id, seed, index):
      return endpoint(class_id=class_id, seed=seed, index=index, num_steps=steps, guidance=g)
  how = ('' if sampling is None else f' ({sampling["sampler"]}, {sampling["num_steps"]} steps, '
                                     f'guidance {sampling["guidance"]:g})')
  return Sampler(fn, batch_size, cluster.resolve_jit(flag), how)
