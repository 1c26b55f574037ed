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

import numpy as np


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


def from_file(path: str, num_classes: int, total: int | None = None) -> np.ndarray:
  try:
    with open(path, encoding='utf-8') as f:
      spec = json.load(f)
  except json.JSONDecodeError as e:
    raise ValueError(f'{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}); a counts plan is '
                     '{"class_id": count, ...} or a list of counts') from None
  except UnicodeDecodeError:
    raise ValueError(f'{path}: not UTF-8 text; a counts plan is a JSON file') from None
  except OSError as e:
    raise ValueError(f'{path}: cannot read the counts plan ({e.strerror})') from None
  out = np.zeros(num_classes, np.int64)
  if isinstance(spec, list):
    if len(spec) != num_classes:
      raise ValueError(f'{path}: a list of counts needs {num_classes} entries, got {len(spec)}')
    items = enumerate(spec)
  elif isinstance(spec, dict):
    items = spec.items()
  else:
    raise ValueError(f'{path}: expected a JSON object {{"class_id": count}} or a list')
  for k, v in items:
    try:
      k, v = int(k), int(v)
    except (TypeError, ValueError):
      raise ValueError(f'{path}: class {k!r}: count {v!r} is not an integer') from None
    if not 0 <= k < num_classes:
      raise ValueError(f'{path}: class_id {k} is outside [0, {num_classes})')
    if v < 0:
      raise ValueError(f'{path}: class_id {k}: negative count {v}')
    out[k] = v
  if total is not None and total != out.sum():
    raise ValueError(f'{path}: counts add up to {out.sum()}, but --num_examples={total}')
  return out


def make_plan(plan: str, total: int | None, mc_counts, groups) -> np.ndarray:
  """Counts per model class for a plan name ('imbalanced', 'balanced', 'counts:<file>');
  groups: the group of each class for 'balanced' (see `balanced`)."""
  num_classes = len(mc_counts)
  if plan.startswith('counts:'):
    return from_file(plan.split(':', 1)[1], num_classes, total)
  if total is None:
    raise ValueError(f'plan {plan!r} needs --num_examples')
  if plan == 'imbalanced':
    return imbalanced(mc_counts, total)
  if plan == 'balanced':
    return balanced(mc_counts, total, groups)
  raise ValueError(f"unknown plan {plan!r}: use 'imbalanced', 'balanced' or 'counts:<file.json>'")


def labels_for(counts, seed: int) -> np.ndarray:
  """The class of every example i: a permutation that depends only on (counts, seed)."""
  labels = np.repeat(np.arange(len(counts), dtype=np.int32), np.asarray(counts, np.int64))
  return np.random.default_rng([seed, 0x91A7]).permutation(labels)
