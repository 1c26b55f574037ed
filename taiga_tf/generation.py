"""Augmented datasets from an exported generator: plan -> samples -> sharded TFDS.

Sampling (TensorFlow, optionally XLA) runs in the main thread; a writer thread
serializes and writes the previous batches (bounded queue), so writing overlaps
sampling and memory does not grow with the number of examples.

Several machines: worker i of N (`num_workers`, `worker_index`) writes its block of
the shards into the shared `<output_dir>.incomplete/`; the worker that finds every
shard written renames the folder into place. Example i depends only on (seed, i)
and the shard bounds only on the number of examples and shards, so the dataset is
the one-process run's, shard for shard.
"""
from __future__ import annotations

import dataclasses
import json
import os
import queue
import threading
import time

import numpy as np

from taiga_tf import data as data_lib
from taiga_tf import cluster, detectors, plans, samplers
from taiga_tf.diffusion import solvers
from taiga_tf.dataset_writer import (DatasetWriter, claim_output_dir, generated_features,
                                     serialize_generated)

NAME = 'taiga_iact_generated'      # the TFDS name of a generated TAIGA-IACT dataset


def dataset_name(model_dir: str) -> str:
  """'<detector>_generated', from the export's assets/model.json (read without loading
  the model, so that the output folder is checked before any work)."""
  try:
    with open(os.path.join(model_dir, 'assets', 'model.json.src'), encoding='utf-8') as f:
      info = json.load(f)
  except (OSError, ValueError):
    return NAME        # not readable here: load_generator will say what is wrong
  return f'{detectors.detector_name(info)}_generated'


@dataclasses.dataclass
class GenerateConfig:
  model: str
  output_dir: str
  plan: str = 'balanced'
  num_examples: int | None = None
  seed: int = 0
  batch_size: int = 256
  num_shards: int | None = None      # default: default_num_shards(num_examples, num_workers)
  jit_compile: str = 'auto'
  data_dir: str | None = None        # where the training dataset is (for MC class counts)
  overwrite: bool = False
  sampler: str | None = None         # diffusion exports: default from the export's metadata
  num_steps: int | None = None
  guidance: float | None = None
  num_workers: int = 1               # machines (or processes) sharing the plan
  worker_index: int = 0


def mc_class_counts(info: dict, data_dir: str | None, log=print) -> np.ndarray:
  """Training-split class counts of the model's labels, from the dataset metadata."""
  tc = info['train_config']
  spec = data_lib.open_dataset(tc['dataset'], data_dir or tc['data_dir'])
  meta = spec.builder.info.metadata
  particles = spec.particles if tc['condition_on_particle'] else (tc['particle'],)
  counts = meta.get('class_counts', {}).get('train')
  if isinstance(counts, dict) and all(p in counts for p in particles):    # per particle
    return np.concatenate([np.asarray(counts[p]) for p in particles])
  if isinstance(counts, list) and particles == ('all',):                  # per class only
    return np.asarray(counts)
  log('generate: dataset metadata has no class counts per model label: counting')
  out = []
  for p in particles:
    cols = data_lib.load_columns(spec, 'train', None if p == 'all' else p)
    out.append(np.bincount(cols['label'], minlength=spec.n_classes))
  return np.concatenate(out)


def _particle_id(det, particle: str) -> int:
  """The generated examples' particle: the model's, 'unknown' for a model of all particles."""
  if particle in det.particles:
    return det.particles.index(particle)
  if 'unknown' in det.particles:
    return det.particles.index('unknown')
  raise ValueError(f'a model of particle {particle!r} on a {det.name} dataset: its particles are '
                   f'{", ".join(det.particles)}')


def _writer_thread(q, writer, stats):
  """Consumes (shard, start, labels, images) batches until the StopIteration sentinel."""
  shard = None
  n_mc = stats['n_mc_classes']
  columns = stats['columns']
  try:
    while True:
      item = q.get()
      if item is StopIteration:
        if shard is not None:     # interrupted mid-shard: drop its .tmp
          shard.abort()
        break
      t0 = time.perf_counter()
      k, start, labels, images = item
      if shard is None or shard.k != k:
        shard = writer.open_shard(k)
      for j, (y, img) in enumerate(zip(labels, images)):
        cls = int(y) % n_mc
        shard.write_serialized(serialize_generated(img, {
            'class_id': cls, 'model_label': int(y),
            'particle': int(y) // n_mc if stats['conditioned'] else stats['particle'],
            **columns(cls), 'seed_index': start + j}))
      lo, hi = writer.shard_range(k)
      if start + len(labels) == hi:
        shard.commit()
        shard = None
      stats['write_seconds'] += time.perf_counter() - t0
  except BaseException as e:  # pylint: disable=broad-except
    stats['error'] = e
    if shard is not None:
      shard.abort()


# Bounds of the sizes a run takes, so that no small argument costs unbounded memory
# before the first image: shards (and so workers) and the sampling batch.
MAX_SHARDS = 100_000
MAX_BATCH_SIZE = 65_536
SEED_LIMIT = 2 ** 63        # seeds are int64 (TensorFlow's stateless seeds) and >= 0


def default_num_shards(num_examples: int, num_workers: int = 1) -> int:
  """About 10,000 examples per shard (at most MAX_SHARDS shards), at least 4 and at
  least one per worker: a pure function of the plan's size and the worker count, so
  every worker of a run computes the same (a one-process run with --num_shards set to
  it writes the same shards)."""
  return max(4, min(-(-num_examples // 10000), MAX_SHARDS), num_workers)


def check_config(cfg: GenerateConfig):
  """Argument errors, before any work (nothing is written before they pass)."""
  if cfg.batch_size < 1:
    raise ValueError(f'batch_size must be >= 1, got {cfg.batch_size}')
  if cfg.batch_size > MAX_BATCH_SIZE:
    raise ValueError(f'batch_size must be at most {MAX_BATCH_SIZE}, got {cfg.batch_size}')
  if cfg.num_shards is not None and not 1 <= cfg.num_shards <= MAX_SHARDS:
    raise ValueError(f'num_shards must be >= 1 and at most {MAX_SHARDS} (or unset for ~10,000 '
                     f'examples per shard), got {cfg.num_shards}')
  if cfg.num_examples is not None and cfg.num_examples < 1:
    raise ValueError(f'num_examples must be >= 1, got {cfg.num_examples}')
  if cfg.num_examples is not None and cfg.num_examples > plans.MAX_EXAMPLES:
    raise ValueError(f'num_examples must be at most {plans.MAX_EXAMPLES} (one seed gives 2^32 '
                     f'samples: split larger sets over runs with other --seed values), got '
                     f'{cfg.num_examples}')
  if cfg.num_workers < 1 or not 0 <= cfg.worker_index < cfg.num_workers:
    raise ValueError(f'worker_index must be in 0..num_workers-1 and num_workers >= 1, got '
                     f'worker_index={cfg.worker_index}, num_workers={cfg.num_workers}')
  if cfg.num_workers > MAX_SHARDS:
    raise ValueError(f'num_workers must be at most {MAX_SHARDS} (one shard each at least), got '
                     f'{cfg.num_workers}')
  if cfg.num_shards is not None and cfg.num_workers > cfg.num_shards:
    raise ValueError(f'{cfg.num_workers} workers for {cfg.num_shards} shards: give --num_shards '
                     f'of at least {cfg.num_workers} (the same in every worker and in any rerun)')
  if not 0 <= cfg.seed < SEED_LIMIT:
    raise ValueError(f'seed must be in [0, 2^63), got {cfg.seed}')
  if cfg.num_steps is not None or cfg.guidance is not None:   # the export's defaults: checked there
    solvers.check_settings(1 if cfg.num_steps is None else cfg.num_steps,
                           1.0 if cfg.guidance is None else cfg.guidance)
  if not os.path.isdir(cfg.model):
    raise FileNotFoundError(f'--model {cfg.model} is not a folder (an exported SavedModel, '
                            '<workdir>/saved_model)')


def generate(cfg: GenerateConfig, log=print) -> dict:
  """Writes the dataset; the output folder is checked and locked before any work."""
  check_config(cfg)
  lock = claim_output_dir(cfg.output_dir, dataset_name(cfg.model), cfg.overwrite,
                          (cfg.worker_index, cfg.num_workers))
  made = {}
  try:
    return _generate(cfg, log, made)
  except BaseException:
    if made.get('state') and cfg.num_workers == 1:   # its own, and no other worker can be there:
      DatasetWriter.discard_if_empty(cfg.output_dir)  # a run that wrote no shard leaves nothing
    raise
  finally:
    lock.release()


def _generate(cfg: GenerateConfig, log=print, made: dict | None = None) -> dict:
  t_start = time.time()
  model, info, meta = samplers.load_generator(cfg.model)
  det = detectors.from_metadata(info)
  n_mc = det.n_classes
  num_classes = int(meta['num_classes'])
  mc_counts = mc_class_counts(info, cfg.data_dir, log)
  if len(mc_counts) != num_classes:
    raise ValueError(f'dataset classes ({len(mc_counts)}) do not match the model ({num_classes})')
  counts = plans.make_plan(cfg.plan, cfg.num_examples, mc_counts,
                           det.condition_group(np.arange(n_mc)))
  n = int(counts.sum())     # labels are read per batch (plans.labels_at): no [n] array
  if n == 0:
    raise ValueError('the plan asks for no examples')
  label_of = lambda a, b: plans.labels_at(counts, cfg.seed, a, b)
  n_shards = cfg.num_shards or default_num_shards(n, cfg.num_workers)
  sampling = samplers.sampling_settings(model, meta, cfg.sampler, cfg.num_steps, cfg.guidance)
  jit = cluster.resolve_jit(cfg.jit_compile)
  state = {'model': os.path.abspath(cfg.model), 'plan': cfg.plan, 'seed': cfg.seed,
           'counts': counts.tolist(), 'labels': plans.LABEL_ORDER, 'jit_compile': jit,
           'sampling': sampling}
  features = generated_features(int(meta['square_size']), num_classes, n_mc, det.particles,
                                det.generated_features())
  if cfg.num_workers > n:
    raise ValueError(f'{cfg.num_workers} workers for a plan of {n} examples: at most one worker '
                     'per example (and per shard)')
  writer = DatasetWriter(cfg.output_dir, features, n, n_shards, state, f'{det.name}_generated')
  mine = writer.worker_shards(cfg.worker_index, cfg.num_workers)
  pending = [k for k in writer.pending_shards() if k in mine]
  who = (f'generate[worker {cfg.worker_index}/{cfg.num_workers}]' if cfg.num_workers > 1
         else 'generate')
  if len(pending) < len(mine):
    log(f'{who}: resuming in {writer.tmp}: {len(mine) - len(pending)} of '
        f'{len(mine)} shards already written')
  todo = sum(np.diff(writer.shard_range(k))[0] for k in pending)
  # no larger than the largest shard: a batch never crosses a shard, and the sampler pads
  # every call to its fixed size (a 16-image shard at batch 128 would cost 8x its images;
  # per-sample outputs do not depend on the batch size, tests/test_generate.py)
  B = max(1, min(cfg.batch_size, max(int(np.diff(writer.shard_range(k))[0])
                                      for k in range(writer.n_shards))))
  sampler = samplers.make_sampler(model, B, 'true' if jit else 'false', sampling)
  sampler.warm_up(int(label_of(0, 1)[0]), (cfg.seed, 0x6E17))   # trace/compile before the clock
  created = writer.begin()     # the first byte written: every check above has passed
  if made is not None:
    made['state'] = created
  how = (f', {sampling["sampler"]} {sampling["num_steps"]} steps '
         f'({solvers.nfe(sampling["sampler"], sampling["num_steps"])} network evaluations an image'
         f'{", x2 for guidance" if sampling["guidance"] != 1 else ""}), guidance '
         f'{sampling["guidance"]:g}' if sampling else '')
  part = (f' (this worker: shards {mine[0]}-{mine[-1]}, {todo} examples)' if cfg.num_workers > 1
          else '')
  log(f'{who}: {n} examples ({cfg.plan}), {int((counts > 0).sum())} classes, '
      f'{writer.n_shards} shards{part}, batch {B}, jit_compile={jit}{how} -> {writer.output_dir}')
  for line in det.describe_counts(counts):
    log(line)
  stats = {'write_seconds': 0.0, 'columns': det.generated_columns,
           'n_mc_classes': n_mc, 'conditioned': info['train_config']['condition_on_particle'],
           'particle': _particle_id(det, info['train_config']['particle'])}
  q = queue.Queue(maxsize=8)
  thread = threading.Thread(target=_writer_thread, args=(q, writer, stats), daemon=True)
  thread.start()
  seed = (cfg.seed, 0x6E17)
  done, t0, t_last, sample_s = 0, time.time(), time.time(), 0.0
  try:
    for k in pending:
      lo, hi = writer.shard_range(k)
      for start in range(lo, hi, B):
        if 'error' in stats:
          raise stats['error']
        ts = time.perf_counter()
        ys = label_of(start, min(start + B, hi))
        images = sampler(ys, seed, start)
        sample_s += time.perf_counter() - ts
        q.put((k, start, ys, images))
        done += len(images)
        if time.time() - t_last > 2 or done == todo:
          t_last = time.time()
          rate = done / max(t_last - t0, 1e-9)
          log(f'  {done}/{todo} ({100 * done / todo:.0f}%)  {rate:.0f} images/s  '
              f'ETA {(todo - done) / max(rate, 1e-9):.0f} s')
  finally:
    while thread.is_alive():     # a writer that died on an error takes no more items
      try:
        q.put(StopIteration, timeout=0.5)
        break
      except queue.Full:
        pass
    thread.join()
  if 'error' in stats:
    raise stats['error']
  elapsed = time.time() - t0
  metadata = {
      'source': 'generated', 'plan': cfg.plan, 'seed': cfg.seed,
      'class_counts': counts.tolist(), 'num_examples': n, 'model': os.path.abspath(cfg.model),
      'model_dataset': info['dataset'], **det.metadata(), 'image_unit': det.unit,
      'model_label': info['label'], 'model_kind': info.get('model', 'cgan'),
      'sampling': sampling, 'jit_compile': jit,
      # a signal-only model's images carry the chain's NSB, added at sampling time
      'nsb_sigma_added': float(meta['nsb_sigma']) if 'nsb_sigma' in meta else 0.0,
  }
  out = writer.finalize_if_complete(metadata,
                                    f'{n} images generated by {cfg.model} ({cfg.plan} plan)')
  if out is None:
    left = writer.pending_shards()
    log(f'{who}: my shards are written; {len(left)} of {writer.n_shards} shards are still '
        'being written by other workers: the last one to finish completes the dataset')
  summary = {'output_dir': out, 'complete': out is not None,
             'worker': [cfg.worker_index, cfg.num_workers], 'num_examples': n, 'generated_now': done, 'seconds': elapsed,
             'images_per_s': done / max(elapsed, 1e-9),
             'sampling_images_per_s': done / max(sample_s, 1e-9),
             'write_seconds': stats['write_seconds'], 'jit_compile': jit, 'sampling': sampling,
             'total_seconds': time.time() - t_start}
  return summary
