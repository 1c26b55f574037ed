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


def _plan(tmp_path, text, num_classes=100, total=None):
  p = tmp_path / 'plan.json'
  p.write_text(text)
  return plans.from_file(str(p), num_classes, total)


@pytest.mark.parametrize('text,pattern', [
    ('{"12": 2.7}', r'class_id 12: count 2.7 is not a whole number'),
    ('{"12": true}', r'class_id 12: count true is not a whole number'),
    ('{"12": "5"}', r'class_id 12: count "5" is not a whole number'),
    ('{"12": NaN}', r'class_id 12: count NaN is not a whole number'),
    ('{"12": Infinity}', r'class_id 12: count Infinity is not a whole number'),
    ('{"12": null}', r'class_id 12: count null is not a whole number'),
    ('{"12": {"a": 1}}', r'class_id 12: count \{"a": 1\} is not a whole number'),
    ('[1, 2.5' + ', 0' * 98 + ']', r'class_id 1: count 2.5 is not a whole number'),
    ('[true' + ', 0' * 99 + ']', r'class_id 0: count true is not a whole number'),
    ('{"gamma": 5}', r"key 'gamma' is not a class id"),
    ('{" 12": 5}', r"key ' 12' is not a class id"),
    ('{"-1": 5}', r"key '-1' is not a class id"),
    ('{"1_2": 5}', r"key '1_2' is not a class id"),
    ('{"' + '9' * 5000 + '": 5}', r'class_id 9{12}\.\.\. is outside \[0, 100\)'),
    ('{"90": 5, "090": 7}', r"class_id 90 is given twice \('90' and '090'\)"),
    ('{"90": 5, "90": 7}', r"class_id 90 is given twice \('90' and '90'\)"),
    ('{"12": -1}', r'class_id 12: negative count -1'),
    ('{"12": 1e12}', r'class_id 12: count 1000000000000 is more than one seed gives'),
    ('{"12": 1e300}', r'class_id 12: count 1\d+ is more than one seed gives'),
    ('{"12": 4294967296, "13": 1}', r'counts add up to 4294967297, more than one seed gives'),
    ('"12"', r'expected a JSON object'),
])
def test_counts_plans_take_whole_counts_and_class_numbers_only(tmp_path, text, pattern):
  """No coercion (2.7 -> 2, true -> 1), no silent merge of two keys of one class, a class
  name is reported as a bad key (not a bad count), and a plan is at most 2^32 examples."""
  with pytest.raises(ValueError, match=pattern):
    _plan(tmp_path, text)


def test_counts_plans_accept_integral_numbers_and_leading_zeros(tmp_path):
  out = _plan(tmp_path, '{"012": 5, "13": 2.0, "14": 1e3}')
  assert out[12] == 5 and out[13] == 2 and out[14] == 1000 and out.sum() == 1007
  out = _plan(tmp_path, '[' + ', '.join(['0'] * 99 + ['4294967296']) + ']')
  assert out[99] == 2 ** 32


def test_a_plan_beyond_one_seed_is_refused():
  with pytest.raises(ValueError, match='--num_examples=4294967297: a plan has 0 to 4294967296'):
    plans.make_plan('imbalanced', 2 ** 32 + 1, np.ones(100), plans.grid_groups(10, 10))


def test_labels_are_streamed_batch_by_batch():
  """labels_at(start, stop) is the slice of the whole plan's labels, for any window; a
  plan of 2^32 examples costs nothing before its first batch (no [n] array)."""
  counts = np.array([3, 0, 5, 2, 11, 1])
  whole = plans.labels_for(counts, 4)
  for a, b in ((0, 22), (0, 1), (5, 9), (21, 22), (7, 7)):
    np.testing.assert_array_equal(plans.labels_at(counts, 4, a, b), whole[a:b])
  for n in (1, 2, 3, 4, 5, 17, 1000, 4097):       # a bijection of [0, n) for every n
    p = plans.permute(np.arange(n, dtype=np.uint64), n, 3)
    assert sorted(p.tolist()) == list(range(n))
  big = np.array([2 ** 31, 0, 2 ** 31])
  tail = plans.labels_at(big, 9, 2 ** 32 - 1000, 2 ** 32)
  assert tail.dtype == np.int32 and set(tail.tolist()) == {0, 2}
  head = plans.labels_at(big, 9, 0, 100_000)      # about half and half, shuffled
  assert 0.48 < np.mean(head == 0) < 0.52
  with pytest.raises(ValueError, match='outside the plan'):
    plans.labels_at(counts, 4, 20, 23)
