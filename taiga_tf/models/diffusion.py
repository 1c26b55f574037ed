"""The score model: EDM-preconditioned U-Net, its train_step and the EMA copy.

A training batch is the one of taiga_tf.data.training_dataset with one slot:
'image' [B, 1, S, S, 1] (network space), 'label' [B, 1], 'pos' [B]. Sample
`pos` of step t draws its noise level, its noise image and its label dropout as
index t * global_batch + pos of three per-sample streams of the run's seed, so
replicas draw different noise and N replicas reproduce the one-device step.
Noise lives on the camera only (multiplied by the mask), as does the output.

The loss is EDM's: lambda(sigma) |D(y + sigma n; sigma) - y|^2, averaged over
the camera pixels and the batch. Alongside it the step returns the loss summed
and counted per noise-level bucket (edges NOISE_BUCKETS in units of sigma_data),
for TensorBoard.
"""
from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from taiga_tf import noise as noise_lib
from taiga_tf.diffusion import edm
from taiga_tf.models.layers import ema_update
from taiga_tf.models.unet import UNet, UNetConfig

NOISE_BUCKETS = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0)      # sigma / sigma_data edges -> 7 buckets


@dataclasses.dataclass(frozen=True)
class DiffusionConfig:
  unet: UNetConfig
  edm: edm.EDMConfig
  p_uncond: float = 0.1           # label dropped (-> class num_classes) for guidance
  ema_decay: float = 0.999


class DiffusionModel(keras.Model):

  def __init__(self, cfg: DiffusionConfig, mask, global_batch_size: int, seed=(0, 0), **kwargs):
    super().__init__(**kwargs)
    self.cfg = cfg
    self.global_batch_size = global_batch_size
    self.mask = tf.constant(np.asarray(mask, np.float32))[None, :, :, None]
    self.n_mask = float(np.asarray(mask).sum())
    self.net = UNet(cfg.unet, mask, name='unet')
    self.net_ema = UNet(cfg.unet, mask, name='unet_ema')
    self.seed = tf.constant(seed, tf.int64)
    self.step_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name='step',
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

  # ---- the generic interface of taiga_tf.training
  def build_all(self):
    s = self.cfg.unet.image_size
    args = (tf.zeros([2, s, s, 1]), tf.zeros([2]), tf.zeros([2], tf.int32))
    self.net(args)
    self.net_ema(args)
    for e, w in zip(self.net_ema.weights, self.net.weights):
      e.assign(w)

  def compile(self, optimizer):
    super().compile()
    self.optimizer_ = optimizer
    optimizer.build(self.net.trainable_variables)

  def checkpoint_items(self) -> dict:
    return {'unet': self.net, 'unet_ema': self.net_ema, 'optimizer': self.optimizer_,
            'step': self.step_counter}

  def ema_network(self):
    return self.net_ema

  def online_network(self):
    return self.net

  # ---- training
  def _streams(self, pos):
    t = tf.convert_to_tensor(self.step_counter)
    index = t * self.global_batch_size + tf.cast(pos, tf.int64)
    s = self.cfg.unet.image_size
    z_sigma = noise_lib.per_sample_normal(noise_lib.fold_in(self.seed, 0), index, 1)[:, 0]
    n = noise_lib.per_sample_image_noise(noise_lib.fold_in(self.seed, 1), index, [s, s, 1],
                                         self.mask[0])(0)
    u = noise_lib.per_sample_uniform(noise_lib.fold_in(self.seed, 2), index, 1)[:, 0]
    return edm.training_sigma(z_sigma, self.cfg.edm), n, u

  def denoise(self, net, x, sigma, label, training=False):
    d = edm.denoise(lambda xi, cn: net((xi, cn, label), training=training), x, sigma, self.cfg.edm)
    return d * self.mask

  def loss_terms(self, images, labels, pos, training=True):
    """Per-sample weighted losses [B] and their sigmas."""
    sigma, n, u = self._streams(pos)
    labels = tf.where(u < self.cfg.p_uncond, self.cfg.unet.num_classes, labels)
    x = images + sigma[:, None, None, None] * n
    d = self.denoise(self.net, x, sigma, labels, training=training)
    err = tf.reduce_sum(tf.square(d - images), axis=[1, 2, 3]) / self.n_mask
    return edm.loss_weight(sigma, self.cfg.edm.sigma_data) * err, sigma

  def train_step(self, data):
    images, labels, pos = data['image'][:, 0], data['label'][:, 0], data['pos']
    ctx = tf.distribute.get_replica_context()
    n_rep = tf.cast(ctx.num_replicas_in_sync if ctx else 1, tf.float32)
    with tf.GradientTape() as tape:
      per_sample, sigma = self.loss_terms(images * self.mask, labels, pos)
      loss = tf.reduce_mean(per_sample)
      scaled = loss / n_rep                  # Keras sums gradients over replicas
    grads = tape.gradient(scaled, self.net.trainable_variables)
    self.optimizer_.apply_gradients(zip(grads, self.net.trainable_variables))
    edges = tf.constant(NOISE_BUCKETS, tf.float32) * self.cfg.edm.sigma_data
    bucket = tf.searchsorted(edges, sigma, side='right')
    k = len(NOISE_BUCKETS) + 1
    return {'loss': loss,
            'bucket_loss_sum': tf.math.unsorted_segment_sum(per_sample, bucket, k),
            'bucket_count': tf.math.unsorted_segment_sum(tf.ones_like(per_sample), bucket, k)}

  def update_ema(self):
    """EMA of the U-Net weights, step counter + 1; cross-replica context."""
    ema_update(self.net_ema.weights, self.net.weights, self.cfg.ema_decay, self.step_counter)
    self.step_counter.assign_add(1)


class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
  """Linear warm-up to lr over `warmup` steps, then constant."""

  def __init__(self, lr: float, warmup: int):
    self.lr, self.warmup = float(lr), int(warmup)

  def __call__(self, step):
    s = tf.cast(step, tf.float32)
    return self.lr * tf.minimum(1.0, (s + 1.0) / max(float(self.warmup), 1.0))

  def get_config(self):
    return {'lr': self.lr, 'warmup': self.warmup}


def bucket_names() -> list[str]:
  e = [0.0, *NOISE_BUCKETS, float('inf')]
  return [f'sigma_{e[i]:g}-{e[i + 1]:g}_sd' for i in range(len(e) - 1)]
