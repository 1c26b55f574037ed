"""cGAN training: strategy, input pipeline, loop, TensorBoard, checkpoints, export.

Plain functions driven by a TrainConfig (the absl app taiga_tf.train only maps
flags onto it). A workdir holds:
  config.json        the run's configuration, preprocessing and dataset metadata
  checkpoints/       tf.train.CheckpointManager: G, D, EMA G, both optimizers, step
  train/             TensorBoard event files
  saved_model/       the exported generator (taiga_tf.savedmodel)
Starting again with the same workdir resumes from the last checkpoint.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time

import numpy as np
import tensorflow as tf

from taiga_tf import data as data_lib
from taiga_tf import hillas, metrics, plotting, savedmodel
from taiga_tf.camera import Camera
from taiga_tf.models import cgan
from taiga_tf.preprocessing import Preprocessing


@dataclasses.dataclass
class TrainConfig:
  workdir: str
  data_dir: str
  dataset: str = 'taiga_iact/simulated'
  particle: str = 'gamma'
  condition_on_particle: bool = False
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


# ---------------------------------------------------------------- devices
def configure_devices(num_cpu_devices: int):
  """Splits the CPU into N logical devices (must run before TF initialises them)."""
  if num_cpu_devices > 1:
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_cpu_devices)


def make_strategy(num_cpu_devices: int = 1) -> tf.distribute.Strategy:
  """MirroredStrategy over all GPUs, or over N virtual CPUs, else the default."""
  gpus = tf.config.list_logical_devices('GPU')
  if gpus:
    return tf.distribute.MirroredStrategy([d.name for d in gpus])
  cpus = tf.config.list_logical_devices('CPU')
  if num_cpu_devices > 1:
    if len(cpus) < num_cpu_devices:
      raise RuntimeError(f'asked for {num_cpu_devices} CPU devices, TF has {len(cpus)}: '
                         'configure_devices() must run before TensorFlow uses the CPU')
    return tf.distribute.MirroredStrategy([d.name for d in cpus[:num_cpu_devices]])
  return tf.distribute.get_strategy()


def resolve_jit(flag: str, strategy) -> bool:
  """XLA by default on GPUs only; never with MirroredStrategy on CPU devices."""
  on_gpu = bool(tf.config.list_logical_devices('GPU'))
  if flag == 'auto':
    return on_gpu
  jit = flag in ('true', 'True', '1', True)
  if jit and not on_gpu and strategy.num_replicas_in_sync > 1:
    print('train: jit_compile disabled: XLA does not combine with MirroredStrategy on CPU')
    return False
  return jit


def train_particle(cfg: TrainConfig):
  """The particle the examples are filtered to: None (both) when it is part of the label."""
  return None if cfg.condition_on_particle else cfg.particle


# ---------------------------------------------------------------- model
def build_model(cfg: TrainConfig, camera: Camera, n_classes: int, strategy):
  """The CGAN with built weights and optimizers, inside the strategy scope."""
  num_classes = n_classes * (2 if cfg.condition_on_particle else 1)
  mcfg = cgan.CGANConfig(num_classes=num_classes, image_size=camera.square_size,
                         z_dim=cfg.z_dim, embed_dim=cfg.embed_dim, g_channels=cfg.g_channels,
                         d_channels=cfg.d_channels, n_disc=cfg.n_disc, ema_decay=cfg.ema_decay)
  import keras  # pylint: disable=g-import-not-at-top
  with strategy.scope():
    model = cgan.CGAN(mcfg, camera.mask, cfg.batch_size, seed=(cfg.seed, 0x7A16A))
    model.build_all()
    g_opt = keras.optimizers.Adam(cfg.g_lr, beta_1=0.0, beta_2=cfg.beta2)
    d_opt = keras.optimizers.Adam(cfg.d_lr, beta_1=0.0, beta_2=cfg.beta2)
    model.compile(g_opt, d_opt)
  return model


def make_step_fn(model, strategy, jit: bool):
  replica_step = tf.function(model.train_step, jit_compile=True) if jit else model.train_step

  @tf.function
  def step(batch):
    out = strategy.run(replica_step, args=(batch,))
    model.update_ema()
    return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in out.items()}
  return step


def checkpoint_manager(model, workdir):
  ckpt = tf.train.Checkpoint(generator=model.generator, discriminator=model.discriminator,
                             g_ema=model.g_ema, g_optimizer=model.g_optimizer,
                             d_optimizer=model.d_optimizer, step=model.step_counter)
  return tf.train.CheckpointManager(ckpt, os.path.join(workdir, 'checkpoints'), max_to_keep=3)


def model_info(cfg: TrainConfig, spec, prep, model) -> dict:
  m = spec.builder.info.metadata
  return {'model': 'cgan', 'train_config': dataclasses.asdict(cfg),
          'cgan_config': dataclasses.asdict(model.cfg), 'preprocessing': prep.to_dict(),
          'dataset': spec.builder.info.full_name, 'camera': m['camera'],
          'energy_edges_tev': list(m['energy_edges_tev']), 'distance_edges': list(m['distance_edges']),
          'distance': m['distance'], 'n_energy_bins': spec.n_energy_bins,
          'n_distance_bins': spec.n_distance_bins, 'cleaning': m['cleaning'],
          'label': ('class_id + n_classes * particle' if cfg.condition_on_particle
                    else f'class_id of {cfg.particle}s')}


# ---------------------------------------------------------------- evaluation
class Evaluator:
  """Conditioning check and image summaries against held-out MC (validation)."""

  def __init__(self, cfg: TrainConfig, spec, prep):
    self.cfg, self.spec, self.prep = cfg, spec, prep
    self.cam = spec.camera
    self.table = hillas.neighbour_table(self.cam)
    self.mc = data_lib.load_columns(spec, 'validation', train_particle(cfg), cfg.condition_on_particle,
                                    with_images=True, max_examples=cfg.eval_examples)
    cl = spec.builder.info.metadata['cleaning']
    self.clean = (cl['picture_pe'], cl['boundary_pe'], cl['brightest_island'])
    # a fixed set of classes for the image grids: 4 energies x 2 distances present in MC
    present = sorted(set(self.mc['label'].tolist()))
    self.grid_labels = present[:: max(1, len(present) // 8)][:8]

  def generate(self, model, labels, seed=12345):
    out = []
    for i in range(0, len(labels), 256):
      y = tf.constant(labels[i:i + 256], tf.int32)
      idx = tf.range(i, i + len(y), dtype=tf.int64)
      out.append(savedmodel.sample_pe(model.g_ema, self.prep, self.cam.mask.astype(np.float32),
                                      model.cfg.z_dim, y, tf.constant([seed, 1], tf.int64),
                                      idx).numpy())
    return np.concatenate(out)

  def sizes(self, images):
    par, _ = hillas.clean_and_parametrize(self.cam, self.cam.to_vector(images), *self.clean,
                                          table=self.table)
    return np.nan_to_num(par['size'])

  def __call__(self, model, step, writer):
    labels = self.mc['label']
    gen = self.generate(model, labels)
    gen_size = self.sizes(gen)
    e_bin = (labels % self.spec.n_classes) // self.spec.n_distance_bins
    res = metrics.conditioning_check(gen_size, self.mc['size'], e_bin, self.mc['energy_bin'],
                                     self.spec.n_energy_bins)
    with writer.as_default(step=step):
      tf.summary.scalar('conditioning/w1_log_size', res['w1_log_size'])
      tf.summary.scalar('conditioning/mean_abs_median_size_rel_err', res['mean_abs_rel_err'])
      for k, err in enumerate(res['median_rel_err']):
        if np.isfinite(err):
          tf.summary.scalar(f'conditioning/median_size_rel_err/energy_bin_{k}', err)
          tf.summary.histogram(f'size_log10/generated/energy_bin_{k}',
                               np.log10(1 + gen_size[e_bin == k]))
          tf.summary.histogram(f'size_log10/mc/energy_bin_{k}',
                               np.log10(1 + self.mc['size'][self.mc['energy_bin'] == k]))
      rows_real, rows_gen = [], []
      for lab in self.grid_labels:
        i = int(np.flatnonzero(labels == lab)[0])
        rows_real.append(self.cam.to_vector(self.mc['image'][i]))
        rows_gen.append(self.cam.to_vector(gen[i]))
      titles = [f'class {lab}' for lab in self.grid_labels]
      png = plotting.figure_to_png(plotting.camera_grid_figure(
          self.cam, [rows_real, rows_gen], titles, ['MC', 'generated']))
      tf.summary.image('images/mc_vs_generated', tf.image.decode_png(png)[None])
    return res


# ---------------------------------------------------------------- loop
def _fmt_time(s):
  s = int(s)
  return f'{s // 3600}h{s % 3600 // 60:02d}m' if s >= 3600 else f'{s // 60}m{s % 60:02d}s'


def train(cfg: TrainConfig, log=print) -> dict:
  """Trains (or resumes) the cGAN in cfg.workdir; returns the final summary."""
  os.makedirs(cfg.workdir, exist_ok=True)
  strategy = make_strategy(cfg.num_cpu_devices)
  jit = resolve_jit(cfg.jit_compile, strategy)
  spec = data_lib.open_dataset(cfg.dataset, cfg.data_dir)
  prep = Preprocessing()
  model = build_model(cfg, spec.camera, spec.n_classes, strategy)
  info = model_info(cfg, spec, prep, model)
  with open(os.path.join(cfg.workdir, 'config.json'), 'w') as f:
    json.dump(info, f, indent=1)
  manager = checkpoint_manager(model, cfg.workdir)
  start = 0
  if manager.latest_checkpoint:
    manager.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    start = int(model.step_counter.numpy())
    log(f'train: resumed from {manager.latest_checkpoint} at step {start}')
  ds = data_lib.training_dataset(spec, prep, cfg.batch_size, cfg.n_disc, train_particle(cfg),
                                 cfg.condition_on_particle, seed=cfg.seed + 1000003 * start)
  it = iter(strategy.experimental_distribute_dataset(ds))
  step_fn = make_step_fn(model, strategy, jit)
  writer = tf.summary.create_file_writer(os.path.join(cfg.workdir, 'train'))
  evaluator = Evaluator(cfg, spec, prep) if cfg.eval_every else None
  log(f'train: {spec.builder.info.full_name} ({cfg.particle}), {model.cfg.num_classes} classes, '
      f'G {model.generator.count_params():,} / D {model.discriminator.count_params():,} params, '
      f'{strategy.num_replicas_in_sync} replica(s), jit_compile={jit}, steps {start}->{cfg.steps}')
  t0, t_last, step_last = time.time(), time.time(), start
  out, res = {}, None
  for step in range(start + 1, cfg.steps + 1):
    out = step_fn(next(it))
    if step % cfg.log_every == 0 or step == cfg.steps:
      now = time.time()
      rate = (step - step_last) / max(now - t_last, 1e-9)
      vals = {k: float(v) for k, v in out.items()}
      with writer.as_default(step=step):
        for k, v in vals.items():
          tf.summary.scalar(f'losses/{k}' if 'loss' in k else f'discriminator/{k}', v)
        tf.summary.scalar('learning_rate/generator', cfg.g_lr)
        tf.summary.scalar('learning_rate/discriminator', cfg.d_lr)
        tf.summary.scalar('speed/images_per_s', rate * cfg.batch_size)
      log(f'step {step:>6}/{cfg.steps}  d_loss {vals["d_loss"]:.3f}  g_loss {vals["g_loss"]:.3f}  '
          f'D(real) {vals["d_real"]:+.2f}  D(fake) {vals["d_fake"]:+.2f}  {rate:.2f} steps/s  '
          f'ETA {_fmt_time((cfg.steps - step) / max(rate, 1e-9))}')
      t_last, step_last = now, step
    if evaluator and (step % cfg.eval_every == 0 or step == cfg.steps):
      res = evaluator(model, step, writer)
      log(f'eval  {step:>6}: median size rel. error per energy bin '
          f'{np.array2string(res["median_rel_err"], precision=2, separator=",")}, '
          f'W1(log size) {res["w1_log_size"]:.3f}')
    if step % cfg.ckpt_every == 0 or step == cfg.steps:
      manager.save(checkpoint_number=step)
  writer.flush()
  summary = {'workdir': cfg.workdir, 'steps': cfg.steps, 'seconds': time.time() - t0,
             **{k: float(v) for k, v in out.items()}}
  if res is None and evaluator and start >= cfg.steps:
    res = evaluator(model, cfg.steps, writer)   # already complete: report the final state
  if res is not None:
    summary.update(w1_log_size=res['w1_log_size'], mean_abs_median_size_rel_err=res['mean_abs_rel_err'],
                   median_size_rel_err=res['median_rel_err'].tolist())
    with open(os.path.join(cfg.workdir, 'conditioning.json'), 'w') as f:
      json.dump({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in res.items()}, f,
                indent=1)
  if cfg.export:
    summary['saved_model'] = savedmodel.export(
        model.g_ema, prep, spec.camera, model.cfg.num_classes, model.cfg.z_dim, info,
        os.path.join(cfg.workdir, 'saved_model'))
  return summary


def export_workdir(workdir: str) -> str:
  """Exports <workdir>/saved_model from the last checkpoint (no dataset needed)."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: is {workdir} a taiga_tf.train workdir?')
  with open(path) as f:
    info = json.load(f)
  cfg = TrainConfig(**{**info['train_config'], 'workdir': workdir})
  camera = Camera.from_dict(info['camera'])
  prep = Preprocessing.from_dict(info['preprocessing'])
  model = build_model(cfg, camera, info['n_energy_bins'] * info['n_distance_bins'],
                      tf.distribute.get_strategy())
  manager = checkpoint_manager(model, workdir)
  if not manager.latest_checkpoint:
    raise FileNotFoundError(f'no checkpoint in {workdir}/checkpoints')
  manager.checkpoint.restore(manager.latest_checkpoint).expect_partial()
  return savedmodel.export(model.g_ema, prep, camera, model.cfg.num_classes, model.cfg.z_dim,
                           info, os.path.join(workdir, 'saved_model'))
