"""PNG of generated images per energy class next to MC images of the same class.

  .venv/bin/python tools/plot_generated.py --workdir=out/cgan_taiga \
      --data_dir=out/tensorflow_datasets [--distance_bin=2] [--out=generated_vs_mc.png] [--particle=proton]

Rows: energy bins; left columns: MC test-split images of class
(energy_bin, distance_bin); right columns: images the exported SavedModel
generates for that class. Each row is labelled with the MC and generated median
Hillas size of the class (held-out MC, --n_generated generated images, default 200).
"""
import argparse
import json
import os
import pathlib
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def plot(workdir, data_dir, distance_bin=2, n_show=3, out=None, seed=2024, n_generated=200,
         particle=None):
  """particle: for a model conditioned on the particle (--condition_on_particle), which one."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from taiga_tf import data as data_lib
  from taiga_tf.detectors.taiga_iact.plotting import draw_camera  # pylint: disable=g-import-not-at-top

  with open(os.path.join(workdir, 'config.json')) as f:
    info = json.load(f)
  tc = info['train_config']
  spec = data_lib.open_dataset(tc['dataset'], data_dir)
  det = spec.detector
  if det.name != 'taiga_iact':
    raise ValueError(f'{tc["dataset"]}: this figure is drawn for taiga_iact models')
  cam = det.camera
  particle = particle or tc['particle']
  if particle != tc['particle'] and not tc.get('condition_on_particle'):
    raise ValueError(f'the model of {workdir} makes {tc["particle"]}s only')
  # a particle-conditioned model's labels: class_id + n_classes * particle
  offset = spec.n_classes * spec.particles.index(particle) if tc.get('condition_on_particle') else 0
  mc = data_lib.load_columns(spec, 'test', particle, with_images=True)
  model = tf.saved_model.load(os.path.join(workdir, 'saved_model'))
  n_e = det.n_energy_bins
  fig, axes = plt.subplots(n_e, 2 * n_show, figsize=(2.0 * 2 * n_show, 2.1 * n_e), squeeze=False)
  rows = []
  for k in range(n_e):
    cls = k * det.n_distance_bins + distance_bin
    sel = np.flatnonzero((mc['energy_bin'] == k) & (mc['distance_bin'] == distance_bin))
    gen = model.generate(class_id=tf.fill([n_generated], cls + offset),
                         seed=tf.constant([seed, k], tf.int64))
    gen_px = gen['pixels'].numpy()
    g_med = float(np.median(det.summary_feature(gen['image'].numpy())))
    m_med = float(np.median(mc['size'][sel])) if len(sel) else float('nan')
    rows.append({'energy_bin': k, 'class_id': cls, 'mc_events': int(len(sel)),
                 'mc_median_size': m_med, 'gen_median_size': g_med})
    # one colour scale per row, set by the MC images (generated ones may saturate)
    vmax = max([mc['image'][i].max() for i in sel[:n_show]] or [gen_px[:n_show].max()])
    for j in range(n_show):
      ax = axes[k][j]
      if j < len(sel):
        draw_camera(ax, cam, cam.to_vector(mc['image'][sel[j]]), vmax=vmax, colorbar=False)
      elif j == 0:
        ax.text(0.5, 0.5, 'no MC event\nin this class', ha='center', va='center',
                transform=ax.transAxes, fontsize=8)
      ax = axes[k][n_show + j]
      draw_camera(ax, cam, gen_px[j], vmax=vmax, colorbar=False)
    for ax in axes[k]:
      ax.set_xticks([]), ax.set_yticks([])
    e_lo, e_hi = det.energy_edges[k], det.energy_edges[k + 1]
    axes[k][0].set_ylabel(f'E {e_lo:.1f}-{e_hi:.1f} TeV\nMC med {m_med:.0f} pe', fontsize=8)
    axes[k][n_show].set_ylabel(f'gen med {g_med:.0f} pe', fontsize=8)
  d_lo, d_hi = det.distance_edges[distance_bin], det.distance_edges[distance_bin + 1]
  axes[0][0].set_title('MC (test split)', fontsize=9)
  axes[0][n_show].set_title('generated (SavedModel)', fontsize=9)
  fig.suptitle(f'{info["dataset"]}: {particle}s, distance {d_lo:.0f}-{d_hi:.0f} '
               f'{info.get("distance", "")}, model {workdir}', fontsize=10)
  fig.tight_layout()
  out = out or os.path.join(workdir, 'generated_vs_mc.png')
  fig.savefig(out, dpi=80)
  plt.close(fig)
  return out, rows


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--workdir', required=True)
  ap.add_argument('--data_dir', required=True)
  ap.add_argument('--distance_bin', type=int, default=2)
  ap.add_argument('--out', default=None)
  ap.add_argument('--n_generated', type=int, default=200,
                  help='images generated per energy bin for the median size')
  ap.add_argument('--particle', default=None, choices=['gamma', 'proton'],
                  help='for a model conditioned on the particle: which one (default: the config\'s)')
  args = ap.parse_args()
  out, rows = plot(args.workdir, args.data_dir, args.distance_bin, out=args.out,
                   n_generated=args.n_generated, particle=args.particle)
  print(f'{"energy bin":>10} {"class":>6} {"MC events":>9} {"MC median":>10} {"gen median":>10}')
  for r in rows:
    print(f'{r["energy_bin"]:>10} {r["class_id"]:>6} {r["mc_events"]:>9} '
          f'{r["mc_median_size"]:>10.0f} {r["gen_median_size"]:>10.0f}')
  print(f'plot_generated: wrote {out}')


if __name__ == '__main__':
  main()
