"""What the one training loop needs to know about each model: build it, what a
checkpoint holds, how to sample for the training-time evaluation, how to export.

    kind = KINDS[cfg.model]
    model = kind.build(cfg, detector, num_labels, strategy, state)
    kind.sampler(model, prep, mask), kind.export(...)   (checkpoint items: model.checkpoint_items())

`state` holds what a model measures on its data once, at the first start (the
score model's sigma_data), stored in the workdir's config.json and reused on
resume and export, so a run is a function of its stored arguments.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from taiga_tf import savedmodel


def parse_ints(text) -> tuple:
  """'1,2,2' (or a sequence) as a tuple of ints; ValueError for anything else."""
  if isinstance(text, (tuple, list)):
    return tuple(int(v) for v in text)
  return tuple(int(v) for v in str(text).replace(' ', '').split(',') if v)


def _empty_pixel(detector) -> float:
  """The network-space value of an empty pixel (0 in the detector's unit)."""
  return float(detector.preprocessing().forward(np.zeros((1, 1), np.float32)).numpy().ravel()[0])


class CGANKind:
  name = 'cgan'

  @staticmethod
  def prepare(cfg, spec, prep, log) -> dict:
    return {}

  @staticmethod
  def build(cfg, detector, num_labels, strategy, state):
    import keras  # pylint: disable=g-import-not-at-top
    from taiga_tf.models import cgan  # pylint: disable=g-import-not-at-top
    mcfg = cgan.CGANConfig(num_classes=num_labels, image_size=detector.image_size,
                           z_dim=cfg.z_dim, embed_dim=cfg.embed_dim, g_channels=cfg.g_channels,
                           d_channels=cfg.d_channels, n_disc=cfg.n_disc, ema_decay=cfg.ema_decay,
                           nonneg_output=cfg.signal_only,
                           output_floor=_empty_pixel(detector) if cfg.floor_output else None)
    with strategy.scope():
      model = cgan.CGAN(mcfg, detector.mask, cfg.batch_size, seed=(cfg.seed, 0x7A16A))
      model.build_all()
      g_opt = keras.optimizers.Adam(cfg.g_lr, beta_1=0.0, beta_2=cfg.beta2)
      d_opt = keras.optimizers.Adam(cfg.d_lr, beta_1=0.0, beta_2=cfg.beta2)
      model.compile(g_opt, d_opt)
    return model

  @staticmethod
  def n_slots(cfg) -> int:
    return cfg.n_disc

  @staticmethod
  def info(model) -> dict:
    return {'cgan_config': dataclasses.asdict(model.cfg)}

  @staticmethod
  def params_text(model) -> str:
    return f'G {model.generator.count_params():,} / D {model.discriminator.count_params():,} params'

  @staticmethod
  def console(vals) -> str:
    return (f'd_loss {vals["d_loss"]:.3f}  g_loss {vals["g_loss"]:.3f}  '
            f'D(real) {vals["d_real"]:+.2f}  D(fake) {vals["d_fake"]:+.2f}')

  @staticmethod
  def learning_rates(cfg, model) -> dict:
    return {'generator': cfg.g_lr, 'discriminator': cfg.d_lr}

  @staticmethod
  def sampler(model, prep, mask, nsb_sigma=0.0):
    z_dim = model.cfg.z_dim
    return lambda y, seed, idx: savedmodel.sample_pe(model.g_ema, prep, mask, z_dim, y, seed, idx,
                                                     nsb_sigma)

  @staticmethod
  def export(model, prep, detector, info, state, cfg, out_dir):
    return savedmodel.export(model.g_ema, prep, detector, model.cfg.num_classes, model.cfg.z_dim,
                             info, out_dir, nsb_sigma=state.get('nsb_sigma', 0.0))


class DiffusionKind:
  name = 'diffusion'

  @staticmethod
  def prepare(cfg, spec, prep, log) -> dict:
    """sigma_data: the root mean square of the training images in network space, on the
    detector's pixels."""
    if cfg.sigma_data > 0:
      return {'sigma_data': float(cfg.sigma_data)}
    from taiga_tf import data as data_lib  # pylint: disable=g-import-not-at-top
    key = data_lib.image_key(cfg.signal_only)
    cols = data_lib.load_columns(spec, 'train',
                                 data_lib.selected_particle(cfg.particle, cfg.condition_on_particle),
                                 cfg.condition_on_particle, with_images=True, max_examples=5000,
                                 image_key=key)
    x = prep.forward(cols['image']).numpy()[:, spec.detector.mask]
    # EDM's preconditioning takes sigma_data^2 = E[y^2] of the data (it assumes zero mean):
    # the root mean square, not the std, or data far from zero (LArTPC: an empty background
    # at -1, std 0.12) leave the network a target of huge variance and it never learns it
    sd = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    log(f'train: sigma_data = {sd:.4f} (root mean square of {len(cols["image"])} training images '
        f'({key}) in network space, detector pixels; mean {float(np.mean(x)):.4f})')
    return {'sigma_data': sd}

  @staticmethod
  def configs(cfg, detector, num_labels, state):
    from taiga_tf.diffusion import edm  # pylint: disable=g-import-not-at-top
    from taiga_tf.models import diffusion, unet  # pylint: disable=g-import-not-at-top
    ucfg = unet.UNetConfig(num_classes=num_labels, image_size=detector.image_size,
                           channels=cfg.channels, channel_mult=parse_ints(cfg.channel_mult),
                           num_res_blocks=cfg.num_res_blocks,
                           attn_resolutions=parse_ints(cfg.attn_resolutions),
                           dropout=cfg.dropout, emb_dim=cfg.emb_dim)
    return diffusion.DiffusionConfig(unet=ucfg, edm=edm.EDMConfig.scaled(state['sigma_data']),
                                     p_uncond=cfg.p_uncond, ema_decay=cfg.ema_decay)

  @staticmethod
  def build(cfg, detector, num_labels, strategy, state):
    import keras  # pylint: disable=g-import-not-at-top
    from taiga_tf.models import diffusion  # pylint: disable=g-import-not-at-top
    dcfg = DiffusionKind.configs(cfg, detector, num_labels, state)
    policy = keras.config.dtype_policy()
    if cfg.mixed_precision == 'bfloat16':
      keras.config.set_dtype_policy('mixed_bfloat16')
    try:
      with strategy.scope():
        model = diffusion.DiffusionModel(dcfg, detector.mask, cfg.batch_size,
                                         seed=(cfg.seed, 0xD1FF))
        model.build_all()
        sched = diffusion.WarmupSchedule(cfg.lr, cfg.lr_warmup)
        model.compile(keras.optimizers.Adam(sched, beta_1=0.9, beta_2=0.999, epsilon=1e-8))
    finally:
      keras.config.set_dtype_policy(policy)
    return model

  @staticmethod
  def n_slots(cfg) -> int:
    return 1

  @staticmethod
  def info(model) -> dict:
    return {'diffusion_config': dataclasses.asdict(model.cfg)}

  @staticmethod
  def params_text(model) -> str:
    return f'U-Net {model.net.count_params():,} params'

  @staticmethod
  def console(vals) -> str:
    return f'loss {vals["loss"]:.4f}'

  @staticmethod
  def learning_rates(cfg, model) -> dict:
    lr = model.optimizer_.learning_rate      # the warm-up schedule's value at the current step
    return {'unet': float(lr(model.optimizer_.iterations) if callable(lr) else lr)}

  @staticmethod
  def sampler(model, prep, mask, nsb_sigma=0.0, sampler='heun', num_steps=18, guidance=1.0):
    from taiga_tf.diffusion import sampling  # pylint: disable=g-import-not-at-top
    null = model.cfg.unet.num_classes

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([2], tf.int64),
                                  tf.TensorSpec([None], tf.int64)])
    def fn(y, seed, idx):
      return sampling.sample_pe(model.net_ema, prep, mask, model.cfg.edm, y, seed, idx, sampler,
                                num_steps, guidance, null, nsb_sigma)
    return fn

  @staticmethod
  def export(model, prep, detector, info, state, cfg, out_dir):
    from taiga_tf import savedmodel_diffusion  # pylint: disable=g-import-not-at-top
    defaults = {'sampler': cfg.sampler, 'num_steps': int(cfg.num_steps),
                'guidance': float(cfg.guidance)}
    return savedmodel_diffusion.export(model.net_ema, prep, detector, model.cfg.unet.num_classes,
                                       model.cfg.edm, defaults, info, out_dir,
                                       nsb_sigma=state.get('nsb_sigma', 0.0))


KINDS = {'cgan': CGANKind, 'diffusion': DiffusionKind}
