import json

import numpy as np
import pytest

from taiga_tf import plans


def test_largest_remainder_sums_and_proportions():
  out = plans.largest_remainder([1, 1, 1], 10)
  assert out.sum() == 10 and sorted(out) == [3, 3, 4]
  out = plans.largest_remainder([0, 5, 15], 8)
  np.testing.assert_array_equal(out, [0, 2, 6])
  with pytest.raises(ValueError):
    plans.largest_remainder([0, 0], 3)


def test_imbalanced_follows_mc():
  mc = np.zeros(100)
  mc[[3, 17, 55]] = [100, 300, 600]
  out = plans.imbalanced(mc, 1000)
  assert out[3] == 100 and out[17] == 300 and out[55] == 600 and out.sum() == 1000


def test_balanced_uniform_in_energy_mc_in_distance():
  rng = np.random.default_rng(0)
  mc = np.zeros((10, 10))
  # steep spectrum: falls by 3x per energy bin; bin 9 never populated
  for k in range(9):
    mc[k] = rng.integers(1, 50, 10) * 3.0 ** (8 - k)
  out = plans.balanced(mc.ravel(), 9001, plans.grid_groups(10, 10)).reshape(10, 10)
  per_e = out.sum(1)
  assert out.sum() == 9001 and per_e[9] == 0
  assert per_e[:9].max() - per_e[:9].min() <= 1          # as uniform as the total allows
  for k in range(9):                                      # distances follow the MC
    np.testing.assert_allclose(out[k] / per_e[k], mc[k] / mc[k].sum(), atol=0.002)
  # zero-MC classes get nothing
  mc[2, 4] = 0
  assert plans.balanced(mc.ravel(), 9000, plans.grid_groups(10, 10)).reshape(10, 10)[2, 4] == 0


def test_balanced_with_particle_in_the_condition():
  mc = np.ones(200)
  out = plans.balanced(mc, 2000, plans.grid_groups(10, 10))
  assert out.shape == (200,) and out.sum() == 2000
  assert out[:100].sum() == out[100:].sum() == 1000


def test_counts_file(tmp_path):
  p = tmp_path / 'c.json'
  p.write_text(json.dumps({'90': 500, '91': 250}))
  out = plans.make_plan(f'counts:{p}', None, np.zeros(100), plans.grid_groups(10, 10))
  assert out[90] == 500 and out[91] == 250 and out.sum() == 750
  with pytest.raises(ValueError, match='add up to 750'):
    plans.make_plan(f'counts:{p}', 800, np.zeros(100), plans.grid_groups(10, 10))
  p.write_text(json.dumps({'100': 5}))
  with pytest.raises(ValueError, match='outside'):
    plans.make_plan(f'counts:{p}', None, np.zeros(100), plans.grid_groups(10, 10))
  with pytest.raises(ValueError, match='unknown plan'):
    plans.make_plan('uniform', 10, np.ones(100), plans.grid_groups(10, 10))


def test_labels_depend_only_on_counts_and_seed():
  counts = np.array([3, 0, 5, 2])
  a, b = plans.labels_for(counts, 1), plans.labels_for(counts, 1)
  np.testing.assert_array_equal(a, b)
  assert np.bincount(a, minlength=4).tolist() == [3, 0, 5, 2]
  assert not np.array_equal(a, plans.labels_for(counts, 2))
