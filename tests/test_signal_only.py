"""Signal-only models (--signal_only): the NSB the chain adds is added at sampling time."""
import numpy as np
import pytest
import tensorflow as tf

from taiga_tf import noise
from taiga_tf.detectors.taiga_iact.camera import builtin_camera
from taiga_tf.preprocessing import Preprocessing

CAM = builtin_camera()
MASK = CAM.mask.astype(np.float32)
SEED = tf.constant([5, 6], tf.int64)


def test_nsb_is_gaussian_on_the_camera_and_a_stream_of_its_own():
  idx = tf.range(400, dtype=tf.int64)
  zeros = tf.zeros([400, 32, 32])
  nsb = noise.add_nsb(zeros, SEED, idx, 4.0, MASK).numpy()
  on = nsb[:, CAM.mask]
  assert np.all(nsb[:, ~CAM.mask] == 0)
  assert abs(on.std() - 4.0) < 0.02 and abs(on.mean()) < 0.02      # 224,000 values
  # sample j depends on (seed, index j) only
  part = noise.add_nsb(zeros[:10], SEED, idx[100:110], 4.0, MASK).numpy()
  np.testing.assert_array_equal(part, nsb[100:110])
  # not the noise of any sampler step (streams 0..) nor the cGAN latent
  for k in (0, 1, 17):
    step = noise.per_sample_image_noise(SEED, idx, [32, 32], MASK)(k).numpy()[:, CAM.mask]
    assert abs(np.corrcoef(step.ravel(), on.ravel())[0, 1]) < 0.01
  # sigma 0: the input unchanged (a model of the full image)
  assert noise.add_nsb(zeros, SEED, idx, 0.0, MASK) is zeros


def test_both_models_add_exactly_the_nsb_stream():
  from taiga_tf import savedmodel
  from taiga_tf.diffusion import edm, sampling
  from taiga_tf.models import cgan, unet
  prep = Preprocessing()
  y = tf.constant([0, 3, 7, 9], tf.int32)
  idx = tf.constant([0, 1, 2, 1000], tf.int64)
  expected = noise.add_nsb(tf.zeros([4, 32, 32]), SEED, idx, 3.5, MASK)
  g = cgan.Generator(cgan.CGANConfig(num_classes=10, z_dim=8, embed_dim=8, g_channels=4,
                                     d_channels=4), CAM.mask)
  a = savedmodel.sample_pe(g, prep, MASK, 8, y, SEED, idx, nsb_sigma=3.5)
  b = savedmodel.sample_pe(g, prep, MASK, 8, y, SEED, idx)
  # float32 rounding of (signal + nsb) - signal, the untrained signal reaching 1e4 pe
  np.testing.assert_allclose(a - b, expected, atol=1e-6 * float(tf.reduce_max(tf.abs(b))) + 1e-5)
  net = unet.UNet(unet.UNetConfig(num_classes=10, channels=8, channel_mult=(1, 2),
                                  num_res_blocks=1, attn_resolutions=(16,), emb_dim=16), CAM.mask)
  cfg = edm.EDMConfig()
  a = sampling.sample_pe(net, prep, MASK, cfg, y, SEED, idx, 'dpmpp_2m', 2, nsb_sigma=3.5)
  b = sampling.sample_pe(net, prep, MASK, cfg, y, SEED, idx, 'dpmpp_2m', 2)
  np.testing.assert_allclose(a - b, expected, atol=1e-6 * float(tf.reduce_max(tf.abs(b))) + 1e-5)


@pytest.mark.slow
@pytest.mark.parametrize('model', ['cgan', 'diffusion'])
def test_signal_only_training_measures_nsb_and_exports_it(model, dummy_data_dir, tmp_path):
  """Trained on image_signal; the export adds NSB of the measured sigma (the dummy
  gammas' NSB is the MC's 4 pe; that the NSB is added exactly is the test above)
  and says so in metadata()."""
  import json
  from taiga_tf import training
  small = dict(g_channels=4, d_channels=4, z_dim=8, embed_dim=8) if model == 'cgan' else dict(
      channels=8, channel_mult='1,2', num_res_blocks=1, attn_resolutions='16', emb_dim=16,
      sampler='dpmpp_2m', num_steps=2)
  cfg = training.TrainConfig(workdir=str(tmp_path / 'w'), data_dir=str(dummy_data_dir),
                             dataset='taiga_iact/mc', model=model, steps=2, batch_size=8,
                             log_every=1, eval_every=0, ckpt_every=2, signal_only=True, **small)
  logs = []
  out = training.train(cfg, log=logs.append)
  state = json.load(open(tmp_path / 'w' / 'config.json'))['state']
  assert abs(state['nsb_sigma'] - 4.0) < 0.15, state
  assert any('signal only' in line for line in logs)
  if model == 'diffusion':    # sigma_data measured on the signal images, not the NSB
    assert state['sigma_data'] < 0.3
  m = tf.saved_model.load(out['saved_model'])
  meta = m.metadata()
  assert bool(meta['signal_only']) and abs(float(meta['nsb_sigma']) - state['nsb_sigma']) < 1e-6
  img = m.generate(class_id=tf.constant([5] * 32, tf.int32), seed=SEED)['image'].numpy()
  assert np.all(img[:, ~CAM.mask] == 0) and np.all(np.isfinite(img))


def test_signal_only_needs_signal_images(dummy_data_dir, tmp_path):
  """The dummy protons come from a _cb4 file without its _c file."""
  from taiga_tf import training
  cfg = training.TrainConfig(workdir=str(tmp_path / 'w'), data_dir=str(dummy_data_dir),
                             dataset='taiga_iact/mc', particle='proton', steps=1, batch_size=8,
                             g_channels=4, d_channels=4, z_dim=8, embed_dim=8, eval_every=0,
                             signal_only=True)
  with pytest.raises(ValueError, match=r'only 0 of the 24 proton examples .* signal-only image'):
    training.train(cfg, log=lambda *a: None)


def test_signal_only_cgan_output_is_non_negative_with_exact_zeros():
  """The signal has ~97 % exact zeros: the signal-only generator's output passes a ReLU."""
  from taiga_tf import savedmodel
  from taiga_tf.models import cgan
  kw = dict(num_classes=10, z_dim=8, embed_dim=8, g_channels=4, d_channels=4)
  y = tf.constant([0, 3, 7, 9], tf.int32)
  idx = tf.constant([0, 1, 2, 3], tf.int64)
  prep = Preprocessing()
  for nonneg in (False, True):
    g = cgan.Generator(cgan.CGANConfig(nonneg_output=nonneg, **kw), CAM.mask)
    pe = savedmodel.sample_pe(g, prep, MASK, 8, y, SEED, idx).numpy()[:, CAM.mask]
    if nonneg:
      assert pe.min() >= 0 and (pe == 0).mean() > 0.2
    else:
      assert pe.min() < 0 and (pe == 0).mean() < 0.05
