"""Conditional GAN: BigGAN-style generator and projection discriminator.

Generator G(z, y): shared class embedding, concatenated with z, drives the
class-conditional batch norm of every residual up-block; output in network
space (taiga_tf.preprocessing), multiplied by the camera mask so nothing is
ever produced outside the camera.

Discriminator D(x, y) = linear(h) + <embed(y), h>, h = sum-pooled features of
spectrally normalised residual down-blocks (Miyato & Koyama 2018).

CGAN is the keras.Model that owns both, with a custom `train_step` (hinge loss,
n_disc discriminator steps per generator step, Adam with beta1 = 0) and an
exponential moving average of the generator used for sampling and export.
"""
from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from taiga_tf import noise
from taiga_tf.models.layers import (ConditionalBatchNorm, SNConv2D, SNDense, SNEmbedding, SyncBatchNorm,
                                     ema_update)


@dataclasses.dataclass(frozen=True)
class CGANConfig:
  num_classes: int = 100
  image_size: int = 32
  z_dim: int = 64
  embed_dim: int = 64
  g_channels: int = 32          # width of the last generator block (x4, x2, x1)
  d_channels: int = 32          # width of the first discriminator block (x1, x2, x4)
  n_disc: int = 1               # discriminator steps per generator step
  ema_decay: float = 0.999
  # a ReLU on the output: for signal-only images (>= 0, ~97 % exact zeros without the
  # NSB), which a linear output cannot reach and the discriminator then tells apart at once
  nonneg_output: bool = False
  # the same at another floor: the network-space value of an empty pixel (LArTPC: -1, the
  # 0 of the 0-255 scale), output = floor + relu(out - floor); None: not floored
  output_floor: float | None = None


class _UpBlock(keras.layers.Layer):

  def __init__(self, out_ch, **kwargs):
    super().__init__(**kwargs)
    self.out_ch = out_ch
    self.bn1, self.bn2 = ConditionalBatchNorm(name='cbn1'), ConditionalBatchNorm(name='cbn2')
    self.conv1 = keras.layers.Conv2D(out_ch, 3, padding='same', name='conv1')
    self.conv2 = keras.layers.Conv2D(out_ch, 3, padding='same', name='conv2')
    self.skip = keras.layers.Conv2D(out_ch, 1, name='skip')
    self.up = keras.layers.UpSampling2D(2)

  def call(self, x, cond, training=False):
    h = tf.nn.relu(self.bn1((x, cond), training=training))
    h = self.conv1(self.up(h))
    h = tf.nn.relu(self.bn2((h, cond), training=training))
    return self.conv2(h) + self.skip(self.up(x))


class Generator(keras.Model):

  @property
  def blocks(self):
    return [getattr(self, f'up{i}') for i in range(self.n_blocks)]

  def __init__(self, cfg: CGANConfig, mask, **kwargs):
    super().__init__(**kwargs)
    self.cfg = cfg
    self.mask = tf.constant(mask, tf.float32)[None, :, :, None]
    ch = cfg.g_channels
    self.embed = keras.layers.Embedding(cfg.num_classes, cfg.embed_dim, name='class_embedding')
    self.base = 4
    n_up = {16: 2, 32: 3, 64: 4}[cfg.image_size]
    widths = [ch * 2 ** (n_up - 1 - i) for i in range(n_up)]     # 32x32: 4ch, 2ch, ch
    self.base_ch = widths[0]
    self.fc = keras.layers.Dense(self.base * self.base * self.base_ch, name='fc')
    # one attribute per block: tf.train.Checkpoint does not see into Python lists
    self.n_blocks = len(widths)
    for i, w in enumerate(widths):
      setattr(self, f'up{i}', _UpBlock(w, name=f'up{i}'))
    self.bn_out = SyncBatchNorm(name='bn_out')
    self.conv_out = keras.layers.Conv2D(1, 3, padding='same', name='conv_out')

  def call(self, inputs, training=False):
    z, y = inputs
    cond = tf.concat([z, self.embed(y)], axis=1)
    h = tf.reshape(self.fc(cond), [-1, self.base, self.base, self.base_ch])
    for block in self.blocks:
      h = block(h, cond, training=training)
    h = tf.nn.relu(self.bn_out(h, training=training))
    out = self.conv_out(h)
    if self.cfg.nonneg_output:
      out = tf.nn.relu(out)
    if self.cfg.output_floor is not None:
      out = self.cfg.output_floor + tf.nn.relu(out - self.cfg.output_floor)
    return out * self.mask


class _DownBlock(keras.layers.Layer):

  def __init__(self, out_ch, down=True, preact=True, **kwargs):
    super().__init__(**kwargs)
    self.down, self.preact = down, preact
    self.conv1 = SNConv2D(out_ch, 3, name='conv1')
    self.conv2 = SNConv2D(out_ch, 3, name='conv2')
    self.skip = SNConv2D(out_ch, 1, name='skip')

  def _pool(self, x):
    return tf.nn.avg_pool2d(x, 2, 2, 'VALID') if self.down else x

  def call(self, x, training=False):
    h = tf.nn.relu(x) if self.preact else x
    h = self.conv2(tf.nn.relu(self.conv1(h, training=training)), training=training)
    if self.preact:
      skip = self._pool(self.skip(x, training=training))
    else:   # first block: pool before the 1x1 conv (BigGAN's "optimized" block)
      skip = self.skip(self._pool(x), training=training)
    return self._pool(h) + skip


class Discriminator(keras.Model):

  @property
  def blocks(self):
    return [self.down0, self.down1, self.down2, self.block3]

  def __init__(self, cfg: CGANConfig, mask, **kwargs):
    super().__init__(**kwargs)
    self.cfg = cfg
    self.mask = tf.constant(mask, tf.float32)[None, :, :, None]
    ch = cfg.d_channels
    self.down0 = _DownBlock(ch, preact=False, name='down0')
    self.down1 = _DownBlock(ch * 2, name='down1')
    self.down2 = _DownBlock(ch * 4, name='down2')
    self.block3 = _DownBlock(ch * 4, down=False, name='block3')
    self.linear = SNDense(1, name='linear')
    self.embed = SNEmbedding(cfg.num_classes, ch * 4, name='projection')

  def call(self, inputs, training=False):
    x, y = inputs
    h = x * self.mask
    for block in self.blocks:
      h = block(h, training=training)
    h = tf.reduce_sum(tf.nn.relu(h), axis=[1, 2])
    proj = tf.reduce_sum(self.embed(y, training=training) * h, axis=1, keepdims=True)
    return tf.squeeze(self.linear(h, training=training) + proj, axis=1)


def hinge_d_loss(d_real, d_fake):
  return tf.reduce_mean(tf.nn.relu(1.0 - d_real)) + tf.reduce_mean(tf.nn.relu(1.0 + d_fake))


def hinge_g_loss(d_fake):
  return -tf.reduce_mean(d_fake)


class CGAN(keras.Model):
  """Both networks, the EMA generator, and the custom train step.

  A training batch is a dict with 'image' [B, n_disc, H, W, 1] (network space),
  'label' [B, n_disc] and 'pos' [B] (position in the global batch). Noise of
  sample `pos` at step t of slot k (k < n_disc: D steps, k = n_disc: G step) is
  noise.per_sample_normal(seed, (t * (n_disc + 1) + k) * global_batch + pos):
  replicas draw different noise and N replicas reproduce the one-device step.
  """

  def __init__(self, cfg: CGANConfig, mask, global_batch_size: int, seed=(0, 0), **kwargs):
    super().__init__(**kwargs)
    self.cfg = cfg
    self.global_batch_size = global_batch_size
    self.generator = Generator(cfg, mask, name='generator')
    self.g_ema = Generator(cfg, mask, name='generator_ema')
    self.discriminator = Discriminator(cfg, mask, name='discriminator')
    self.seed = tf.constant(seed, tf.int64)
    self.step_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name='step',
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

  def build_all(self):
    """Creates all weights (call inside the strategy scope) and syncs the EMA copy."""
    size = self.cfg.image_size
    z = tf.zeros([2, self.cfg.z_dim])
    y = tf.zeros([2], tf.int32)
    self.generator((z, y))
    self.g_ema((z, y))
    self.discriminator((tf.zeros([2, size, size, 1]), y))
    for e, w in zip(self.g_ema.weights, self.generator.weights):
      e.assign(w)

  def compile(self, g_optimizer, d_optimizer):
    super().compile()
    self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
    g_optimizer.build(self.generator.trainable_variables)
    d_optimizer.build(self.discriminator.trainable_variables)

  def checkpoint_items(self) -> dict:
    """What tf.train.Checkpoint saves: both networks, the EMA copy, both optimizers, step."""
    return dict(generator=self.generator, discriminator=self.discriminator, g_ema=self.g_ema,
                g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer,
                step=self.step_counter)

  def ema_network(self):
    return self.g_ema

  def online_network(self):
    return self.generator

  def noise(self, slot, pos):
    t = tf.convert_to_tensor(self.step_counter)
    index = (t * (self.cfg.n_disc + 1) + slot) * self.global_batch_size + tf.cast(pos, tf.int64)
    return noise.per_sample_normal(self.seed, index, self.cfg.z_dim)

  def train_step(self, data):
    images, labels, pos = data['image'], data['label'], data['pos']
    ctx = tf.distribute.get_replica_context()
    n_rep = tf.cast(ctx.num_replicas_in_sync if ctx else 1, tf.float32)
    g, d = self.generator, self.discriminator
    for k in range(self.cfg.n_disc):
      real, y = images[:, k], labels[:, k]
      fake = g((self.noise(k, pos), y), training=True)
      with tf.GradientTape() as tape:
        d_real = d((real, y), training=True)
        d_fake = d((fake, y), training=True)
        d_loss = hinge_d_loss(d_real, d_fake)
        scaled = d_loss / n_rep            # Keras sums gradients over replicas
      grads = tape.gradient(scaled, d.trainable_variables)
      self.d_optimizer.apply_gradients(zip(grads, d.trainable_variables))
    y = labels[:, -1]
    with tf.GradientTape() as tape:
      fake = g((self.noise(self.cfg.n_disc, pos), y), training=True)
      d_gen = d((fake, y), training=False)
      g_loss = hinge_g_loss(d_gen)
      scaled = g_loss / n_rep
    grads = tape.gradient(scaled, g.trainable_variables)
    self.g_optimizer.apply_gradients(zip(grads, g.trainable_variables))
    return {'d_loss': d_loss, 'g_loss': g_loss, 'd_real': tf.reduce_mean(d_real),
            'd_fake': tf.reduce_mean(d_fake)}

  def update_ema(self):
    """EMA of all generator weights (incl. BN statistics); cross-replica context."""
    ema_update(self.g_ema.weights, self.generator.weights, self.cfg.ema_decay, self.step_counter)
    self.step_counter.assign_add(1)
