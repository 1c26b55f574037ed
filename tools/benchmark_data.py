"""Data-foundation benchmark of a detector: MC speed, builder speed, read throughput, build memory.

  .venv/bin/python tools/benchmark_data.py [--detector=taiga_iact|lartpc] [--events=400] [--scale=8]

Measured in one run on this machine (absolute numbers are machine-dependent,
the ratios are what to compare):
1. built-in MC: events/s per particle type (single process; TAIGA: triggered events);
2. the build of those files (taiga_iact `mc` config from the text files, lartpc
   `larcv3` config from the HDF5 files): examples/s and peak RSS of the build
   process, at two dataset sizes (1x and `scale`x, the larger made of copies of
   the same files under other names); the peak-memory ratio must stay ~1;
3. tf.data read throughput of the built dataset: decoded images/s.
"""
import argparse
import pathlib
import shutil
import sys
import tempfile
import textwrap

from bench_utils import run_child

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BUILD_CHILD = textwrap.dedent('''
    import importlib, json, resource, sys, time
    sys.path.insert(0, {datasets!r})
    import tensorflow_datasets as tfds
    m = importlib.import_module('{name}.{name}_dataset_builder')
    t0 = time.time()
    b = m.Builder(config={config!r}, data_dir={data_dir!r})
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir={manual!r}))
    dt = time.time() - t0
    n = sum(s.num_examples for s in b.info.splits.values())
    print(json.dumps({{'examples': n, 'seconds': dt,
                      'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
''')

READ_CHILD = textwrap.dedent('''
    import json, time
    import tensorflow as tf, tensorflow_datasets as tfds
    b = tfds.builder_from_directory({path!r})
    ds = b.as_dataset(split='train', shuffle_files=True).map(
        lambda x: x['image'], num_parallel_calls=tf.data.AUTOTUNE).batch(256).prefetch(4)
    for _ in ds.take(2): pass                      # warm-up
    t0, n = time.time(), 0
    for _ in range(3):
      for x in ds:
        n += int(x.shape[0])
    print(json.dumps({{'images': n, 'seconds': time.time() - t0}}))
''')


def _taiga_mc(work, events):
  from taiga_tf.detectors.taiga_iact.mc import simulate  # pylint: disable=g-import-not-at-top
  rates, rows = {}, []
  for particle in ('gamma', 'proton'):
    s = simulate.write_run(simulate.MCConfig(particle=particle), work / 'mc' / particle, events,
                           seed=1, log=None)
    rates[particle] = s['events_per_s']
    rows.append((f'MC {particle}: triggered events/s', f'{s["events_per_s"]:.1f}',
                 f'{s["events"]} events, trigger eff. {s["trigger_efficiency"]:.3f}'))
  return rates, rows


def _lartpc_mc(work, events):
  from taiga_tf.detectors.lartpc.mc import simulate  # pylint: disable=g-import-not-at-top
  rates, rows = {}, []
  for particle in simulate.PARTICLES:
    s = simulate.write_run(simulate.LArTPCConfig(particle=particle), work / 'mc' / particle, events,
                           seed=1, log=lambda *a: None)
    rates[particle] = s['events_per_s']
    rows.append((f'MC {particle}: events/s', f'{s["events_per_s"]:.1f}',
                 f'{s["events"]} events, 256 x 256 projection'))
  return rates, rows


# per detector: its MC, the manual layout of the files (particle folders or flat), the config
# built from them, the files' pattern, what the read benchmark decodes
DETECTORS = {
    'taiga_iact': {'mc': _taiga_mc, 'folders': True, 'config': 'mc', 'pattern': '*.txt',
                   'version': '1.1.0', 'images': '32x32 float32 zlib images'},
    'lartpc': {'mc': _lartpc_mc, 'folders': False, 'config': 'larcv3', 'pattern': '*.h5',
               'version': '1.0.0', 'images': '64x64 uint8 + float32 + uint8 zlib crops'},
}


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument('--detector', default='taiga_iact', choices=sorted(DETECTORS))
  ap.add_argument('--events', type=int, default=None,
                  help='MC events per particle type (default 400 TAIGA, 100 LArTPC)')
  ap.add_argument('--scale', type=int, default=8, help='size ratio of the two builds')
  ap.add_argument('--workdir', default=None)
  args = ap.parse_args()
  det = DETECTORS[args.detector]
  events = args.events or (400 if args.detector == 'taiga_iact' else 100)

  work = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix='taiga_bench_'))
  mc_rate, rows = det['mc'](work, events)
  first = next(iter(mc_rate))
  builds = {}
  for scale in (1, args.scale):
    manual = work / f'manual_x{scale}'
    for particle in mc_rate:
      dest = manual / particle if det['folders'] else manual
      dest.mkdir(parents=True, exist_ok=True)
      for k in range(scale):
        for f in (work / 'mc' / particle).glob(det['pattern']):
          shutil.copy(f, dest / f'copy{k:02d}_{f.name}')
    res = run_child(BUILD_CHILD.format(datasets=str(REPO / 'datasets'), name=args.detector,
                                       config=det['config'], data_dir=str(work / f'data_x{scale}'),
                                       manual=str(manual)))
    builds[scale] = res
    rows.append((f'builder x{scale}: examples/s', f'{res["examples"] / res["seconds"]:.0f}',
                 f'{res["examples"]} examples, peak RSS {res["peak_rss_mb"]:.0f} MB'))
  ratio = builds[args.scale]['peak_rss_mb'] / builds[1]['peak_rss_mb']
  rows.append((f'build peak memory x{args.scale} / x1', f'{ratio:.2f}',
               f'dataset {args.scale}x larger'))
  read = run_child(READ_CHILD.format(path=str(
      work / f'data_x{args.scale}' / args.detector / det['config'] / det['version'])))
  rows.append(('tf.data read: images/s', f'{read["images"] / read["seconds"]:.0f}',
               f'{det["images"]}, batch 256'))
  rows.append((f'builder / MC {first} speed',
               f'{builds[args.scale]["examples"] / builds[args.scale]["seconds"] / mc_rate[first]:.1f}x', ''))
  w = max(len(r[0]) for r in rows)
  print(f'\n{"measure":<{w}}  {"value":>8}  notes')
  for name, val, note in rows:
    print(f'{name:<{w}}  {val:>8}  {note}')
  if not args.workdir:
    shutil.rmtree(work, ignore_errors=True)
  print(f'\nbenchmark_data {args.detector}: MC ' + '/'.join(f'{v:.1f}' for v in mc_rate.values())
        + f' events/s ({"/".join(mc_rate)}), build peak memory ratio x{args.scale}/x1 = {ratio:.2f}')


if __name__ == '__main__':
  main()
