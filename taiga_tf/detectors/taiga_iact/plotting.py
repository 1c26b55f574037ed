"""Drawing camera images as hexagonal pixels (matplotlib, imported lazily by callers)."""
from __future__ import annotations

import numpy as np

from taiga_tf.detectors.taiga_iact.camera import Camera
from taiga_tf.plotting import image_grid_figure


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
  """Figure of hexagonal images: `rows[r][c]` is a per-pixel vector (or None)."""
  return image_grid_figure(lambda ax, v: draw_camera(ax, camera, v, colorbar=False), rows,
                           titles, row_labels, cell)
