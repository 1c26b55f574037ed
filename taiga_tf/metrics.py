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
