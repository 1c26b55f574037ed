"""LArTPC generation: fidelity and cost of each model and sampler setting, against the MC.

  .venv/bin/python tools/lartpc_cost_quality.py --data_dir=out/tensorflow_datasets \
      --settings=em1000=out/diffusion_lartpc/saved_model:euler_maruyama:1000:256,\
heun18=out/diffusion_lartpc/saved_model:heun:18:1000,\
dpm10=out/diffusion_lartpc/saved_model:dpmpp_2m:10:1000,\
cgan=out/cgan_lartpc/saved_model:-:0:1000 --output_dir=out/lartpc_cost_quality

Each setting `label=export:sampler:num_steps:num_examples` (sampler `-` for a cGAN)
writes a balanced dataset (tracks and showers) with `taiga_tf.generate` (seed 1:
every score-model setting starts from the same initial noise) and evaluates it
with `taiga_tf.evaluate` against the MC test split (the SSNet trained once,
shared). The built-in LArTPC MC is timed in the same run (events/s per particle
type, one process). Prints a markdown table per class: each measure per setting
with the MC-vs-MC row, images/s and the ratio to the MC; writes
`<output_dir>/cost_quality.json`. Each run writes its rows; runs with different
settings may share an output_dir (in parallel too); `--table` merges the rows,
times the MC once and prints.

The images/s of a report run depend on what else shared the cores. `--speed` times
each setting again, one after another in one process on a machine left alone (the
export's compiled sampler, after its trace, batches of up to 64, the first
num_examples samples of seed 1, tracks and showers alternating) and the MC in the
same run, into `<output_dir>/speed.json`; `--table` then shows those images/s
beside the report runs' and takes the ratio to the MC from them:

  .venv/bin/python tools/lartpc_cost_quality.py --speed --data_dir=out/tensorflow_datasets \
      --output_dir=out/lartpc_cq_4000 --settings=em1000=...:euler_maruyama:1000:64,...
"""
import argparse
import json
import os
import sys
import time

from absl import logging


def mc_events_per_s(n_events: int) -> dict:
  """Events/s of the built-in LArTPC MC per particle type (one process, full 256 x 256 events)."""
  from taiga_tf.detectors.lartpc.mc import simulate  # pylint: disable=g-import-not-at-top
  out = {}
  for p in simulate.PARTICLES:
    cfg = simulate.LArTPCConfig(particle=p)
    t0 = time.perf_counter()
    for _ in simulate.generate(cfg, n_events, seed=99):
      pass
    out[p] = n_events / (time.perf_counter() - t0)
  return out


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--settings', default='',
                  help='label=export:sampler:num_steps:num_examples,... (empty with --table)')
  ap.add_argument('--table', action='store_true',
                  help='only merge the rows of earlier runs in --output_dir, time the MC and print')
  ap.add_argument('--speed', action='store_true',
                  help='only time the sampling of each setting (and the MC) into speed.json')
  ap.add_argument('--data_dir', required=True)
  ap.add_argument('--reference', default='lartpc/simulated')
  ap.add_argument('--output_dir', default='out/lartpc_cost_quality')
  ap.add_argument('--classifier_dir', default=None, help='default <output_dir>/classifiers')
  ap.add_argument('--batch_size', type=int, default=128)
  ap.add_argument('--mc_events', type=int, default=40, help='events per particle type to time')
  args = ap.parse_args()
  logging.set_verbosity(logging.WARNING)
  from taiga_tf import evaluation, generation  # pylint: disable=g-import-not-at-top
  from taiga_tf.diffusion import solvers  # pylint: disable=g-import-not-at-top
  os.makedirs(args.output_dir, exist_ok=True)
  log = lambda *a: print(*a, flush=True)
  rows = []
  if args.table:
    return print_table(args)
  if args.speed:
    return time_settings(args, log)
  for setting in args.settings.split(','):
    label, spec = setting.split('=', 1)
    model, sampler, steps, n = spec.rsplit(':', 3)
    sampler = None if sampler == '-' else sampler
    steps, n = int(steps), int(n)
    gen_dir = os.path.join(args.output_dir, f'generated_{label}')
    nfe = solvers.nfe(sampler, steps) if sampler else 1
    log(f'\n== {label}: {model}, {sampler or "cGAN"} {steps or ""} ({nfe} network evaluations), {n} images')
    summary_path = os.path.join(gen_dir, 'summary.json')
    if os.path.exists(summary_path):
      with open(summary_path) as f:
        gen = json.load(f)
    else:
      gen = generation.generate(generation.GenerateConfig(
          model=model, output_dir=gen_dir, plan='balanced', num_examples=n, seed=1,
          batch_size=args.batch_size, jit_compile='auto', data_dir=args.data_dir, sampler=sampler,
          num_steps=steps if sampler else None, overwrite=True), log=log)
      with open(summary_path, 'w') as f:
        json.dump(gen, f, default=str)
    rep = evaluation.evaluate(evaluation.EvalConfig(
        generated=gen_dir, reference=args.reference, data_dir=args.data_dir,
        output_dir=os.path.join(args.output_dir, f'eval_{label}'),
        classifier_dir=args.classifier_dir or os.path.join(args.output_dir, 'classifiers')), log=log)
    rows.append({'setting': label, 'model': model, 'sampler': sampler, 'num_steps': steps, 'nfe': nfe,
                 'n': n, 'images_per_s': gen['sampling_images_per_s'],
                 'classes': {c: r['measures'] for c, r in rep['classes'].items()}})
  labels = '+'.join(r['setting'] for r in rows)
  with open(os.path.join(args.output_dir, f'rows_{labels}.json'), 'w') as f:
    json.dump(rows, f, indent=1)
  print(f'rows of {labels} in {args.output_dir}; `--table` times the MC and prints the table')
  return 0


def time_settings(args, log) -> int:
  """images/s of each setting's compiled sampler, one after another in this process."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from taiga_tf import samplers  # pylint: disable=g-import-not-at-top
  from taiga_tf.diffusion import solvers  # pylint: disable=g-import-not-at-top
  out = {}
  for setting in args.settings.split(','):
    label, spec = setting.split('=', 1)
    path, sampler, steps, n = spec.rsplit(':', 3)
    n = int(n)
    model, _, meta = samplers.load_generator(path)
    sampling = samplers.sampling_settings(model, meta, None if sampler == '-' else sampler,
                                          int(steps) or None, None)
    batch = min(n, 64)
    smp = samplers.make_sampler(model, batch, 'auto', sampling)
    smp.warm_up(0, [1, 0])
    labels = np.arange(n) % 2
    t0 = time.perf_counter()
    for i in range(0, n, batch):
      smp(labels[i:i + batch], [1, 0], i)
    rate = n / (time.perf_counter() - t0)
    nfe = solvers.nfe(sampler, int(steps)) if sampling else 1
    out[label] = {'images_per_s': rate, 'n': n, 'batch': batch, 'nfe': nfe, 'sampling': sampling}
    log(f'{label}: {rate:.3g} images/s ({n} images, batch {batch}, {nfe} network evaluations)')
  mc = mc_events_per_s(args.mc_events)
  path = os.path.join(args.output_dir, 'speed.json')
  with open(path, 'w') as f:
    json.dump({'settings': out, 'mc_events_per_s': mc}, f, indent=1)
  log(f'wrote {path}')
  return 0


def print_table(args) -> int:
  """Merges the rows_*.json of the runs in output_dir: the --settings labels in their
  order when given (the rest of the labels after `=` is ignored), else every row."""
  import glob  # pylint: disable=g-import-not-at-top
  rows = {}
  for path in sorted(glob.glob(os.path.join(args.output_dir, 'rows_*.json'))):
    with open(path) as f:
      rows.update({r['setting']: r for r in json.load(f)})
  order = [s.split('=', 1)[0] for s in args.settings.split(',') if s] or sorted(rows)
  missing = [k for k in order if k not in rows]
  if missing:
    raise SystemExit(f'no rows for {", ".join(missing)} in {args.output_dir} (have {", ".join(sorted(rows))})')
  result = {'rows': [rows[k] for k in order]}
  speed_path = os.path.join(args.output_dir, 'speed.json')
  if os.path.exists(speed_path):        # timed alone: the MC of the same run
    with open(speed_path) as f:
      speed = json.load(f)
    result.update(speed=speed['settings'], mc_events_per_s=speed['mc_events_per_s'])
  else:
    result['mc_events_per_s'] = mc_events_per_s(args.mc_events)
  with open(os.path.join(args.output_dir, 'cost_quality.json'), 'w') as f:
    json.dump(result, f, indent=1)
  print(table(result))
  return 0


def _cell(v):
  """value [95 % interval] and, in brackets, the MC-vs-MC value at the same sample size."""
  if v is None:
    return '–'
  out = f'{v["value"]:.3g} [{v["ci"][0]:.3g}, {v["ci"][1]:.3g}]'
  if 'mc_mc' in v:
    out += f' ({v["mc_mc"]:.3g})'
  elif 'null_interval' in v:
    out += f' (null {v["null_interval"][0]:.2f}–{v["null_interval"][1]:.2f})'
  return out


def table(result) -> str:
  rows, mc = result['rows'], result['mc_events_per_s']
  mc_rate = 1.0 / (sum(1.0 / r for r in mc.values()) / len(mc))   # events/s over the five types
  speed = result.get('speed')
  out = [f'MC (built-in, one process): {", ".join(f"{p} {r:.1f}" for p, r in mc.items())} events/s '
         f'({mc_rate:.1f} events/s over the five types)', '']
  if speed:
    out += ['| setting | network evaluations | images | images/s (report run) | images/s (timed alone) '
            '| × MC |', '|---|---|---|---|---|---|']
  else:
    out += ['| setting | network evaluations | images | images/s | × MC |', '|---|---|---|---|---|']
  for r in rows:
    alone = (speed or {}).get(r['setting'], {}).get('images_per_s')
    cells = [r['setting'], str(r['nfe']), str(r['n']), f'{r["images_per_s"]:.2f}']
    if speed:
      cells.append(f'{alone:.3g}' if alone else '–')
    rate = alone if speed else r['images_per_s']
    cells.append(f'{rate / mc_rate:.2g}' if rate else '–')
    out.append('| ' + ' | '.join(cells) + ' |')
  for c in rows[0]['classes']:
    names = list(rows[0]['classes'][c])
    out += ['', f'{c}s: value [95 % interval] (MC vs MC at the same sample size)', '',
            '| measure | ' + ' | '.join(r['setting'] for r in rows) + ' |',
            '|---|' + '---|' * len(rows)]
    for m in names:
      out.append(f'| {m} | ' + ' | '.join(_cell(r['classes'].get(c, {}).get(m)) for r in rows) + ' |')
  return '\n'.join(out)


if __name__ == '__main__':
  sys.exit(main())
