"""taiga_tf.detectors.taiga_iact.hillas against ctapipe's tailcuts_clean and hillas_parameters (test-only dependency)."""
import numpy as np
import pytest

from taiga_tf.detectors.taiga_iact import hillas
from taiga_tf.detectors.taiga_iact.camera import DEG_PER_CM, builtin_camera
from taiga_tf.detectors.taiga_iact.mc import simulate

ctapipe = pytest.importorskip('ctapipe')
u = pytest.importorskip('astropy.units')
from ctapipe.image import hillas_parameters, tailcuts_clean  # noqa: E402
from ctapipe.instrument import CameraGeometry  # noqa: E402

CAM = builtin_camera()


@pytest.fixture(scope='module')
def geometry():
  return CameraGeometry(
      name='taiga_builtin', pix_id=np.arange(CAM.n_pixels), pix_x=CAM.x / 100 * u.m,
      pix_y=CAM.y / 100 * u.m, pix_area=np.full(CAM.n_pixels, 3 ** 0.5 / 2 * 0.03 ** 2) * u.m ** 2,
      pix_type='hexagon', pix_rotation=30 * u.deg, cam_rotation=0 * u.deg)


@pytest.fixture(scope='module')
def images():
  evs = []
  for p in ('gamma', 'proton'):
    evs += list(simulate.generate(simulate.MCConfig(particle=p, core_radius_m=300), 60, seed=21,
                                  camera=CAM))
  return np.array([e.amplitudes for e in evs])


def test_neighbours_agree(geometry):
  nb = geometry.neighbor_matrix
  ours = np.zeros_like(nb)
  pairs = CAM.neighbors
  ours[pairs[:, 0], pairs[:, 1]] = ours[pairs[:, 1], pairs[:, 0]] = True
  np.testing.assert_array_equal(ours, nb)


def test_cleaning_and_hillas_match_ctapipe(geometry, images):
  masks = hillas.tailcuts_clean(CAM, images, 14.0, 7.0)
  ours = hillas.hillas_parameters(CAM, images, masks)
  compared = 0
  for i, img in enumerate(images):
    ref_mask = tailcuts_clean(geometry, img, picture_thresh=14.0, boundary_thresh=7.0,
                              keep_isolated_pixels=False, min_number_picture_neighbors=0)
    np.testing.assert_array_equal(masks[i], ref_mask)
    if ref_mask.sum() < 3:
      continue
    h = hillas_parameters(geometry[ref_mask], img[ref_mask])
    cm = DEG_PER_CM * 100          # degrees per metre in the focal plane
    assert ours['size'][i] == pytest.approx(h.intensity, rel=1e-6)
    assert ours['cog_x'][i] == pytest.approx(h.x.to_value(u.m) * cm, abs=1e-6)
    assert ours['cog_y'][i] == pytest.approx(h.y.to_value(u.m) * cm, abs=1e-6)
    assert ours['length'][i] == pytest.approx(h.length.to_value(u.m) * cm, rel=1e-5)
    assert ours['width'][i] == pytest.approx(h.width.to_value(u.m) * cm, rel=1e-4, abs=1e-7)
    if ours['length'][i] > 1.05 * ours['width'][i]:   # psi is undefined for round images
      assert ours['psi'][i] == pytest.approx(h.psi.to_value(u.deg), abs=1e-3)
      assert ours['skewness'][i] == pytest.approx(h.skewness, rel=1e-4, abs=1e-6)
    assert ours['kurtosis'][i] == pytest.approx(h.kurtosis, rel=1e-4)
    # dist from the camera centre (source at the centre) is ctapipe's r
    assert ours['dist'][i] == pytest.approx(h.r.to_value(u.m) * cm, rel=1e-6)
    compared += 1
  assert compared > 80


def test_leakage_and_concentration_match_ctapipe(geometry, images):
  from ctapipe.image import concentration_parameters, leakage_parameters
  from taiga_tf.detectors.taiga_iact import image_features
  masks = hillas.tailcuts_clean(CAM, images, 14.0, 7.0)
  ours_h = hillas.hillas_parameters(CAM, images, masks)
  ours = image_features.image_features(CAM, images, masks, ours_h)
  ring1, ring2 = image_features.border_masks(CAM)
  np.testing.assert_array_equal(ring1, geometry.get_border_pixel_mask(1))
  np.testing.assert_array_equal(ring2, geometry.get_border_pixel_mask(2))
  compared = leaking = 0
  for i, img in enumerate(images):
    m = masks[i]
    if m.sum() < 3:
      assert m.sum() > 0 or np.isnan(ours['conc_cog'][i])
      continue
    lk = leakage_parameters(geometry, img, m)
    for k in (1, 2):
      assert ours[f'leakage_pixels_{k}'][i] == pytest.approx(lk[f'pixels_width_{k}'], abs=1e-12)
      assert ours[f'leakage_intensity_{k}'][i] == pytest.approx(lk[f'intensity_width_{k}'], rel=1e-9)
    leaking += lk['intensity_width_2'] > 0
    h = hillas_parameters(geometry[m], img[m])
    c = concentration_parameters(geometry[m], img[m], h)
    assert ours['conc_cog'][i] == pytest.approx(c.cog, rel=1e-6)
    assert ours['conc_core'][i] == pytest.approx(c.core, rel=1e-6, abs=1e-9)
    assert ours['conc_pixel'][i] == pytest.approx(c.pixel, rel=1e-9)
    compared += 1
  assert compared > 80 and leaking > 0     # some images reach the camera edge
