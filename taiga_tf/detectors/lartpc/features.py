"""Physics features of LArTPC crops for the fidelity report (numpy, scikit-learn, scipy).

As the reference work measured them, on images of the 0-255 scale:
- track length: the largest DBSCAN cluster of the non-zero pixels (eps = 3 px,
  min_samples 1), the largest distance across its convex hull (px);
- track width: that cluster's extent along its second PCA axis, plus 1 px;
- total charge (sum of the image), occupancy (fraction of non-zero pixels), the
  number of clusters, and the intensity of the non-zero pixels.
An image with no non-zero pixel has NaN length and width.
"""
from __future__ import annotations

import numpy as np

EPS_PX = 3.0
FEATURES = ('track_length', 'track_width', 'log10_total_charge', 'occupancy', 'n_clusters',
            'mean_intensity')


def largest_cluster(points: np.ndarray, eps: float = EPS_PX) -> tuple[np.ndarray, int]:
  """The points (k, 2) of the largest DBSCAN cluster (min_samples 1: no noise points), and
  the number of clusters."""
  if len(points) <= 1:
    return points, len(points)
  from sklearn.cluster import DBSCAN  # pylint: disable=g-import-not-at-top
  labels = DBSCAN(eps=eps, min_samples=1).fit_predict(points)
  biggest = np.bincount(labels).argmax()
  return points[labels == biggest], int(labels.max()) + 1


def hull_diameter(points: np.ndarray) -> float:
  """The largest distance between two points (across the convex hull's vertices)."""
  if len(points) < 2:
    return 0.0
  pts = points.astype(np.float64)
  if len(pts) > 3:
    from scipy.spatial import ConvexHull, QhullError  # pylint: disable=g-import-not-at-top
    try:
      pts = pts[ConvexHull(pts).vertices]
    except QhullError:       # collinear points: every point is a candidate
      pass
  d = pts[:, None, :] - pts[None, :, :]
  return float(np.sqrt((d ** 2).sum(-1)).max())


def pca_width(points: np.ndarray) -> float:
  """Extent along the second principal axis, plus 1 px (one pixel wide = 1)."""
  if len(points) < 2:
    return 1.0
  x = points.astype(np.float64) - points.mean(0)
  _, vecs = np.linalg.eigh(x.T @ x)
  second = x @ vecs[:, 0]           # eigh: ascending, so column 0 is the minor axis
  return float(second.max() - second.min() + 1.0)


def image_features(image: np.ndarray, eps: float = EPS_PX) -> np.ndarray:
  """The FEATURES of one [S, S] image."""
  img = np.asarray(image, np.float64)
  pts = np.argwhere(img > 0)
  total = img.sum()
  occ = len(pts) / img.size
  if len(pts) == 0:
    return np.array([np.nan, np.nan, 0.0, 0.0, 0.0, np.nan])
  cluster, n_clusters = largest_cluster(pts, eps)
  return np.array([hull_diameter(cluster), pca_width(cluster), np.log10(1.0 + total), occ,
                   float(n_clusters), float(img[img > 0].mean())])


def feature_table(images, eps: float = EPS_PX) -> np.ndarray:
  """(N, len(FEATURES)) of [N, S, S] images."""
  images = np.asarray(images)
  if len(images) == 0:
    return np.zeros((0, len(FEATURES)))
  return np.stack([image_features(im, eps) for im in images])

