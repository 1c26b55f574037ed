"""Score network, its train step on 2 replicas, checkpoints, and the export."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from taiga_tf.detectors.taiga_iact.camera import builtin_camera
from taiga_tf.diffusion import edm
from taiga_tf.models import diffusion, unet

MASK = builtin_camera().mask
UCFG = unet.UNetConfig(num_classes=10, channels=8, channel_mult=(1, 2), num_res_blocks=1,
                       attn_resolutions=(16,), emb_dim=16)
CFG = diffusion.DiffusionConfig(UCFG, edm.EDMConfig.scaled(0.15), p_uncond=0.25, ema_decay=0.5)


def _model(batch=4, seed=(3, 4)):
  import keras
  m = diffusion.DiffusionModel(CFG, MASK, batch, seed=seed)
  m.build_all()
  m.compile(keras.optimizers.Adam(1e-3))
  return m


def test_unet_masked_class_and_noise_dependent():
  net = unet.UNet(UCFG, MASK)
  x = tf.random.normal([3, 32, 32, 1])
  c = tf.constant([0.1, 0.1, 0.1])
  net((x, c, tf.constant([0, 1, 10])))
  # output convs of the residual branches start at zero (as in EDM): perturb them
  for w in net.weights:
    if len(w.shape) > 1 and not np.any(w.numpy()):
      w.assign(tf.random.normal(w.shape) * 0.1)
  a = net((x, c, tf.constant([0, 1, 10]))).numpy()
  b = net((x, c, tf.constant([0, 2, 10]))).numpy()
  d = net((x, c * 5, tf.constant([0, 1, 10]))).numpy()
  assert a.shape == (3, 32, 32, 1)
  assert np.abs(a[:, ~MASK]).max() == 0.0
  np.testing.assert_allclose(a[0], b[0], atol=1e-6)               # same class, same output
  assert np.abs(a[1] - b[1]).max() > 1e-5                          # class changes it
  assert np.abs(a - d).max() > 1e-5                                # noise level changes it
  assert len(net.down_names) and len(net.up_names)


def test_denoiser_is_exact_when_the_network_is_ideal():
  """With F = the ideal target for Gaussian data, D reproduces the ideal denoiser:
  the preconditioning and masking are wired as the formulas say."""
  sd, mu = 0.15, 0.0
  cfg = edm.EDMConfig.scaled(sd)
  y = tf.random.normal([4, 32, 32, 1]) * sd
  sigma = tf.constant([0.01, 0.1, 1.0, 5.0])
  n = tf.random.normal(y.shape)
  x = y + sigma[:, None, None, None] * n

  def ideal_f(x_in, c_noise):   # F such that D = mu + sd^2/(sd^2+s^2) (x - mu)
    s = tf.exp(4.0 * c_noise)[:, None, None, None]
    c_skip, c_out, c_in, _ = edm.precond(s, sd)
    x_raw = x_in / c_in
    return (sd ** 2 / (sd ** 2 + s ** 2) * x_raw - c_skip * x_raw) / c_out

  d = edm.denoise(ideal_f, x, sigma, cfg)
  expect = (sd ** 2 / (sd ** 2 + sigma ** 2))[:, None, None, None] * x
  np.testing.assert_allclose(d.numpy(), expect.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_train_step_reduces_the_loss_and_reports_buckets():
  from taiga_tf import training
  m = _model(batch=8)
  step = training.make_step_fn(m, tf.distribute.get_strategy(), False)
  # one fixed image (for white Gaussian data of std sigma_data, F = 0 is already optimal)
  img = np.broadcast_to(0.3 * MASK[None, None, :, :, None], (8, 1, 32, 32, 1)).astype(np.float32)
  batch = {'image': img, 'label': np.zeros((8, 1), np.int32), 'pos': np.arange(8, dtype=np.int32)}
  losses = []
  for _ in range(30):
    out = step(batch)
    losses.append(float(out['loss']))
  assert np.isfinite(losses).all()
  assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses
  assert out['bucket_count'].numpy().sum() == 8
  assert int(m.step_counter.numpy()) == 30


DIST_SCRIPT = textwrap.dedent('''
    import json, numpy as np, tensorflow as tf
    from taiga_tf.training import configure_devices, make_strategy, make_step_fn
    configure_devices(2)
    import keras
    from taiga_tf.detectors.taiga_iact.camera import builtin_camera
    from taiga_tf.diffusion import edm
    from taiga_tf.models import diffusion, unet
    mask = builtin_camera().mask
    ucfg = unet.UNetConfig(num_classes=10, channels=8, channel_mult=(1, 2), num_res_blocks=1,
                           attn_resolutions=(16,), emb_dim=16)
    cfg = diffusion.DiffusionConfig(ucfg, edm.EDMConfig.scaled(0.15), p_uncond=0.25, ema_decay=0.5)
    B = 8
    def build(strategy, src=None):
      with strategy.scope():
        m = diffusion.DiffusionModel(cfg, mask, B, seed=(3, 4))
        m.build_all()
        if src is not None:
          m.net.set_weights(src.net.get_weights())
          m.net_ema.set_weights(src.net_ema.get_weights())
        m.compile(keras.optimizers.SGD(0.05))
      return m
    rng = np.random.default_rng(0)
    batch = {'image': (rng.normal(size=(B, 1, 32, 32, 1)) * 0.15).astype(np.float32),
             'label': rng.integers(0, 10, size=(B, 1)).astype(np.int32),
             'pos': np.arange(B, dtype=np.int32)}
    single_strategy = tf.distribute.get_strategy()
    single = build(single_strategy)
    fresh = [w.copy() for w in single.net.get_weights()]
    mirrored = make_strategy(2)
    multi = build(mirrored, single)
    ds = tf.data.Dataset.from_tensor_slices(batch).batch(B)
    out1 = make_step_fn(single, single_strategy, False)(next(iter(ds)))
    out2 = make_step_fn(multi, mirrored, False)(next(iter(mirrored.experimental_distribute_dataset(ds))))
    def maxdiff(a, b):
      return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
    pos = mirrored.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(np.arange(B, dtype=np.int32)).batch(B))
    multi.step_counter.assign(0)
    per_rep = mirrored.run(lambda p: multi._streams(p)[1], args=(next(iter(pos)),))
    local = [t.numpy() for t in mirrored.experimental_local_results(per_rep)]
    single.step_counter.assign(0)
    ref = single._streams(tf.range(B))[1].numpy()
    print(json.dumps({
        'replicas': mirrored.num_replicas_in_sync,
        'loss_diff': abs(float(out1['loss']) - float(out2['loss'])),
        'net_diff': maxdiff(single.net.get_weights(), multi.net.get_weights()),
        'ema_diff': maxdiff(single.net_ema.get_weights(), multi.net_ema.get_weights()),
        'moved': maxdiff(single.net.get_weights(), fresh),
        'replica_noise_diff': float(np.abs(local[0] - local[1]).mean()),
        'noise_vs_single': float(np.abs(np.concatenate(local) - ref).max()),
    }))
''')


@pytest.mark.slow
def test_two_replica_step_equals_single_device():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  out = subprocess.run([sys.executable, '-c', DIST_SCRIPT], capture_output=True, text=True,
                       env=env, timeout=600)
  assert out.returncode == 0, out.stderr[-4000:]
  r = json.loads(out.stdout.strip().splitlines()[-1])
  assert r['replicas'] == 2
  assert r['moved'] > 1e-3
  assert r['loss_diff'] < 1e-4
  assert r['net_diff'] < 1e-5 and r['ema_diff'] < 1e-5
  assert r['replica_noise_diff'] > 0.1       # each replica draws its own noise ...
  assert r['noise_vs_single'] == 0.0         # ... the very noise the single device draws


@pytest.mark.slow
def test_checkpoint_holds_every_variable(tmp_path):
  from taiga_tf import training
  m = _model()
  step = training.make_step_fn(m, tf.distribute.get_strategy(), False)
  step({'image': tf.random.normal([4, 1, 32, 32, 1]), 'label': tf.zeros([4, 1], tf.int32),
        'pos': tf.range(4)})
  path = training.checkpoint_manager(m, str(tmp_path)).save()
  names = [n for n, _ in tf.train.list_variables(path) if not n.startswith('_CHECKPOINTABLE')]
  n_model = len(m.net.weights) + len(m.net_ema.weights)
  assert len(names) >= n_model + len(m.optimizer_.variables) + 1, (len(names), n_model)
  m2 = _model()
  training.checkpoint_manager(m2, str(tmp_path)).checkpoint.restore(path).assert_consumed()
  for a, b in ((m.net, m2.net), (m.net_ema, m2.net_ema)):
    for x, y in zip(a.get_weights(), b.get_weights()):
      np.testing.assert_array_equal(x, y)
  assert int(m2.step_counter.numpy()) == 1


LOAD_SCRIPT = textwrap.dedent('''
    import json, sys
    sys.modules['keras'] = None          # plain TensorFlow only
    sys.modules['taiga_tf'] = None
    import numpy as np
    import tensorflow as tf
    m = tf.saved_model.load(sys.argv[1])
    seed = tf.constant([5, 6], tf.int64)
    y = tf.constant([3, 13, 3, 7, 7], tf.int32)
    a = m.generate(class_id=y, seed=seed)['image'].numpy()
    b = m.generate_indexed(class_id=y[2:4], seed=seed,
                           index=tf.constant([2, 3], tf.int64))['image'].numpy()
    meta = m.metadata()
    steps, g = meta['default_num_steps'], meta['default_guidance']
    c = m.sample_dpmpp_2m(class_id=y, seed=seed, index=tf.range(5, dtype=tf.int64),
                          num_steps=steps, guidance=g)['image'].numpy()
    d = m.sample_heun(class_id=y, seed=seed, index=tf.range(5, dtype=tf.int64),
                      num_steps=tf.constant(4), guidance=tf.constant(2.0))['image'].numpy()
    e = m.sample_euler_maruyama(class_id=y[:2], seed=seed, index=tf.range(2, dtype=tf.int64),
                                num_steps=tf.constant(5), guidance=tf.constant(1.0))['image'].numpy()
    mask = meta['mask'].numpy().astype(bool)
    errs = []
    for call in (lambda: m.generate(class_id=tf.constant([0, 100], tf.int32), seed=seed),
                 lambda: m.sample_heun(class_id=y, seed=seed, index=tf.range(5, dtype=tf.int64),
                                       num_steps=tf.constant(0), guidance=tf.constant(1.0))):
      try:
        call()
        errs.append('')
      except tf.errors.InvalidArgumentError as ex:
        errs.append(ex.message)
    print(json.dumps({
        'shape': list(a.shape), 'finite': bool(np.isfinite(a).all()),
        'outside': float(np.abs(a[:, ~mask]).max()),
        'indexed': float(np.abs(a[2:4] - b).max()),
        'default_is_dpm': float(np.abs(a - c).max()),
        'other_sampler': float(np.abs(a - d).mean()), 'em_finite': bool(np.isfinite(e).all()),
        'default_sampler': meta['default_sampler'].numpy().decode(), 'steps': int(steps),
        'errors': errs,
        'samplers': sorted(x.decode() for x in meta['samplers'].numpy()),
        'endpoints': sorted(n for n in dir(m) if n.startswith('sample')),
        'imported': sorted(k for k, v in sys.modules.items()
                           if v is not None and k.split('.')[0] in ('keras', 'taiga_tf')),
    }))
''')


@pytest.mark.slow
def test_export_loads_in_plain_tensorflow(diffusion_saved_model, tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONPATH='')
  out = subprocess.run([sys.executable, '-c', LOAD_SCRIPT, diffusion_saved_model],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
  assert out.returncode == 0, out.stderr[-4000:]
  r = json.loads(out.stdout.strip().splitlines()[-1])
  assert r['imported'] == []
  assert r['shape'] == [5, 32, 32] and r['finite'] and r['em_finite']
  assert r['outside'] == 0.0
  assert r['indexed'] < 1e-4            # sample i depends on (seed, i), not on the batch
  assert r['default_sampler'] == 'dpmpp_2m' and r['steps'] == 3
  assert r['default_is_dpm'] < 1e-4     # generate == sample_<default>(default steps)
  assert r['other_sampler'] > 0
  assert 'class_id must be in [0, 100)' in r['errors'][0]
  assert 'num_steps must be in [1, ' in r['errors'][1]
  assert r['endpoints'] == ['sample_' + n for n in r['samplers']]     # one endpoint per sampler


@pytest.mark.slow
def test_particle_conditioned_model_generates_gammas_and_protons(dummy_data_dir, tmp_path):
  """--condition_on_particle: one score model, 200 labels (gamma classes, then proton
  classes, then the dropped label 200); the MC-frequency plan writes both particles."""
  import tensorflow_datasets as tfds
  from taiga_tf import generation, training
  cfg = training.TrainConfig(workdir=str(tmp_path / 'w'), data_dir=str(dummy_data_dir),
                             dataset='taiga_iact/mc', model='diffusion', condition_on_particle=True,
                             steps=2, batch_size=8, channels=8, channel_mult='1,2',
                             num_res_blocks=1, attn_resolutions='16', emb_dim=16, log_every=1,
                             eval_every=0, ckpt_every=2, sampler='dpmpp_2m', num_steps=2)
  path = training.train(cfg, log=lambda *a: None)['saved_model']
  m = tf.saved_model.load(path)
  assert int(m.metadata()['num_classes']) == 200 and int(m.metadata()['null_class']) == 200
  out = tmp_path / 'gen'
  generation.generate(generation.GenerateConfig(model=path, output_dir=str(out),
                                                data_dir=str(dummy_data_dir), plan='imbalanced',
                                                num_examples=24, seed=1, jit_compile='false'),
                      log=lambda *a: None)
  rows = list(tfds.as_numpy(tfds.builder_from_directory(str(out)).as_dataset(split='train')))
  particles = {int(r['particle']) for r in rows}
  assert particles == {0, 1}, particles
  for r in rows:
    assert r['model_label'] == r['class_id'] + 100 * r['particle']


def test_sigma_data_is_the_root_mean_square_of_the_data(monkeypatch):
  """EDM's sigma_data^2 = E[y^2]: data far from zero (an empty LArTPC background at -1) get
  their RMS, not their std."""
  from taiga_tf import data as data_lib
  from taiga_tf import model_kinds, training
  imgs = np.full((4, 2, 2), -1.0, np.float32)
  imgs[0, 0, 0] = 1.0
  monkeypatch.setattr(data_lib, 'load_columns', lambda *a, **k: {'image': imgs})
  spec = type('Spec', (), {'detector': type('Det', (), {'mask': np.ones((2, 2), bool)})})
  prep = type('Prep', (), {'forward': staticmethod(tf.constant)})
  cfg = training.TrainConfig(workdir='', data_dir='', model='diffusion', particle='all')
  state = model_kinds.DiffusionKind.prepare(cfg, spec, prep, lambda *a: None)
  assert state['sigma_data'] == pytest.approx(1.0)          # the RMS; the std would be 0.48
