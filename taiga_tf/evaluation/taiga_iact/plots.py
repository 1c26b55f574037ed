"""PNG plots of the TAIGA-IACT fidelity report (matplotlib, Agg)."""
from __future__ import annotations

import os

import numpy as np

from taiga_tf.detectors.taiga_iact import plotting
from taiga_tf.detectors.taiga_iact.detector import FEATURES, PARAMS

LABELS = {'log10_size': 'log10(1 + size / pe)', 'length': 'length (deg)', 'width': 'width (deg)',
          'dist': 'dist (deg)', 'alpha': 'alpha (deg)', 'con2': 'con2',
          'skewness': 'skewness', 'kurtosis': 'kurtosis',
          'leakage_intensity_2': 'leakage (intensity, 2 rings)', 'conc_cog': 'concentration (cog)',
          'conc_core': 'concentration (core)', 'conc_pixel': 'concentration (pixel)'}


def _plt():
  from taiga_tf.plotting import pyplot  # pylint: disable=g-import-not-at-top
  return pyplot()


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


def write_all(out, det, gen, mc, rep, particle) -> list[str]:
  """The plots of one particle's report (report.compare) into `out`; det: the TaigaIACT
  detector."""
  cam = det.camera
  plt = _plt()
  paths = []
  gi, mi = rep['_index']
  h_gen, h_mc = rep['_features']
  s_gen, s_mc, s_other = rep['_scores']
  other = 'proton' if particle == 'gamma' else 'gamma'
  overall = rep['features']['overall']

  fig, axes = plt.subplots(3, 4, figsize=(13, 9))
  shown = PARAMS + ('leakage_intensity_2', 'conc_cog', 'conc_core', 'conc_pixel')
  for ax, p in zip(axes.ravel(), shown):
    j = FEATURES.index(p)
    _hist_pair(ax, h_gen[gi, j], h_mc[mi, j], p, overall[p])
  axes[0][0].legend(fontsize=7)
  fig.suptitle(f'Hillas parameters, leakage, concentration: {particle}s, class mix matched '
               f'({len(gi)} pairs)')
  fig.tight_layout()
  paths.append(_save(fig, out, 'hillas_overall.png'))

  bins = sorted(rep['per_energy_bin'])
  if bins:
    pick = sorted({bins[0], bins[len(bins) // 2], bins[-1]})
    fig, axes = plt.subplots(len(pick), 3, figsize=(10, 3 * len(pick)), squeeze=False)
    for r, k in enumerate(pick):
      g, m = gi[gen['energy_bin'][gi] == k], mi[mc['energy_bin'][mi] == k]
      row = rep['per_energy_bin'][k]
      for c, p in enumerate(('log10_size', 'length', 'width')):
        j = FEATURES.index(p)
        _hist_pair(axes[r][c], h_gen[g, j], h_mc[m, j], p,
                   {'w1': row[f'w1_{p}'], 'w1_mc_mc': row[f'w1_{p}_mc_mc']})
      e = det.energy_edges
      axes[r][0].set_ylabel(f'E {e[k]:.3g}-{e[k + 1]:.3g} TeV\nAUC {row["two_sample_auc_image"]:.2f}',
                            fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    paths.append(_save(fig, out, 'hillas_energy_bins.png'))

    fig, ax = plt.subplots(figsize=(6, 4))
    ks = np.array(bins)
    for name, mk in (('two_sample_auc_image', 'o-'), ('two_sample_auc_features', 's--')):
      ax.plot(ks, [rep['per_energy_bin'][k][name] for k in bins], mk, label=name.replace('two_sample_auc_', ''))
    ax.axhline(0.5, color='k', lw=0.8)
    ax.set_xlabel('energy bin'), ax.set_ylabel('two-sample AUC (0.5 = indistinguishable)')
    ax.set_ylim(0.3, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(_save(fig, out, 'auc_per_energy_bin.png'))

  # image grids: 6 well-populated classes, 3 MC and 3 generated each
  classes, counts = np.unique(mc['class_id'][mi], return_counts=True)
  top = classes[np.argsort(-counts)][:6]
  rows, labels = [], []
  for c in sorted(top):
    m = np.flatnonzero(mc['class_id'] == c)[:3]
    g = np.flatnonzero(gen['class_id'] == c)[:3]
    rows.append([cam.to_vector(mc['image'][i]) for i in m] + [None] * (3 - len(m))
                + [cam.to_vector(gen['image'][i]) for i in g] + [None] * (3 - len(g)))
    labels.append(f'class {c}')
  if rows:
    fig = plotting.camera_grid_figure(cam, rows, ['MC', 'MC', 'MC', 'gen', 'gen', 'gen'], labels)
    paths.append(_save(fig, out, 'images_per_class.png'))

  per = rep['conditioning']['median_size_per_class']
  if per:
    fig, ax = plt.subplots(figsize=(5, 5))
    mm = np.array([v['mc_median'] for v in per.values()])
    gm = np.array([v['gen_median'] for v in per.values()])
    eb = np.array([int(c) // det.n_distance_bins for c in per])
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
  ax.set_xlabel(f'{particle} score of the gamma/hadron CNN (trained on MC)')
  ax.legend(fontsize=8)
  fig.tight_layout()
  paths.append(_save(fig, out, 'gamma_hadron_scores.png'))
  return paths


def _save(fig, out, name):
  path = os.path.join(out, name)
  fig.savefig(path, dpi=80)
  _plt().close(fig)
  return path
