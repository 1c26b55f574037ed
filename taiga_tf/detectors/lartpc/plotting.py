"""Drawing LArTPC crops: the charge image and its per-pixel labels (matplotlib, Agg)."""
from __future__ import annotations

import numpy as np

LABEL_COLOURS = ((0, 0, 0, 0), (0.85, 0.2, 0.1, 0.8), (0.1, 0.45, 0.95, 0.8))   # none, track, shower


def examples_figure(examples, titles=None, cell: float = 2.2):
  """Two rows per group of examples: the image (0-255 scale, log colour) and its labels.

  examples: sequence of dicts with 'image' (S, S) and optionally 'label' (S, S:
  0 background, 1 track, 2 shower)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from matplotlib.colors import ListedColormap  # pylint: disable=g-import-not-at-top
  n = len(examples)
  fig, axes = plt.subplots(2, n, figsize=(cell * n, 2 * cell), squeeze=False)
  cmap = ListedColormap(LABEL_COLOURS)
  for j, ex in enumerate(examples):
    img = np.asarray(ex['image'], np.float32)
    axes[0][j].imshow(np.log1p(img), cmap='magma', interpolation='nearest')
    axes[1][j].imshow(img > 0, cmap='Greys', alpha=0.3, interpolation='nearest')
    if ex.get('label') is not None:
      axes[1][j].imshow(np.asarray(ex['label']), cmap=cmap, vmin=0, vmax=2, interpolation='nearest')
    if titles:
      axes[0][j].set_title(titles[j], fontsize=8)
    for r in (0, 1):
      axes[r][j].set_xticks([]), axes[r][j].set_yticks([])
  axes[0][0].set_ylabel('image (log)', fontsize=8)
  axes[1][0].set_ylabel('labels: track red,\nshower blue', fontsize=8)
  fig.tight_layout()
  return fig
