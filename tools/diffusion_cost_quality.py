"""The cost-quality curve of a diffusion export: fidelity and speed per sampler setting.

  .venv/bin/python tools/diffusion_cost_quality.py --model=out/diffusion_taiga/saved_model \
      --data_dir=out/tensorflow_datasets --reference=taiga_iact/simulated \
      --settings=euler_maruyama:1000:300,heun:18:2000,dpmpp_2m:10:2000 --output_dir=out/cost_quality

Each setting `sampler:num_steps:num_examples` writes an imbalanced-plan dataset
with `taiga_tf.generate` (seed 1, so every setting starts from the same initial
noise) and evaluates it with `taiga_tf.evaluate` against the MC test split
(classifiers trained once, shared). Prints one row per setting: network
evaluations, images/s, two-sample AUCs (image, features), gamma/hadron pass rate, W1 of log10(size),
width and length next to their MC-vs-MC values; writes `<output_dir>/cost_quality.json`.
"""
import argparse
import json
import os
import sys

from absl import logging


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--model', required=True)
  ap.add_argument('--data_dir', required=True)
  ap.add_argument('--reference', default='taiga_iact/simulated')
  ap.add_argument('--settings', default='euler_maruyama:1000:300,heun:18:2000,dpmpp_2m:10:2000')
  ap.add_argument('--output_dir', default='out/cost_quality')
  ap.add_argument('--classifier_dir', default=None,
                  help='MC classifiers and calibration.json (default <output_dir>/classifiers)')
  ap.add_argument('--batch_size', type=int, default=128)
  args = ap.parse_args()
  logging.set_verbosity(logging.WARNING)
  from taiga_tf import evaluation, generation  # pylint: disable=g-import-not-at-top
  from taiga_tf.diffusion import solvers  # pylint: disable=g-import-not-at-top
  os.makedirs(args.output_dir, exist_ok=True)
  rows = []
  for setting in args.settings.split(','):
    name, steps, n = setting.split(':')
    steps, n = int(steps), int(n)
    tag = f'{name}_{steps}'
    gen_dir = os.path.join(args.output_dir, f'generated_{tag}')
    print(f'\n== {tag}: {solvers.nfe(name, steps)} network evaluations, {n} images', flush=True)
    if os.path.exists(gen_dir):
      with open(os.path.join(gen_dir, 'summary.json')) as f:
        gen = json.load(f)
    else:
      gen = generation.generate(generation.GenerateConfig(
          model=args.model, output_dir=gen_dir, plan='imbalanced', num_examples=n, seed=1,
          batch_size=args.batch_size, jit_compile='auto', data_dir=args.data_dir, sampler=name,
          num_steps=steps), log=lambda *a: print(*a, flush=True))
      with open(os.path.join(gen_dir, 'summary.json'), 'w') as f:
        json.dump(gen, f, default=str)
    rep = evaluation.evaluate(evaluation.EvalConfig(
        generated=gen_dir, reference=args.reference, data_dir=args.data_dir,
        output_dir=os.path.join(args.output_dir, f'eval_{tag}'),
        classifier_dir=args.classifier_dir or os.path.join(args.output_dir, 'classifiers')),
        log=lambda *a: print(*a, flush=True))
    g = rep['particles']['gamma']
    h, m = g['features']['overall'], g['measures']
    rows.append({'setting': tag, 'nfe': solvers.nfe(name, steps), 'n': n,
                 'images_per_s': gen['sampling_images_per_s'],
                 'auc': m['two_sample_auc_image']['value'], 'auc_ci': m['two_sample_auc_image']['ci'],
                 'auc_features': m['two_sample_auc_features']['value'],
                 'pass_0.5': g['gamma_hadron']['pass_generated_0.5'],
                 'pass_mc_0.5': g['gamma_hadron']['pass_mc_0.5'],
                 **{f'w1_{p}': h[p]['w1'] for p in ('log10_size', 'width', 'length')},
                 **{f'w1_{p}_mc_mc': h[p]['w1_mc_mc'] for p in ('log10_size', 'width', 'length')}})
  with open(os.path.join(args.output_dir, 'cost_quality.json'), 'w') as f:
    json.dump(rows, f, indent=1)
  print(f'\n{"setting":<20} {"NFE":>5} {"images":>6} {"img/s":>7} {"AUC":>6} {"AUC f":>6} {"pass>0.5":>8} '
        f'{"W1 log size":>12} {"W1 width":>14} {"W1 length":>14}')
  for r in rows:
    print(f'{r["setting"]:<20} {r["nfe"]:>5} {r["n"]:>6} {r["images_per_s"]:>7.2f} {r["auc"]:>6.3f} {r["auc_features"]:>6.3f} '
          f'{r["pass_0.5"]:>8.3f} {r["w1_log10_size"]:>5.3f} ({r["w1_log10_size_mc_mc"]:.3f}) '
          f'{r["w1_width"]:>6.4f} ({r["w1_width_mc_mc"]:.4f}) {r["w1_length"]:>6.4f} ({r["w1_length_mc_mc"]:.4f})')
  print(f'(MC test gammas pass > 0.5: {rows[0]["pass_mc_0.5"]:.3f}; MC-vs-MC W1 in brackets)')
  return 0


if __name__ == '__main__':
  sys.exit(main())
