"""The wrong sets of the calibration and how detections and marks are derived (numpy only)."""
import numpy as np
import pytest

from taiga_tf.evaluation import calibration as calib
from taiga_tf.evaluation.taiga_iact import wrong_sets
from taiga_tf.detectors.taiga_iact.camera import builtin_camera

CAM = builtin_camera()
NE, ND = 10, 10


def _cols(n=400, seed=0):
  rng = np.random.default_rng(seed)
  e, d = rng.integers(0, NE, n), rng.integers(0, ND, n)
  vec = rng.gamma(2.0, 5.0, (n, CAM.n_pixels)).astype(np.float32)
  return {'image': CAM.to_square(vec), 'energy_bin': e, 'distance_bin': d, 'class_id': e * ND + d,
          'particle': np.zeros(n, np.int64), 'features': rng.normal(size=(n, 3)),
          'x': rng.normal(size=(n, 4))}


def _make(name, cols, other=None):
  return wrong_sets.wrong_set(name, cols, other or _cols(50, 9), CAM, NE, ND, particle_id=0, seed=1)


def test_null_is_the_mc_itself():
  c = _cols()
  w = _make('mc', c)
  for k in c:
    np.testing.assert_array_equal(w[k], c[k])


def test_energy_shift_relabels_one_bin_up_and_keeps_derived_columns_aligned():
  c = _cols()
  w = _make('energy_shift', c)
  keep = c['energy_bin'] < NE - 1
  np.testing.assert_array_equal(w['energy_bin'], c['energy_bin'][keep] + 1)
  np.testing.assert_array_equal(w['class_id'], w['energy_bin'] * ND + w['distance_bin'])
  np.testing.assert_array_equal(w['image'], c['image'][keep])
  np.testing.assert_array_equal(w['features'], c['features'][keep])


def test_random_class_keeps_the_class_mix_and_the_images():
  c = _cols()
  w = _make('random_class', c)
  np.testing.assert_array_equal(np.sort(w['class_id']), np.sort(c['class_id']))
  assert np.mean(w['class_id'] != c['class_id']) > 0.9
  np.testing.assert_array_equal(w['image'], c['image'])


def test_other_particle_is_labelled_as_this_one():
  c, o = _cols(), _cols(60, 5)
  o['particle'][:] = 1
  w = _make('other_particle', c, o)
  np.testing.assert_array_equal(w['image'], o['image'])
  assert (w['particle'] == 0).all()


def test_image_changes_drop_the_derived_columns():
  c = _cols()
  w = _make('amplitude_x1.2', c)
  np.testing.assert_allclose(w['image'], c['image'] * 1.2, rtol=1e-6)
  for name in ('amplitude_x1.2', 'rotated_30deg', 'noise'):
    assert not set(wrong_sets.DERIVED) & set(_make(name, c))


def test_rotation_moves_a_pixel_to_its_rotated_position():
  assert (wrong_sets.rotation_map(CAM, 0.0) == np.arange(CAM.n_pixels)).all()
  assert (wrong_sets.rotation_map(CAM, 360.0) == np.arange(CAM.n_pixels)).all()
  src = int(np.argmax(np.hypot(CAM.x, CAM.y) * (np.hypot(CAM.x, CAM.y) < 30)))  # ~30 cm out
  vec = np.zeros((1, CAM.n_pixels), np.float32)
  vec[0, src] = 100.0
  out = CAM.to_vector(_make('rotated_30deg', dict(_cols(1), image=CAM.to_square(vec)))['image'])[0]
  a = np.radians(30)
  x, y = np.cos(a) * CAM.x[src] - np.sin(a) * CAM.y[src], np.sin(a) * CAM.x[src] + np.cos(a) * CAM.y[src]
  dst = np.argmin(np.hypot(CAM.x - x, CAM.y - y))
  assert out[dst] == 100.0 and out.sum() == 100.0   # inside the camera the map is one-to-one here


def test_noise_has_the_mc_per_pixel_mean_and_std():
  c = _cols(4000)
  w = _make('noise', c)
  v, n = CAM.to_vector(c['image']), CAM.to_vector(w['image'])
  assert np.abs(n.mean(0) - v.mean(0)).max() < 5 * v.std(0).max() / np.sqrt(4000)
  np.testing.assert_allclose(n.std(0), v.std(0), rtol=0.08)
  assert (w['image'][:, ~CAM.mask] == 0).all()


def test_unknown_set_is_an_error():
  with pytest.raises(ValueError, match='unknown wrong set'):
    _make('upside_down', _cols())


def _m(v, lo, hi):
  return {'value': v, 'ci': [lo, hi]}


def test_detections_and_marks():
  by_set = {'mc': {'a': _m(0.5, 0.45, 0.55), 'b': _m(0.1, 0.05, 0.15)},
            'noise': {'a': _m(0.9, 0.85, 0.95), 'b': _m(0.2, 0.16, 0.3)},
            'other_particle': {'a': _m(0.7, 0.6, 0.8), 'b': _m(0.14, 0.1, 0.2)},
            'random_class': {'a': _m(0.52, 0.47, 0.57), 'b': _m(0.9, 0.8, 1.0)}}
  det = calib.detections(by_set)
  assert det == {'a': {'noise': True, 'other_particle': True, 'random_class': False},
                 'b': {'noise': True, 'other_particle': False, 'random_class': True}}
  measures = {'a': _m(0.6, 0.55, 0.65), 'b': _m(0.2, 0.1, 0.3), 'c': _m(1.0, 0.9, 1.1)}
  calib.mark(measures, {'detections': {'gamma': det}}, 'gamma')
  assert measures['a']['evidence'] is True and measures['a']['misses'] == ['random_class']
  assert measures['b']['evidence'] is False and measures['b']['misses'] == ['other_particle']
  assert measures['c']['evidence'] is None                 # not in the calibration
  calib.mark(measures, None, 'gamma')
  assert all(m['evidence'] is None for m in measures.values())
  table = calib.table({'measures': {'gamma': by_set}, 'detections': {'gamma': det}}, 'gamma')
  # columns: the null, then the sets in the order the report built them
  assert '| measure | mc | noise | other_particle | random_class | evidence |' in table
  assert '| a | 0.5 | 0.9 * | 0.7 * | 0.52 | yes |' in table
  assert '| b | 0.1 | 0.2 * | 0.14 | 0.9 * | no |' in table
