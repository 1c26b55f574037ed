"""Figures for any detector: a grid of images drawn by the detector, and PNG bytes for
TensorBoard (matplotlib with the Agg backend, imported lazily)."""
from __future__ import annotations


def pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def image_grid_figure(draw, rows, titles=None, row_labels=None, cell=2.0):
  """Figure with one image per cell: `draw(ax, rows[r][c])` draws an item (None: empty)."""
  plt = pyplot()
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
        draw(ax, row[c])
      if titles and r == 0 and c < len(titles):
        ax.set_title(titles[c], fontsize=8)
      if row_labels and c == 0:
        ax.set_ylabel(row_labels[r], fontsize=8)
  fig.tight_layout()
  return fig


def figure_to_png(fig, dpi=70) -> bytes:
  import io  # pylint: disable=g-import-not-at-top
  plt = pyplot()
  buf = io.BytesIO()
  fig.savefig(buf, format='png', dpi=dpi)
  plt.close(fig)
  return buf.getvalue()
