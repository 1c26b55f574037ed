"""The generate app: plans, per-sample seeds, resume, atomic TFDS output."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow_datasets as tfds

from taiga_tf import generation, samplers


def _cfg(model, data_dir, out, **kw):
  return generation.GenerateConfig(model=model, output_dir=str(out), data_dir=str(data_dir),
                                   jit_compile='false', **kw)


def _read(path):
  b = tfds.builder_from_directory(str(path))
  rows = sorted(tfds.as_numpy(b.as_dataset(split='train')), key=lambda e: e['seed_index'])
  return b, rows


def _interrupt_sampler_at(monkeypatch, n):
  """Makes the n-th sampler call raise KeyboardInterrupt; returns the real __call__."""
  real_call = samplers.Sampler.__call__
  calls = {'n': 0}

  def failing(self, *args, **kwargs):
    calls['n'] += 1
    if calls['n'] == n:
      raise KeyboardInterrupt('simulated interruption')
    return real_call(self, *args, **kwargs)

  monkeypatch.setattr(samplers.Sampler, '__call__', failing)
  return real_call


def test_batch_size_does_not_change_the_dataset(smoke_saved_model, dummy_data_dir, tmp_path):
  a = generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'a', plan='imbalanced',
                               num_examples=150, seed=3, batch_size=64), log=lambda *x: None)
  generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'b', plan='imbalanced',
                           num_examples=150, seed=3, batch_size=25, num_shards=3),
                      log=lambda *x: None)
  assert a['num_examples'] == 150
  _, ra = _read(tmp_path / 'a')
  _, rb = _read(tmp_path / 'b')
  assert [r['seed_index'] for r in ra] == list(range(150))
  for x, y in zip(ra, rb):
    assert x['class_id'] == y['class_id']
    np.testing.assert_array_equal(x['image'], y['image'])
  c = generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'c', plan='imbalanced',
                               num_examples=150, seed=4), log=lambda *x: None)
  _, rc = _read(tmp_path / 'c')
  assert np.abs(rc[0]['image'] - ra[0]['image']).max() > 0     # another seed, other images
  del c


def test_plan_counts_in_metadata_and_output(smoke_saved_model, dummy_data_dir, tmp_path):
  generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'bal', plan='balanced',
                           num_examples=120, seed=1), log=lambda *x: None)
  b, rows = _read(tmp_path / 'bal')
  meta = b.info.metadata
  counts = np.asarray(meta['class_counts'])
  assert meta['plan'] == 'balanced' and counts.sum() == 120
  np.testing.assert_array_equal(np.bincount([r['class_id'] for r in rows], minlength=100), counts)
  per_e = counts.reshape(10, 10).sum(1)
  assert per_e[per_e > 0].max() - per_e[per_e > 0].min() <= 1
  assert len(meta['energy_edges_tev']) == 11 and len(meta['camera']['q']) == 560
  assert all(r['particle'] == 0 for r in rows)
  img = rows[0]['image']
  from taiga_tf.detectors.taiga_iact.camera import Camera
  assert np.all(img[~Camera.from_dict(meta['camera']).mask] == 0)
  # explicit counts
  p = tmp_path / 'counts.json'
  p.write_text(json.dumps({'12': 7, '13': 5}))
  generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'cnt', plan=f'counts:{p}'),
                      log=lambda *x: None)
  _, rows = _read(tmp_path / 'cnt')
  assert sorted(r['class_id'] for r in rows) == [12] * 7 + [13] * 5


def test_interrupted_run_resumes_without_duplicates_or_gaps(smoke_saved_model, dummy_data_dir,
                                                            tmp_path, monkeypatch):
  out = tmp_path / 'r'
  real_call = _interrupt_sampler_at(monkeypatch, 4)
  with pytest.raises(KeyboardInterrupt):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, plan='imbalanced',
                             num_examples=200, seed=5, batch_size=25, num_shards=4),
                        log=lambda *x: None)
  assert not out.exists()                                      # nothing half-written
  partial = sorted(os.listdir(str(out) + '.incomplete'))
  assert sum(f.endswith('-of-00004') for f in partial) == 1      # shard 0 was complete
  assert not any(f.endswith('.tmp') for f in partial)
  with pytest.raises(ValueError, match='other arguments'):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, plan='imbalanced',
                             num_examples=200, seed=6, batch_size=25, num_shards=4),
                        log=lambda *x: None)
  monkeypatch.setattr(samplers.Sampler, '__call__', real_call)
  s = generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, plan='imbalanced',
                               num_examples=200, seed=5, batch_size=40, num_shards=4),
                          log=lambda *x: None)
  assert s['generated_now'] == 150
  _, rows = _read(out)
  assert [r['seed_index'] for r in rows] == list(range(200))
  generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'ref', plan='imbalanced',
                           num_examples=200, seed=5, num_shards=4), log=lambda *x: None)
  _, ref = _read(tmp_path / 'ref')
  for x, y in zip(rows, ref):
    np.testing.assert_array_equal(x['image'], y['image'])
  with pytest.raises(FileExistsError):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, plan='imbalanced',
                             num_examples=200, seed=5), log=lambda *x: None)


def test_cli_output_loads_without_taiga_tf_and_concatenates(smoke_saved_model, dummy_data_dir,
                                                           tmp_path):
  out = tmp_path / 'cli'
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  r = subprocess.run([sys.executable, '-m', 'taiga_tf.generate', f'--model={smoke_saved_model}',
                      '--plan=balanced', '--num_examples=64', f'--output_dir={out}', '--seed=2',
                      f'--data_dir={dummy_data_dir}', '--batch_size=32'],
                     capture_output=True, text=True, env=env, timeout=300)
  assert r.returncode == 0, r.stderr[-3000:]
  assert 'taiga_tf.generate: 64 examples (balanced)' in r.stdout.strip().splitlines()[-1]
  script = textwrap.dedent(f'''
      import sys, json
      sys.modules['taiga_tf'] = None
      import tensorflow as tf, tensorflow_datasets as tfds
      gen = tfds.builder_from_directory({str(out)!r})
      mc = tfds.builder_from_directory({str(dummy_data_dir / 'taiga_iact' / 'mc' / '1.1.0')!r})
      pick = lambda ex: (ex['image'], ex['particle'])
      ds = mc.as_dataset(split='train').map(pick).concatenate(gen.as_dataset(split='train').map(pick))
      n = sum(1 for _ in ds)
      print(json.dumps({{'n': n, 'plan': gen.info.metadata['plan']}}))
  ''')
  r = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, env=env,
                     timeout=300)
  assert r.returncode == 0, r.stderr[-3000:]
  res = json.loads(r.stdout.strip().splitlines()[-1])
  assert res == {'n': 52 + 64, 'plan': 'balanced'}


def test_fast_serializer_matches_tfds():
  from taiga_tf.dataset_writer import generated_features, serialize_generated
  feats = generated_features(32, 100, 100, ('gamma', 'proton'),
                             {'energy_bin': tfds.features.Scalar(dtype=np.int32),
                              'distance_bin': tfds.features.Scalar(dtype=np.int32)})
  img = np.random.default_rng(0).normal(size=(32, 32)).astype(np.float32)
  ints = {'class_id': 42, 'model_label': 42, 'particle': 1, 'energy_bin': 4, 'distance_bin': 2,
          'seed_index': 123456789012}
  fast = feats.deserialize_example_np(serialize_generated(img, ints))
  ref = feats.deserialize_example_np(feats.serialize_example({'image': img, **ints}))
  assert set(fast) == set(ref)
  for k in ref:
    np.testing.assert_array_equal(fast[k], ref[k])


@pytest.mark.slow
def test_diffusion_export_batch_independent_sampler_choice_and_resume_state(
    diffusion_saved_model, dummy_data_dir, tmp_path, monkeypatch):
  """Sample i of a diffusion dataset depends only on (seed, i) and the sampler settings:
  two batch sizes give identical datasets; the settings are stored and pinned."""
  # (2 Heun steps of this untrained network overflow the inverse transform: refused as
  # non-finite, tests/test_generate_inputs.py; 3 are finite)
  kw = dict(plan='imbalanced', num_examples=40, seed=3, sampler='heun', num_steps=3)
  a = generation.generate(_cfg(diffusion_saved_model, dummy_data_dir, tmp_path / 'a',
                               batch_size=16, **kw), log=lambda *x: None)
  generation.generate(_cfg(diffusion_saved_model, dummy_data_dir, tmp_path / 'b', batch_size=9,
                           num_shards=3, **kw), log=lambda *x: None)
  assert a['sampling'] == {'sampler': 'heun', 'num_steps': 3, 'guidance': 1.0}
  ba, ra = _read(tmp_path / 'a')
  _, rb = _read(tmp_path / 'b')
  assert ba.info.metadata['sampling']['sampler'] == 'heun'
  assert ba.info.metadata['model_kind'] == 'diffusion'
  for x, y in zip(ra, rb):
    np.testing.assert_array_equal(x['image'], y['image'])
  # the export's default sampler (dpmpp_2m, 3 steps) when none is given
  d = generation.generate(_cfg(diffusion_saved_model, dummy_data_dir, tmp_path / 'd',
                               plan='imbalanced', num_examples=8, seed=3), log=lambda *x: None)
  assert d['sampling'] == {'sampler': 'dpmpp_2m', 'num_steps': 3, 'guidance': 1.0}
  # a resumed run must use the same sampler settings
  out = tmp_path / 'r'
  real_call = _interrupt_sampler_at(monkeypatch, 3)
  with pytest.raises(KeyboardInterrupt):
    generation.generate(_cfg(diffusion_saved_model, dummy_data_dir, out, batch_size=8,
                             num_shards=4, **kw), log=lambda *x: None)
  monkeypatch.setattr(samplers.Sampler, '__call__', real_call)
  with pytest.raises(ValueError, match='other arguments'):
    generation.generate(_cfg(diffusion_saved_model, dummy_data_dir, out, batch_size=8,
                             num_shards=4, **dict(kw, num_steps=4)), log=lambda *x: None)


def test_sampler_flags_are_rejected_for_a_cgan(smoke_saved_model, dummy_data_dir, tmp_path):
  with pytest.raises(ValueError, match='diffusion exports only'):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'x', plan='imbalanced',
                             num_examples=8, sampler='heun'), log=lambda *x: None)
  assert not (tmp_path / 'x').exists() and not (tmp_path / 'x.incomplete').exists()


@pytest.mark.parametrize('kw,pattern', [
    (dict(batch_size=0), 'batch_size must be >= 1, got 0'),
    (dict(batch_size=-8), 'batch_size must be >= 1, got -8'),
    (dict(num_shards=0), 'num_shards must be >= 1'),
    (dict(num_examples=-5), 'num_examples must be >= 1, got -5'),
])
def test_bad_arguments_fail_before_any_work(smoke_saved_model, dummy_data_dir, tmp_path, kw, pattern):
  kw = {'plan': 'imbalanced', 'num_examples': 8, **kw}
  with pytest.raises(ValueError, match=pattern):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'x', **kw))
  assert os.listdir(tmp_path) == []          # not even a lock or an .incomplete folder


def test_bad_counts_json_names_its_file(smoke_saved_model, dummy_data_dir, tmp_path):
  bad = tmp_path / 'plan.json'
  bad.write_text('{"3": 2,\n')
  with pytest.raises(ValueError, match=r'plan.json:2:1: not valid JSON'):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'x',
                             plan=f'counts:{bad}'), log=lambda *x: None)


def test_output_dir_that_is_a_file_or_not_a_generated_dataset(smoke_saved_model, dummy_data_dir,
                                                              tmp_path, monkeypatch):
  """Both fail before the model is even loaded; --overwrite never deletes a foreign folder."""
  def no_load(*a, **k):
    raise AssertionError('loaded the model before checking the output')
  monkeypatch.setattr(samplers, 'load_generator', no_load)
  afile = tmp_path / 'afile'
  afile.write_text('keep me')
  with pytest.raises(ValueError, match='is a file, not a folder'):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, afile, plan='imbalanced',
                             num_examples=8, overwrite=True))
  foreign = tmp_path / 'results'
  foreign.mkdir()
  (foreign / 'thesis.tex').write_text('keep me')
  with pytest.raises(ValueError, match='not a taiga_iact_generated dataset'):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, foreign, plan='imbalanced',
                             num_examples=8, overwrite=True))
  assert afile.read_text() == 'keep me' and (foreign / 'thesis.tex').read_text() == 'keep me'


def test_second_writer_is_refused_and_a_dead_writer_releases(smoke_saved_model, dummy_data_dir,
                                                             tmp_path):
  out = tmp_path / 'gen'
  holder = subprocess.Popen(
      [sys.executable, '-c', textwrap.dedent(f'''
          import sys, time
          from taiga_tf.dataset_writer import OutputLock
          lock = OutputLock({str(out)!r})
          print('locked', flush=True)
          time.sleep(300)
      ''')], stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'locked'
    with pytest.raises(ValueError, match=rf'gen is being written by taiga_tf pid {holder.pid}'):
      generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, plan='imbalanced',
                               num_examples=8), log=lambda *x: None)
    assert not (out.parent / 'gen.incomplete').exists()
  finally:
    holder.kill()           # SIGKILL: the OS drops the flock, the stale lock file stays
    holder.wait()
  generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, plan='imbalanced',
                           num_examples=8), log=lambda *x: None)
  assert tfds.builder_from_directory(str(out)).info.splits['train'].num_examples == 8
  assert not (tmp_path / 'gen.lock').exists()
  # and --overwrite replaces a dataset this app wrote
  generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, plan='imbalanced',
                           num_examples=16, overwrite=True), log=lambda *x: None)
  assert tfds.builder_from_directory(str(out)).info.splits['train'].num_examples == 16


def test_app_prints_one_line_errors_and_no_tensorflow_noise(tmp_path):
  env = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL',)}
  out = subprocess.run([sys.executable, '-m', 'taiga_tf.generate', f'--model={tmp_path}',
                        f'--output_dir={tmp_path / "x"}', '--batch_size=0'],
                       capture_output=True, text=True, env=env, timeout=300)
  assert out.returncode == 2
  assert out.stderr.strip() == 'taiga_tf.generate: error: batch_size must be >= 1, got 0'
  assert out.stdout == ''


def _shard_bytes(path):
  return {f.name: f.read_bytes() for f in sorted(path.iterdir()) if '.tfrecord-' in f.name}


def test_workers_write_the_one_process_dataset(smoke_saved_model, dummy_data_dir, tmp_path):
  """Worker 1 then worker 0 of 2: the second completes it; shards equal the one-process run's."""
  kw = dict(plan='imbalanced', num_examples=150, seed=5, num_shards=5, batch_size=32)
  one = generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'one', **kw),
                            log=lambda *x: None)
  out = tmp_path / 'multi'
  logs = []
  w1 = generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, num_workers=2,
                                worker_index=1, **kw), log=logs.append)
  assert not w1['complete'] and w1['output_dir'] is None and not out.exists()
  assert w1['generated_now'] == 150 - 60              # shards 2-4 of 0-4: bounds 0,30,60,...
  assert any('still being written by other workers' in line for line in logs)
  w0 = generation.generate(_cfg(smoke_saved_model, dummy_data_dir, out, num_workers=2,
                                worker_index=0, **kw), log=lambda *x: None)
  assert w0['complete'] and w0['generated_now'] == 60 and one['complete']
  assert _shard_bytes(out) == _shard_bytes(tmp_path / 'one') and len(_shard_bytes(out)) == 5
  a, b = tfds.builder_from_directory(str(tmp_path / 'one')), tfds.builder_from_directory(str(out))
  assert a.info.metadata == b.info.metadata
  assert a.info.splits['train'].shard_lengths == b.info.splits['train'].shard_lengths
  assert sorted(os.listdir(tmp_path)) == ['multi', 'one']      # no locks, no .incomplete left


@pytest.mark.parametrize('kw,pattern', [
    (dict(num_workers=2, worker_index=2, num_shards=4), 'worker_index must be in 0..num_workers-1'),
    (dict(num_workers=0), 'num_workers >= 1'),
])
def test_bad_worker_arguments_fail_before_any_work(smoke_saved_model, dummy_data_dir, tmp_path,
                                                   kw, pattern):
  with pytest.raises(ValueError, match=pattern):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'x', plan='imbalanced',
                             num_examples=8, **kw))
  assert os.listdir(tmp_path) == []


def test_default_shard_count_is_a_function_of_the_plan_and_the_workers():
  assert generation.default_num_shards(96) == 4
  assert generation.default_num_shards(96, num_workers=2) == 4
  assert generation.default_num_shards(96, num_workers=7) == 7      # one shard per worker at least
  assert generation.default_num_shards(40_001) == 5                  # ~10,000 examples per shard


def test_more_workers_than_shards_is_an_error(smoke_saved_model, dummy_data_dir, tmp_path):
  with pytest.raises(ValueError, match='3 workers for 2 shards: give --num_shards of at least 3'):
    generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'x', plan='imbalanced',
                             num_examples=8, num_shards=2, num_workers=3), log=lambda *x: None)


def test_worker_locks_refuse_a_twin_worker_and_a_one_process_run(tmp_path):
  from taiga_tf.dataset_writer import OutputDirError, claim_output_dir
  out = str(tmp_path / 'gen')
  w0 = claim_output_dir(out, 'n', False, (0, 2))
  w1 = claim_output_dir(out, 'n', False, (1, 2))        # another worker: fine
  with pytest.raises(OutputDirError, match=r'worker-0-of-2.lock'):
    claim_output_dir(out, 'n', False, (0, 2))          # the same worker twice
  with pytest.raises(OutputDirError, match='being written by other worker processes'):
    claim_output_dir(out, 'n', False)                  # a one-process run beside workers
  w0.release()
  w1.release()
  claim_output_dir(out, 'n', False).release()          # all gone: free again
  assert os.listdir(tmp_path) == []


def test_two_worker_processes_through_the_cli(smoke_saved_model, dummy_data_dir, tmp_path):
  """Two `python -m taiga_tf.generate` workers at once, each with the default shard count: the
  shards are the one-process run's, byte for byte (records are serialized with sorted map keys,
  the same in any process)."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', TF_NUM_INTRAOP_THREADS='1')
  args = [sys.executable, '-m', 'taiga_tf.generate', f'--model={smoke_saved_model}',
          '--plan=balanced', '--num_examples=96', '--seed=7',
          f'--data_dir={dummy_data_dir}', '--batch_size=16', '--jit_compile=false']
  procs = [subprocess.Popen(args + [f'--output_dir={tmp_path / "multi"}', '--num_workers=2',
                                    f'--worker_index={i}'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
           for i in (0, 1)]
  outs = [p.communicate(timeout=300) for p in procs]
  assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
  last = [o[0].strip().splitlines()[-1] for o in outs]
  assert sum('taiga_tf.generate: 96 examples (balanced)' in line for line in last) >= 1, last
  r = subprocess.run(args + [f'--output_dir={tmp_path / "one"}'], capture_output=True, text=True,
                     env=env, timeout=300)
  assert r.returncode == 0, r.stderr[-2000:]
  assert _shard_bytes(tmp_path / 'multi') == _shard_bytes(tmp_path / 'one')
  assert sorted(os.listdir(tmp_path)) == ['multi', 'one']


def test_sampling_batch_is_no_larger_than_a_shard(smoke_saved_model, dummy_data_dir, tmp_path,
                                                  monkeypatch):
  """A batch never crosses a shard and the sampler pads each call to its size: 4-image shards
  at --batch_size=256 sample in batches of 4 (padded to 8), not 256."""
  seen = []
  real = samplers.make_sampler

  def spy(model, batch_size, *a, **k):
    seen.append(batch_size)
    return real(model, batch_size, *a, **k)

  monkeypatch.setattr(samplers, 'make_sampler', spy)
  generation.generate(_cfg(smoke_saved_model, dummy_data_dir, tmp_path / 'x', plan='imbalanced',
                           num_examples=16, num_shards=4, batch_size=256), log=lambda *x: None)
  assert seen == [4]
