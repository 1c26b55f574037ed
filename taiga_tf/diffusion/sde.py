"""The score-SDE view (Song et al. 2021) of an EDM denoiser D(x; sigma).

Every SDE here has marginals x_t = s(t) (y + sigma(t) n): a scaled copy of the
EDM noisy image at noise level sigma(t). One trained denoiser therefore gives the
score of every one of them:
    grad log p_t(x) = (s D(x / s; sigma) - x) / (s sigma)^2.

VP (variance preserving; beta(t) = beta_min + t (beta_max - beta_min), the LArTPC
reference work's beta 0.1-20 on t in [eps, 1]):
    s(t) = exp(-beta_min t / 2 - (beta_max - beta_min) t^2 / 4),  sigma(t) = sqrt(1/s^2 - 1)
    forward SDE dx = -beta(t) x / 2 dt + sqrt(beta(t)) dw
VE (variance exploding; sigma(t) = sigma_min (sigma_max / sigma_min)^t, s = 1):
    forward SDE dx = sqrt(d sigma^2 / dt) dw
The reverse-time SDE is dx = [f(x, t) - g(t)^2 score] dt + g(t) dw-bar.
"""
from __future__ import annotations

import dataclasses
import math

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class VPSDE:
  beta_min: float = 0.1
  beta_max: float = 20.0
  eps: float = 1e-3          # sampling ends at t = eps, as in score_sde

  def beta(self, t):
    return self.beta_min + t * (self.beta_max - self.beta_min)

  def log_scale(self, t):
    return -0.5 * self.beta_min * t - 0.25 * (self.beta_max - self.beta_min) * t ** 2

  def scale(self, t):
    """s(t): the mean coefficient of x_t given y."""
    return tf.exp(self.log_scale(t))

  def sigma(self, t):
    """EDM noise level of time t: sqrt(exp(beta_min t + (beta_max - beta_min) t^2 / 2) - 1)."""
    return tf.sqrt(tf.math.expm1(-2.0 * self.log_scale(t)))

  def t_of_sigma(self, sigma):
    """Inverse of sigma(t) (the positive root of a quadratic in t)."""
    sigma = tf.convert_to_tensor(sigma, tf.float32)
    d = self.beta_max - self.beta_min
    c = tf.math.log1p(sigma ** 2)         # beta_min t + d t^2 / 2 = c
    return (tf.sqrt(self.beta_min ** 2 + 2.0 * d * c) - self.beta_min) / d

  def drift(self, x, t):
    return -0.5 * self.beta(t) * x

  def diffusion2(self, t):
    return self.beta(t)

  def prior_std(self):
    return 1.0


@dataclasses.dataclass(frozen=True)
class VESDE:
  sigma_min: float = 0.01
  sigma_max: float = 50.0
  eps: float = 1e-5

  def scale(self, t):
    return tf.ones_like(tf.convert_to_tensor(t, tf.float32))

  def sigma(self, t):
    return self.sigma_min * (self.sigma_max / self.sigma_min) ** tf.convert_to_tensor(t, tf.float32)

  def t_of_sigma(self, sigma):
    return tf.math.log(sigma / self.sigma_min) / math.log(self.sigma_max / self.sigma_min)

  def drift(self, x, t):
    return tf.zeros_like(x)

  def diffusion2(self, t):
    return 2.0 * self.sigma(t) ** 2 * math.log(self.sigma_max / self.sigma_min)

  def prior_std(self):
    return self.sigma_max


def score_from_denoiser(denoise, x, t, sde):
  """grad_x log p_t(x) from D(x; sigma) (denoise takes x and a per-sample sigma [B])."""
  s = sde.scale(t)
  sigma = sde.sigma(t)
  n = tf.shape(x)[0]
  d = denoise(x / s, tf.fill([n], sigma))
  return (s * d - x) / (s * sigma) ** 2
