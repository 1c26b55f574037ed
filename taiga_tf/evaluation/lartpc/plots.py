"""PNG plots of the LArTPC fidelity report (matplotlib, Agg)."""
from __future__ import annotations

import os

import numpy as np

from taiga_tf.detectors.lartpc.plotting import LABEL_COLOURS

LABELS = {'track_length': 'track length (px, 3 mm)', 'track_width': 'track width (px)',
          'log10_total_charge': 'log10(1 + total charge), 0-255 scale', 'occupancy': 'occupancy',
          'n_clusters': 'DBSCAN clusters', 'pixel_intensity': 'non-zero pixel value (0-255)',
          'ssnet_track_score': 'SSNet track score (charge pixels)',
          'ssnet_shower_score': 'SSNet shower score (charge pixels)',
          'nearest_training_distance': 'L2 distance to the nearest training image'}


def _hist_pair(ax, g, m, name, m_label='MC'):
  g, m = np.asarray(g, np.float64), np.asarray(m, np.float64)
  g, m = g[np.isfinite(g)], m[np.isfinite(m)]
  if len(g) == 0 or len(m) == 0:
    return
  lo, hi = np.percentile(np.r_[g, m], [0.5, 99.5])
  bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
  ax.hist(m, bins=bins, density=True, histtype='stepfilled', alpha=0.4, label=m_label)
  ax.hist(g, bins=bins, density=True, histtype='step', lw=1.5, label='generated')
  ax.set_xlabel(LABELS.get(name, name), fontsize=8)
  ax.tick_params(labelsize=7)


def write_all(out, ctx, gen, mc, rep, cls) -> list[str]:
  """The plots of one class's report (report.compare) into `out`."""
  from taiga_tf.plotting import pyplot  # pylint: disable=g-import-not-at-top
  from matplotlib.colors import ListedColormap  # pylint: disable=g-import-not-at-top
  plt = pyplot()
  paths = []
  dists = rep['_dists']
  fig, axes = plt.subplots(2, 4, figsize=(14, 6.5))
  for ax, (name, (g, m)) in zip(axes.ravel(), dists.items()):
    _hist_pair(ax, g, m, name, f'MC {ctx.cfg.mc_split}')
    v = rep['measures'].get(f'w1_{name}')
    if v:
      ax.set_title(f'W1 {v["value"]:.3g} (MC-MC {v["mc_mc"]:.3g})', fontsize=8)
  for ax in axes.ravel()[len(dists):]:
    ax.axis('off')
  axes[0][0].legend(fontsize=7)
  fig.suptitle(f'LArTPC {cls}s: physics features, SSNet scores, memorisation '
               f'({rep["n_generated"]} generated, {rep["n_mc"]} MC)')
  fig.tight_layout()
  paths.append(_save(fig, out, 'features.png'))

  # images with the SSNet's labels: MC (top rows) and generated (bottom rows)
  n = 6
  cmap = ListedColormap(LABEL_COLOURS)
  fig, axes = plt.subplots(4, n, figsize=(2.1 * n, 8.6))
  for r, (cols, what) in enumerate(((mc, 'MC'), (gen, 'generated'))):
    k = min(n, len(cols['image']))
    _, scores = ctx.ssnet_outputs(cols['x'][:k])
    for j in range(n):
      a_img, a_lab = axes[2 * r][j], axes[2 * r + 1][j]
      for a in (a_img, a_lab):
        a.set_xticks([]), a.set_yticks([])
      if j >= k:
        continue
      img = cols['image'][j]
      ctx.det.draw(a_img, img)
      lab = np.where(img > 0, scores[j].argmax(-1), 0)
      a_lab.imshow(img > 0, cmap='Greys', alpha=0.3, interpolation='nearest')
      a_lab.imshow(lab, cmap=cmap, vmin=0, vmax=2, interpolation='nearest')
    axes[2 * r][0].set_ylabel(f'{what}', fontsize=9)
    axes[2 * r + 1][0].set_ylabel('SSNet: track red,\nshower blue', fontsize=8)
  fig.suptitle(f'{cls}s: MC {ctx.cfg.mc_split} and generated, with the SSNet labels')
  fig.tight_layout()
  paths.append(_save(fig, out, 'images_ssnet.png'))
  return paths


def _save(fig, out, name):
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  path = os.path.join(out, name)
  fig.savefig(path, dpi=80)
  plt.close(fig)
  return path
