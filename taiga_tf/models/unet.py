"""Score network: a Keras 3 U-Net for a detector's square image (TAIGA-IACT 32 x 32,
LArTPC 64 x 64), written with keras.ops.

    F(x, c_noise, label) -> [B, S, S, 1], multiplied by the camera mask

- noise-level embedding: Fourier features of c_noise = ln(sigma) / 4 (fixed
  log-spaced frequencies), two dense layers; the class embedding (num_classes + 1
  entries, the last one the dropped label of classifier-free guidance) is added;
- per resolution (S, S/2, S/4 for channel_mult (1, 2, 2); TAIGA-IACT 32, 16, 8) `num_res_blocks`
  residual blocks (GroupNorm, SiLU, 3x3 conv, the embedding added as a per-channel
  bias, dropout, scaled skip), self-attention at the coarse resolutions
  (`attn_resolutions`), a middle block with attention, and the mirror image
  upwards with skip connections.

Every block is an attribute (tf.train.Checkpoint does not see layers kept in
Python lists). Only keras.ops and keras.layers are used, so the file runs under
any Keras backend; the mixed_bfloat16 policy computes in bfloat16 and returns
float32.
"""
from __future__ import annotations

import dataclasses
import math

import keras
from keras import ops


@dataclasses.dataclass(frozen=True)
class UNetConfig:
  num_classes: int = 100          # + 1 dropped-label class (index num_classes)
  image_size: int = 32
  channels: int = 32
  channel_mult: tuple = (1, 2, 2)
  num_res_blocks: int = 2
  attn_resolutions: tuple = (8,)
  dropout: float = 0.0
  emb_dim: int = 128


def _groups(ch):
  return min(8, ch)


class ResBlock(keras.layers.Layer):

  def __init__(self, out_ch, dropout=0.0, **kwargs):
    super().__init__(**kwargs)
    self.out_ch = out_ch
    self.norm1 = keras.layers.GroupNormalization(_groups(out_ch), epsilon=1e-5, name='norm1')
    self.conv1 = keras.layers.Conv2D(out_ch, 3, padding='same', name='conv1')
    self.emb = keras.layers.Dense(out_ch, name='emb')
    self.norm2 = keras.layers.GroupNormalization(_groups(out_ch), epsilon=1e-5, name='norm2')
    self.drop = keras.layers.Dropout(dropout)
    self.conv2 = keras.layers.Conv2D(out_ch, 3, padding='same', name='conv2',
                                     kernel_initializer='zeros')
    self.skip = None

  def build(self, input_shape):
    in_ch = input_shape[0][-1]
    self.norm1 = keras.layers.GroupNormalization(_groups(in_ch), epsilon=1e-5, name='norm1')
    if in_ch != self.out_ch:
      self.skip = keras.layers.Conv2D(self.out_ch, 1, name='skip')

  def call(self, inputs, training=False):
    x, emb = inputs
    h = self.conv1(ops.silu(self.norm1(x)))
    h = h + self.emb(emb)[:, None, None, :]
    h = self.conv2(self.drop(ops.silu(self.norm2(h)), training=training))
    s = self.skip(x) if self.skip is not None else x
    return (h + s) * (1.0 / math.sqrt(2.0))


class Attention(keras.layers.Layer):
  """Single-head self-attention over the pixels of a feature map (residual)."""

  def __init__(self, ch, **kwargs):
    super().__init__(**kwargs)
    self.ch = ch
    self.norm = keras.layers.GroupNormalization(_groups(ch), epsilon=1e-5, name='norm')
    self.qkv = keras.layers.Dense(3 * ch, name='qkv')
    self.proj = keras.layers.Dense(ch, name='proj', kernel_initializer='zeros')

  def call(self, x):
    b, h, w, c = ops.shape(x)[0], x.shape[1], x.shape[2], self.ch
    qkv = ops.reshape(self.qkv(self.norm(x)), (b, h * w, 3 * c))
    q, k, v = qkv[..., :c], qkv[..., c:2 * c], qkv[..., 2 * c:]
    att = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 2, 1))) * (1.0 / math.sqrt(c)), axis=-1)
    out = ops.reshape(ops.matmul(att, v), (b, h, w, c))
    return (x + self.proj(out)) * (1.0 / math.sqrt(2.0))


class NoiseEmbedding(keras.layers.Layer):
  """Fourier features of c_noise at log-spaced frequencies 1/4 .. 64 (fixed), 2 dense."""

  def __init__(self, dim, n_freq=32, **kwargs):
    super().__init__(**kwargs)
    self.freqs = [2.0 * math.pi * 0.25 * 256.0 ** (i / (n_freq - 1)) for i in range(n_freq)]
    self.fc1 = keras.layers.Dense(dim, name='fc1')
    self.fc2 = keras.layers.Dense(dim, name='fc2')

  def call(self, c_noise):
    f = ops.convert_to_tensor(self.freqs, dtype=self.compute_dtype)
    arg = ops.cast(c_noise, self.compute_dtype)[:, None] * f[None, :]
    feat = ops.concatenate([ops.cos(arg), ops.sin(arg)], axis=1)
    return self.fc2(ops.silu(self.fc1(feat)))


class UNet(keras.Model):

  def __init__(self, cfg: UNetConfig, mask, **kwargs):
    super().__init__(**kwargs)
    self.cfg = cfg
    self.mask = ops.convert_to_tensor(mask, 'float32')[None, :, :, None]
    self.noise_emb = NoiseEmbedding(cfg.emb_dim, name='noise_embedding')
    self.class_emb = keras.layers.Embedding(cfg.num_classes + 1, cfg.emb_dim, name='class_embedding')
    self.conv_in = keras.layers.Conv2D(cfg.channels, 3, padding='same', name='conv_in')
    self.down_names, self.up_names = [], []
    res, skips = cfg.image_size, [cfg.channels]
    ch = cfg.channels
    for lvl, mult in enumerate(cfg.channel_mult):
      ch = cfg.channels * mult
      for j in range(cfg.num_res_blocks):
        self._add(self.down_names, f'down{lvl}_res{j}', ResBlock(ch, cfg.dropout))
        if res in cfg.attn_resolutions:
          self._add(self.down_names, f'down{lvl}_attn{j}', Attention(ch))
        skips.append(ch)
      if lvl < len(cfg.channel_mult) - 1:
        self._add(self.down_names, f'down{lvl}_pool',
                  keras.layers.Conv2D(ch, 3, strides=2, padding='same'))
        skips.append(ch)
        res //= 2
    self.mid_res1 = ResBlock(ch, cfg.dropout, name='mid_res1')
    self.mid_attn = Attention(ch, name='mid_attn')
    self.mid_res2 = ResBlock(ch, cfg.dropout, name='mid_res2')
    for lvl, mult in reversed(list(enumerate(cfg.channel_mult))):
      ch = cfg.channels * mult
      for j in range(cfg.num_res_blocks + 1):
        skips.pop()
        self._add(self.up_names, f'up{lvl}_res{j}', ResBlock(ch, cfg.dropout))
        if res in cfg.attn_resolutions:
          self._add(self.up_names, f'up{lvl}_attn{j}', Attention(ch))
      if lvl > 0:
        self._add(self.up_names, f'up{lvl}_upsample', keras.layers.Conv2D(ch, 3, padding='same'))
        res *= 2
    self.norm_out = keras.layers.GroupNormalization(_groups(ch), epsilon=1e-5, name='norm_out')
    self.conv_out = keras.layers.Conv2D(1, 3, padding='same', name='conv_out',
                                        kernel_initializer='zeros')

  def _add(self, names, name, layer):
    setattr(self, name, layer)      # an attribute: tracked by tf.train.Checkpoint
    names.append(name)

  def call(self, inputs, training=False):
    x, c_noise, label = inputs
    emb = ops.silu(self.noise_emb(c_noise) + self.class_emb(label))
    h = self.conv_in(ops.cast(x, self.compute_dtype))
    hs = [h]
    for name in self.down_names:
      layer = getattr(self, name)
      if '_res' in name:
        h = layer((h, emb), training=training)
      else:
        h = layer(h)
      if '_attn' not in name:
        hs.append(h)
      else:
        hs[-1] = h
    h = self.mid_res1((h, emb), training=training)
    h = self.mid_attn(h)
    h = self.mid_res2((h, emb), training=training)
    for name in self.up_names:
      layer = getattr(self, name)
      if '_res' in name:
        h = layer((ops.concatenate([h, hs.pop()], axis=-1), emb), training=training)
      elif '_attn' in name:
        h = layer(h)
      else:   # upsample: nearest neighbour, then a 3x3 conv
        h = layer(ops.repeat(ops.repeat(h, 2, axis=1), 2, axis=2))
    out = self.conv_out(ops.silu(self.norm_out(h)))
    return ops.cast(out, 'float32') * self.mask
