"""End-to-end demo on the built-in data (Quickstart command 1).

  python tools/demo.py [--output_dir=out/demo] [--config=simulated_small]

1. `tfds build datasets/taiga_iact --config=simulated_small` (runs the built-in MC
   for gammas and protons, writes sharded TFRecords);
2. loads the result with `tfds.builder_from_directory` and prints a summary;
3. saves `examples.png`: example gamma and proton images drawn on the hexagonal
   camera, with their energy, impact distance and Hillas size;
4. trains the smoke cGAN (`python -m taiga_tf.train --flagfile=cgan_smoke.cfg`),
   which exports `cgan_smoke/saved_model`, and draws `cgan_smoke/generated_vs_mc.png`;
5. writes a balanced augmented dataset with it (`python -m taiga_tf.generate`);
6. calibrates the fidelity report on deliberately wrong sets of held-out MC
   (`python -m taiga_tf.evaluate --calibrate`), then evaluates that dataset against
   the MC test split (`python -m taiga_tf.evaluate`): each measure marked with
   whether it can tell noise and protons from MC gammas;
7. the same for the smoke score model (`--flagfile=diffusion_smoke.cfg`): train,
   export, `diffusion_smoke/generated_vs_mc.png`, generate, evaluate;
8. the second detector: `tfds build datasets/lartpc --config=simulated_small` (the
   built-in LArTPC MC writes larcv3 files, read back into 64 x 64 crops) and
   `lartpc_examples.png`: tracks and showers with their label images;
9. the smoke score model on those crops through the same apps
   (`--flagfile=diffusion_lartpc_smoke.cfg`): train, export, generate tracks and
   showers, and the LArTPC report (`evaluation_lartpc`: SSNet-FID, physics
   features, MMD, memorisation, two-sample AUC against the MC test split).
"""
import argparse
import os
import pathlib
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from taiga_tf import console  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position


def build(config: str, data_dir: pathlib.Path, download_dir: pathlib.Path, name='taiga_iact'):
  cmd = [os.path.join(os.path.dirname(sys.executable), 'tfds'), 'build',
         str(REPO / 'datasets' / name), f'--config={config}',
         f'--data_dir={data_dir}', f'--download_dir={download_dir}']
  print('$', ' '.join(cmd), flush=True)
  t0 = time.time()
  console.run_quiet(cmd)     # TensorFlow's start-up lines and the DatasetInfo repr filtered out
  print(f'tfds build finished in {time.time() - t0:.0f} s', flush=True)


def plot_lartpc_examples(builder, path, n_per_class=4):
  """Tracks and showers of the test split, each with its label image."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from taiga_tf.detectors.lartpc.plotting import examples_figure  # pylint: disable=g-import-not-at-top
  names = builder.info.features['particle'].names
  picked = {0: [], 1: []}
  for ex in tfds.as_numpy(builder.as_dataset(split='train')):
    c = int(ex['class_id'])
    if len(picked[c]) < n_per_class:
      picked[c].append(ex)
    if all(len(v) == n_per_class for v in picked.values()):
      break
  exs = picked[0] + picked[1]
  fig = examples_figure(exs, [f'{names[e["particle"]]} {e["momentum"]:.0f} MeV/c' for e in exs])
  fig.savefig(path, dpi=80)
  print(f'  wrote {path}')


PARTS = []      # (part of the demo, seconds): printed at the end


class part:  # pylint: disable=invalid-name
  """Times one part of the demo for the table at the end."""

  def __init__(self, name):
    self.name = name

  def __enter__(self):
    print(f'\n== {self.name}', flush=True)
    self.t0 = time.time()

  def __exit__(self, *exc):
    PARTS.append((self.name, time.time() - self.t0))


def run(cmd):
  print('\n$', ' '.join(str(c) for c in cmd), flush=True)
  subprocess.run(cmd, check=True)


def train_smoke(data_dir: pathlib.Path, workdir: pathlib.Path, config='cgan_smoke.cfg'):
  run([sys.executable, '-m', 'taiga_tf.train',
       f'--flagfile={REPO / "taiga_tf" / "configs" / config}',
       f'--data_dir={data_dir}', f'--workdir={workdir}'])


def generate_and_evaluate(model_dir, data_dir, out, name, reference, n, classifier_dir=None):
  generated = out / f'generated_{name}'
  run([sys.executable, '-m', 'taiga_tf.generate', f'--model={model_dir / "saved_model"}',
       '--plan=balanced', f'--num_examples={n}', f'--output_dir={generated}', '--seed=1',
       f'--data_dir={data_dir}', '--overwrite'])
  extra = [f'--classifier_dir={classifier_dir}'] if classifier_dir else []
  run([sys.executable, '-m', 'taiga_tf.evaluate', f'--generated={generated}',
       f'--reference={reference}', f'--data_dir={data_dir}',
       f'--output_dir={out / ("evaluation" if name == "balanced" else "evaluation_" + name)}',
       '--epochs=3', '--n_boot=100', *extra])
  return generated


def summarize(builder):
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  info = builder.info
  meta = info.metadata
  print(f'\nDataset {info.full_name} at {builder.data_path}')
  print(f'  camera {meta["camera"]["name"]}: {len(meta["camera"]["q"])} pixels, '
        f'image {meta["camera"]["square_size"]}x{meta["camera"]["square_size"]}; '
        f'distance = {meta["distance"]} ({meta["distance_unit"]})')
  for name, split in info.splits.items():
    print(f'  {name:<10} {split.num_examples:>7} examples in {split.num_shards} shards')
  ds = builder.as_dataset(split='train').map(
      lambda x: {k: x[k] for k in ('particle', 'energy', 'impact_distance', 'class_id')}
      | {'size': x['hillas']['size'], 'width': x['hillas']['width'],
         'alpha': x['hillas']['alpha']})
  cols = {}
  for batch in tfds.as_numpy(ds.batch(4096)):
    for k, v in batch.items():
      cols.setdefault(k, []).append(v)
  cols = {k: np.concatenate(v) for k, v in cols.items()}
  print(f'  {"particle":<8} {"events":>7} {"E median":>9} {"size med":>9} '
        f'{"width med":>10} {"alpha<10":>9}')
  for i, p in enumerate(info.features['particle'].names):
    m = cols['particle'] == i
    ok = m & (cols['size'] > 0)
    print(f'  {p:<8} {m.sum():>7} {np.median(cols["energy"][m]):>7.2f}TeV '
          f'{np.median(cols["size"][ok]):>7.0f}pe {np.median(cols["width"][ok]):>8.3f}deg '
          f'{np.mean(cols["alpha"][ok] < 10):>9.2f}')
  occ = np.bincount(cols['class_id'], minlength=100)
  print(f'  classes (10 energy x 10 distance): {np.sum(occ > 0)} of 100 occupied, '
        f'largest {occ.max()}, median {int(np.median(occ))} examples')
  return cols


def plot_examples(builder, path, n_per_particle=6):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from taiga_tf.detectors.taiga_iact.camera import Camera  # pylint: disable=g-import-not-at-top
  from taiga_tf.detectors.taiga_iact.plotting import draw_camera  # pylint: disable=g-import-not-at-top

  cam = Camera.from_dict(builder.info.metadata['camera'])
  picked = {0: [], 1: []}
  for ex in tfds.as_numpy(builder.as_dataset(split='test')):
    p = int(ex['particle'])
    if len(picked[p]) < n_per_particle and ex['hillas']['size'] > 150:
      picked[p].append(ex)
    if all(len(v) == n_per_particle for v in picked.values()):
      break
  fig, axes = plt.subplots(2, n_per_particle, figsize=(3.1 * n_per_particle, 6.4))
  names = builder.info.features['particle'].names
  for p, exs in picked.items():
    for j, ax in enumerate(axes[p]):
      ax.set_axis_off()
      if j >= len(exs):
        continue
      ex = exs[j]
      draw_camera(ax, cam, cam.to_vector(ex['image']))
      ax.set_title(f'{names[p]}  E={ex["energy"]:.1f} TeV\nd={ex["impact_distance"]:.0f} m  '
                   f'size={ex["hillas"]["size"]:.0f} pe', fontsize=9)
  fig.suptitle(f'{builder.info.full_name}: test-split images (photoelectrons)')
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  print(f'  wrote {path}')


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('--output_dir', default=str(REPO / 'out' / 'demo'))
  ap.add_argument('--config', default='simulated_small')
  args = ap.parse_args()
  out = pathlib.Path(args.output_dir)
  data_dir = out / 'tensorflow_datasets'
  t0 = time.time()
  console.start_tensorflow()     # quiet: TensorFlow's start-up lines, TFDS's deprecation warnings
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from taiga_tf import data as data_lib  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, str(REPO / 'tools'))
  import plot_generated  # pylint: disable=g-import-not-at-top
  reference = f'taiga_iact/{args.config}'
  with part(f'TAIGA-IACT: the built-in MC and tfds build {reference}'):
    build(args.config, data_dir, out / 'downloads')
    builder = tfds.builder_from_directory(
        data_lib.dataset_dir(reference, str(data_dir)))   # the newest version
    summarize(builder)
    plot_examples(builder, out / 'examples.png')
  workdir = out / 'cgan_smoke'
  with part('TAIGA-IACT: train and export the smoke cGAN'):
    train_smoke(data_dir, workdir)
    png, _ = plot_generated.plot(str(workdir), str(data_dir))
    print(f'  wrote {png}')
  with part('TAIGA-IACT: calibrate the report on wrong sets (trains the MC classifiers)'):
    # which measures of the report can see a bad generator at all: the report on deliberately
    # wrong sets of held-out MC (noise, protons, shifted classes, ...), kept beside the classifiers
    run([sys.executable, '-m', 'taiga_tf.evaluate', '--calibrate', f'--reference={reference}',
         f'--data_dir={data_dir}', f'--output_dir={out / "calibration"}',
         f'--classifier_dir={out / "evaluation" / "classifiers"}', '--epochs=3', '--n_boot=100'])
  with part('TAIGA-IACT: generate a balanced dataset with the cGAN and report on it'):
    generated = generate_and_evaluate(workdir, data_dir, out, 'balanced', reference, 2000)
  # the score model through the same apps (smoke: a tiny U-Net, Heun with 6 steps)
  dworkdir = out / 'diffusion_smoke'
  with part('TAIGA-IACT: train and export the smoke score model'):
    train_smoke(data_dir, dworkdir, 'diffusion_smoke.cfg')
    png, _ = plot_generated.plot(str(dworkdir), str(data_dir), n_generated=50)
    print(f'  wrote {png}')
  with part('TAIGA-IACT: generate with the score model and report on it'):
    dgenerated = generate_and_evaluate(dworkdir, data_dir, out, 'diffusion', reference, 500,
                                       out / 'evaluation' / 'classifiers')
  with part('LArTPC: the built-in MC and tfds build lartpc/simulated_small'):
    build('simulated_small', data_dir, out / 'downloads', name='lartpc')
    lbuilder = tfds.builder_from_directory(
        data_lib.dataset_dir('lartpc/simulated_small', str(data_dir)))
    print('  lartpc/simulated_small: ' + ', '.join(f'{k} {v.num_examples}'
                                                     for k, v in lbuilder.info.splits.items()))
    plot_lartpc_examples(lbuilder, out / 'lartpc_examples.png')
  lworkdir = out / 'diffusion_lartpc_smoke'
  with part('LArTPC: train and export the smoke score model'):
    train_smoke(data_dir, lworkdir, 'diffusion_lartpc_smoke.cfg')
  with part('LArTPC: generate tracks and showers and report on them'):
    lgenerated = generate_and_evaluate(lworkdir, data_dir, out, 'lartpc', 'lartpc/simulated_small',
                                       200)
  print('\ndemo: what each part took')
  for name, sec in PARTS:
    print(f'  {sec:6.0f} s  {name}')
  print(f'\ndemo: built {reference} '
        f'({sum(s.num_examples for s in builder.info.splits.values())} events), wrote '
        f'{out / "examples.png"}; cGAN: {workdir / "saved_model"} -> {generated} -> '
        f'{out / "evaluation"}; diffusion: {dworkdir / "saved_model"} -> {dgenerated} -> '
        f'{out / "evaluation_diffusion"}; lartpc/simulated_small -> {out / "lartpc_examples.png"}, '
        f'{lworkdir / "saved_model"} -> {lgenerated} -> {out / "evaluation_lartpc"}; '
        f'in {time.time() - t0:.0f} s')

if __name__ == '__main__':
  main()
