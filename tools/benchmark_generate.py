"""Augmented-dataset speed and memory benchmark (taiga_tf.generate).

  .venv/bin/python tools/benchmark_generate.py --model=out/cgan_taiga/saved_model \
      [--num_examples=20000] [--batch_size=256]

Measured in one run on this machine, each part in its own process:
1. generator-only images/s of the compiled sampler, XLA off and on;
2. end-to-end images/s of `taiga_tf.generate` to disk (balanced plan), and the
   time writing adds over generator-only sampling;
3. peak RSS of the end-to-end run at num_examples and 10x num_examples;
4. the built-in MC's gamma events/s, for the speed-up ratio.
"""
import argparse
import os
import pathlib
import sys
import tempfile
import textwrap

from bench_utils import run_child

REPO = pathlib.Path(__file__).resolve().parents[1]

SAMPLER = textwrap.dedent('''
    import json, time, numpy as np
    from taiga_tf import samplers
    model, info, meta = samplers.load_generator({model!r})
    out = {{}}
    for jit in (False, True):
      s = samplers.Sampler(model.generate_indexed, {batch}, jit)
      labels = np.arange({batch}, dtype=np.int32) % int(meta['num_classes'])
      s(labels, (1, 2), 0)
      n, t0 = 0, time.time()
      while time.time() - t0 < {seconds}:
        s(labels, (1, 2), n)
        n += {batch}
      out[str(jit)] = n / (time.time() - t0)
    print(json.dumps(out))
''')

END_TO_END = textwrap.dedent('''
    import json, resource, shutil
    from taiga_tf import generation
    cfg = generation.GenerateConfig(model={model!r}, output_dir={out!r}, plan='balanced',
                                    num_examples={n}, seed=1, batch_size={batch},
                                    jit_compile={jit!r}, data_dir={data_dir!r})
    s = generation.generate(cfg, log=lambda *a: None)
    shutil.rmtree({out!r})
    s['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(s, default=str))
''')


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument('--model', default=str(REPO / 'out' / 'cgan_taiga' / 'saved_model'))
  ap.add_argument('--data_dir', default=None)
  ap.add_argument('--num_examples', type=int, default=20000)
  ap.add_argument('--batch_size', type=int, default=256)
  ap.add_argument('--seconds', type=float, default=8.0)
  ap.add_argument('--mc_events', type=int, default=150)
  args = ap.parse_args()
  sys.path.insert(0, str(REPO))
  tmp = tempfile.mkdtemp(prefix='taiga_genbench_')

  gen = run_child(SAMPLER.format(model=args.model, batch=args.batch_size, seconds=args.seconds))
  best_jit = gen['True'] > gen['False']
  runs = {}
  for n in (args.num_examples, 10 * args.num_examples):
    runs[n] = run_child(END_TO_END.format(model=args.model, out=os.path.join(tmp, f'g{n}'), n=n,
                                      batch=args.batch_size, jit=str(best_jit).lower(),
                                      data_dir=args.data_dir))
  from taiga_tf.detectors.taiga_iact.mc import simulate  # pylint: disable=g-import-not-at-top
  mc = simulate.write_run(simulate.MCConfig(particle='gamma'), os.path.join(tmp, 'mc'),
                          args.mc_events, seed=1, log=None)
  e2e = runs[args.num_examples]
  gen_only = max(gen['True'], gen['False'])
  rows = [
      ('generator only, XLA off: images/s', f'{gen["False"]:.0f}'),
      ('generator only, XLA on: images/s', f'{gen["True"]:.0f}'),
      (f'end to end to disk ({args.num_examples} images, XLA {best_jit}): images/s',
       f'{e2e["images_per_s"]:.0f}'),
      ('time writing adds over generator-only', f'{100 * (gen_only / e2e["images_per_s"] - 1):.0f}%'),
      ('writer thread busy (share of wall time)', f'{100 * e2e["write_seconds"] / e2e["seconds"]:.0f}%'),
      (f'peak RSS {args.num_examples} / {10 * args.num_examples} images (MB)',
       f'{runs[args.num_examples]["peak_rss_mb"]:.0f} / {runs[10 * args.num_examples]["peak_rss_mb"]:.0f}'),
      ('peak RSS ratio 10x / 1x', f'{runs[10 * args.num_examples]["peak_rss_mb"] / e2e["peak_rss_mb"]:.2f}'),
      ('built-in MC gamma: triggered events/s', f'{mc["events_per_s"]:.1f}'),
      ('end to end / MC speed', f'{e2e["images_per_s"] / mc["events_per_s"]:.0f}x'),
  ]
  w = max(len(r[0]) for r in rows)
  print()
  for name, val in rows:
    print(f'{name:<{w}}  {val:>12}')
  print(f'\nbenchmark_generate: {e2e["images_per_s"]:.0f} images/s end to end, '
        f'{e2e["images_per_s"] / mc["events_per_s"]:.0f}x the MC, writing adds '
        f'{100 * (gen_only / e2e["images_per_s"] - 1):.0f}%')


if __name__ == '__main__':
  main()
