"""Counter-based per-sample random numbers (TensorFlow, integer hashing).

Sample i of a generated set gets latent noise that depends only on (seed, i):
never on the batch size, the replica it runs on, or XLA. The numbers come from
an integer hash of (seed, sample index, component) (Wellons' "lowbias32",
emulated in int64 with 32-bit masks so every CPU/GPU kernel and XLA support it),
turned into normals by Box-Muller. Unlike TF's stateless RNG ops, the integer
stream is bit-identical with jit_compile on and off (the normals agree to ~1e-6,
the rounding of log and cos).
"""
import math

import tensorflow as tf

_M32 = 0xFFFFFFFF


def _hash32(x):
  """lowbias32 on int64 tensors holding 32-bit values."""
  x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
  x = tf.bitwise.bitwise_and(x * 0x7FEB352D, _M32)
  x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
  x = tf.bitwise.bitwise_and(x * 0x846CA68B, _M32)
  return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def _key(seed):
  seed = tf.cast(seed, tf.int64)
  k = _hash32(tf.bitwise.bitwise_and(seed[0], _M32) ^ 0x5BD1E995)
  k = _hash32(k ^ tf.bitwise.bitwise_and(tf.bitwise.right_shift(seed[0], 32), _M32))
  k = _hash32(k ^ tf.bitwise.bitwise_and(seed[1], _M32))
  return _hash32(k ^ tf.bitwise.bitwise_and(tf.bitwise.right_shift(seed[1], 32), _M32))


def per_sample_uniform(seed, index, dim):
  """Uniform(0, 1) float32 [n, dim]; row j depends only on (seed, index[j])."""
  key = _key(seed)
  idx = tf.bitwise.bitwise_and(tf.cast(index, tf.int64), _M32)
  row = _hash32(_hash32(key ^ idx)[:, None] + tf.range(dim, dtype=tf.int64)[None, :])
  row = _hash32(row ^ tf.bitwise.right_shift(key, 3))
  # 24 high bits -> float32 in (0, 1), never exactly 0 or 1
  u = tf.cast(tf.bitwise.right_shift(row, 8), tf.float32)
  return (u + 0.5) / 16777216.0


def per_sample_normal(seed, index, dim):
  """Standard normal float32 [n, dim]; row j depends only on (seed, index[j])."""
  half = (dim + 1) // 2
  u = per_sample_uniform(seed, index, 2 * half)
  u1, u2 = u[:, :half], u[:, half:]
  r = tf.sqrt(-2.0 * tf.math.log(u1))
  z = tf.concat([r * tf.cos(2 * math.pi * u2), r * tf.sin(2 * math.pi * u2)], axis=1)
  return z[:, :dim]


def fold_in(seed, stream):
  """A seed for stream k of `seed`: [seed0, seed1 xor (hash32(k) << 32)].

  lowbias32 is a bijection on 32 bits, so streams 0 .. 2^32 - 1 of one seed are
  distinct seeds. A diffusion sampler draws the noise of its step k as stream k.
  """
  seed = tf.cast(seed, tf.int64)
  k = tf.bitwise.bitwise_and(tf.cast(stream, tf.int64), _M32)
  high = tf.bitwise.left_shift(_hash32(k ^ 0x2545F491), 32)
  return tf.stack([seed[0], tf.bitwise.bitwise_xor(seed[1], high)])


def per_sample_image_noise(seed, index, shape, mask=None):
  """noise(k) -> standard normals [n, *shape] for stream k; row j depends only on
  (seed, index[j], k). With a mask (broadcast to shape) the noise is 0 outside it."""
  dim = 1
  for s in shape:
    dim *= int(s)

  def noise(k):
    z = per_sample_normal(fold_in(seed, k), index, dim)
    z = tf.reshape(z, [-1, *shape])
    return z * mask if mask is not None else z
  return noise


# The stream of the night-sky background added at sampling time (signal-only
# models): the last stream of fold_in, never a sampler step's.
NSB_STREAM = 0xFFFFFFFF


def add_nsb(pe, seed, index, sigma: float, mask):
  """pe [n, S, S] + the chain's NSB: white Gaussian noise of `sigma` photoelectrons
  on every camera pixel (mask), row j a function of (seed, index[j]) only."""
  if not sigma:
    return pe
  mask = tf.convert_to_tensor(mask, tf.float32)
  z = per_sample_image_noise(seed, index, mask.shape, mask)(NSB_STREAM)
  return pe + float(sigma) * z
