"""Samplers as pure TensorFlow functions of a denoiser.

Every sampler takes
  denoise(x, sigma) -> D(x; sigma)   the EDM denoiser, sigma a per-sample vector [B]
  noise(k) -> standard normals shaped like x, for stream k (k = 0: the initial
             noise, k = i + 1: the noise of step i); the caller makes stream k of
             sample j a function of (seed, j, k) only, so a sample never depends on
             the batch it was drawn in
  num_steps (a Python int or a scalar tensor)
and runs all its steps in one tf.while_loop, so the whole loop compiles into one
graph (and one XLA cluster) with fixed shapes. Network evaluations (NFE):
  heun             EDM Algorithm 1, deterministic, rho schedule   2 N - 1
  edm_stochastic   EDM Algorithm 2 (S_churn, S_tmin, S_tmax, S_noise)  2 N - 1
  dpmpp_2m         DPM-Solver++(2M) (Lu et al. 2022) on the rho schedule   N
  euler_ancestral  ancestral sampling (DDPM's sampler) on the rho schedule   N
  dpmpp_2m_sde     SDE-DPM-Solver++(2M), stochastic multistep, rho schedule   N
  euler_maruyama   reverse VP SDE, t from 1 to eps (score_sde)   N
  pc               Langevin corrector + Euler-Maruyama predictor (score_sde)   2 N
"""
from __future__ import annotations

import math
import numbers

import tensorflow as tf

from taiga_tf.diffusion import edm as edm_lib
from taiga_tf.diffusion import sde as sde_lib

SAMPLERS = ('heun', 'edm_stochastic', 'dpmpp_2m', 'euler_ancestral', 'dpmpp_2m_sde',
            'euler_maruyama', 'pc')
DEFAULT_STEPS = {'heun': 18, 'edm_stochastic': 18, 'dpmpp_2m': 10, 'euler_ancestral': 35,
                 'dpmpp_2m_sde': 35, 'euler_maruyama': 1000,
                 'pc': 500}

# Bounds of the sampler settings, checked by the apps and by the exported endpoints
# before anything runs. 10,000 steps is ten times the LArTPC reference's 1000 (one
# batch then takes hours on a CPU before the first progress line); beyond it a step
# count only costs time. Guidance w in D_u + w (D_c - D_u): 0 unconditional, 1 none,
# larger stronger; beyond 100 the extrapolation only amplifies the network's error.
MAX_NUM_STEPS = 10_000
MAX_GUIDANCE = 100.0


def check_settings(num_steps, guidance) -> None:
  """ValueError unless 1 <= num_steps <= MAX_NUM_STEPS (an integer) and guidance is a
  finite number in [0, MAX_GUIDANCE]."""
  if isinstance(num_steps, bool) or not isinstance(num_steps, numbers.Integral) or not (
      1 <= num_steps <= MAX_NUM_STEPS):
    raise ValueError(f'num_steps must be an integer in [1, {MAX_NUM_STEPS}], got {num_steps!r}')
  if isinstance(guidance, bool) or not isinstance(guidance, numbers.Real) or not (
      0.0 <= guidance <= MAX_GUIDANCE):     # NaN fails every comparison
    raise ValueError(f'guidance must be a finite number in [0, {MAX_GUIDANCE:g}] (1: none, 0: '
                     f'the unconditional model), got {guidance!r}')


def nfe(sampler: str, num_steps: int) -> int:
  """Network evaluations of one sample (without guidance; guidance doubles them)."""
  return {'heun': 2 * num_steps - 1, 'edm_stochastic': 2 * num_steps - 1,
          'dpmpp_2m': num_steps, 'euler_ancestral': num_steps, 'dpmpp_2m_sde': num_steps,
          'euler_maruyama': num_steps, 'pc': 2 * num_steps}[sampler]


def _vec(x, value):
  return tf.fill([tf.shape(x)[0]], value)


def edm_sampler(denoise, noise, num_steps, cfg: edm_lib.EDMConfig, s_churn=0.0, s_tmin=0.0,
                s_tmax=float('inf'), s_noise=1.0):
  """EDM's sampler (Karras et al. 2022, Alg. 2; Alg. 1 when s_churn = 0): Heun steps
  on the probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma, with optional
  churn (noise raised by gamma before each step)."""
  sigmas = edm_lib.karras_sigmas(num_steps, cfg.sigma_min, cfg.sigma_max, cfg.rho)
  n = tf.cast(num_steps, tf.float32)
  x0 = noise(0) * sigmas[0]
  stochastic = s_churn > 0

  def body(i, x):
    s, s_next = sigmas[i], sigmas[i + 1]
    if stochastic:
      gamma = tf.where((s >= s_tmin) & (s <= s_tmax),
                       tf.minimum(s_churn / n, math.sqrt(2.0) - 1.0), 0.0)
      s_hat = s * (1.0 + gamma)
      x = x + tf.sqrt(s_hat ** 2 - s ** 2) * s_noise * noise(i + 1)
    else:
      s_hat = s
    d = (x - denoise(x, _vec(x, s_hat))) / s_hat
    x_euler = x + (s_next - s_hat) * d

    def second_order():
      d2 = (x_euler - denoise(x_euler, _vec(x, s_next))) / s_next
      return x + (s_next - s_hat) * 0.5 * (d + d2)

    return i + 1, tf.cond(s_next > 0, second_order, lambda: x_euler)

  _, x = tf.while_loop(lambda i, x: i < tf.cast(num_steps, tf.int32), body, (0, x0),
                       maximum_iterations=None)
  return x


def heun(denoise, noise, num_steps, cfg: edm_lib.EDMConfig):
  return edm_sampler(denoise, noise, num_steps, cfg)


def edm_stochastic(denoise, noise, num_steps, cfg: edm_lib.EDMConfig, s_churn=40.0,
                   s_tmin=None, s_tmax=None, s_noise=1.003):
  """EDM Alg. 2 with churn in [S_tmin, S_tmax] (defaults: 0.05 and 50 in units of
  sigma_data / 0.5, EDM's ImageNet-64 settings scaled as in EDMConfig.scaled)."""
  k = cfg.sigma_data / 0.5
  return edm_sampler(denoise, noise, num_steps, cfg, s_churn,
                     0.05 * k if s_tmin is None else s_tmin,
                     50.0 * k if s_tmax is None else s_tmax, s_noise)


def dpmpp_2m(denoise, noise, num_steps, cfg: edm_lib.EDMConfig, eta: float = 0.0):
  """DPM-Solver++(2M) (Lu et al. 2022) in the data-prediction form on the rho schedule,
  lambda = -ln sigma, h = lambda_{i+1} - lambda_i, r = h_{i-1} / h_i; eta = 1 is
  SDE-DPM-Solver++(2M) (k-diffusion's dpmpp_2m_sde, midpoint correction), eta = 0 the ODE:
      x_{i+1} = (sigma_{i+1} / sigma_i) e^{-eta h} x_i + E D_i + (E / 2r) (D_i - D_{i-1})
                + eta sigma_{i+1} sqrt(-expm1(-2 eta h)) z,    E = -expm1(-(1 + eta) h)
  (for eta = 0: D' = (1 + 1/2r) D_i - D_{i-1} / 2r); first order at the first step, and
  the last step returns D (no noise left)."""
  sigmas = edm_lib.karras_sigmas(num_steps, cfg.sigma_min, cfg.sigma_max, cfg.rho)
  x0 = noise(0) * sigmas[0]

  def body(i, x, old_d, h_last):
    s, s_next = sigmas[i], sigmas[i + 1]
    d = denoise(x, _vec(x, s))
    last = s_next <= 0
    h = tf.math.log(s) - tf.math.log(tf.where(last, s, s_next))   # 0 at the last step (unused)
    e = -tf.math.expm1(-(1.0 + eta) * h)
    r = h_last / tf.where(h > 0, h, 1.0)
    corr = tf.where(i > 0, 0.5 * e / r, 0.0)
    x_next = (s_next / s) * tf.exp(-eta * h) * x + e * d + corr * (d - old_d)
    if eta:
      x_next += s_next * tf.sqrt(-tf.math.expm1(-2.0 * eta * h)) * noise(i + 1)
    return i + 1, tf.where(last, d, x_next), d, h

  _, x, _, _ = tf.while_loop(lambda i, *_: i < tf.cast(num_steps, tf.int32), body,
                             (0, x0, tf.zeros_like(x0), tf.constant(1.0)))
  return x


def dpmpp_2m_sde(denoise, noise, num_steps, cfg: edm_lib.EDMConfig):
  return dpmpp_2m(denoise, noise, num_steps, cfg, eta=1.0)


def euler_ancestral(denoise, noise, num_steps, cfg: edm_lib.EDMConfig):
  """Ancestral sampling on the rho schedule (DDPM's sampler in the sigma form; k-diffusion's
  Euler ancestral, eta = 1): from sigma_i an Euler step of the probability-flow ODE down to
  sigma_down, then fresh noise of std sigma_up, with sigma_down^2 + sigma_up^2 =
  sigma_{i+1}^2 and sigma_up^2 = sigma_{i+1}^2 (sigma_i^2 - sigma_{i+1}^2) / sigma_i^2 (the
  exact posterior noise for Gaussian data); the last step returns D (no noise left)."""
  sigmas = edm_lib.karras_sigmas(num_steps, cfg.sigma_min, cfg.sigma_max, cfg.rho)
  x0 = noise(0) * sigmas[0]

  def body(i, x):
    s, s_next = sigmas[i], sigmas[i + 1]
    d = denoise(x, _vec(x, s))
    s_up = tf.sqrt(s_next ** 2 * (s ** 2 - s_next ** 2)) / s
    s_down = tf.sqrt(tf.maximum(s_next ** 2 - s_up ** 2, 0.0))
    x_next = x + (s_down - s) * (x - d) / s + s_up * noise(i + 1)
    return i + 1, tf.where(s_next > 0, x_next, d)

  _, x = tf.while_loop(lambda i, x: i < tf.cast(num_steps, tf.int32), body, (0, x0))
  return x


def _vp_times(num_steps, sde):
  return tf.linspace(1.0, sde.eps, tf.cast(num_steps, tf.int32) + 1)


def euler_maruyama(denoise, noise, num_steps, sde=sde_lib.VPSDE()):
  """Euler-Maruyama on the reverse SDE from t = 1 to t = eps; returns the last mean
  (score_sde's noise removal). The LArTPC reference: VP, beta 0.1-20, 1000 steps."""
  ts = _vp_times(num_steps, sde)
  x0 = noise(0) * sde.prior_std()

  def body(i, x, x_mean):
    t, dt = ts[i], ts[i + 1] - ts[i]
    x, x_mean = _em_step(denoise, x, t, dt, noise(i + 1), sde)
    return i + 1, x, x_mean

  _, _, x_mean = tf.while_loop(lambda i, *_: i < tf.cast(num_steps, tf.int32), body, (0, x0, x0))
  return x_mean


def _em_step(denoise, x, t, dt, z, sde):
  g2 = sde.diffusion2(t)
  score = sde_lib.score_from_denoiser(denoise, x, t, sde)
  x_mean = x + (sde.drift(x, t) - g2 * score) * dt
  return x_mean + tf.sqrt(g2 * -dt) * z, x_mean


def _per_sample_norm(v):
  return tf.sqrt(tf.reduce_sum(tf.reshape(v * v, [tf.shape(v)[0], -1]), axis=1))


def _vp_alpha(sde, t, t_next):
  """The DDPM alpha of the VP step from t_next up to t: s(t)^2 / s(t_next)^2 =
  exp(-integral of beta from t_next to t), in (0, 1) for every step size. score_sde's
  1 - beta(t) (t - t_next) is its first-order expansion, which is negative once
  beta_max (1 - eps) / N > 1 (N < 20 at beta_max 20) and made the corrector's
  sqrt(2 step) NaN; at N = 1000 the two differ by at most (beta dt)^2 / 2 = 2e-4."""
  return tf.exp(2.0 * (sde.log_scale(t) - sde.log_scale(t_next)))


def pc(denoise, noise, num_steps, sde=sde_lib.VPSDE(), snr=0.16):
  """Predictor-corrector (score_sde): at each time one Langevin corrector step with
  step 2 alpha (snr |z| / |score|)^2 (alpha: `_vp_alpha`, positive at every N), then
  an Euler-Maruyama predictor step. The
  norms are per sample (score_sde averages them over the batch, which would make
  a sample depend on its batch). Noise streams: 2 i + 1 corrector, 2 i + 2 predictor."""
  ts = _vp_times(num_steps, sde)
  x0 = noise(0) * sde.prior_std()

  def body(i, x, x_mean):
    t, dt = ts[i], ts[i + 1] - ts[i]
    z = noise(2 * i + 1)
    score = sde_lib.score_from_denoiser(denoise, x, t, sde)
    alpha = _vp_alpha(sde, t, ts[i + 1]) if isinstance(sde, sde_lib.VPSDE) else 1.0
    ratio = snr * _per_sample_norm(z) / tf.maximum(_per_sample_norm(score), 1e-12)
    step = tf.reshape(2.0 * alpha * ratio ** 2, [-1] + [1] * (len(x.shape) - 1))
    x = x + step * score + tf.sqrt(2.0 * step) * z
    x, x_mean = _em_step(denoise, x, t, dt, noise(2 * i + 2), sde)
    return i + 1, x, x_mean

  _, _, x_mean = tf.while_loop(lambda i, *_: i < tf.cast(num_steps, tf.int32), body, (0, x0, x0))
  return x_mean


def sample(name: str, denoise, noise, num_steps, cfg: edm_lib.EDMConfig, vp=sde_lib.VPSDE()):
  """Dispatch by name (Python-level: each sampler is its own graph)."""
  if name == 'heun':
    return heun(denoise, noise, num_steps, cfg)
  if name == 'edm_stochastic':
    return edm_stochastic(denoise, noise, num_steps, cfg)
  if name == 'dpmpp_2m':
    return dpmpp_2m(denoise, noise, num_steps, cfg)
  if name == 'euler_ancestral':
    return euler_ancestral(denoise, noise, num_steps, cfg)
  if name == 'dpmpp_2m_sde':
    return dpmpp_2m_sde(denoise, noise, num_steps, cfg)
  if name == 'euler_maruyama':
    return euler_maruyama(denoise, noise, num_steps, vp)
  if name == 'pc':
    return pc(denoise, noise, num_steps, vp)
  raise ValueError(f'unknown sampler {name!r}: one of {", ".join(SAMPLERS)}')
