"""The evaluate app end to end on the dummy dataset and smoke models: calibration, report, reuse."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from taiga_tf import generation

MEASURES = {'two_sample_auc_image', 'two_sample_auc_features', 'pass_diff_0.5', 'pass_diff_0.999',
            'corr_max_abs_diff', 'median_size_err', 'energy_cnn_deficit', 'distance_cnn_deficit'} | {
                f'w1_{p}' for p in ('log10_size', 'length', 'width', 'dist', 'alpha', 'con2',
                                    'skewness', 'kurtosis')}


def _evaluate(data_dir, out, *flags):
  """`python -m taiga_tf.evaluate` on the dummy dataset, two epochs per classifier."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run([sys.executable, '-m', 'taiga_tf.evaluate', '--reference=taiga_iact/mc',
                         f'--data_dir={data_dir}', f'--output_dir={out}', '--epochs=2',
                         '--n_boot=20', *flags],
                        capture_output=True, text=True, env=env, timeout=600)


def test_calibrate_then_evaluate(smoke_saved_model, dummy_data_dir, tmp_path):
  classifiers = tmp_path / 'classifiers'
  # 1. calibration: every wrong set built from the validation split, against the test split
  r = _evaluate(dummy_data_dir, tmp_path / 'cal', '--calibrate', f'--classifier_dir={classifiers}')
  assert r.returncode == 0, r.stderr[-4000:]
  cal = json.loads((classifiers / 'calibration.json').read_text())
  assert cal['source_split'] == 'validation' and cal['mc_split'] == 'test'
  sets = set(cal['measures']['gamma'])
  # (energy_shift and other_particle share no class with the 7 test gammas of the dummy data)
  assert {'mc', 'noise', 'amplitude_x1.2', 'rotated_30deg', 'random_class'} <= sets
  for s in sets:
    assert set(cal['measures']['gamma'][s]) == MEASURES
  assert set(cal['detections']['gamma']) == MEASURES
  assert (tmp_path / 'cal' / 'calibration.md').read_text().startswith('### gammas')
  assert (tmp_path / 'cal' / 'calibration_gamma.png').stat().st_size > 1000
  assert (classifiers / 'gamma_hadron.keras').exists()
  assert json.loads((classifiers / 'gamma_hadron.keras.json').read_text())['key']['reference'] == \
      'taiga_iact/mc/1.1.0'

  # 2. the report of a smoke cGAN: reuses the classifiers, marks each measure from the calibration
  gen = tmp_path / 'gen'
  generation.generate(generation.GenerateConfig(
      model=smoke_saved_model, output_dir=str(gen), data_dir=str(dummy_data_dir), plan='imbalanced',
      num_examples=80, seed=1, jit_compile='false'), log=lambda *a: None)
  out = tmp_path / 'eval'
  r = _evaluate(dummy_data_dir, out, f'--generated={gen}', f'--classifier_dir={classifiers}')
  assert r.returncode == 0, r.stderr[-4000:]
  assert 'reusing' in r.stdout
  assert 'taiga_tf.evaluate: 80 generated vs 7 MC test gammas' in r.stdout
  rep = json.loads((out / 'report.json').read_text())
  assert set(rep['particles']) == {'gamma'} and rep['n_generated'] == 80
  g = rep['particles']['gamma']
  assert set(g['measures']) == MEASURES
  for name, m in g['measures'].items():
    assert np.isfinite(m['value']) or name.startswith('w1_') or name == 'median_size_err', name
    assert len(m['ci']) == 2 and isinstance(m['evidence'], bool), name
    assert m['misses'] == sorted(s for s, hit in cal['detections']['gamma'][name].items() if not hit)
  assert 0 <= g['measures']['two_sample_auc_image']['value'] <= 1
  assert g['measures']['two_sample_auc_image']['null_interval'][0] < 0.5
  for t in ('0.5', '0.999'):
    assert 0 <= g['gamma_hadron'][f'pass_mc_{t}'] <= 1 and 0 <= g['gamma_hadron'][f'pass_generated_{t}'] <= 1
    lo, hi = g['gamma_hadron'][f'pass_generated_{t}_ci']
    assert lo <= hi
    assert np.isclose(g['measures'][f'pass_diff_{t}']['value'],
                      abs(g['gamma_hadron'][f'pass_generated_{t}'] - g['gamma_hadron'][f'pass_mc_{t}']))
  for f in ('leakage_intensity_2', 'conc_cog', 'conc_core', 'conc_pixel', 'n_pixels'):
    assert f in g['features']['overall']
  gh = rep['gamma_hadron_classifier']
  assert 0 <= gh['auc_gamma_vs_proton'] <= 1 and set(gh['at_threshold']) == {'0.5', '0.999'}
  assert len(gh['auc_gamma_vs_proton_ci']) == 2
  assert rep['calibration']['path'] == str(classifiers / 'calibration.json')
  assert rep['plan']['plan'] == 'imbalanced' and rep['plan']['max_abs_count_diff'] == 0
  assert sum(rep['plan']['energy_hist_generated']) == 80
  for png in ('hillas_overall.png', 'images_per_class.png', 'gamma_hadron_scores.png'):
    assert (out / 'gamma' / png).stat().st_size > 1000
  assert list((out / 'tensorboard').glob('events.out.tfevents.*'))


def test_evaluate_rejects_bad_requests(dummy_data_dir, tmp_path):
  r = _evaluate(dummy_data_dir, tmp_path, '--generated=x', '--mc_split=train')
  assert r.returncode == 2 and 'never trained on' in r.stderr
  r = _evaluate(dummy_data_dir, tmp_path)
  assert r.returncode == 2 and '--calibrate' in r.stderr
  r = _evaluate(dummy_data_dir, tmp_path, '--calibrate', '--calibration_split=test')
  assert r.returncode == 2 and 'held out' in r.stderr


@pytest.mark.slow
def test_evaluate_works_unchanged_on_a_diffusion_dataset(diffusion_saved_model, dummy_data_dir,
                                                        tmp_path):
  gen = tmp_path / 'gen'
  generation.generate(generation.GenerateConfig(
      model=diffusion_saved_model, output_dir=str(gen), data_dir=str(dummy_data_dir),
      plan='balanced', num_examples=40, seed=2, jit_compile='false', sampler='dpmpp_2m',
      num_steps=2), log=lambda *a: None)
  out = tmp_path / 'eval'
  r = _evaluate(dummy_data_dir, out, f'--generated={gen}')
  assert r.returncode == 0, r.stderr[-4000:]
  assert 'uncalibrated' in r.stdout and 'no calibration' in r.stdout
  rep = json.loads((out / 'report.json').read_text())
  assert rep['model_kind'] == 'diffusion' and rep['calibration'] is None
  assert rep['sampling'] == {'sampler': 'dpmpp_2m', 'num_steps': 2, 'guidance': 1.0}
  assert 0 <= rep['particles']['gamma']['measures']['two_sample_auc_image']['value'] <= 1
  assert rep['particles']['gamma']['n_generated'] == 40
