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


def _tracks(n, seed=0):
  """n images with a horizontal 3-px-high line of charge at a random row."""
  rng = np.random.default_rng(seed)
  out = np.zeros((n, 64, 64), np.float32)
  for i in range(n):
    r = rng.integers(10, 50)
    out[i, r:r + 3, 10:50] = rng.uniform(40, 120)
  return out


def test_wrong_sets_do_what_they_say():
  from taiga_tf.evaluation.lartpc import wrong_sets as ws
  mc, other, train = _tracks(20), _tracks(20, 1) * 0 + 7, _tracks(30, 2)
  assert np.array_equal(ws.wrong_set('mc', mc, other, train), mc)
  assert np.array_equal(ws.wrong_set('other_particle', mc, other, train), other)
  assert np.array_equal(ws.wrong_set('memorised', mc, other, train), train[:20])
  scaled = ws.wrong_set('charge_x1.3', mc, other, train)
  np.testing.assert_allclose(scaled[mc > 0], np.minimum(mc[mc > 0] * 1.3, 255), rtol=1e-6)
  blurred = ws.wrong_set('blurred', mc, other, train)
  wide = lambda x: (x > 0).sum(axis=(1, 2))
  assert (wide(blurred) > wide(mc)).all()                      # wider tracks
  inner = (slice(None), slice(8, 56), slice(8, 56))            # charge kept, bar the cut at 4
  assert abs(blurred.sum() / mc[inner].sum() - 1) < 0.05
  hot = ws.wrong_set('hot_pixels', mc, other, train)
  added = (hot > 0) & (mc == 0)
  assert 0.005 < added.mean() < 0.015 and hot[added].min() > 4 and np.array_equal(hot[mc > 0], mc[mc > 0])
  noise = ws.wrong_set('noise', mc, other, train)
  assert noise.shape == mc.shape and noise.min() >= 0 and noise.max() <= 255
  assert not ((noise > 0) & (noise <= 4)).any()                 # the post-processing applies
  # the memorisation check sees copies of training images: nearest distance 0
  d = report.nearest_distances(report._flat(ws.wrong_set('memorised', mc, other, train)),
                               report._flat(train))
  assert np.all(d < 1e-2)          # (float32 rounding; distances between images are ~1e2-1e3)
  with pytest.raises(ValueError, match='unknown wrong set'):
    ws.wrong_set('rotated', mc, other, train)


def test_calibration_classes(monkeypatch):
  from taiga_tf.evaluation.common import EvalConfig
  cfg = lambda p: EvalConfig(generated='g', reference='lartpc/simulated', data_dir='d',
                             output_dir='o', calibration_particles=p)
  assert report.calibration_classes(cfg(('gamma',))) == ('track', 'shower')   # the flag's default
  assert report.calibration_classes(cfg(('shower',))) == ('shower',)
  with pytest.raises(ValueError, match='proton is not a LArTPC class'):
    report.calibration_classes(cfg(('proton',)))
