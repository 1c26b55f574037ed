"""Layers of the generative models: spectral normalisation, conditional BN.

Written for tf.distribute: every non-trainable state variable (power-iteration
vectors, moving statistics) is created with aggregation='mean', so it can be
updated inside a replica context, and batch statistics are all-reduced across
replicas (synchronised batch norm), so a step on N replicas equals the step on
one device with the same global batch.
"""
from __future__ import annotations

import keras
import tensorflow as tf


def _l2n(x, eps=1e-12):
  return x * tf.math.rsqrt(tf.reduce_sum(tf.square(x)) + eps)


class _SpectralNorm(keras.layers.Layer):
  """Base: kernel W used as W / sigma(W), sigma by one power iteration per call.

  Miyato et al. 2018: the gradient flows through sigma; the power-iteration
  vector u is state (updated only when training). Unlike
  keras.layers.SpectralNormalization, the raw kernel is never overwritten, and
  u is replica-safe.
  """

  def _build_sn(self, kernel_shape):
    self.kernel = self.add_weight(shape=kernel_shape, initializer='glorot_uniform',
                                  name='kernel')
    self.u = self.add_weight(shape=(1, kernel_shape[-1]),
                             initializer=keras.initializers.RandomNormal(stddev=1.0),
                             trainable=False, aggregation='mean', name='sn_u')

  def normalized_kernel(self, training):
    w = tf.reshape(self.kernel, [-1, self.kernel.shape[-1]])
    u = tf.convert_to_tensor(self.u)
    v = tf.stop_gradient(_l2n(tf.matmul(u, w, transpose_b=True)))
    u_new = tf.stop_gradient(_l2n(tf.matmul(v, w)))
    sigma = tf.reduce_sum(tf.matmul(v, w) * u_new)
    if training:
      self.u.assign(u_new)
    return self.kernel / sigma


class SNConv2D(_SpectralNorm):

  def __init__(self, filters, kernel_size=3, **kwargs):
    super().__init__(**kwargs)
    self.filters, self.kernel_size = filters, kernel_size

  def build(self, input_shape):
    self._build_sn((self.kernel_size, self.kernel_size, input_shape[-1], self.filters))
    self.bias = self.add_weight(shape=(self.filters,), initializer='zeros', name='bias')

  def call(self, x, training=False):
    k = self.normalized_kernel(training)
    return tf.nn.conv2d(x, k, strides=1, padding='SAME') + self.bias


class SNDense(_SpectralNorm):

  def __init__(self, units, use_bias=True, **kwargs):
    super().__init__(**kwargs)
    self.units, self.use_bias = units, use_bias

  def build(self, input_shape):
    self._build_sn((input_shape[-1], self.units))
    if self.use_bias:
      self.bias = self.add_weight(shape=(self.units,), initializer='zeros', name='bias')

  def call(self, x, training=False):
    y = tf.matmul(x, self.normalized_kernel(training))
    return y + self.bias if self.use_bias else y


class SNEmbedding(_SpectralNorm):
  """Class embedding of the projection discriminator (spectrally normalised)."""

  def __init__(self, num_classes, dim, **kwargs):
    super().__init__(**kwargs)
    self.num_classes, self.dim = num_classes, dim

  def build(self, input_shape):
    self._build_sn((self.num_classes, self.dim))

  def call(self, y, training=False):
    return tf.gather(self.normalized_kernel(training), y)


def _cross_replica_moments(x, axes):
  """Mean and variance over `axes`, all-reduced over replicas when distributed."""
  n = tf.cast(tf.reduce_prod(tf.gather(tf.shape(x), axes)), tf.float32)
  s1 = tf.reduce_sum(x, axes)
  s2 = tf.reduce_sum(tf.square(x), axes)
  ctx = tf.distribute.get_replica_context()
  if ctx is not None and ctx.num_replicas_in_sync > 1:
    n, s1, s2 = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [n, s1, s2])
  mean = s1 / n
  return mean, tf.maximum(s2 / n - tf.square(mean), 0.0)


class SyncBatchNorm(keras.layers.Layer):
  """Batch norm without affine parameters (applied by the caller), replica-synchronised."""

  def __init__(self, momentum=0.99, epsilon=1e-4, **kwargs):
    super().__init__(**kwargs)
    self.momentum, self.epsilon = momentum, epsilon

  def build(self, input_shape):
    c = input_shape[-1]
    self.moving_mean = self.add_weight(shape=(c,), initializer='zeros', trainable=False,
                                       aggregation='mean', name='moving_mean')
    self.moving_var = self.add_weight(shape=(c,), initializer='ones', trainable=False,
                                      aggregation='mean', name='moving_var')

  def call(self, x, training=False):
    axes = list(range(len(x.shape) - 1))
    if training:
      mean, var = _cross_replica_moments(x, axes)
      self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
      self.moving_var.assign(self.momentum * self.moving_var + (1 - self.momentum) * var)
    else:
      mean, var = tf.convert_to_tensor(self.moving_mean), tf.convert_to_tensor(self.moving_var)
    return (x - mean) * tf.math.rsqrt(var + self.epsilon)


class ConditionalBatchNorm(keras.layers.Layer):
  """BN whose gain and bias are linear functions of the class condition vector.

  The condition is the generator's shared class embedding (concatenated with
  the latent), so each class gets its own per-channel gain (1 + gamma) and bias.
  """

  def __init__(self, momentum=0.99, **kwargs):
    super().__init__(**kwargs)
    self.bn = SyncBatchNorm(momentum=momentum)
    self.momentum = momentum

  def build(self, input_shape):
    x_shape, c_shape = input_shape
    ch = x_shape[-1]
    self.gain = keras.layers.Dense(ch, kernel_initializer='zeros', name='gain')
    self.bias = keras.layers.Dense(ch, kernel_initializer='zeros', name='bias')
    self.gain.build(c_shape)
    self.bias.build(c_shape)
    self.bn.build(x_shape)

  def call(self, inputs, training=False):
    x, cond = inputs
    h = self.bn(x, training=training)
    g = 1.0 + self.gain(cond)
    b = self.bias(cond)
    return h * g[:, None, None, :] + b[:, None, None, :]


def ema_update(ema_weights, weights, decay: float, step):
  """ema <- d ema + (1 - d) w with d = min(decay, (1 + step) / (10 + step)), the warm-up of
  tf.train.ExponentialMovingAverage(num_updates): without it a short run's EMA still holds
  decay^step of the random initial weights (37 % after 1000 steps at 0.999)."""
  step = tf.cast(step, tf.float32)
  d = tf.minimum(tf.constant(decay, tf.float32), (1.0 + step) / (10.0 + step))
  for e, w in zip(ema_weights, weights):
    e.assign(tf.cast(d, e.dtype) * e + tf.cast(1.0 - d, e.dtype) * w)
