"""Per-class example counts for generated datasets (numpy, no TF).

Plans:
- imbalanced: the MC's own class frequencies (a dataset for physics analysis);
- balanced: the examples spread over the detector's class groups as uniformly as
  the total allows (TAIGA-IACT: the energy bins; LArTPC: track and shower; groups
  the MC never populated get nothing: the model has not learned them); within a
  group the classes (TAIGA-IACT: the distance bins) follow the MC;
- counts:<file.json>: explicit counts, {"class_id": count, ...} or a list.
All roundings use largest remainders, so the counts always add up to the total.
"""
from __future__ import annotations

import json
import re

import numpy as np

# One seed gives 2^32 samples (the per-sample noise hashes 32 bits of the index,
# taiga_tf.savedmodel.INDEX_LIMIT): a plan of more examples is refused.
MAX_EXAMPLES = 2 ** 32


def largest_remainder(weights, total: int) -> np.ndarray:
  """Integers proportional to `weights` that sum exactly to `total`."""
  w = np.asarray(weights, np.float64)
  if total < 0 or np.any(w < 0):
    raise ValueError('counts and weights must be non-negative')
  if w.sum() <= 0:
    if total:
      raise ValueError('cannot distribute examples over all-zero weights')
    return np.zeros(len(w), np.int64)
  exact = w / w.sum() * total
  out = np.floor(exact).astype(np.int64)
  rest = total - out.sum()
  order = np.lexsort((np.arange(len(w)), -(exact - out)))   # ties: lower index first
  out[order[:rest]] += 1
  return out


def imbalanced(mc_counts, total: int) -> np.ndarray:
  return largest_remainder(mc_counts, total)


def grid_groups(n_energy_bins: int, n_distance_bins: int) -> np.ndarray:
  """The groups of TAIGA-IACT's classes (class = energy_bin * n_distance_bins + distance_bin):
  the energy bin."""
  return np.arange(n_energy_bins * n_distance_bins) // n_distance_bins


def balanced(mc_counts, total: int, groups) -> np.ndarray:
  """Uniform over the populated groups, the MC's mix of classes (and particles) within
  each. groups[c]: the group of class c (one particle's classes; a label is
  class + n_classes * particle)."""
  groups = np.asarray(groups, np.int64)
  c = np.asarray(mc_counts, np.float64).reshape(-1)
  if len(c) % len(groups):
    raise ValueError(f'{len(c)} class counts are not a multiple of {len(groups)} classes')
  c = c.reshape(len(c) // len(groups), len(groups))
  names = np.unique(groups)
  per_group = np.array([c[:, groups == g].sum() for g in names])
  populated = per_group > 0
  quota = np.zeros(len(names), np.int64)
  quota[populated] = largest_remainder(np.ones(populated.sum()), total)
  out = np.zeros_like(c, dtype=np.int64)
  for g, q in zip(names, quota):
    if q:
      sel = groups == g
      out[:, sel] = largest_remainder(c[:, sel].ravel(), q).reshape(len(c), -1)
  return out.reshape(-1)


class _Pairs(list):
  """A JSON object as its (key, value) pairs: json.load would keep only the last of
  two equal keys."""


def _count(path: str, k: int, v) -> int:
  """A count of the plan: a JSON integer (or a float with an integral value, 1e3) in
  [0, MAX_EXAMPLES]; not a bool, a fraction, NaN, Infinity or a string."""
  if isinstance(v, bool) or not isinstance(v, (int, float)) or (
      isinstance(v, float) and not v.is_integer()):
    shown = json.dumps(dict(v) if isinstance(v, _Pairs) else v)
    raise ValueError(f'{path}: class_id {k}: count {shown} is not a whole number')
  v = int(v)
  if v < 0:
    raise ValueError(f'{path}: class_id {k}: negative count {v}')
  if v > MAX_EXAMPLES:
    raise ValueError(f'{path}: class_id {k}: count {v} is more than one seed gives '
                     f'({MAX_EXAMPLES}); split the plan over runs with other --seed values')
  return v


def _class_id(path: str, key: str, num_classes: int) -> int:
  if not re.fullmatch(r'[0-9]+', key):
    raise ValueError(f'{path}: key {key!r} is not a class id: the keys are class numbers '
                     f'0..{num_classes - 1} written as strings, e.g. {{"12": 500}}')
  if len(key) > 18 or int(key) >= num_classes:
    shown = key if len(key) <= 20 else key[:12] + '...'
    raise ValueError(f'{path}: class_id {shown} is outside [0, {num_classes})')
  return int(key)


def from_file(path: str, num_classes: int, total: int | None = None) -> np.ndarray:
  try:
    with open(path, encoding='utf-8') as f:
      spec = json.load(f, object_pairs_hook=_Pairs)      # keeps duplicate keys
  except json.JSONDecodeError as e:
    raise ValueError(f'{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}); a counts plan is '
                     '{"class_id": count, ...} or a list of counts') from None
  except UnicodeDecodeError:
    raise ValueError(f'{path}: not UTF-8 text; a counts plan is a JSON file') from None
  except OSError as e:
    raise ValueError(f'{path}: cannot read the counts plan ({e.strerror})') from None
  out = np.zeros(num_classes, np.int64)
  if isinstance(spec, _Pairs):
    seen = {}
    for key, v in spec:
      k = _class_id(path, key, num_classes)
      if k in seen:
        raise ValueError(f'{path}: class_id {k} is given twice ({seen[k]!r} and {key!r})')
      seen[k] = key
      out[k] = _count(path, k, v)
  elif isinstance(spec, list):
    if len(spec) != num_classes:
      raise ValueError(f'{path}: a list of counts needs {num_classes} entries, got {len(spec)}')
    for k, v in enumerate(spec):
      out[k] = _count(path, k, v)
  else:
    raise ValueError(f'{path}: expected a JSON object {{"class_id": count}} or a list')
  n = int(out.sum())
  if n > MAX_EXAMPLES:
    raise ValueError(f'{path}: counts add up to {n}, more than one seed gives ({MAX_EXAMPLES}); '
                     'split the plan over runs with other --seed values')
  if total is not None and total != n:
    raise ValueError(f'{path}: counts add up to {n}, but --num_examples={total}')
  return out


def make_plan(plan: str, total: int | None, mc_counts, groups) -> np.ndarray:
  """Counts per model class for a plan name ('imbalanced', 'balanced', 'counts:<file>');
  groups: the group of each class for 'balanced' (see `balanced`)."""
  num_classes = len(mc_counts)
  if plan.startswith('counts:'):
    return from_file(plan.split(':', 1)[1], num_classes, total)
  if total is None:
    raise ValueError(f'plan {plan!r} needs --num_examples')
  if not 0 <= total <= MAX_EXAMPLES:
    raise ValueError(f'--num_examples={total}: a plan has 0 to {MAX_EXAMPLES} examples (one seed '
                     'gives 2^32 samples; split larger sets over runs with other --seed values)')
  if plan == 'imbalanced':
    return imbalanced(mc_counts, total)
  if plan == 'balanced':
    return balanced(mc_counts, total, groups)
  raise ValueError(f"unknown plan {plan!r}: use 'imbalanced', 'balanced' or 'counts:<file.json>'")


# The order of a plan's labels (stored in a generated dataset's state, so that a run
# interrupted under an older order is never resumed with this one).
LABEL_ORDER = 'feistel-4'

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix64(z):
  """splitmix64's finaliser (a bijective avalanche of uint64s)."""
  z = z ^ (z >> np.uint64(30))
  z = z * np.uint64(0xBF58476D1CE4E5B9)
  z = z ^ (z >> np.uint64(27))
  z = z * np.uint64(0x94D049BB133111EB)
  return z ^ (z >> np.uint64(31))


def permute(positions, n: int, seed: int) -> np.ndarray:
  """A permutation of [0, n) that depends only on (n, seed), evaluated at `positions`
  (uint64/int64, each in [0, n)) without building it: a 4-round Feistel network on the
  smallest even number of bits covering n, cycle-walked back into [0, n)."""
  half = max(1, -(-max(n - 1, 1).bit_length() // 2))
  mask = np.uint64((1 << half) - 1)
  keys = np.random.SeedSequence([seed, 0x91A7, n & 0xFFFFFFFFFFFFFFFF]).generate_state(
      4, np.uint64)
  x = np.asarray(positions, np.uint64).copy()
  todo = np.ones(len(x), bool)
  with np.errstate(over='ignore'):
    while todo.any():
      v = x[todo]
      left, right = v >> np.uint64(half), v & mask
      for k in keys:
        left, right = right, left ^ (_mix64(right ^ k) & mask)
      v = (left << np.uint64(half)) | right
      x[todo] = v
      todo[todo] = v >= np.uint64(n)
  return x.astype(np.int64)


def labels_at(counts, seed: int, start: int, stop: int) -> np.ndarray:
  """The classes of examples start .. stop - 1 (int32): the label sequence of the
  counts (class 0 repeated counts[0] times, then class 1, ...) read in the order of
  `permute`. O(stop - start) time and memory, whatever the size of the plan: a plan
  of 2^32 examples costs nothing before its first image."""
  ends = np.cumsum(np.asarray(counts, np.int64))
  n = int(ends[-1]) if len(ends) else 0
  if not 0 <= start <= stop <= n:
    raise ValueError(f'examples {start}..{stop - 1} are outside the plan of {n}')
  pos = permute(np.arange(start, stop, dtype=np.uint64), n, seed)
  return np.searchsorted(ends, pos, side='right').astype(np.int32)


def labels_for(counts, seed: int) -> np.ndarray:
  """The class of every example i (a shuffled plan that depends only on (counts, seed)):
  labels_at over the whole plan, for small plans and tests."""
  return labels_at(counts, seed, 0, int(np.sum(np.asarray(counts, np.int64))))
