import numpy as np
import pytest

from taiga_tf.detectors.taiga_iact import camera as cam_lib


def _check_adjacency(cam):
  """Every pair of hexagonal neighbours is 8-adjacent in the square array."""
  pairs = cam.neighbors
  assert len(pairs) > 0
  dr = np.abs(cam.row[pairs[:, 0]] - cam.row[pairs[:, 1]])
  dc = np.abs(cam.col[pairs[:, 0]] - cam.col[pairs[:, 1]])
  assert np.all(np.maximum(dr, dc) == 1)
  # and neighbours are exactly one pitch apart in the focal plane
  d = np.hypot(cam.x[pairs[:, 0]] - cam.x[pairs[:, 1]], cam.y[pairs[:, 0]] - cam.y[pairs[:, 1]])
  np.testing.assert_allclose(d, cam.pitch, atol=1e-9)


def _check_round_trip(cam):
  rng = np.random.default_rng(0)
  v = rng.normal(size=(3, cam.n_pixels)).astype(np.float32)
  img = cam.to_square(v)
  assert img.shape == (3, cam.square_size, cam.square_size)
  np.testing.assert_array_equal(cam.to_vector(img), v)  # exact
  assert np.all(img[:, ~cam.mask] == 0)
  assert cam.mask.sum() == cam.n_pixels
  # square -> vector -> square is the identity on masked images
  masked = rng.normal(size=(2,) + cam.square_shape) * cam.mask
  np.testing.assert_array_equal(cam.to_square(cam.to_vector(masked)), masked)


def test_builtin_camera():
  cam = cam_lib.builtin_camera()
  assert cam.n_pixels == 560
  assert np.all(np.bincount(cam.cluster)[1:] == 28) and cam.cluster.max() == 20
  assert cam.square_size == 32
  # the lattice spans 29 x 29 axial cells before padding
  assert cam.q.max() - cam.q.min() + 1 == 29 and cam.r.max() - cam.r.min() + 1 == 29
  # rows horizontal: y takes values on a grid of pitch * sqrt(3) / 2
  np.testing.assert_allclose(np.unique(np.round(cam.y, 6))[:2] - np.unique(np.round(cam.y, 6))[0],
                             [0, 3.0 * np.sqrt(3) / 2], atol=1e-6)
  _check_round_trip(cam)
  _check_adjacency(cam)
  # interior pixels have 6 neighbours
  counts = np.array([len(n) for n in cam.neighbor_lists()])
  assert counts.max() == 6 and (counts == 6).sum() > 400


def test_deg_per_cm():
  assert cam_lib.DEG_PER_CM == pytest.approx(0.1206, abs=1e-4)


def test_locate_and_tolerance():
  cam = cam_lib.builtin_camera()
  idx = cam.locate(cam.x + 0.05, cam.y - 0.05)
  np.testing.assert_array_equal(idx, np.arange(cam.n_pixels))
  # between two pixels, and far outside: not a pixel
  assert cam.locate([cam.pitch / 2], [0.0])[0] == -1
  assert cam.locate([500.0], [0.0])[0] == -1


def test_dict_round_trip():
  cam = cam_lib.builtin_camera()
  back = cam_lib.Camera.from_dict(cam.to_dict())
  np.testing.assert_array_equal(back.row, cam.row)
  np.testing.assert_array_equal(back.col, cam.col)
  np.testing.assert_array_equal(back.channel, cam.channel)


def test_real_2020_table(pixel_table_2020):
  cam = cam_lib.load_pixel_table(pixel_table_2020)
  assert cam.n_pixels == 595
  assert len(np.unique(cam.cluster)) == 22
  assert cam.rotation_deg == pytest.approx(37.5)
  # nearest-neighbour spacing of the original table coordinates is 3.0 cm
  t = np.loadtxt(pixel_table_2020)
  d2 = ((t[:, None, 3:5] - t[None, :, 3:5]) ** 2).sum(-1)
  np.fill_diagonal(d2, np.inf)
  np.testing.assert_allclose(np.sqrt(d2.min(1)), 3.0, atol=0.01)
  # the snapped optics-frame positions are the table rotated by 37.5 deg
  th = np.radians(37.5)
  xr = t[:, 3] * np.cos(th) - t[:, 4] * np.sin(th)
  yr = t[:, 3] * np.sin(th) + t[:, 4] * np.cos(th)
  np.testing.assert_allclose(cam.x, xr, atol=0.01)
  np.testing.assert_allclose(cam.y, yr, atol=0.01)
  _check_round_trip(cam)
  _check_adjacency(cam)


def test_wrong_rotation_breaks_lattice(pixel_table_2020):
  with pytest.raises(cam_lib.CameraError, match='off a hexagonal lattice'):
    cam_lib.load_pixel_table(pixel_table_2020, rotation_deg=0.0)


def test_bad_table(tmp_path):
  p = tmp_path / 'bad.txt'
  p.write_text('1 1 1 0.0 0.0 2 3 1\n1 2 2 3.0 0.0 2 3\n')
  with pytest.raises(cam_lib.CameraError, match=r'bad.txt:2: expected 8 columns'):
    cam_lib.load_pixel_table(p)
