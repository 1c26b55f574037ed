"""Hostile inputs to the exported endpoints (cGAN and diffusion): clear errors, no aliasing."""
import numpy as np
import pytest
import tensorflow as tf

SEED = tf.constant([5, 6], tf.int64)


_LOADED = {}    # one load per export: a restored score model's graphs take ~1 GB


def _endpoints(path):
  if path not in _LOADED:
    _LOADED[path] = tf.saved_model.load(path)
  m = _LOADED[path]
  calls = {'generate_indexed': lambda y, i: m.generate_indexed(class_id=y, seed=SEED, index=i)}
  if hasattr(m, 'sample_heun'):
    two, one = tf.constant(2), tf.constant(1.0)
    calls['sample_heun'] = lambda y, i: m.sample_heun(class_id=y, seed=SEED, index=i,
                                                      num_steps=two, guidance=one)
    calls['sample_dpmpp_2m'] = lambda y, i: m.sample_dpmpp_2m(class_id=y, seed=SEED, index=i,
                                                              num_steps=two, guidance=one)
  return m, calls


@pytest.fixture(params=['cgan', 'diffusion'])
def export_path(request, smoke_saved_model, diffusion_saved_model):
  return smoke_saved_model if request.param == 'cgan' else diffusion_saved_model


def test_empty_class_id_gives_empty_outputs(export_path):
  m, calls = _endpoints(export_path)
  out = m.generate(class_id=tf.zeros([0], tf.int32), seed=SEED)
  assert out['image'].shape == (0, 32, 32) and out['pixels'].shape[0] == 0
  for fn in calls.values():
    out = fn(tf.zeros([0], tf.int32), tf.zeros([0], tf.int64))
    assert out['image'].shape == (0, 32, 32)


@pytest.mark.parametrize('index', [-1, 2 ** 32, 2 ** 63 - 1, -(2 ** 63)])
def test_index_outside_the_noise_space_is_an_error(export_path, index):
  """The per-sample noise hashes 32 bits of the index: beyond [0, 2^32) it would alias."""
  _, calls = _endpoints(export_path)
  for fn in calls.values():
    with pytest.raises(tf.errors.InvalidArgumentError, match=r'index must be in \[0, 2\^32\)'):
      fn(tf.constant([3, 3], tf.int32), tf.constant([0, index], tf.int64))


def test_largest_index_is_its_own_sample(export_path):
  _, calls = _endpoints(export_path)
  fn = calls['generate_indexed']
  y = tf.constant([3, 3, 3], tf.int32)
  img = fn(y, tf.constant([0, 2 ** 32 - 1, 1], tf.int64))['image'].numpy()
  assert np.abs(img[0] - img[1]).max() > 0 and np.abs(img[1] - img[2]).max() > 0


def test_class_id_and_index_lengths_must_match(export_path):
  _, calls = _endpoints(export_path)
  for fn in calls.values():
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match='class_id and index must have the same length'):
      fn(tf.constant([1, 2, 3], tf.int32), tf.constant([0, 1], tf.int64))
