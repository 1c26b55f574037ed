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
