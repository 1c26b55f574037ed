"""EDM (Karras et al. 2022, arXiv 2206.00364): preconditioning, training noise, schedule.

The denoiser of noise level sigma is D(x; sigma) = c_skip x + c_out F(c_in x, c_noise)
with x = y + sigma n, y ~ data, n ~ N(0, I), and
    c_skip = sd^2 / (sigma^2 + sd^2)       c_out = sigma sd / sqrt(sigma^2 + sd^2)
    c_in   = 1 / sqrt(sigma^2 + sd^2)       c_noise = ln(sigma) / 4
so that the network F sees unit-variance inputs and regresses a unit-variance
target (y - c_skip x) / c_out. Training draws ln(sigma) ~ N(P_mean, P_std^2) and
weights the squared error of D by lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2,
which makes the effective weight on F's error 1 at every sigma.

EDM's constants (sigma_min 0.002, sigma_max 80, P_mean -1.2) are for data of
sigma_data = 0.5. The whole construction is equivariant under scaling the data
and every sigma by the same factor, so `EDMConfig.scaled(sd)` expresses them in
units of sd / 0.5 for data of another spread (the camera images in network
space have sd ~ 0.1-0.2).
"""
from __future__ import annotations

import dataclasses
import math

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class EDMConfig:
  sigma_data: float = 0.5
  sigma_min: float = 0.002
  sigma_max: float = 80.0
  rho: float = 7.0
  p_mean: float = -1.2
  p_std: float = 1.2

  @classmethod
  def scaled(cls, sigma_data: float, **overrides) -> 'EDMConfig':
    """EDM's defaults for data of spread sigma_data (sigmas scaled by sigma_data / 0.5)."""
    k = sigma_data / 0.5
    base = dict(sigma_data=sigma_data, sigma_min=0.002 * k, sigma_max=80.0 * k,
                p_mean=-1.2 + math.log(k))
    base.update(overrides)
    return cls(**base)


def precond(sigma, sigma_data):
  """(c_skip, c_out, c_in, c_noise) for noise levels sigma (any shape)."""
  sigma = tf.convert_to_tensor(sigma, tf.float32)
  sd2 = sigma_data ** 2
  c_skip = sd2 / (sigma ** 2 + sd2)
  c_out = sigma * sigma_data * tf.math.rsqrt(sigma ** 2 + sd2)
  c_in = tf.math.rsqrt(sigma ** 2 + sd2)
  c_noise = tf.math.log(sigma) / 4.0
  return c_skip, c_out, c_in, c_noise


def loss_weight(sigma, sigma_data):
  """lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2 = 1 / c_out^2."""
  sigma = tf.convert_to_tensor(sigma, tf.float32)
  return (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2


def training_sigma(normal, cfg: EDMConfig):
  """ln(sigma) ~ N(P_mean, P_std^2) from standard normals."""
  return tf.exp(cfg.p_mean + cfg.p_std * tf.convert_to_tensor(normal, tf.float32))


def karras_sigmas(num_steps, sigma_min: float, sigma_max: float, rho: float = 7.0):
  """sigma_0 = sigma_max > ... > sigma_{N-1} = sigma_min, and sigma_N = 0: [N + 1].

  sigma_i = (sigma_max^(1/rho) + i / (N - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho.
  num_steps may be a tensor (the compiled samplers take it as an argument).
  """
  n = tf.cast(num_steps, tf.float32)
  i = tf.range(tf.cast(num_steps, tf.int32), dtype=tf.float32)
  lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
  frac = i / tf.maximum(n - 1.0, 1.0)
  s = (hi + frac * (lo - hi)) ** rho
  return tf.concat([s, tf.zeros([1])], axis=0)


def denoise(net, x, sigma, cfg: EDMConfig, **net_kwargs):
  """D(x; sigma) = c_skip x + c_out F(c_in x, c_noise); sigma [B] (per sample)."""
  c_skip, c_out, c_in, c_noise = precond(sigma, cfg.sigma_data)
  b = lambda c: tf.reshape(c, [-1] + [1] * (len(x.shape) - 1))
  f = net(b(c_in) * x, c_noise, **net_kwargs)
  return b(c_skip) * x + b(c_out) * tf.cast(f, x.dtype)
