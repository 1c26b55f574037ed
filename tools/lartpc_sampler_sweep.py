"""LArTPC score model: sampler variants on one checkpoint, scored by the SSNet-FID of tracks.

  .venv/bin/python tools/lartpc_sampler_sweep.py --workdir=out/diffusion_lartpc_4000 \
      --data_dir=out/tensorflow_datasets --classifier_dir=out/lartpc_cost_quality/classifiers \
      --n=64 --variants="heun,steps=18;heun,steps=50;dpmpp_2m_sde,steps=35;euler_ancestral,steps=35"

A quick look at which solver suits a model before writing datasets and full reports
(tools/lartpc_cost_quality.py): each variant draws the same n tracks (seed 1,
samples 0..n-1, the EMA weights of the checkpoint) and prints the Fréchet distance
of their SSNet embeddings to all MC test tracks, beside n MC test tracks against the
rest, and the means of a few physics features (generated / MC). A variant is
`sampler,key=value,...`: steps, g (guidance weight), sigma_max, sigma_min and rho
(override the model's schedule) and the solver's own keyword arguments (s_churn,
s_tmin, s_tmax, s_noise for edm_stochastic). The SSNet is the report's, cached in
classifier_dir (trained there first if absent).
"""
import argparse
import dataclasses
import os
import sys
import time

import numpy as np


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--workdir', required=True, help='a taiga_tf.train workdir of a LArTPC score model')
  ap.add_argument('--checkpoint', default=None, help='default: the latest in <workdir>/checkpoints')
  ap.add_argument('--data_dir', required=True)
  ap.add_argument('--reference', default='lartpc/simulated')
  ap.add_argument('--classifier_dir', required=True)
  ap.add_argument('--n', type=int, default=64)
  ap.add_argument('--variants', required=True, help='sampler,key=value,...;sampler,...')
  args = ap.parse_args()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from taiga_tf import detectors, noise as noise_lib, preprocessing as prep_lib, training  # pylint: disable=g-import-not-at-top
  from taiga_tf.diffusion import sampling, solvers  # pylint: disable=g-import-not-at-top
  from taiga_tf.evaluation.common import EvalConfig  # pylint: disable=g-import-not-at-top
  from taiga_tf.evaluation.lartpc import report as rp  # pylint: disable=g-import-not-at-top

  info = training.stored_config(args.workdir)
  if info is None or info.get('model') != 'diffusion' or info.get('detector') != 'lartpc':
    sys.exit(f'{args.workdir} is not the workdir of a LArTPC score model')
  cfg = training.TrainConfig(**{**info['train_config'], 'workdir': args.workdir})
  model = training.build_model(cfg, detectors.from_metadata(info), tf.distribute.get_strategy(),
                               info.get('state', {}))
  ckpt = args.checkpoint or tf.train.latest_checkpoint(os.path.join(args.workdir, 'checkpoints'))
  if not ckpt:
    sys.exit(f'no checkpoint in {args.workdir}/checkpoints')
  tf.train.Checkpoint(**model.checkpoint_items()).restore(ckpt).expect_partial()
  net, prep, n = model.ema_network(), prep_lib.from_dict(info['preprocessing']), args.n
  size = model.cfg.unet.image_size
  mask = tf.ones([size, size])
  ctx = rp.Context(EvalConfig(generated='-', reference=args.reference, data_dir=args.data_dir,
                              output_dir=args.classifier_dir, classifier_dir=args.classifier_dir),
                   log=lambda *a: None)
  mc = ctx.mc('track')
  if len(mc['embedding']) < 2 * n:
    sys.exit(f'{len(mc["embedding"])} MC test tracks: fewer than 2 n = {2 * n}')
  half = rp.frechet_distance(mc['embedding'][:n], mc['embedding'][n:])
  names = ('track_width', 'n_clusters', 'occupancy', 'log10_total_charge')
  cols = [rp.feat.FEATURES.index(k) for k in names]
  mean = lambda f: '  '.join(f'{k} {np.nanmean(f[:, j]):.3g}' for k, j in zip(names, cols))
  print(f'{ckpt}: {n} tracks per variant; MC: {n} test tracks against the rest FID {half:.3g}, '
        f'{mean(mc["features"])}', flush=True)
  idx = tf.range(n, dtype=tf.int64)
  noise = noise_lib.per_sample_image_noise(tf.constant([1, 0], tf.int64), idx, [size, size, 1],
                                           mask[:, :, None])
  for variant in args.variants.split(';'):
    name, *kv = variant.split(',')
    kw = {k: float(v) for k, v in (x.split('=') for x in kv)}
    steps, g = int(kw.pop('steps', solvers.DEFAULT_STEPS.get(name, 18))), kw.pop('g', 1.0)
    over = {k: kw.pop(k) for k in ('sigma_max', 'sigma_min', 'rho') if k in kw}
    ecfg = dataclasses.replace(model.cfg.edm, **over)
    den = sampling.guided_denoiser(net, mask, ecfg, tf.zeros([n], tf.int32), model.cfg.unet.num_classes, g)
    fn = getattr(solvers, name)
    t0 = time.time()
    if name in ('euler_maruyama', 'pc'):
      x = tf.function(lambda: fn(den, noise, steps, **kw))()
    else:
      x = tf.function(lambda: fn(den, noise, steps, ecfg, **kw))()
    seconds = time.time() - t0
    g_ = ctx.derive({'image': prep.inverse(x[..., 0]).numpy().astype(np.float32),
                     'class_id': np.zeros(n, np.int64)})
    try:
      fid = f'{rp.frechet_distance(g_["embedding"], mc["embedding"]):.3g}'
    except (ValueError, np.linalg.LinAlgError) as e:      # e.g. non-finite images
      fid = f'failed ({e})'
    print(f'{variant:45s} FID {fid:>8s}  {seconds:6.1f} s  {mean(g_["features"])}', flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
