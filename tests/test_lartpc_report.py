"""The LArTPC report's math and physics features on analytic cases (numpy only)."""
import numpy as np
import pytest

from taiga_tf.detectors.lartpc import features as feat
from taiga_tf.evaluation.lartpc import report


def test_frechet_distance_of_gaussians_is_the_closed_form():
  rng = np.random.default_rng(0)
  a = rng.normal(0, 1, (20000, 3))
  b = rng.normal(0, 1, (20000, 3)) * np.array([1.0, 2.0, 1.0]) + np.array([1.0, 0.0, 2.0])
  # |mu|^2 + sum(1 + s^2 - 2 s) = 5 + (1 - 2)^2 = 6
  assert report.frechet_distance(a, b) == pytest.approx(6.0, abs=0.15)
  assert report.frechet_distance(a[:10000], a[10000:]) == pytest.approx(0.0, abs=0.01)
  assert np.isnan(report.frechet_distance(a[:1], b))


def test_mmd_zero_for_one_distribution_positive_for_two():
  rng = np.random.default_rng(1)
  a, b = rng.normal(0, 1, (400, 5)), rng.normal(0, 1, (400, 5))
  c = rng.normal(0.7, 1, (400, 5))
  bw = report.median_distance(np.r_[a, b], rng)
  same, diff = report.mmd2(a, b, bw), report.mmd2(a, c, bw)
  assert abs(same) < 0.01 and diff > 0.05


def test_nearest_distances_are_exact():
  ref = np.array([[0, 0], [3, 4], [10, 0]], np.float32)
  x = np.array([[0, 0], [3, 5], [9, 1]], np.float32)
  np.testing.assert_allclose(report.nearest_distances(x, ref, chunk=2), [0, 1, np.sqrt(2)], atol=1e-5)


def test_track_length_and_width_of_a_drawn_track():
  img = np.zeros((64, 64))
  img[20:23, 5:55] = 30.0                      # a 50 x 3 px horizontal track
  img[50, 60] = 8.0                            # an isolated pixel: its own cluster
  f = dict(zip(feat.FEATURES, feat.image_features(img)))
  assert f['track_length'] == pytest.approx(np.hypot(49, 2))   # corner to corner
  assert f['track_width'] == pytest.approx(3.0)
  assert f['n_clusters'] == 2
  assert f['occupancy'] == pytest.approx(151 / 4096)
  assert f['log10_total_charge'] == pytest.approx(np.log10(1 + 150 * 30 + 8))
  # a diagonal one-pixel track: width 1 along the second axis (+1 px), length its diagonal
  d = np.zeros((64, 64))
  d[np.arange(40), np.arange(40)] = 10.0
  f = dict(zip(feat.FEATURES, feat.image_features(d)))
  assert f['track_length'] == pytest.approx(39 * np.sqrt(2))
  assert f['track_width'] == pytest.approx(1.0, abs=1e-6)


def test_gaps_wider_than_eps_split_clusters():
  img = np.zeros((64, 64))
  img[10, 0:20] = 5.0
  img[10, 24:60] = 5.0                         # 4 px gap > eps = 3 px: two clusters
  f = dict(zip(feat.FEATURES, feat.image_features(img)))
  assert f['n_clusters'] == 2 and f['track_length'] == pytest.approx(35.0)
  img[10, 21:23] = 5.0                         # now 2-px gaps: one cluster
  f = dict(zip(feat.FEATURES, feat.image_features(img)))
  assert f['n_clusters'] == 1 and f['track_length'] == pytest.approx(59.0)


def test_empty_and_single_pixel_images():
  e = feat.image_features(np.zeros((64, 64)))
  assert np.isnan(e[0]) and np.isnan(e[1]) and e[2] == 0 and e[3] == 0
  one = np.zeros((64, 64))
  one[3, 3] = 7
  f = dict(zip(feat.FEATURES, feat.image_features(one)))
  assert f['track_length'] == 0 and f['track_width'] == 1 and f['n_clusters'] == 1
  assert feat.feature_table(np.zeros((0, 64, 64))).shape == (0, len(feat.FEATURES))
