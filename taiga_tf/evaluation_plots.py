"""PNG plots of the fidelity report (matplotlib, Agg)."""
from __future__ import annotations

import os

import numpy as np

from taiga_tf import plotting
from taiga_tf.evaluation import PARAMS

LABELS = {'log10_size': 'log10(1 + size / pe)', 'length': 'length (deg)', 'width': 'width (deg)',
          'dist': 'dist (deg)', 'alpha': 'alpha (deg)', 'con2': 'con2',
          'skewness': 'skewness', 'kurtosis': 'kurtosis'}


def _plt():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _hist_pair(ax, g, m, name, stats=None):
  g, m = g[np.isfinite(g)], m[np.isfinite(m)]
  if len(g) == 0 or len(m) == 0:
    return
  lo, hi = np.percentile(np.r_[g, m], [0.5, 99.5])
  bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
  ax.hist(m, bins=bins, density=True, histtype='stepfilled', alpha=0.4, label='MC test')
  ax.hist(g, bins=bins, density=True, histtype='step', lw=1.5, label='generated')
  ax.set_xlabel(LABELS.get(name, name), fontsize=8)
  if stats:
    ax.set_title(f'W1 {stats["w1"]:.3g} (MC-MC {stats["w1_mc_mc"]:.3g})', fontsize=7)
  ax.tick_params(labelsize=7)


def write_all(out, cam, spec, gen, mc, h_gen, h_mc, gi, mi, s_mc, s_gen, s_other, particle,
              other, report) -> list[str]:
  plt = _plt()
  paths = []

  fig, axes = plt.subplots(2, 4, figsize=(13, 6))
  for j, (ax, p) in enumerate(zip(axes.ravel(), PARAMS)):
    _hist_pair(ax, h_gen[gi, j], h_mc[mi, j], p, report['hillas']['overall'][p])
  axes[0][0].legend(fontsize=7)
  fig.suptitle(f'Hillas parameters, {particle}s, class mix matched ({len(gi)} pairs)')
  fig.tight_layout()
  paths.append(_save(fig, out, 'hillas_overall.png'))

  bins = sorted(report['hillas']['per_energy_bin'])
  if bins:
    pick = [bins[0], bins[len(bins) // 2], bins[-1]]
    fig, axes = plt.subplots(len(pick), 4, figsize=(13, 3 * len(pick)), squeeze=False)
    for r, k in enumerate(pick):
      g, m = gi[gen['energy_bin'][gi] == k], mi[mc['energy_bin'][mi] == k]
      for c, p in enumerate(('log10_size', 'length', 'width', 'dist')):
        j = PARAMS.index(p)
        _hist_pair(axes[r][c], h_gen[g, j], h_mc[m, j], p, report['hillas']['per_energy_bin'][k][p])
      e = spec.energy_edges
      axes[r][0].set_ylabel(f'E {e[k]:.3g}-{e[k + 1]:.3g} TeV', fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    paths.append(_save(fig, out, 'hillas_energy_bins.png'))

  # image grids: 6 well-populated classes, 3 MC and 3 generated each
  classes, counts = np.unique(mc['class_id'][mi], return_counts=True)
  top = classes[np.argsort(-counts)][:6]
  rows, labels = [], []
  for c in sorted(top):
    m = np.flatnonzero(mc['class_id'] == c)[:3]
    g = np.flatnonzero(gen['class_id'] == c)[:3]
    rows.append([cam.to_vector(mc['image'][i]) for i in m] + [None] * (3 - len(m))
                + [cam.to_vector(gen['image'][i]) for i in g])
    labels.append(f'class {c}')
  fig = plotting.camera_grid_figure(cam, rows, ['MC', 'MC', 'MC', 'gen', 'gen', 'gen'], labels)
  paths.append(_save(fig, out, 'images_per_class.png'))

  per = report['conditioning']['median_size_per_class']
  if per:
    fig, ax = plt.subplots(figsize=(5, 5))
    mm = np.array([v['mc_median'] for v in per.values()])
    gm = np.array([v['gen_median'] for v in per.values()])
    eb = np.array([int(c) // spec.n_distance_bins for c in per])
    sc = ax.scatter(mm, gm, c=eb, cmap='viridis', s=18)
    lim = [max(1, min(mm.min(), gm.min()) * 0.8), max(mm.max(), gm.max()) * 1.2]
    ax.plot(lim, lim, 'k--', lw=1)
    ax.set_xscale('log'), ax.set_yscale('log')
    ax.set_xlabel('MC median size per class (pe)'), ax.set_ylabel('generated median size (pe)')
    fig.colorbar(sc, ax=ax, label='energy bin')
    fig.tight_layout()
    paths.append(_save(fig, out, 'size_per_class.png'))

  fig, ax = plt.subplots(figsize=(6, 4))
  bins = np.linspace(0, 1, 41)
  ax.hist(s_mc, bins=bins, histtype='stepfilled', alpha=0.4, density=True, label=f'MC {particle}s')
  ax.hist(s_other, bins=bins, histtype='step', density=True, label=f'MC {other}s')
  ax.hist(s_gen, bins=bins, histtype='step', lw=1.5, density=True, label=f'generated {particle}s')
  ax.set_yscale('log')
  ax.set_xlabel('gamma score of the gamma/hadron CNN (trained on MC)')
  ax.legend(fontsize=8)
  fig.tight_layout()
  paths.append(_save(fig, out, 'gamma_hadron_scores.png'))
  return paths


def _save(fig, out, name):
  path = os.path.join(out, name)
  fig.savefig(path, dpi=80)
  _plt().close(fig)
  return path
