"""Metrics on analytic cases."""
import numpy as np
import pytest

from taiga_tf import metrics

RNG = np.random.default_rng(0)


def test_identical_samples():
  a = RNG.normal(size=20000)
  assert metrics.wasserstein1(a, a) == pytest.approx(0.0, abs=1e-12)
  assert metrics.separation_power(a, a) == pytest.approx(0.0, abs=1e-12)
  assert metrics.auc(np.r_[np.ones(20000), np.zeros(20000)], np.r_[a, a]) == pytest.approx(0.5)


def test_known_shift():
  a = RNG.normal(size=50000)
  assert metrics.wasserstein1(a, a + 0.7) == pytest.approx(0.7, abs=1e-9)
  b = RNG.normal(size=50000)
  assert metrics.wasserstein1(a, b + 0.7) == pytest.approx(0.7, abs=0.03)
  # AUC of two unit Gaussians shifted by d is Phi(d / sqrt(2))
  from scipy.stats import norm
  auc = metrics.auc(np.r_[np.ones(50000), np.zeros(50000)], np.r_[b + 1.0, a])
  assert auc == pytest.approx(norm.cdf(1 / np.sqrt(2)), abs=0.005)


def test_separation_power_limits():
  a, b = RNG.normal(size=10000), RNG.normal(size=10000)
  assert metrics.separation_power(a, b) < 0.01
  assert metrics.separation_power(a, a + 100) == pytest.approx(1.0)


def test_correlation_difference():
  x = RNG.normal(size=(5000, 3))
  y = x.copy()
  y[:, 1] = y[:, 0] * 0.9 + 0.1 * y[:, 1]
  d = metrics.correlation_difference(x, y)
  assert d['max_abs_diff'] > 0.9
  assert metrics.correlation_difference(x, x)['max_abs_diff'] == pytest.approx(0, abs=1e-12)


def test_conditioning_check():
  mc = np.r_[np.full(50, 100.0), np.full(50, 1000.0)]
  mc_bin = np.r_[np.zeros(50), np.ones(50)]
  r = metrics.conditioning_check(mc * 1.1, mc, mc_bin, mc_bin, 3)
  np.testing.assert_allclose(r['median_rel_err'][:2], [0.1, 0.1])
  assert np.isnan(r['median_rel_err'][2])
  assert r['mean_abs_rel_err'] == pytest.approx(0.1)


def test_bootstrap_interval_covers_the_sampling_spread():
  rng = np.random.default_rng(3)
  x = rng.normal(2.0, 1.0, 400)
  lo, hi = metrics.bootstrap_ci(np.mean, [x], n_boot=400, seed=1)
  # the standard error of a mean of 400 unit-variance draws is 0.05: a 95 % interval ~ +-0.098
  assert lo < x.mean() < hi
  assert 0.15 < hi - lo < 0.25
  # two-sample statistic, resampled independently; NaN draws dropped, all-NaN gives NaN
  lo, hi = metrics.bootstrap_ci(lambda a, b: a.mean() - b.mean(), [x, x + 1.0], n_boot=200)
  assert lo < -1.0 + 0.05 and hi > -1.0 - 0.05 and hi - lo < 0.4
  assert np.isnan(metrics.bootstrap_ci(lambda a: np.nan, [x], n_boot=5)).all()
  # a distance between two samples of one distribution: resampling alone inflates it, and
  # the bias-corrected interval still contains the measured value
  y = rng.normal(2.0, 1.0, 400)
  w = metrics.wasserstein1(x, y)
  lo, hi = metrics.bootstrap_ci(metrics.wasserstein1, [x, y], n_boot=300, seed=2)
  assert lo < w < hi


def test_auc_null_interval_holds_for_random_scores():
  rng = np.random.default_rng(0)
  lo, hi = metrics.auc_null_interval(500, 500)
  assert lo == pytest.approx(0.5 - 1.96 * np.sqrt(1001 / (12 * 500 * 500)), rel=1e-3)
  aucs = [metrics.auc(np.r_[np.ones(500), np.zeros(500)], rng.random(1000)) for _ in range(200)]
  inside = np.mean([(lo <= a <= hi) for a in aucs])
  assert 0.90 < inside <= 1.0


def test_efficiency_and_rejection():
  s, b = np.array([0.9, 0.8, 0.4, 0.95]), np.array([0.1, 0.6, 0.2, 0.3, 0.0])
  r = metrics.efficiency_rejection(s, b, 0.5)
  assert r['signal_efficiency'] == 0.75 and r['background_rejection'] == 0.8
  assert metrics.efficiency_at_rejection(s, b, 0.8) == 1.0     # threshold 0.36
  assert metrics.efficiency_at_rejection(s, b, 0.9) == pytest.approx(0.75)   # threshold 0.48


def test_bootstrap_without_resamples_is_an_error():
  x = np.arange(10.0)
  for n in (0, -3):      # ([nan, nan] intervals before, with a report that looked complete)
    with pytest.raises(ValueError, match=f'n_boot={n}: a bootstrap interval needs'):
      metrics.bootstrap_ci(np.mean, [x], n_boot=n)
