"""The Detector interface: chosen by metadata, round trips, geometry, classes, plans."""
import json

import numpy as np
import pytest

from taiga_tf import detectors, plans
from taiga_tf import preprocessing as prep_lib
from taiga_tf.detectors.lartpc.detector import LArTPC
from taiga_tf.detectors.taiga_iact.camera import builtin_camera
from taiga_tf.detectors.taiga_iact.detector import TaigaIACT

CLEAN = {'picture_pe': 14.0, 'boundary_pe': 7.0, 'brightest_island': True}


def taiga():
  return TaigaIACT(builtin_camera(), np.logspace(0, 2, 11), np.arange(0, 550, 50), 10, 10, CLEAN)


@pytest.mark.parametrize('det', [taiga(), LArTPC()], ids=['taiga_iact', 'lartpc'])
def test_metadata_round_trip_through_json(det):
  meta = json.loads(json.dumps(det.metadata()))
  assert meta['detector'] == det.name
  back = detectors.from_metadata(meta)
  assert type(back) is type(det)
  assert back.metadata() == det.metadata()
  np.testing.assert_array_equal(back.mask, det.mask)
  assert back.n_classes == det.n_classes and back.image_size == det.image_size
  p = det.preprocessing()
  assert prep_lib.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_metadata_without_a_detector_name_is_taiga_iact():
  meta = taiga().metadata()
  del meta['detector']          # datasets and models written before detectors had names
  assert isinstance(detectors.from_metadata(meta), TaigaIACT)


@pytest.mark.parametrize('name', ['no_such_detector', '../etc', 'Taiga', 7])
def test_unknown_or_bad_detector_name_is_a_clear_error(name):
  with pytest.raises(ValueError, match='detector'):
    detectors.from_metadata({'detector': name})


def test_taiga_metadata_missing_keys_named():
  with pytest.raises(ValueError, match='energy_edges_tev'):
    detectors.from_metadata({'detector': 'taiga_iact', 'camera': builtin_camera().to_dict()})


def test_taiga_geometry_classes_and_groups():
  d = taiga()
  assert d.image_size == 32 and d.mask.sum() == 560 and d.n_classes == 100
  # the camera's pixel order (pixel ids), each real pixel once
  assert d.mask.ravel()[d.flat_index].all() and len(set(d.flat_index.tolist())) == 560
  img = d.camera.to_square(np.arange(560, dtype=np.float32))
  np.testing.assert_array_equal(d.to_vector(img), np.arange(560))
  np.testing.assert_array_equal(d.condition_group([0, 9, 10, 57, 99]), [0, 0, 1, 5, 9])
  assert d.generated_columns(57) == {'energy_bin': 5, 'distance_bin': 7}
  assert 'TeV' in d.class_name(57)
  # the report's features: Hillas size of a bright blob is its sum; empty images give NaN
  img = np.zeros((2, 32, 32), np.float32)
  c = d.camera
  centre = np.argsort(c.x ** 2 + c.y ** 2)[:7]
  vec = np.zeros(560, np.float32)
  vec[centre] = 100.0
  img[0] = c.to_square(vec)
  f = d.report_features(img)
  assert f.shape == (2, len(d.report_feature_names))
  assert f[0, 0] == pytest.approx(np.log10(1 + 700.0))
  np.testing.assert_allclose(d.summary_feature(img), [700.0, 0.0])


def test_lartpc_geometry_transform_and_classes():
  d = LArTPC()
  assert d.image_size == 64 and d.mask.all() and d.n_classes == 2 and d.n_groups == 2
  assert [d.class_name(i) for i in range(2)] == ['track', 'shower']
  p = d.preprocessing()
  v = np.array([0, 3, 4, 5, 128, 255], np.uint8)
  x = p.forward(v).numpy()
  np.testing.assert_allclose(x[[0, -1]], [-1.0, 1.0])
  # the reference's post-processing: at or below 4 on the 0-255 scale is 0
  np.testing.assert_allclose(p.inverse(x).numpy(), [0, 0, 0, 5, 128, 255], atol=1e-4)
  np.testing.assert_allclose(p.inverse(np.array([-3.0, 3.0])).numpy(), [0, 255])   # clipped
  imgs = np.zeros((3, 64, 64), np.float32)
  imgs[1, 10, 10:20] = 20.0
  np.testing.assert_allclose(d.summary_feature(imgs), [0, 200, 0])


def test_balanced_plan_over_lartpc_classes():
  d = LArTPC()
  out = plans.balanced([900, 100], 1001, d.condition_group(np.arange(d.n_classes)))
  assert out.sum() == 1001 and abs(int(out[0]) - int(out[1])) <= 1
  # the grid groups reproduce the TAIGA-IACT energy bins
  np.testing.assert_array_equal(plans.grid_groups(10, 10), taiga().condition_group(np.arange(100)))


def test_grid_figure_draws_both_detectors(tmp_path):
  from taiga_tf import plotting
  for d in (taiga(), LArTPC()):
    img = np.zeros((d.image_size, d.image_size), np.float32)
    img[d.mask] = 1.0
    png = plotting.figure_to_png(d.grid_figure([[img, None], [img, img]], ['a', 'b'], ['MC', 'gen']))
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
