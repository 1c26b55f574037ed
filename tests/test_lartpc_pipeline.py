"""The generic pipeline on the second detector: train (cGAN and score model) on a lartpc
dataset built from dummy_data, export, load with plain TensorFlow, generate a dataset.

Nothing here is LArTPC code: the pipeline asks the dataset's Detector (lartpc) for the
image shape, transform, classes and drawing."""
import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from builder_utils import DATASETS_DIR, load_builder_module
from taiga_tf import evaluation, generation, training


@pytest.fixture(scope='module')
def lartpc_data_dir(tmp_path_factory):
  d = tmp_path_factory.mktemp('lartpc_tfds')
  b = load_builder_module('lartpc').Builder(config='larcv3', data_dir=d)
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(DATASETS_DIR / 'lartpc' / 'dummy_data')))
  return d


def _train(data_dir, workdir, **kw):
  args = dict(dataset='lartpc/larcv3', particle='all', steps=4, batch_size=4, log_every=2,
              eval_every=4, eval_examples=8, ckpt_every=4)
  cfg = training.TrainConfig(workdir=os.fspath(workdir), data_dir=os.fspath(data_dir),
                             **{**args, **kw})
  logs = []
  summary = training.train(cfg, log=logs.append)
  return summary, logs


@pytest.mark.slow
@pytest.mark.parametrize('model', ['cgan', 'diffusion'])
def test_train_export_generate_on_lartpc(lartpc_data_dir, tmp_path, model):
  kw = (dict(g_channels=4, d_channels=4, z_dim=8, embed_dim=8) if model == 'cgan' else
        dict(model='diffusion', channels=8, channel_mult='1,2', num_res_blocks=1,
             attn_resolutions='', emb_dim=16, sampler='dpmpp_2m', num_steps=3))
  summary, logs = _train(lartpc_data_dir, tmp_path / 'run', **kw)
  assert any('lartpc/larcv3' in line and '2 classes' in line for line in logs)
  assert any('median total_charge rel. error per class' in line for line in logs)
  info = json.load(open(tmp_path / 'run' / 'config.json'))
  assert info['detector'] == 'lartpc' and info['crop'] == 64
  assert info['preprocessing']['kind'] == 'linear'

  m = tf.saved_model.load(summary['saved_model'])           # plain TensorFlow
  meta = {k: v.numpy() for k, v in m.metadata().items()}
  assert meta['detector'] == b'lartpc' and int(meta['square_size']) == 64
  assert meta['mask'].all() and list(meta['class_names']) == [b'track', b'shower']
  out = m.generate(class_id=tf.constant([0, 1, 1], tf.int32), seed=tf.constant([3, 4], tf.int64))
  img = out['image'].numpy()
  assert img.shape == (3, 64, 64) and out['pixels'].shape == (3, 64 * 64)
  # the reference's scale and post-processing: 0-255, nothing left in (0, 4]
  assert img.min() >= 0 and img.max() <= 255 and not ((img > 0) & (img <= 4)).any()
  with pytest.raises(tf.errors.InvalidArgumentError, match='class_id must be in'):
    m.generate(class_id=tf.constant([2], tf.int32), seed=tf.constant([3, 4], tf.int64))

  res = generation.generate(generation.GenerateConfig(
      model=summary['saved_model'], output_dir=os.fspath(tmp_path / 'gen'), plan='balanced',
      num_examples=10, seed=1, batch_size=4, data_dir=os.fspath(lartpc_data_dir)),
      log=lambda *a: None)
  assert res['num_examples'] == 10
  b = tfds.builder_from_directory(os.fspath(tmp_path / 'gen'))
  assert b.info.name == 'lartpc_generated' and b.info.metadata['detector'] == 'lartpc'
  exs = list(tfds.as_numpy(b.as_dataset(split='train')))
  assert sorted(np.bincount([e['class_id'] for e in exs]).tolist()) == [5, 5]   # balanced
  assert {int(e['particle']) for e in exs} == {5}                            # 'unknown'
  assert all(e['image'].shape == (64, 64) for e in exs)

  if model == 'cgan':
    # --weights=online exports the network's own weights: other images than the EMA's
    ema_img = img
    training.export_workdir(os.fspath(tmp_path / 'run'), 'online')
    m2 = tf.saved_model.load(summary['saved_model'])
    img2 = m2.generate(class_id=tf.constant([0, 1, 1], tf.int32),
                       seed=tf.constant([3, 4], tf.int64))['image'].numpy()
    assert not np.array_equal(img2, ema_img)
    assert json.loads(m2.metadata()['model_json'].numpy())['exported_weights'] == 'online'
    with pytest.raises(ValueError, match="weights must be 'ema' or 'online'"):
      training.export_workdir(os.fspath(tmp_path / 'run'), 'best')
    return
  # the LArTPC report on it (dummy_data's test split has 3 crops: compare with the train
  # split here, which the app itself refuses; the numbers are not the point)
  cfg = evaluation.EvalConfig(
      generated=os.fspath(tmp_path / 'gen'), reference='lartpc/larcv3',
      data_dir=os.fspath(lartpc_data_dir), output_dir=os.fspath(tmp_path / 'eval'), mc_split='train',
      max_examples=40, max_train=40, epochs=1, n_boot=10, n_mc_splits=2, allow_training_split=True)
  rep = evaluation.evaluate(cfg, log=lambda *a: None)
  assert rep['mc_split_may_be_training']        # the API-only escape is written into the report
  assert set(rep['classes']) == {'track', 'shower'}
  for c, r in rep['classes'].items():
    m = r['measures']
    for name in ('ssnet_fid', 'mmd', 'w1_pixel_intensity', 'nn_memorised_fraction',
                 'two_sample_auc_image'):
      assert np.isfinite(m[name]['value']), (c, name)
    assert 'mc_mc' in m['ssnet_fid'] and 'null_interval' in m['two_sample_auc_image']
    # a handful of images: the two-sample CNN is barely trained, and the report says so
    assert 'no pass/fail reading' in m['two_sample_auc_image']['warning']
  assert 'w1_track_length' in rep['classes']['track']['measures']
  assert 'w1_log10_total_charge' in rep['classes']['shower']['measures']
  stored = json.load(open(tmp_path / 'eval' / 'report.json'))
  assert stored['detector'] == 'lartpc' and stored['classes'].keys() == rep['classes'].keys()
  for c in ('track', 'shower'):
    assert (tmp_path / 'eval' / c / 'images_ssnet.png').stat().st_size > 1000
  assert list((tmp_path / 'eval' / 'tensorboard').glob('events.out.tfevents.*'))
  assert 'SSNet' in evaluation.summary_table(rep)
  assert 'without early stopping' in evaluation.summary_table(rep)
  assert rep['calibration'] is None                  # not calibrated yet: no evidence marks
  assert all(v['evidence'] is None for v in rep['classes']['track']['measures'].values())

  # calibration: the measures on wrong sets made from held-out MC (validation + test here)
  cal_cfg = dataclasses.replace(cfg, calibration_split='validation+test',
                                output_dir=os.fspath(tmp_path / 'cal'),
                                classifier_dir=os.fspath(tmp_path / 'eval' / 'classifiers'))
  with pytest.raises(ValueError, match='is not a LArTPC class'):
    evaluation.calibrate(dataclasses.replace(cal_cfg, calibration_particles=('muon',)))
  cal = evaluation.calibrate(cal_cfg, log=lambda *a: None)
  from taiga_tf.evaluation.lartpc.wrong_sets import WRONG_SETS
  for c in ('track', 'shower'):
    assert list(cal['measures'][c]) == list(WRONG_SETS)
    assert set(cal['detections'][c]) == set(cal['measures'][c]['mc'])
  assert (tmp_path / 'cal' / 'calibration.md').read_text().count('| ssnet_fid |') == 2
  assert all(os.path.getsize(p) > 1000 for p in cal['plots'])
  assert (tmp_path / 'eval' / 'classifiers' / 'calibration.json').exists()
  rep = evaluation.evaluate(cfg, log=lambda *a: None)     # now marked by the calibration
  assert rep['calibration']['required_by_measure'] == {'nn_memorised_fraction': ['memorised']}
  assert all(v['evidence'] in (True, False) for v in rep['classes']['track']['measures'].values())


def test_unknown_particle_is_named(lartpc_data_dir, tmp_path):
  with pytest.raises(ValueError, match='lartpc/larcv3/1.0.0 has muon, pion, proton'):
    _train(lartpc_data_dir, tmp_path / 'run', particle='gamma')
