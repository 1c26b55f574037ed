"""One training loop for every model: strategy, input pipeline, loop, TensorBoard,
checkpoints, export. Each model (taiga_tf.model_kinds: cgan, diffusion) brings its
own network, train_step, checkpoint items, sampler and export.

Plain functions driven by a TrainConfig (the absl app taiga_tf.train only maps
flags onto it). A workdir holds:
  config.json        the run's configuration, preprocessing, dataset metadata and
                     what the model measured on its data (state: sigma_data,
                     nsb_sigma of a --signal_only model)
  checkpoints/       tf.train.CheckpointManager: networks, EMA, optimizers, step
  train/             TensorBoard event files
  saved_model/       the exported generator (taiga_tf.savedmodel)
Starting again with the same workdir resumes from the newest intact checkpoint (a
new run saves step 0 at once); a workdir with traces of a run and nothing restorable
is refused, never trained over from step 0 (taiga_tf.workdir, taiga_tf.cluster).
Every flag is checked (check_config) before anything is written.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time

import numpy as np
import tensorflow as tf

from taiga_tf import data as data_lib
from taiga_tf import cluster, detectors, metrics, plotting
from taiga_tf import preprocessing as prep_lib
from taiga_tf import workdir as workdir_lib
from taiga_tf.model_kinds import KINDS, parse_ints


@dataclasses.dataclass
class TrainConfig:
  workdir: str
  data_dir: str
  model: str = 'cgan'           # cgan | diffusion
  dataset: str = 'taiga_iact/simulated'
  particle: str = 'gamma'
  condition_on_particle: bool = False
  random_flips: bool = False
  floor_output: bool = False    # cGAN: output floored at the empty pixel's value (sparse images)
  signal_only: bool = False     # learn image_signal; the NSB is added at sampling time
  steps: int = 1000
  batch_size: int = 64
  g_lr: float = 1e-4
  d_lr: float = 4e-4
  beta2: float = 0.9
  n_disc: int = 1
  z_dim: int = 64
  embed_dim: int = 64
  g_channels: int = 32
  d_channels: int = 32
  ema_decay: float = 0.999
  seed: int = 0
  log_every: int = 50
  eval_every: int = 500
  ckpt_every: int = 500
  eval_examples: int = 1000
  jit_compile: str = 'auto'     # auto | true | false
  num_cpu_devices: int = 1      # >1: MirroredStrategy over virtual CPU devices
  export: bool = True
  # score model (--model=diffusion)
  lr: float = 2e-4
  lr_warmup: int = 200
  channels: int = 32
  channel_mult: str = '1,2,2'
  num_res_blocks: int = 2
  attn_resolutions: str = '8'
  dropout: float = 0.0
  emb_dim: int = 128
  p_uncond: float = 0.1
  sigma_data: float = 0.0       # 0: measured on the training images at the first start
  mixed_precision: str = 'float32'   # float32 | bfloat16
  sampler: str = 'heun'         # the export's and the evaluation's default sampler
  num_steps: int = 18
  guidance: float = 1.0


# ---------------------------------------------------------------- flag checks
def _int_list(cfg: TrainConfig, name: str) -> tuple:
  text = getattr(cfg, name)
  try:
    vals = parse_ints(text)
  except (TypeError, ValueError):
    raise ValueError(f'--{name}={text!r}: expected comma-separated integers, e.g. '
                     f'{getattr(TrainConfig, name)!r}') from None
  bad = [v for v in vals if v < 1]
  if bad:
    raise ValueError(f'--{name}={text!r}: every entry must be >= 1, got {bad[0]}')
  return vals


def check_config(cfg: TrainConfig):
  """Every flag's type and range, checked before anything is read or written: a
  ValueError naming the flag, the value and what is allowed."""
  if cfg.model not in KINDS:
    raise ValueError(f'--model={cfg.model!r}: one of {", ".join(KINDS)}')

  def number(name, lo=None, hi=None, lo_open=False, hi_open=False, integer=False, what=''):
    v = getattr(cfg, name)
    if integer:
      ok = isinstance(v, (int, np.integer)) and not isinstance(v, bool)
    else:
      ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
    if not ok:
      raise ValueError(f'--{name}={v!r}: expected {"an integer" if integer else "a number"}')
    if not integer and not math.isfinite(v):
      raise ValueError(f'--{name}={v!r}: expected a finite number{what}')
    if ((lo is not None and (v <= lo if lo_open else v < lo)) or
        (hi is not None and (v >= hi if hi_open else v > hi))):
      rng = ' and '.join(s for s in (
          lo is not None and f'{">" if lo_open else ">="} {lo}',
          hi is not None and f'{"<" if hi_open else "<="} {hi}') if s)
      raise ValueError(f'--{name}={v!r}: must be {rng}{what}')

  for name in ('steps', 'batch_size', 'n_disc', 'z_dim', 'embed_dim', 'g_channels', 'd_channels',
               'log_every', 'ckpt_every', 'eval_examples', 'num_cpu_devices', 'channels',
               'num_res_blocks', 'emb_dim', 'num_steps'):
    number(name, lo=1, integer=True)
  number('eval_every', lo=0, integer=True, what=' (0: never)')
  number('lr_warmup', lo=0, integer=True)
  number('seed', lo=0, hi=2 ** 32 - 1, integer=True)
  for name in ('g_lr', 'd_lr', 'lr'):
    number(name, lo=0, lo_open=True)
  number('beta2', lo=0, hi=1, hi_open=True)
  number('ema_decay', lo=0, hi=1)
  number('dropout', lo=0, hi=1, hi_open=True)
  number('p_uncond', lo=0, hi=1)
  number('sigma_data', lo=0, what=' (0: measured on the training images)')
  number('guidance', what=' (1: no guidance)')
  for name, allowed in (('jit_compile', ('auto', 'true', 'false')),
                        ('mixed_precision', ('float32', 'bfloat16'))):
    if getattr(cfg, name) not in allowed:
      raise ValueError(f'--{name}={getattr(cfg, name)!r}: one of {", ".join(allowed)}')
  from taiga_tf.diffusion import solvers  # pylint: disable=g-import-not-at-top
  if cfg.sampler not in solvers.SAMPLERS:
    raise ValueError(f'--sampler={cfg.sampler!r}: one of {", ".join(solvers.SAMPLERS)}')
  if cfg.model != 'diffusion':
    return
  mult = _int_list(cfg, 'channel_mult')
  if not mult:
    raise ValueError(f'--channel_mult={cfg.channel_mult!r}: give at least one multiplier')
  _int_list(cfg, 'attn_resolutions')
  for m in (1, *mult):         # GroupNormalization: min(8, width) groups must divide the width
    width = cfg.channels * m
    if width % min(8, width):
      raise ValueError(f'--channels={cfg.channels} with --channel_mult={cfg.channel_mult!r}: '
                       f'width {width} is not divisible by its {min(8, width)} normalisation '
                       'groups (use widths that are multiples of 8, or below 8)')


def check_config_for(cfg: TrainConfig, image_size: int, num_replicas: int):
  """The checks that need the dataset's image size and the number of replicas."""
  if cfg.batch_size % num_replicas:
    raise ValueError(f'--batch_size={cfg.batch_size}: the global batch is split over '
                     f'{num_replicas} replicas and must be divisible by {num_replicas}')
  if cfg.model != 'diffusion':
    return
  mult = _int_list(cfg, 'channel_mult')
  if image_size % 2 ** (len(mult) - 1):
    raise ValueError(f'--channel_mult={cfg.channel_mult!r}: {len(mult)} resolutions halve the '
                     f'{image_size} x {image_size} image {len(mult) - 1} times; at most '
                     f'{int(math.log2(image_size & -image_size)) + 1} multipliers')
  sizes = [image_size // 2 ** i for i in range(len(mult))]
  other = [r for r in _int_list(cfg, 'attn_resolutions') if r not in sizes]
  if other:
    raise ValueError(f'--attn_resolutions={cfg.attn_resolutions!r}: {other[0]} is not one of the '
                     f'U-Net\'s resolutions {", ".join(map(str, sizes))} (--channel_mult='
                     f'{cfg.channel_mult!r} on {image_size} x {image_size} images)')


# ---------------------------------------------------------------- devices
configure_devices = cluster.configure_devices     # one machine or several: taiga_tf.cluster
make_strategy = cluster.make_strategy


def train_particle(cfg: TrainConfig):
  """The particle the examples are filtered to: None (both) when it is part of the label."""
  return data_lib.selected_particle(cfg.particle, cfg.condition_on_particle)


def check_particle(cfg: TrainConfig, spec):
  if cfg.particle != data_lib.ALL and cfg.particle not in spec.particles:
    raise ValueError(f'--particle={cfg.particle}: {spec.builder.info.full_name} has '
                     f'{", ".join(spec.particles)} (or all)')


# ---------------------------------------------------------------- model
def num_labels(cfg: TrainConfig, n_classes: int) -> int:
  return n_classes * (2 if cfg.condition_on_particle else 1)


def build_model(cfg: TrainConfig, detector: detectors.Detector, strategy, state=None):
  """The model with built weights and optimizers, inside the strategy scope; the
  initial weights are a function of cfg.seed (Keras's global seed is set first)."""
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(cfg.seed)
  return KINDS[cfg.model].build(cfg, detector, num_labels(cfg, detector.n_classes), strategy,
                                state or {})


# The flags that define the model a workdir holds (its variables, labels, data and
# what it learns); the others (steps, learning rates, logging, evaluation) may
# change when a run is resumed.
MODEL_FLAGS = ('model', 'dataset', 'particle', 'condition_on_particle', 'signal_only', 'random_flips',
               'floor_output', 'z_dim',
               'embed_dim', 'g_channels', 'd_channels', 'n_disc', 'channels', 'channel_mult',
               'num_res_blocks', 'attn_resolutions', 'emb_dim', 'mixed_precision', 'seed')


def stored_config(workdir: str) -> dict | None:
  """The config.json of a run in `workdir`, or None for a new workdir; a damaged one is
  a ValueError naming it (taiga_tf.workdir)."""
  return workdir_lib.read_config(workdir)


def stored_train_config(info: dict, workdir: str) -> TrainConfig:
  """The TrainConfig a config.json holds (flags newer than the run: their defaults),
  checked like the flags; errors name the file."""
  path = os.path.join(workdir, workdir_lib.CONFIG)
  known = {f.name for f in dataclasses.fields(TrainConfig)}
  unknown = sorted(set(info['train_config']) - known - {'workdir'})
  if unknown:
    raise ValueError(f'{path}: train_config has flags this taiga_tf does not know '
                     f'({", ".join(unknown)}): written by another version?')
  if 'data_dir' not in info['train_config']:
    raise ValueError(f'{path}: train_config has no data_dir: not a complete taiga_tf.train config')
  cfg = TrainConfig(**{**info['train_config'], 'workdir': workdir})
  try:
    check_config(cfg)
  except ValueError as e:
    raise ValueError(f'{path}: {e}') from None
  return cfg


def check_resume(cfg: TrainConfig, stored: dict | None):
  """Raises if the stored run (config.json) has model flags that differ from cfg's."""
  if stored is None:
    return
  old = stored.get('train_config', {})
  new = dataclasses.asdict(cfg)
  # a flag newer than the stored run: the run had its default
  defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
  old = {k: old.get(k, defaults[k]) for k in MODEL_FLAGS}
  diff = [f'--{k}: {old[k]!r} in the workdir, {new[k]!r} now' for k in MODEL_FLAGS
          if str(old[k]) != str(new[k])]
  if diff:
    raise ValueError(f'{cfg.workdir} holds a model of another configuration; resuming it needs '
                     'the same model flags (or a new --workdir): ' + '; '.join(diff))


def make_step_fn(model, strategy, jit: bool):
  replica_step = tf.function(model.train_step, jit_compile=True) if jit else model.train_step

  @tf.function
  def step(batch):
    out = strategy.run(replica_step, args=(batch,))
    model.update_ema()
    return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in out.items()}
  return step


def checkpoint_manager(model, workdir, run_role: cluster.Role | None = None):
  """Saves and restores <workdir>/checkpoints (a worker that is not the chief saves into
  a scratch folder and restores from the chief's: taiga_tf.cluster)."""
  ckpt = tf.train.Checkpoint(**model.checkpoint_items())
  return cluster.CheckpointManager(ckpt, os.path.join(workdir, 'checkpoints'),
                                   run_role or cluster.Role())


def model_info(cfg: TrainConfig, spec, prep, model, state=None) -> dict:
  """config.json and the SavedModel's model.json: the run, the model's state and
  the detector's metadata (top-level keys, from which detectors.from_metadata
  rebuilds the detector)."""
  return {'model': cfg.model, 'train_config': dataclasses.asdict(cfg),
          **KINDS[cfg.model].info(model), 'state': state or {}, 'preprocessing': prep.to_dict(),
          'dataset': spec.builder.info.full_name, **spec.detector.metadata(),
          'n_classes': spec.n_classes, 'particles': list(spec.particles),
          'label': ('class_id + n_classes * particle' if cfg.condition_on_particle
                    else 'class_id' if cfg.particle == data_lib.ALL else f'class_id of {cfg.particle}s')}


# ---------------------------------------------------------------- evaluation
class Evaluator:
  """Conditioning check and image summaries against held-out MC (validation)."""

  def __init__(self, cfg: TrainConfig, spec, prep, nsb_sigma: float = 0.0):
    self.cfg, self.spec, self.prep, self.nsb_sigma = cfg, spec, prep, nsb_sigma
    self.det = spec.detector
    self.mc = data_lib.load_columns(spec, 'validation', train_particle(cfg), cfg.condition_on_particle,
                                    with_images=True, max_examples=cfg.eval_examples)
    self.mc_feature = self.det.summary_feature(self.mc['image'])
    # a fixed set of classes for the image grids: 4 energies x 2 distances present in MC
    present = sorted(set(self.mc['label'].tolist()))
    self.grid_labels = present[:: max(1, len(present) // 8)][:8]

  def generate(self, model, labels, seed=12345):
    fn = KINDS[self.cfg.model].sampler(model, self.prep, self.det.mask.astype(np.float32),
                                       self.nsb_sigma)
    out = []
    for i in range(0, len(labels), 256):
      y = tf.constant(labels[i:i + 256], tf.int32)
      idx = tf.range(i, i + len(y), dtype=tf.int64)
      out.append(fn(y, tf.constant([seed, 1], tf.int64), idx).numpy())
    return np.concatenate(out)

  def __call__(self, model, step, writer):
    """The detector's summary feature ("size": TAIGA-IACT Hillas size, LArTPC total
    charge) of generated vs MC images, per class group (TAIGA-IACT: energy bin)."""
    labels = self.mc['label']
    gen = self.generate(model, labels)
    gen_size = self.det.summary_feature(gen)
    group = self.det.condition_group(labels % self.spec.n_classes)
    res = metrics.conditioning_check(gen_size, self.mc_feature, group, group, self.det.n_groups)
    g = self.det.group_name
    with writer.as_default(step=step):
      tf.summary.scalar('conditioning/w1_log_size', res['w1_log_size'])
      tf.summary.scalar('conditioning/mean_abs_median_size_rel_err', res['mean_abs_rel_err'])
      for k, err in enumerate(res['median_rel_err']):
        if np.isfinite(err):
          tf.summary.scalar(f'conditioning/median_size_rel_err/{g}_{k}', err)
          tf.summary.histogram(f'size_log10/generated/{g}_{k}', np.log10(1 + gen_size[group == k]))
          tf.summary.histogram(f'size_log10/mc/{g}_{k}', np.log10(1 + self.mc_feature[group == k]))
      rows_real, rows_gen = [], []
      for lab in self.grid_labels:
        i = int(np.flatnonzero(labels == lab)[0])
        rows_real.append(self.mc['image'][i])
        rows_gen.append(gen[i])
      titles = [f'class {lab}' for lab in self.grid_labels]
      png = plotting.figure_to_png(self.det.grid_figure([rows_real, rows_gen], titles,
                                                        ['MC', 'generated']))
      tf.summary.image('images/mc_vs_generated', tf.image.decode_png(png)[None])
    return res


# ---------------------------------------------------------------- loop
def _fmt_time(s):
  s = int(s)
  return f'{s // 3600}h{s % 3600 // 60:02d}m' if s >= 3600 else f'{s // 60}m{s % 60:02d}s'


def _load_state(cfg: TrainConfig, stored: dict | None, spec, prep, log) -> dict:
  """The model's measured state: from config.json when resuming (check_resume has
  made sure it is the same model), else measured now (nsb_sigma: the NSB a
  signal-only model's samples get; the kind's own state)."""
  if stored is not None and 'state' in stored:
    return stored['state']
  state = {}
  if cfg.signal_only:
    data_lib.check_signal_images(spec, 'train', train_particle(cfg))
    state['nsb_sigma'] = data_lib.measure_nsb_sigma(spec, 'train', train_particle(cfg))
    log(f'train: signal only: the model learns image_signal; samples get Gaussian NSB of '
        f'sigma {state["nsb_sigma"]:.3f} pe (std of image - image_signal, training split)')
  return {**state, **KINDS[cfg.model].prepare(cfg, spec, prep, log)}


def _log_scalars(writer, step, vals, kind, cfg, model, rate, buckets):
  with writer.as_default(step=step):
    for k, v in vals.items():
      tf.summary.scalar(f'losses/{k}' if 'loss' in k else f'discriminator/{k}', v)
    for name, lr in kind.learning_rates(cfg, model).items():
      tf.summary.scalar(f'learning_rate/{name}', lr)
    tf.summary.scalar('speed/images_per_s', rate * cfg.batch_size)
    if buckets is not None:
      from taiga_tf.models.diffusion import bucket_names  # pylint: disable=g-import-not-at-top
      for name, s, c in zip(bucket_names(), buckets[0], buckets[1]):
        if c > 0:
          tf.summary.scalar(f'losses/by_noise_level/{name}', s / c)


def nonfinite_weights(model) -> list[str]:
  """The network weights (online and EMA) holding a NaN or an infinity."""
  ws = [w for net in (model.online_network(), model.ema_network()) for w in net.weights]
  ok = tf.stack([tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(w))) for w in ws]).numpy()
  return [w.path for w, good in zip(ws, ok) if not good]


def _check_finite(vals: dict, step: int, manager, model=None):
  """A loss (or, before a save, a weight) that is NaN or infinite: the run diverged;
  stop before it is saved or exported."""
  bad = [f'{k} = {v}' for k, v in vals.items() if not math.isfinite(v)]
  if model is not None and not bad:
    bad = [f'weight {w} is not finite' for w in nonfinite_weights(model)[:3]]
  if bad:
    last = manager.latest_checkpoint
    raise ValueError(f'step {step}: {", ".join(bad)}: the training diverged; this state is '
                     f'neither saved nor exported (the last checkpoint, {last or "none"}, is '
                     'kept); try lower learning rates')


def restore_checkpoint(manager, workdir: str, log, refuse: bool, app: str = 'train'
                       ) -> cluster.Restored:
  """Restores the newest intact checkpoint (taiga_tf.cluster.CheckpointManager.restore),
  naming the damaged or missing ones skipped. With nothing restorable and `refuse`
  (the workdir holds an earlier run): a ValueError saying what was found, never a new
  run from step 0 over it."""
  restored = manager.restore()
  rel = lambda name: os.path.join('checkpoints', name)
  if restored.index_problem:
    log(f'{app}: warning: {restored.index_problem}; the checkpoints were found by their files')
  for name, why in restored.skipped:
    log(f'{app}: warning: skipped {rel(name)} ({why})')
  if restored.path is None and refuse:
    found = ', '.join(workdir_lib.traces(workdir)) or 'checkpoint files'
    why = restored.skipped_text() or 'no checkpoint files'
    then = ('; training from step 0 would overwrite it: put the checkpoint files back (e.g. '
            'finish copying the workdir), or train into a new --workdir' if app == 'train' else
            ': put the checkpoint files back (e.g. finish copying the workdir)')
    raise ValueError(f'{workdir} holds an earlier run ({found}) but no checkpoint of it can be '
                     f'restored ({why}){then}')
  return restored


def train(cfg: TrainConfig, log=print) -> dict:
  """Trains (or resumes) the model in cfg.workdir; returns the final summary."""
  # nothing is written before every flag, the workdir, the data and the checkpoint to
  # resume from have been checked
  check_config(cfg)
  kind = KINDS[cfg.model]
  workdir_lib.check_folder(cfg.workdir)
  run_role = cluster.role()
  stored = stored_config(cfg.workdir)
  check_resume(cfg, stored)
  traces = workdir_lib.traces(cfg.workdir)
  if stored is None and traces and run_role.is_chief:
    raise ValueError(f'{cfg.workdir} holds an earlier run ({", ".join(traces)}) but no '
                     f'{workdir_lib.CONFIG} (its flags and measured state): copy it back from a '
                     'good copy of the workdir, or train into a new --workdir')
  strategy = make_strategy(cfg.num_cpu_devices)
  jit = cluster.resolve_jit(cfg.jit_compile, strategy.num_replicas_in_sync, log)
  spec = data_lib.open_dataset(cfg.dataset, cfg.data_dir)
  check_particle(cfg, spec)
  check_config_for(cfg, spec.detector.image_size, strategy.num_replicas_in_sync)
  prep = spec.detector.preprocessing()
  state = _load_state(cfg, stored, spec, prep, log)
  model = build_model(cfg, spec.detector, strategy, state)
  info = model_info(cfg, spec, prep, model, state)
  manager = checkpoint_manager(model, cfg.workdir, run_role)
  restored = restore_checkpoint(manager, cfg.workdir, log, refuse=run_role.is_chief and bool(traces))
  start = int(model.step_counter.numpy()) if restored.path else 0
  if restored.path:
    log(f'train: resumed from {restored.path} at step {start}')
  if start >= cfg.steps:
    log(f'train: the workdir is at step {start}, --steps={cfg.steps}: nothing to train')
  ds = data_lib.training_dataset(spec, prep, cfg.batch_size, kind.n_slots(cfg), train_particle(cfg),
                                 cfg.condition_on_particle, seed=cfg.seed,
                                 image_key=data_lib.image_key(cfg.signal_only), start_step=start,
                                 random_flips=cfg.random_flips)
  it = iter(strategy.experimental_distribute_dataset(ds))
  step_fn = make_step_fn(model, strategy, jit)
  # the chief evaluates (sampling only: no collective ops, the others wait at the next step)
  evaluator = (Evaluator(cfg, spec, prep, state.get('nsb_sigma', 0.0))
               if cfg.eval_every and run_role.is_chief else None)
  if run_role.is_chief:
    os.makedirs(cfg.workdir, exist_ok=True)
    workdir_lib.write_json_atomic(os.path.join(cfg.workdir, workdir_lib.CONFIG), info)
  if start == 0:
    # a step-0 checkpoint at once: a run stopped before its first --ckpt_every resumes
    # (from its seeded initial state) instead of leaving a workdir with nothing to restore
    manager.save(checkpoint_number=0)
  writer = (tf.summary.create_file_writer(os.path.join(cfg.workdir, 'train')) if run_role.is_chief
            else tf.summary.create_noop_writer())
  on = '+'.join(spec.particles) if cfg.condition_on_particle else cfg.particle
  log(f'train: {cfg.model} on {spec.builder.info.full_name} ({on}'
      f'{", signal only" if cfg.signal_only else ""}), '
      f'{num_labels(cfg, spec.n_classes)} classes, {kind.params_text(model)}, '
      f'{strategy.num_replicas_in_sync} replica(s)'
      f'{f" ({run_role.name})" if run_role.num_workers > 1 else ""}, jit_compile={jit}, '
      f'steps {start}->{cfg.steps}')
  t0, t_last, step_last = time.time(), time.time(), start
  out, res, buckets = {}, None, None
  for step in range(start + 1, cfg.steps + 1):
    out = step_fn(next(it))
    if 'bucket_count' in out:    # per-noise-level loss, summed over the logging interval
      b = np.stack([out['bucket_loss_sum'].numpy(), out['bucket_count'].numpy()])
      buckets = b if buckets is None else buckets + b
    save = step % cfg.ckpt_every == 0 or step == cfg.steps
    if save or step % cfg.log_every == 0 or (evaluator and step % cfg.eval_every == 0):
      vals = {k: float(v) for k, v in out.items() if v.shape.rank == 0}
      _check_finite(vals, step, manager, model if save else None)
    if step % cfg.log_every == 0 or step == cfg.steps:
      now = time.time()
      rate = (step - step_last) / max(now - t_last, 1e-9)
      _log_scalars(writer, step, vals, kind, cfg, model, rate, buckets)
      buckets = None
      log(f'step {step:>6}/{cfg.steps}  {kind.console(vals)}  {rate:.2f} steps/s  '
          f'ETA {_fmt_time((cfg.steps - step) / max(rate, 1e-9))}')
      t_last, step_last = now, step
    if evaluator and (step % cfg.eval_every == 0 or step == cfg.steps):
      res = evaluator(model, step, writer)
      log(f'eval  {step:>6}: median {spec.detector.summary_feature_name} rel. error per '
          f'{spec.detector.group_name} '
          f'{np.array2string(res["median_rel_err"], precision=2, separator=",")}, '
          f'W1(log size) {res["w1_log_size"]:.3f}')
    if save:
      manager.save(checkpoint_number=step)
  writer.flush()
  summary = {'workdir': cfg.workdir, 'model': cfg.model, 'steps': max(cfg.steps, start),
             'seconds': time.time() - t0,
             **{k: float(v) for k, v in out.items() if v.shape.rank == 0}}
  if res is None and evaluator and start >= cfg.steps:
    res = evaluator(model, cfg.steps, writer)   # already complete: report the final state
  if res is not None and run_role.is_chief:
    summary.update(w1_log_size=res['w1_log_size'], mean_abs_median_size_rel_err=res['mean_abs_rel_err'],
                   median_size_rel_err=res['median_rel_err'].tolist())
    workdir_lib.write_json_atomic(
        os.path.join(cfg.workdir, 'conditioning.json'),
        {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in res.items()})
  if cfg.export and run_role.is_chief:
    summary['saved_model'] = kind.export(model, prep, spec.detector, info, state, cfg,
                                         os.path.join(cfg.workdir, 'saved_model'))
  return summary


def export_workdir(workdir: str, weights: str = 'ema', log=print) -> str:
  """Exports <workdir>/saved_model from the newest intact checkpoint (no dataset
  needed), with the rule of a resumed run: damaged or missing newer ones are skipped
  and named.

  weights='online': the trained network's own weights instead of their EMA (for runs
  made before the EMA had its warm-up, whose EMA after a few thousand steps still holds
  part of the random initial weights)."""
  if weights not in ('ema', 'online'):
    raise ValueError(f"--weights must be 'ema' or 'online', got {weights!r}")
  workdir_lib.check_folder(workdir)
  info = stored_config(workdir)
  path = os.path.join(workdir, workdir_lib.CONFIG)
  if info is None:
    raise FileNotFoundError(f'{path} not found: is {workdir} a taiga_tf.train workdir?')
  cfg = stored_train_config(info, workdir)
  kind = KINDS[cfg.model]
  try:
    detector = detectors.from_metadata(info)
    prep = prep_lib.from_dict(info['preprocessing'])
  except (KeyError, TypeError, ValueError, AttributeError) as e:
    raise ValueError(f'{path}: the detector or preprocessing metadata is damaged or missing '
                     f'({type(e).__name__}: {e})') from None
  state = info.get('state', {})
  if not isinstance(state, dict):
    raise ValueError(f'{path}: "state" must be an object, got {type(state).__name__}')
  model = build_model(cfg, detector, tf.distribute.get_strategy(), state)
  manager = checkpoint_manager(model, workdir)
  restored = restore_checkpoint(manager, workdir, log, refuse=True, app='export')
  step = int(model.step_counter.numpy())
  if step == 0:
    raise ValueError(f'{workdir}: its newest checkpoint, {restored.path}, is the untrained step 0: '
                     'nothing to export (train it first)')
  bad = nonfinite_weights(model)
  if bad:
    raise ValueError(f'{restored.path}: weight {bad[0]} (and {len(bad) - 1} more) is not finite: '
                     'the run diverged; nothing exported')
  log(f'export: from {restored.path} (step {step})')
  if weights == 'online':
    for e, w in zip(model.ema_network().weights, model.online_network().weights):
      e.assign(w)
    info = dict(info, exported_weights='online')
  return kind.export(model, prep, detector, info, state, cfg, os.path.join(workdir, 'saved_model'))
