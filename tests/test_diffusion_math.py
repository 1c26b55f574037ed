"""Diffusion math on closed forms: EDM preconditioning, schedules, VP/VE
conversions, and every sampler on Gaussian data, whose ideal denoiser is known:
for y ~ N(mu, s^2 I), D(x; sigma) = mu + s^2 / (s^2 + sigma^2) (x - mu)."""
import math

import numpy as np
import pytest
import tensorflow as tf

from taiga_tf import noise as noise_lib
from taiga_tf.diffusion import edm, sde, solvers

MU, S = 0.3, 0.2
DIM, N = 8, 4000          # 32,000 values per check: the std of a mean is 0.2 / 179 = 0.0011


def gaussian_denoiser(mu=MU, s=S):
  def denoise(x, sigma):
    w = s ** 2 / (s ** 2 + sigma[:, None] ** 2)
    return mu + w * (x - mu)
  return denoise


def noise_fn(seed=(7, 8), n=N, dim=DIM):
  return noise_lib.per_sample_image_noise(tf.constant(seed, tf.int64),
                                          tf.range(n, dtype=tf.int64), [dim])


def test_precond_gives_unit_variance_inputs_and_targets():
  sd = 0.17
  rng = np.random.default_rng(0)
  y = rng.normal(0.0, sd, size=200_000).astype(np.float32)
  n = rng.normal(size=y.shape).astype(np.float32)
  for sigma in (0.003, 0.05, 0.17, 1.0, 20.0):
    c_skip, c_out, c_in, c_noise = [float(c) for c in edm.precond(sigma, sd)]
    x = y + sigma * n
    assert np.std(c_in * x) == pytest.approx(1.0, abs=0.01)
    target = (y - c_skip * x) / c_out
    assert np.std(target) == pytest.approx(1.0, abs=0.01)
    assert c_noise == pytest.approx(math.log(sigma) / 4)
    # the loss weight is 1 / c_out^2: unit weight on the network's error
    assert float(edm.loss_weight(sigma, sd)) == pytest.approx(1 / c_out ** 2, rel=1e-5)
  # the ideal denoiser of Gaussian data is what D reduces to with F = ideal target
  sigma = 0.3
  c_skip, c_out, _, _ = edm.precond(sigma, sd)
  assert float(c_skip) == pytest.approx(sd ** 2 / (sd ** 2 + sigma ** 2))


def test_scaled_config_and_training_sigma():
  c = edm.EDMConfig.scaled(0.125)
  assert c.sigma_max == pytest.approx(20.0) and c.sigma_min == pytest.approx(0.0005)
  assert c.p_mean == pytest.approx(-1.2 + math.log(0.25))
  z = np.random.default_rng(1).normal(size=100_000)
  s = edm.training_sigma(z, c).numpy()
  assert np.mean(np.log(s)) == pytest.approx(c.p_mean, abs=0.02)
  assert np.std(np.log(s)) == pytest.approx(c.p_std, abs=0.02)


def test_karras_schedule():
  s = edm.karras_sigmas(18, 0.002, 80.0, 7.0).numpy()
  assert len(s) == 19 and s[-1] == 0.0
  assert s[0] == pytest.approx(80.0, rel=1e-5) and s[-2] == pytest.approx(0.002, rel=1e-4)
  assert np.all(np.diff(s) < 0)
  # closed form at the midpoint
  mid = (80 ** (1 / 7) + 0.5 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
  s2 = edm.karras_sigmas(3, 0.002, 80.0, 7.0).numpy()
  assert s2[1] == pytest.approx(mid, rel=1e-5)


def test_vp_and_ve_conversions():
  vp = sde.VPSDE()
  t = tf.constant([1e-3, 0.1, 0.5, 1.0])
  s, sig = vp.scale(t).numpy(), vp.sigma(t).numpy()
  # variance preserving: s^2 (1 + sigma^2) = 1
  np.testing.assert_allclose(s ** 2 * (1 + sig ** 2), 1.0, rtol=1e-5)
  # beta 0.1-20: sigma(1) = sqrt(exp(10.05) - 1)
  assert sig[-1] == pytest.approx(math.sqrt(math.exp(10.05) - 1), rel=1e-4)
  np.testing.assert_allclose(vp.t_of_sigma(sig).numpy(), t.numpy(), rtol=1e-3)
  # d/dt log s = -beta / 2 (the drift) by finite differences
  h = 1e-3
  dlog = (vp.log_scale(0.5 + h) - vp.log_scale(0.5 - h)) / (2 * h)
  assert float(dlog) == pytest.approx(-0.5 * float(vp.beta(0.5)), rel=1e-4)
  ve = sde.VESDE(0.01, 50.0)
  assert float(ve.sigma(0.0)) == pytest.approx(0.01) and float(ve.sigma(1.0)) == pytest.approx(50.0)
  assert float(ve.t_of_sigma(ve.sigma(0.37))) == pytest.approx(0.37, rel=1e-5)
  # g^2 = d sigma^2 / dt
  d = (float(ve.sigma(0.5 + h)) ** 2 - float(ve.sigma(0.5 - h)) ** 2) / (2 * h)
  assert float(ve.diffusion2(0.5)) == pytest.approx(d, rel=1e-4)


@pytest.mark.parametrize('kind', ['vp', 've'])
def test_score_from_denoiser_is_the_gaussian_score(kind):
  """For Gaussian data the VP/VE marginal at t is N(s mu, s^2 (S^2 + sigma^2))."""
  the_sde = sde.VPSDE() if kind == 'vp' else sde.VESDE(0.01, 50.0)
  x = tf.constant(np.random.default_rng(2).normal(size=(5, DIM)), tf.float32)
  for t in (0.05, 0.4, 0.9):
    s, sig = float(the_sde.scale(t)), float(the_sde.sigma(t))
    expected = -(x.numpy() - s * MU) / (s ** 2 * (S ** 2 + sig ** 2))
    got = sde.score_from_denoiser(gaussian_denoiser(), x, tf.constant(t), the_sde).numpy()
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=1e-6 * np.abs(expected).max())


# name, steps, dim, n, mean tolerance, relative std tolerance. Sampling error: 0.0011
# on the mean and 0.4 % on the std (32,000 and 51,200 values); the rest is the
# sampler's discretisation error. This Gaussian (std 0.2, sigma_max 160 times
# larger, EDM's ratio) is a hard case for few steps: measured std errors are
# Heun 5.4 % at 18 steps, 0.9 % at 40, 0.3 % at 60; EDM stochastic 12 % at 18,
# 2 % at 80; DPM-Solver++(2M) 16 % at 10, 1 % at 40. So each sampler is checked
# at a step count where it has converged, and at its default count against the
# measured bound. The Langevin corrector normalises its step by per-sample
# norms, which need image-like dimensions (256) to concentrate. The stochastic solvers on
# the rho schedule: ancestral sampling is first order (std -39 % at 10 steps, -15 % at
# 35, -7.4 % at 80, -2.8 % at 200), SDE-DPM-Solver++(2M) +17 % at 10, +3.7 % at 35,
# 0.4 % at 80.
CASES = [('heun', 60, 8, 4000, 0.005, 0.01), ('heun', 18, 8, 4000, 0.005, 0.07),
         ('edm_stochastic', 80, 8, 4000, 0.006, 0.03), ('edm_stochastic', 18, 8, 4000, 0.006, 0.15),
         ('dpmpp_2m', 40, 8, 4000, 0.005, 0.02), ('dpmpp_2m', 10, 8, 4000, 0.005, 0.2),
         ('euler_ancestral', 200, 8, 4000, 0.005, 0.04), ('euler_ancestral', 35, 8, 4000, 0.005, 0.2),
         ('dpmpp_2m_sde', 80, 8, 4000, 0.006, 0.015), ('dpmpp_2m_sde', 35, 8, 4000, 0.006, 0.06),
         ('euler_maruyama', 1000, 8, 4000, 0.005, 0.01), ('pc', 300, 256, 200, 0.005, 0.015)]


@pytest.mark.parametrize('name,steps,dim,n,mean_tol,std_tol', CASES)
def test_every_sampler_reproduces_gaussian_data(name, steps, dim, n, mean_tol, std_tol):
  cfg = edm.EDMConfig.scaled(S)
  calls = []

  def denoise(x, sigma):
    calls.append(1)
    return gaussian_denoiser()(x, sigma)

  x = solvers.sample(name, denoise, noise_fn(n=n, dim=dim), steps, cfg).numpy()   # eager loop
  assert len(calls) == solvers.nfe(name, steps), (len(calls), solvers.nfe(name, steps))
  assert np.all(np.isfinite(x))
  assert x.mean() == pytest.approx(MU, abs=mean_tol)
  assert x.std() == pytest.approx(S, rel=std_tol)
  # no spurious correlations between dimensions
  c = np.corrcoef(x[:, :8].T)
  assert np.abs(c - np.eye(8)).max() < 4 / math.sqrt(n)   # 4 sigma of a null correlation


def test_samplers_compile_to_one_graph_and_match_eager():
  cfg = edm.EDMConfig.scaled(S)
  nz = noise_fn(n=16)
  for name, steps in (('heun', 6), ('dpmpp_2m', 5), ('euler_ancestral', 7), ('dpmpp_2m_sde', 5),
                      ('euler_maruyama', 20), ('pc', 10)):
    eager = solvers.sample(name, gaussian_denoiser(), nz, steps, cfg).numpy()
    f = tf.function(lambda k: solvers.sample(name, gaussian_denoiser(), nz, k, cfg))
    graph = f(tf.constant(steps)).numpy()      # num_steps is a tensor: one trace for any N
    np.testing.assert_allclose(graph, eager, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name', ['euler_ancestral', 'dpmpp_2m_sde'])
def test_stochastic_solvers_end_on_the_denoised_image(name):
  """Data at one point c: D = c at every sigma, and the last step returns D with no
  noise left, whatever the noise injected on the way."""
  cfg = edm.EDMConfig.scaled(S)
  c = tf.constant(np.linspace(-1.0, 1.0, DIM, dtype=np.float32))
  x = solvers.sample(name, lambda x, sigma: tf.zeros_like(x) + c, noise_fn(n=32), 6, cfg).numpy()
  np.testing.assert_allclose(x, np.tile(c.numpy(), (32, 1)), atol=1e-6)


def test_heun_is_second_order():
  """Probability-flow ODE of mu = 0 Gaussian data: dx/dsigma = x sigma / (S^2 + sigma^2),
  so x(0) = x(sigma_max) S / sqrt(S^2 + sigma_max^2). Heun's error falls as N^-2."""
  cfg = edm.EDMConfig(sigma_data=S, sigma_min=0.002, sigma_max=5.0)
  nz = noise_fn(n=64)
  exact = nz(0).numpy() * cfg.sigma_max * S / math.sqrt(S ** 2 + cfg.sigma_max ** 2)

  def err(n, heun=True):
    if heun:
      x = solvers.heun(gaussian_denoiser(0.0), nz, n, cfg)
    else:   # Euler on the same schedule, for contrast
      sig = edm.karras_sigmas(n, cfg.sigma_min, cfg.sigma_max, cfg.rho)
      x = nz(0) * sig[0]
      for i in range(n):
        d = (x - gaussian_denoiser(0.0)(x, tf.fill([64], sig[i]))) / sig[i]
        x = x + (sig[i + 1] - sig[i]) * d
    return float(np.abs(x.numpy() - exact).max())

  e = [err(n) for n in (8, 16, 32)]
  orders = [math.log2(e[i] / e[i + 1]) for i in range(2)]
  assert all(1.7 < o < 2.5 for o in orders), (e, orders)
  eu = [err(n, False) for n in (16, 32)]
  assert 0.7 < math.log2(eu[0] / eu[1]) < 1.3, eu


def test_noise_streams_are_per_sample_and_distinct():
  seed = tf.constant([3, 4], tf.int64)
  a = noise_lib.per_sample_image_noise(seed, tf.range(8, dtype=tf.int64), [4, 4])
  b = noise_lib.per_sample_image_noise(seed, tf.range(4, 8, dtype=tf.int64), [4, 4])
  np.testing.assert_array_equal(a(5).numpy()[4:], b(5).numpy())     # batch-independent
  assert np.abs(a(5).numpy() - a(6).numpy()).mean() > 0.5             # streams differ
  assert np.abs(a(0).numpy()[0] - a(0).numpy()[1]).mean() > 0.5       # samples differ
  mask = np.zeros([4, 4], np.float32)
  mask[1:3, 1:3] = 1
  m = noise_lib.per_sample_image_noise(seed, tf.range(2, dtype=tf.int64), [4, 4], mask)(1).numpy()
  assert np.all(m[:, mask == 0] == 0) and np.all(m[:, mask == 1] != 0)


def test_the_apps_offer_every_sampler():
  """train's and generate's --sampler list every sampler the export has (each app in its
  own process: both define the flag)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  for app in ('train', 'generate'):
    code = (f'import taiga_tf.{app}; from absl import flags; '
            "print(','.join(flags.FLAGS['sampler'].parser.enum_values))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert tuple(out.stdout.strip().split(',')) == solvers.SAMPLERS, (app, out.stdout)


@pytest.mark.parametrize('name', solvers.SAMPLERS)
def test_every_sampler_is_finite_at_every_step_count(name):
  """Few steps are coarse but never NaN: the predictor-corrector's Langevin step was
  2 alpha (...)^2 with alpha = 1 - beta(t) dt, negative for N < 20 at beta_max 20
  (sqrt of a negative step: NaN images)."""
  cfg = edm.EDMConfig.scaled(S)
  dim = 256 if name == 'pc' else DIM
  for steps in (1, 2, 3, 5, 10, 19, 20, 21):
    x = solvers.sample(name, gaussian_denoiser(), noise_fn(n=16, dim=dim), steps, cfg).numpy()
    assert np.all(np.isfinite(x)), (name, steps)


def test_pc_alpha_is_the_exact_vp_step_and_positive():
  """alpha = s(t)^2 / s(t_next)^2 = exp(-int beta): in (0, 1) at every N, and score_sde's
  1 - beta(t) dt to first order (N = 1000: within (beta dt)^2 / 2 = 2e-4)."""
  vp = sde.VPSDE()
  for n in (1, 2, 5, 19, 20, 1000):
    ts = np.linspace(1.0, vp.eps, n + 1, dtype=np.float32)
    a = solvers._vp_alpha(vp, tf.constant(ts[:-1]), tf.constant(ts[1:])).numpy()  # pylint: disable=protected-access
    assert np.all((a > 0) & (a < 1)), (n, a.min())
    if n == 1000:
      first_order = 1.0 - vp.beta(ts[:-1]) * (ts[:-1] - ts[1:])
      np.testing.assert_allclose(a, first_order, atol=2.5e-4)
  # the product over the steps telescopes to s(1)^2 / s(eps)^2
  ts = np.linspace(1.0, vp.eps, 8, dtype=np.float64)
  a = solvers._vp_alpha(vp, tf.constant(ts[:-1]), tf.constant(ts[1:])).numpy()  # pylint: disable=protected-access
  assert np.prod(a) == pytest.approx(float(vp.scale(1.0) ** 2 / vp.scale(vp.eps) ** 2), rel=1e-4)


@pytest.mark.parametrize('steps,guidance,pattern', [
    (0, 1.0, 'num_steps'), (-3, 1.0, 'num_steps'), (10_001, 1.0, 'num_steps'),
    (2 ** 40, 1.0, 'num_steps'), (2.5, 1.0, 'num_steps'), (True, 1.0, 'num_steps'),
    (18, float('nan'), 'guidance'), (18, float('inf'), 'guidance'), (18, 1e39, 'guidance'),
    (18, -0.5, 'guidance'), (18, 100.5, 'guidance'), (18, '2', 'guidance')])
def test_sampler_settings_out_of_bounds_are_refused(steps, guidance, pattern):
  with pytest.raises(ValueError, match=pattern):
    solvers.check_settings(steps, guidance)


def test_sampler_settings_at_their_bounds_are_accepted():
  for steps, g in ((1, 0.0), (solvers.MAX_NUM_STEPS, solvers.MAX_GUIDANCE), (18, 1),
                   (np.int32(18), np.float32(2.0))):
    solvers.check_settings(steps, g)
