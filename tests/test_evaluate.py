"""The evaluate app end to end on the dummy dataset and a smoke model."""
import json
import os
import subprocess
import sys

import numpy as np

from taiga_tf import generation


def _evaluate(gen, data_dir, out):
  """`python -m taiga_tf.evaluate` on the dummy dataset, one epoch per classifier."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run([sys.executable, '-m', 'taiga_tf.evaluate', f'--generated={gen}',
                         '--reference=taiga_iact/mc', f'--data_dir={data_dir}',
                         f'--output_dir={out}', '--epochs=1'],
                        capture_output=True, text=True, env=env, timeout=600)


def test_evaluate_app(smoke_saved_model, dummy_data_dir, tmp_path):
  gen = tmp_path / 'gen'
  generation.generate(generation.GenerateConfig(
      model=smoke_saved_model, output_dir=str(gen), data_dir=str(dummy_data_dir), plan='imbalanced',
      num_examples=80, seed=1, jit_compile='false'), log=lambda *a: None)
  out = tmp_path / 'eval'
  r = _evaluate(gen, dummy_data_dir, out)
  assert r.returncode == 0, r.stderr[-4000:]
  assert 'taiga_tf.evaluate: 80 generated vs 7 MC test gammas' in r.stdout.strip().splitlines()[-1]
  rep = json.loads((out / 'report.json').read_text())
  assert rep['particle'] == 'gamma' and rep['n_generated'] == 80
  for p in ('log10_size', 'length', 'width', 'dist', 'alpha', 'con2', 'skewness', 'kurtosis'):
    v = rep['hillas']['overall'][p]
    assert set(v) == {'w1', 'sep', 'w1_mc_mc', 'sep_mc_mc'}
  g = rep['gamma_hadron']
  for t in ('0.5', '0.999'):
    assert 0 <= g[f'pass_mc_{t}'] <= 1 and 0 <= g[f'pass_generated_{t}'] <= 1
    assert np.isclose(g[f'pass_diff_{t}'], g[f'pass_generated_{t}'] - g[f'pass_mc_{t}'])
  assert 0 <= rep['two_sample']['auc'] <= 1
  w = rep['conditioning']['classifier_within_one_bin']
  assert set(w) == {'generated', 'mc_test'}
  assert rep['plan']['plan'] == 'imbalanced' and rep['plan']['max_abs_count_diff'] == 0
  assert sum(rep['plan']['energy_hist_generated']) == 80
  for png in ('hillas_overall.png', 'images_per_class.png', 'gamma_hadron_scores.png'):
    assert (out / png).stat().st_size > 1000
  assert list((out / 'tensorboard').glob('events.out.tfevents.*'))
  # the MC-trained classifiers are kept and reused
  assert (out / 'classifiers' / 'gamma_hadron.keras').exists()
  r2 = _evaluate(gen, dummy_data_dir, out)
  assert r2.returncode == 0 and 'reusing' in r2.stdout


def test_evaluate_works_unchanged_on_a_diffusion_dataset(diffusion_saved_model, dummy_data_dir,
                                                        tmp_path):
  gen = tmp_path / 'gen'
  generation.generate(generation.GenerateConfig(
      model=diffusion_saved_model, output_dir=str(gen), data_dir=str(dummy_data_dir),
      plan='balanced', num_examples=40, seed=2, jit_compile='false', sampler='dpmpp_2m',
      num_steps=2), log=lambda *a: None)
  out = tmp_path / 'eval'
  r = _evaluate(gen, dummy_data_dir, out)
  assert r.returncode == 0, r.stderr[-4000:]
  rep = json.loads((out / 'report.json').read_text())
  assert rep['model_kind'] == 'diffusion'
  assert rep['sampling'] == {'sampler': 'dpmpp_2m', 'num_steps': 2, 'guidance': 1.0}
  assert 0 <= rep['two_sample']['auc'] <= 1 and rep['n_generated'] == 40
