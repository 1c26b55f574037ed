"""Drawing camera images as hexagonal pixels (matplotlib, imported lazily by callers)."""
from __future__ import annotations

import numpy as np

from taiga_tf.camera import Camera


def draw_camera(ax, camera: Camera, values, cmap='viridis', vmin=None, vmax=None,
                colorbar=True):
  """Draws per-pixel `values` as hexagons at the pixel positions (cm)."""
  from matplotlib.collections import PolyCollection  # pylint: disable=g-import-not-at-top
  # pointy-top hexagons (rows horizontal), circumradius pitch / sqrt(3)
  ang = np.radians(90 + 60 * np.arange(6))
  rad = camera.pitch / np.sqrt(3)
  verts = np.stack([camera.x[:, None] + rad * np.cos(ang)[None],
                    camera.y[:, None] + rad * np.sin(ang)[None]], axis=-1)
  coll = PolyCollection(verts, array=np.asarray(values, dtype=float), cmap=cmap,
                        edgecolors='none')
  coll.set_clim(vmin if vmin is not None else min(0.0, float(np.min(values))),
                vmax if vmax is not None else float(np.max(values)))
  ax.add_collection(coll)
  ax.set_xlim(camera.x.min() - 2, camera.x.max() + 2)
  ax.set_ylim(camera.y.min() - 2, camera.y.max() + 2)
  ax.set_aspect('equal')
  if colorbar:
    ax.figure.colorbar(coll, ax=ax, fraction=0.046, pad=0.02)
  return coll


def camera_grid_figure(camera: Camera, rows, titles=None, row_labels=None, cell=2.0):
  """Figure of hexagonal images: rows[r][c] is a per-pixel vector (or None)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  n_rows, n_cols = len(rows), max(len(r) for r in rows)
  fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell * n_cols, cell * n_rows),
                           squeeze=False)
  for r, row in enumerate(rows):
    for c in range(n_cols):
      ax = axes[r][c]
      ax.set_xticks([]), ax.set_yticks([])
      for sp in ax.spines.values():
        sp.set_visible(False)
      if c < len(row) and row[c] is not None:
        draw_camera(ax, camera, row[c], colorbar=False)
      if titles and r == 0 and c < len(titles):
        ax.set_title(titles[c], fontsize=8)
      if row_labels and c == 0:
        ax.set_ylabel(row_labels[r], fontsize=8)
  fig.tight_layout()
  return fig


def figure_to_png(fig, dpi=70) -> bytes:
  import io  # pylint: disable=g-import-not-at-top
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  buf = io.BytesIO()
  fig.savefig(buf, format='png', dpi=dpi)
  plt.close(fig)
  return buf.getvalue()
