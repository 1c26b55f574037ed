"""Hillas parameters and cleaning on analytic images."""
import numpy as np
import pytest

from taiga_tf.detectors.taiga_iact import hillas
from taiga_tf.detectors.taiga_iact.camera import DEG_PER_CM, builtin_camera

CAM = builtin_camera()


def _gauss(cx, cy, sl, sw, psi_deg, amp=100.0):
  """Elliptical Gaussian image (cm parameters) sampled at the pixel centres."""
  psi = np.radians(psi_deg)
  dx, dy = CAM.x - cx, CAM.y - cy
  l = dx * np.cos(psi) + dy * np.sin(psi)
  w = -dx * np.sin(psi) + dy * np.cos(psi)
  return amp * np.exp(-0.5 * (l / sl) ** 2 - 0.5 * (w / sw) ** 2)


def test_point_like_moments_exact():
  # two pixels with equal weight: cog midway, length = half the separation, width 0
  img = np.zeros(CAM.n_pixels)
  i, j = CAM.pixel_at(0, 0), CAM.pixel_at(2, 0)
  img[i] = img[j] = 10.0
  h = hillas.hillas_parameters(CAM, img)
  assert h['size'] == pytest.approx(20.0)
  assert h['cog_x'] == pytest.approx(3.0 * DEG_PER_CM)
  assert h['length'] == pytest.approx(3.0 * DEG_PER_CM)
  assert h['width'] == pytest.approx(0.0, abs=1e-9)
  assert h['con2'] == pytest.approx(1.0)


def test_elliptical_gaussian():
  img = _gauss(20.0, 10.0, 6.0, 2.5, 30.0)
  h = hillas.hillas_parameters(CAM, img)
  assert h['cog_x'] == pytest.approx(20.0 * DEG_PER_CM, rel=0.02)
  assert h['cog_y'] == pytest.approx(10.0 * DEG_PER_CM, rel=0.02)
  assert h['length'] == pytest.approx(6.0 * DEG_PER_CM, rel=0.05)
  assert h['width'] == pytest.approx(2.5 * DEG_PER_CM, rel=0.12)
  assert h['psi'] == pytest.approx(30.0, abs=2.0)
  assert abs(h['skewness']) < 0.1


def test_alpha_and_dist_relative_to_source():
  # axis pointing at the source (0, 0): alpha ~ 0; perpendicular: alpha ~ 90
  radial = hillas.hillas_parameters(CAM, _gauss(15.0, 0.0, 6.0, 2.0, 0.0))
  perp = hillas.hillas_parameters(CAM, _gauss(15.0, 0.0, 6.0, 2.0, 90.0))
  assert radial['alpha'] == pytest.approx(0.0, abs=1.0)
  assert perp['alpha'] == pytest.approx(90.0, abs=1.0)
  assert radial['dist'] == pytest.approx(15.0 * DEG_PER_CM, rel=0.02)
  # the source elsewhere: dist measured from it
  moved = hillas.hillas_parameters(CAM, _gauss(15.0, 0.0, 6.0, 2.0, 0.0), source_xy_cm=(15.0, 9.0))
  assert moved['dist'] == pytest.approx(9.0 * DEG_PER_CM, rel=0.03)
  assert moved['alpha'] == pytest.approx(90.0, abs=2.0)


def test_batch_equals_single():
  imgs = np.stack([_gauss(5.0, -3.0, 5.0, 2.0, 10.0), _gauss(-20.0, 6.0, 7.0, 3.0, -60.0)])
  batch = hillas.hillas_parameters(CAM, imgs)
  for k in range(2):
    single = hillas.hillas_parameters(CAM, imgs[k])
    for key in hillas.HILLAS_FIELDS:
      assert batch[key][k] == pytest.approx(single[key], nan_ok=True)


def test_tailcuts_clean_rules():
  img = np.zeros(CAM.n_pixels)
  core = CAM.pixel_at(0, 0)
  nb = CAM.pixel_at(1, 0)
  far_nb = CAM.pixel_at(2, 0)          # neighbour of nb, not of core
  lone = CAM.pixel_at(-8, 4)           # isolated picture pixel
  img[[core, nb, far_nb, lone]] = [20.0, 8.0, 8.0, 30.0]
  mask = hillas.tailcuts_clean(CAM, img[None], 14.0, 7.0)[0]
  assert mask[core] and mask[nb]       # picture + boundary neighbour
  assert not mask[far_nb]              # boundary, but no picture neighbour
  assert not mask[lone]                # picture without a boundary neighbour
  assert mask.sum() == 2


def test_brightest_island():
  img = np.zeros(CAM.n_pixels)
  a = [CAM.pixel_at(0, 0), CAM.pixel_at(1, 0)]
  b = [CAM.pixel_at(-8, 4), CAM.pixel_at(-7, 4)]
  img[a] = [20.0, 15.0]
  img[b] = [40.0, 30.0]
  table = hillas.neighbour_table(CAM)
  mask = hillas.tailcuts_clean(CAM, img[None], 14, 7, table)
  assert hillas.count_islands(mask, table)[0] == 2
  keep = hillas.brightest_island(img[None], mask, table)[0]
  assert set(np.flatnonzero(keep)) == set(b)
  par, _ = hillas.clean_and_parametrize(CAM, img, brightest_only=True)
  assert par['size'][0] == pytest.approx(70.0)
