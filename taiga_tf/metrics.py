"""Distribution distances and the conditioning check (numpy, no TF)."""
from __future__ import annotations

import numpy as np
from scipy import stats


def wasserstein1(a, b) -> float:
  """Wasserstein-1 distance between two 1-D samples."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if len(a) == 0 or len(b) == 0:
    return float('nan')
  return float(stats.wasserstein_distance(a, b))


def log_size(size):
  """log(1 + size): defined for empty (size 0) images too."""
  return np.log1p(np.maximum(np.asarray(size, np.float64), 0.0))


def conditioning_check(gen_size, mc_size, gen_energy_bin, mc_energy_bin, n_energy_bins):
  """Per energy class: relative error of the median generated size vs the MC median.

  Returns dict with 'median_rel_err' (n_energy_bins,) (NaN where a class has no
  examples on either side), 'gen_median', 'mc_median', 'counts', and
  'w1_log_size' (overall Wasserstein-1 of log(1 + size)).
  """
  gen_size, mc_size = np.asarray(gen_size), np.asarray(mc_size)
  rel, gmed, mmed, counts = [], [], [], []
  for k in range(n_energy_bins):
    g = gen_size[np.asarray(gen_energy_bin) == k]
    m = mc_size[np.asarray(mc_energy_bin) == k]
    counts.append(len(g))
    if len(g) == 0 or len(m) == 0:
      rel.append(np.nan), gmed.append(np.nan), mmed.append(np.nan)
      continue
    gm, mm = float(np.median(g)), float(np.median(m))
    gmed.append(gm), mmed.append(mm)
    rel.append((gm - mm) / mm if mm > 0 else np.nan)
  rel = np.asarray(rel)
  return {'median_rel_err': rel, 'gen_median': np.asarray(gmed), 'mc_median': np.asarray(mmed),
          'counts': np.asarray(counts),
          'mean_abs_rel_err': float(np.nanmean(np.abs(rel))) if np.isfinite(rel).any() else np.nan,
          'w1_log_size': wasserstein1(log_size(gen_size), log_size(mc_size))}


def separation_power(a, b, bins=40, range_=None) -> float:
  """<S^2> = 1/2 sum (p - q)^2 / (p + q) over a common histogram: 0 same, 1 disjoint."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  a, b = a[np.isfinite(a)], b[np.isfinite(b)]
  if len(a) == 0 or len(b) == 0:
    return float('nan')
  if range_ is None:
    both = np.concatenate([a, b])
    range_ = (np.percentile(both, 0.5), np.percentile(both, 99.5))
    if range_[1] <= range_[0]:
      range_ = (range_[0] - 0.5, range_[0] + 0.5)
  p, _ = np.histogram(np.clip(a, *range_), bins=bins, range=range_)
  q, _ = np.histogram(np.clip(b, *range_), bins=bins, range=range_)
  p, q = p / p.sum(), q / q.sum()
  s = p + q
  return float(0.5 * np.sum(np.where(s > 0, (p - q) ** 2 / np.where(s > 0, s, 1), 0.0)))


def auc(labels, scores) -> float:
  """Area under the ROC curve (Mann-Whitney U with tie correction)."""
  labels = np.asarray(labels).astype(bool)
  n1, n0 = labels.sum(), (~labels).sum()
  if n1 == 0 or n0 == 0:
    return float('nan')
  ranks = stats.rankdata(scores)
  return float((ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def correlation_difference(a: np.ndarray, b: np.ndarray) -> dict:
  """Correlation matrices of the columns of a and b and their difference."""
  ca, cb = np.corrcoef(a, rowvar=False), np.corrcoef(b, rowvar=False)
  d = ca - cb
  off = ~np.eye(len(d), dtype=bool)
  return {'max_abs_diff': float(np.nanmax(np.abs(d[off]))),
          'mean_abs_diff': float(np.nanmean(np.abs(d[off]))),
          'corr_a': ca.tolist(), 'corr_b': cb.tolist()}


def bootstrap_ci(fn, samples, n_boot: int = 200, seed: int = 0, level: float = 0.95):
  """Bootstrap interval of fn(*samples), each sample resampled on its own.

  samples: sequence of arrays (resampled along axis 0, with replacement, independently:
  e.g. (generated, MC) for a two-sample distance). The percentile interval of the
  draws is shifted by the bootstrap's estimate of its own bias (mean of the draws
  minus fn(*samples)): resampling with replacement duplicates events, which alone
  makes a distance between samples grow, so the raw percentiles of a small
  distance need not even contain it. Returns [lo, hi]; NaN draws are dropped,
  and [nan, nan] comes back when none is finite.
  """
  if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
    raise ValueError(f'n_boot={n_boot}: a bootstrap interval needs at least one resample')
  rng = np.random.default_rng(seed)
  samples = [np.asarray(s) for s in samples]
  draws = []
  for _ in range(n_boot):
    draws.append(fn(*[s[rng.integers(0, len(s), len(s))] if len(s) else s for s in samples]))
  draws = np.asarray(draws, np.float64)
  draws = draws[np.isfinite(draws)]
  value = float(fn(*samples))
  if len(draws) == 0 or not np.isfinite(value):
    return [float('nan'), float('nan')]
  a = (1 - level) / 2
  shift = value - draws.mean()
  return [float(np.quantile(draws, a) + shift), float(np.quantile(draws, 1 - a) + shift)]


def auc_null_interval(n_pos: int, n_neg: int, level: float = 0.95):
  """Where the AUC of a classifier without power falls, [lo, hi] (Mann-Whitney normal limit)."""
  if n_pos == 0 or n_neg == 0:
    return [float('nan'), float('nan')]
  sd = np.sqrt((n_pos + n_neg + 1) / (12.0 * n_pos * n_neg))
  z = stats.norm.ppf(0.5 + level / 2)
  return [float(0.5 - z * sd), float(0.5 + z * sd)]


def efficiency_rejection(signal_scores, background_scores, threshold: float) -> dict:
  """Signal efficiency (score > threshold) and background rejection (score <= threshold)."""
  s, b = np.asarray(signal_scores), np.asarray(background_scores)
  return {'threshold': float(threshold),
          'signal_efficiency': float(np.mean(s > threshold)) if len(s) else float('nan'),
          'background_rejection': float(np.mean(b <= threshold)) if len(b) else float('nan')}


def efficiency_at_rejection(signal_scores, background_scores, rejection: float) -> float:
  """Signal efficiency at the threshold that rejects the given fraction of the background."""
  b = np.asarray(background_scores)
  if len(b) == 0 or len(signal_scores) == 0:
    return float('nan')
  return float(np.mean(np.asarray(signal_scores) > np.quantile(b, rejection)))
