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


@pytest.fixture(params=['cgan', pytest.param('diffusion', marks=pytest.mark.slow)])
def export_path(request):
  # only the export the case needs: the score model's session fixture trains and exports
  return request.getfixturevalue('smoke_saved_model' if request.param == 'cgan'
                                 else 'diffusion_saved_model')


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


def _diffusion(path):
  m, _ = _endpoints(path)
  return m


@pytest.mark.parametrize('name', ['heun', 'pc'])
@pytest.mark.parametrize('steps,guidance,pattern', [
    (0, 1.0, r'num_steps must be in \[1, 10000\]'),
    (10_001, 1.0, r'num_steps must be in \[1, 10000\]'),
    (2 ** 31 - 1, 1.0, r'num_steps must be in \[1, 10000\]'),
    (2, float('nan'), r'guidance must be a finite number in \[0, 100\]'),
    (2, float('inf'), r'guidance must be a finite number in \[0, 100\]'),
    (2, -float('inf'), r'guidance must be a finite number in \[0, 100\]'),
    (2, -0.5, r'guidance must be a finite number in \[0, 100\]'),
    (2, 101.0, r'guidance must be a finite number in \[0, 100\]'),
])
@pytest.mark.slow
def test_sampler_settings_out_of_bounds_are_errors(diffusion_saved_model, name, steps, guidance,
                                                   pattern):
  """Checked before the network runs, also for an empty class_id (then nothing would run)."""
  fn = getattr(_diffusion(diffusion_saved_model), f'sample_{name}')
  for n in (2, 0):
    with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
      fn(class_id=tf.fill([n], 3), seed=SEED, index=tf.range(n, dtype=tf.int64),
         num_steps=tf.constant(steps), guidance=tf.constant(guidance))


@pytest.mark.slow
def test_few_steps_give_finite_images_or_say_they_diverge(diffusion_saved_model):
  """The predictor-corrector gave NaN below 20 steps (its Langevin step went negative):
  now finite at 10 and 19. Fewer steps of this untrained network overflow the inverse
  transform for some samplers (Heun at 2, Euler-Maruyama at 3): an error, never NaN images."""
  m = _diffusion(diffusion_saved_model)
  y, i = tf.constant([3, 40], tf.int32), tf.constant([0, 1], tf.int64)
  call = lambda name, steps: getattr(m, f'sample_{name}')(
      class_id=y, seed=SEED, index=i, num_steps=tf.constant(steps), guidance=tf.constant(1.0))
  for steps in (10, 19):
    assert np.all(np.isfinite(call('pc', steps)['image'].numpy())), steps
  for name in [n.decode() for n in m.metadata()['samplers'].numpy()]:
    for steps in (1, 2, 3):
      try:
        out = call(name, steps)['image'].numpy()
      except tf.errors.InvalidArgumentError as e:
        assert 'the sampled images are not finite' in e.message, (name, steps, e.message[:300])
        continue
      assert np.all(np.isfinite(out)), (name, steps)


def test_non_finite_images_are_an_error_not_an_output(tmp_path):
  """Whatever produces them (a diverged network, extreme settings), an endpoint never
  returns NaN or inf images."""
  import types  # pylint: disable=g-import-not-at-top
  from taiga_tf import savedmodel  # pylint: disable=g-import-not-at-top

  class Broken(savedmodel._ExportModule):  # pylint: disable=protected-access
    def _images(self, class_id, seed, index):
      del seed, index
      return tf.fill([tf.size(class_id), 4, 4], np.float32(np.nan))

  det = types.SimpleNamespace(mask=np.ones((4, 4), bool), flat_index=np.arange(16, dtype=np.int32),
                              image_size=4)
  asset = tmp_path / 'model.json.src'
  asset.write_text('{}')
  m = Broken(types.SimpleNamespace(weights=[]), det, 5, {}, str(asset))
  with pytest.raises(tf.errors.InvalidArgumentError, match='the sampled images are not finite'):
    m.generate(class_id=tf.constant([1, 2], tf.int32), seed=SEED)
  assert m.generate(class_id=tf.zeros([0], tf.int32), seed=SEED)['image'].shape == (0, 4, 4)
