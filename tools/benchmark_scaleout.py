"""Scale-out benchmark: the taiga_iact build on Apache Beam, and generation on several workers.

  .venv/bin/python tools/benchmark_scaleout.py [--events=2000] [--scale=4]
      [--model=out/cgan_particle/saved_model --data_dir=out/tensorflow_datasets] [--num_examples=20000]

Measured in one run on this machine (absolute numbers are machine-dependent; the
ratios are what to compare):
1. `tfds build` of the taiga_iact `mc` config from built-in MC text files (`--events`
   per particle): plain, on Beam's DirectRunner with 1 and with 2 worker processes
   (multi_processing); wall time and the peak resident memory of the whole process tree
   (launcher + Beam workers); then the 2-worker Beam build of a `--scale` times larger
   set of files (copies under other names): its peak memory over the 1x build's;
2. `python -m taiga_tf.generate` of one plan by 1 worker and by 2 local worker processes
   (one output folder), every process with one TensorFlow thread, so 2 workers on 2 cores
   stand for 2 machines: images/s and the speed-up (2.0 would be perfect). The two
   datasets are compared record for record.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import psutil

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TFDS = str(pathlib.Path(sys.executable).parent / 'tfds')


def run_tree(cmd, env=None) -> dict:
  """Runs cmd; wall seconds and the peak of the summed RSS of it and all its children."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', **(env or {}))
  t0 = time.time()
  proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=REPO)
  out_lines = []
  import threading  # pylint: disable=g-import-not-at-top
  reader = threading.Thread(target=lambda: out_lines.extend(proc.stdout), daemon=True)
  reader.start()
  peak, root = 0, psutil.Process(proc.pid)
  while proc.poll() is None:
    try:
      procs = [root] + root.children(recursive=True)
      peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
    except psutil.Error:
      pass
    time.sleep(0.1)
  reader.join()
  if proc.returncode:
    raise RuntimeError(f'{" ".join(cmd)} failed:\n' + ''.join(out_lines)[-3000:])
  return {'seconds': time.time() - t0, 'peak_mb': peak / 2 ** 20, 'output': ''.join(out_lines)}


def taiga_files(work: pathlib.Path, events: int) -> pathlib.Path:
  from taiga_tf.detectors.taiga_iact.mc import simulate  # pylint: disable=g-import-not-at-top
  manual = work / 'manual_x1'
  for p in ('gamma', 'proton'):
    simulate.write_run(simulate.MCConfig(particle=p), str(manual / p), events, 1, log=lambda *a: None)
  return manual


def scaled(manual: pathlib.Path, scale: int) -> pathlib.Path:
  out = manual.parent / f'manual_x{scale}'
  for f in manual.glob('*/*.txt'):
    for k in range(scale):
      dst = out / f.parent.name / f'copy{k}_{f.name}'
      dst.parent.mkdir(parents=True, exist_ok=True)
      shutil.copyfile(f, dst)
  return out


def build(manual, data_dir, workers=None) -> dict:
  cmd = [TFDS, 'build', 'datasets/taiga_iact', '--config=mc', f'--manual_dir={manual}',
         f'--data_dir={data_dir}', '--num_shards=4']
  if workers:
    cmd.append('--beam_pipeline_options=runner=DirectRunner,direct_running_mode=multi_processing,'
               f'direct_num_workers={workers}')
  r = run_tree(cmd)
  info = json.loads((pathlib.Path(data_dir) / 'taiga_iact' / 'mc' / '1.1.0' /
                     'dataset_info.json').read_text())
  r['examples'] = sum(int(sum(int(x) for x in s['shardLengths'])) for s in info['splits'])
  return r


def generate(model, data_dir, out, n, workers) -> dict:
  base = [sys.executable, '-m', 'taiga_tf.generate', f'--model={model}', '--plan=imbalanced',
          f'--num_examples={n}', f'--output_dir={out}', f'--data_dir={data_dir}', '--seed=3',
          '--num_shards=8', '--jit_compile=false']
  env = {'TF_NUM_INTRAOP_THREADS': '1', 'TF_NUM_INTEROP_THREADS': '1'}
  env_full = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', **env)
  t0 = time.time()
  procs = [subprocess.Popen(base + ([f'--num_workers={workers}', f'--worker_index={i}']
                                    if workers > 1 else []),
                            env=env_full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(workers)]
  for p in procs:
    _, err = p.communicate()
    if p.returncode:
      raise RuntimeError(err[-3000:])
  return {'seconds': time.time() - t0}


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--events', type=int, default=2000, help='MC events per particle')
  ap.add_argument('--scale', type=int, default=4)
  ap.add_argument('--model', default=str(REPO / 'out' / 'cgan_particle' / 'saved_model'))
  ap.add_argument('--data_dir', default=str(REPO / 'out' / 'tensorflow_datasets'))
  ap.add_argument('--num_examples', type=int, default=20000)
  ap.add_argument('--skip_build', action='store_true')
  ap.add_argument('--skip_generate', action='store_true')
  args = ap.parse_args()
  work = pathlib.Path(tempfile.mkdtemp(prefix='bench_scaleout_'))
  rows = []
  try:
    if not args.skip_build:
      print(f'benchmark_scaleout: simulating {args.events} events per particle ...', flush=True)
      manual = taiga_files(work, args.events)
      plain = build(manual, work / 'plain')
      rows.append(('plain build', f'{plain["seconds"]:.1f} s', f'{plain["peak_mb"]:.0f} MB peak',
                   f'{plain["examples"]} examples'))
      beam = {}
      for w in (1, 2):
        beam[w] = build(manual, work / f'beam{w}', w)
        assert beam[w]['examples'] == plain['examples']
        rows.append((f'Beam DirectRunner, {w} worker(s)', f'{beam[w]["seconds"]:.1f} s',
                     f'{beam[w]["peak_mb"]:.0f} MB peak', ''))
      big = build(scaled(manual, args.scale), work / 'beam2_big', 2)
      rows.append((f'Beam, 2 workers, x{args.scale} files', f'{big["seconds"]:.1f} s',
                   f'{big["peak_mb"]:.0f} MB peak', f'{big["examples"]} examples'))
      rows.append(('ratio: Beam 2 workers / 1 worker (time)',
                   f'{beam[2]["seconds"] / beam[1]["seconds"]:.2f}', '', ''))
      rows.append(('ratio: Beam 2 workers / plain (time)',
                   f'{beam[2]["seconds"] / plain["seconds"]:.2f}', '', ''))
      rows.append((f'ratio: Beam peak memory x{args.scale} / x1',
                   f'{big["peak_mb"] / beam[2]["peak_mb"]:.2f}', '', ''))
    if not args.skip_generate:
      if not os.path.isdir(args.model):
        raise SystemExit(f'--model {args.model} not found (an exported SavedModel)')
      gen = {w: generate(args.model, args.data_dir, work / f'gen{w}', args.num_examples, w)
             for w in (1, 2)}
      for w in (1, 2):
        rows.append((f'generate, {w} worker(s) x 1 thread', f'{gen[w]["seconds"]:.1f} s',
                     f'{args.num_examples / gen[w]["seconds"]:.0f} images/s', ''))
      rows.append(('ratio: generate speed-up, 2 workers / 1',
                   f'{gen[1]["seconds"] / gen[2]["seconds"]:.2f}', '', ''))
      same = all((work / 'gen1' / f.name).read_bytes() == f.read_bytes()
                 for f in (work / 'gen2').glob('*.tfrecord-*'))
      rows.append(('2-worker dataset identical to 1-worker', str(same), '', ''))
  finally:
    shutil.rmtree(work, ignore_errors=True)
  width = max(len(r[0]) for r in rows)
  for r in rows:
    print(f'{r[0]:<{width}}  {r[1]:>10}  {r[2]:>16}  {r[3]}')


if __name__ == '__main__':
  main()
