"""The reversible transform and the per-sample noise."""
import numpy as np
import tensorflow as tf

from taiga_tf import noise
from taiga_tf.preprocessing import Preprocessing


def test_transform_round_trip_eager():
  prep = Preprocessing()
  pe = np.array([-15.0, -1.0, 0.0, 0.5, 10.0, 300.0, 8000.0], np.float32)
  x = prep.forward(pe)
  np.testing.assert_allclose(prep.inverse(x).numpy(), pe, rtol=1e-5, atol=1e-4)
  # linear near zero, logarithmic for bright pixels, within ~[-1, 1.2]
  np.testing.assert_allclose(x.numpy()[2], 0.0)
  assert x.numpy()[-1] < 1.3 and x.numpy()[0] > -1.0
  assert np.all(np.diff(x.numpy()) > 0)


def test_transform_inside_tf_data():
  prep = Preprocessing(scale=3.0, norm=6.5)
  imgs = np.random.default_rng(0).normal(50, 100, size=(8, 32, 32)).astype(np.float32)
  ds = tf.data.Dataset.from_tensor_slices(imgs).map(prep.forward).map(prep.inverse)
  back = np.stack(list(ds.as_numpy_iterator()))
  np.testing.assert_allclose(back, imgs, rtol=1e-4, atol=1e-3)
  assert Preprocessing.from_dict(prep.to_dict()) == prep


def test_noise_depends_only_on_seed_and_index():
  seed = tf.constant([7, 9], tf.int64)
  full = noise.per_sample_normal(seed, tf.range(100, dtype=tf.int64), 16).numpy()
  part = noise.per_sample_normal(seed, tf.range(40, 60, dtype=tf.int64), 16).numpy()
  np.testing.assert_array_equal(full[40:60], part)       # any batch split
  other = noise.per_sample_normal(tf.constant([7, 10], tf.int64), tf.range(100, dtype=tf.int64), 16)
  assert np.abs(full - other.numpy()).mean() > 0.5       # seeds differ
  assert len(np.unique(full[:, 0])) == 100               # indices differ


def test_noise_statistics():
  z = noise.per_sample_normal(tf.constant([1, 2], tf.int64), tf.range(20000, dtype=tf.int64), 32).numpy()
  assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
  c = np.corrcoef(z[:, :4].T)
  assert np.abs(c - np.eye(4)).max() < 0.03


def test_noise_with_and_without_xla():
  seed = tf.constant([3, 4], tf.int64)
  idx = tf.range(64, dtype=tf.int64)
  u0 = noise.per_sample_uniform(seed, idx, 8).numpy()
  u1 = tf.function(noise.per_sample_uniform, jit_compile=True)(seed, idx, 8).numpy()
  np.testing.assert_array_equal(u0, u1)                   # the integer stream is exact
  z0 = noise.per_sample_normal(seed, idx, 8).numpy()
  z1 = tf.function(noise.per_sample_normal, jit_compile=True)(seed, idx, 8).numpy()
  np.testing.assert_allclose(z0, z1, atol=1e-5)


def test_training_labels_with_and_without_particle(dummy_data_dir):
  from taiga_tf import data as data_lib
  from taiga_tf.preprocessing import Preprocessing
  spec = data_lib.open_dataset('taiga_iact/mc', str(dummy_data_dir))
  prep = Preprocessing()
  both = data_lib.load_columns(spec, 'train', None, condition_on_particle=True)
  gammas = data_lib.load_columns(spec, 'train', 'gamma')
  assert len(both['label']) == 52 and len(gammas['label']) == 28
  assert (both['label'] >= 100).sum() == 24 and gammas['label'].max() < 100
  batch = next(iter(data_lib.training_dataset(spec, prep, 8, 2, None, True)))
  assert batch['image'].shape == (8, 2, 32, 32, 1) and batch['label'].shape == (8, 2)
  np.testing.assert_allclose(prep.inverse(batch['image']).numpy().max() > 10, True)
