"""Fidelity report of a generated dataset against held-out MC (the test split).

Everything generated is compared with the MC test split, never with training
data, and every number comes with its MC-vs-MC baseline (two random halves of
the test split), so a reader sees what "as good as the MC" looks like:
- Hillas distributions: Wasserstein-1 and separation power per parameter,
  overall and per energy bin; difference of the correlation matrices;
- the reference group's test: a gamma/hadron CNN trained on the MC train split,
  its pass rates (score > 0.5, > 0.999) for MC test and generated images;
- a classifier two-sample test (MC vs generated, same class mix): held-out AUC;
- conditioning: per-class median size vs MC, and an energy/distance CNN trained
  on MC: fraction of generated images within one bin of the requested class;
- the plan: achieved per-class counts and energy histogram vs the metadata.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from taiga_tf import data as data_lib
from taiga_tf import hillas, metrics
from taiga_tf.camera import Camera
from taiga_tf.preprocessing import Preprocessing

PARAMS = ('log10_size', 'length', 'width', 'dist', 'alpha', 'con2', 'skewness', 'kurtosis')
THRESHOLDS = (0.5, 0.999)


@dataclasses.dataclass
class EvalConfig:
  generated: str
  reference: str
  data_dir: str
  output_dir: str
  classifier_dir: str | None = None   # default: <output_dir>/classifiers
  max_examples: int = 20000           # per side (generated, MC test)
  max_train: int = 20000              # MC train images per particle for the classifiers
  epochs: int = 4
  seed: int = 0


# ------------------------------------------------------------------ loading
def load_generated(path: str, max_examples: int) -> tuple[dict, dict]:
  b = tfds.builder_from_directory(path)
  ds = b.as_dataset(split='train').take(max_examples).map(
      lambda ex: {k: ex[k] for k in ('image', 'class_id', 'model_label', 'energy_bin',
                                     'distance_bin', 'particle')})
  cols = {}
  for batch in tfds.as_numpy(ds.batch(4096)):
    for k, v in batch.items():
      cols.setdefault(k, []).append(v)
  return {k: np.concatenate(v) for k, v in cols.items()}, dict(b.info.metadata)


def load_mc(spec, split, particle, max_examples, with_images=True):
  cols = data_lib.load_columns(spec, split, particle, with_images=with_images,
                               max_examples=max_examples)
  cols['class_id'] = cols.pop('label')
  return cols


def hillas_table(cam: Camera, images, cleaning) -> np.ndarray:
  par, _ = hillas.clean_and_parametrize(cam, cam.to_vector(images), cleaning['picture_pe'],
                                        cleaning['boundary_pe'], cleaning['brightest_island'])
  cols = [np.log10(1 + np.nan_to_num(par['size']))] + [par[k] for k in PARAMS[1:]]
  return np.stack(cols, axis=1)


def matched_indices(gen_cls, mc_cls, rng):
  """Per class, the same number of generated and MC examples (min of the two)."""
  gi, mi = [], []
  for c in np.intersect1d(gen_cls, mc_cls):
    g, m = np.flatnonzero(gen_cls == c), np.flatnonzero(mc_cls == c)
    k = min(len(g), len(m))
    gi.append(rng.choice(g, k, replace=False))
    mi.append(rng.choice(m, k, replace=False))
  return np.concatenate(gi), np.concatenate(mi)


# ------------------------------------------------------------------ classifiers
def _to_net(images, prep):
  return prep.forward(images).numpy()[..., None]


def train_classifier(name, x, targets: dict, heads: dict, cfg: EvalConfig, cache_dir, log):
  """Trains (or reloads from cache_dir) a small CNN; returns the Keras model."""
  import keras  # pylint: disable=g-import-not-at-top
  from taiga_tf.models.classifier import compile_classifier, image_classifier  # pylint: disable=g-import-not-at-top
  path = os.path.join(cache_dir, f'{name}.keras') if cache_dir else None
  if path and os.path.exists(path):
    log(f'evaluate: reusing {path}')
    return keras.models.load_model(path)
  keras.utils.set_random_seed(cfg.seed)
  model = compile_classifier(image_classifier(heads, x.shape[1], name=name), heads)
  t0 = time.time()
  model.fit(x, targets, batch_size=128, epochs=cfg.epochs, validation_split=0.1, verbose=0,
            shuffle=True)
  log(f'evaluate: trained {name} on {len(x)} images in {time.time() - t0:.0f} s')
  if path:
    os.makedirs(cache_dir, exist_ok=True)
    model.save(path)
  return model


def predict(model, x):
  out = model.predict(x, batch_size=512, verbose=0)
  return out if isinstance(out, dict) else {model.output_names[0]: out}


# ------------------------------------------------------------------ report
def evaluate(cfg: EvalConfig, log=print) -> dict:
  t0 = time.time()
  rng = np.random.default_rng(cfg.seed)
  os.makedirs(cfg.output_dir, exist_ok=True)
  prep = Preprocessing()
  gen, gen_meta = load_generated(cfg.generated, cfg.max_examples)
  spec = data_lib.open_dataset(cfg.reference, cfg.data_dir)
  cam = spec.camera
  cleaning = spec.builder.info.metadata['cleaning']
  particle = data_lib.PARTICLES[int(np.bincount(gen['particle']).argmax())]
  log(f'evaluate: {len(gen["class_id"])} generated {particle}s vs {spec.builder.info.full_name} test')
  mc = load_mc(spec, 'test', particle, cfg.max_examples)
  report = {'generated': os.path.abspath(cfg.generated), 'reference': spec.builder.info.full_name,
            'particle': particle, 'n_generated': int(len(gen['class_id'])),
            'n_mc_test': int(len(mc['class_id'])),
            'model_kind': gen_meta.get('model_kind', 'cgan'), 'sampling': gen_meta.get('sampling')}

  # --- Hillas distributions (class mix matched) and the MC-vs-MC baseline
  h_gen, h_mc = hillas_table(cam, gen['image'], cleaning), hillas_table(cam, mc['image'], cleaning)
  gi, mi = matched_indices(gen['class_id'], mc['class_id'], rng)
  perm = rng.permutation(len(mc['class_id']))
  half_a, half_b = perm[: len(perm) // 2], perm[len(perm) // 2:]
  dist = {}
  for j, p in enumerate(PARAMS):
    g, m = h_gen[gi, j], h_mc[mi, j]
    a, b = h_mc[half_a, j], h_mc[half_b, j]
    ok = lambda v: v[np.isfinite(v)]
    dist[p] = {'w1': metrics.wasserstein1(ok(g), ok(m)), 'sep': metrics.separation_power(g, m),
               'w1_mc_mc': metrics.wasserstein1(ok(a), ok(b)),
               'sep_mc_mc': metrics.separation_power(a, b)}
  per_energy = {}
  for k in range(spec.n_energy_bins):
    gk, mk = gi[gen['energy_bin'][gi] == k], mi[mc['energy_bin'][mi] == k]
    if min(len(gk), len(mk)) < 30:
      continue
    ak, bk = half_a[mc['energy_bin'][half_a] == k], half_b[mc['energy_bin'][half_b] == k]
    per_energy[k] = {p: {'w1': metrics.wasserstein1(*[v[np.isfinite(v)] for v in (h_gen[gk, j], h_mc[mk, j])]),
                         'sep': metrics.separation_power(h_gen[gk, j], h_mc[mk, j]),
                         'w1_mc_mc': metrics.wasserstein1(*[v[np.isfinite(v)] for v in (h_mc[ak, j], h_mc[bk, j])]),
                         'sep_mc_mc': metrics.separation_power(h_mc[ak, j], h_mc[bk, j]),
                         'n': int(len(gk))}
                     for j, p in enumerate(PARAMS)}
  fin = lambda t: t[np.all(np.isfinite(t), axis=1)]
  corr = metrics.correlation_difference(fin(h_gen[gi]), fin(h_mc[mi]))
  corr_base = metrics.correlation_difference(fin(h_mc[half_a]), fin(h_mc[half_b]))
  report['hillas'] = {'overall': dist, 'per_energy_bin': per_energy, 'matched_examples': int(len(gi)),
                      'correlation': {'max_abs_diff': corr['max_abs_diff'],
                                      'mean_abs_diff': corr['mean_abs_diff'],
                                      'max_abs_diff_mc_mc': corr_base['max_abs_diff'],
                                      'mean_abs_diff_mc_mc': corr_base['mean_abs_diff'],
                                      'params': list(PARAMS), 'generated': corr['corr_a'],
                                      'mc': corr['corr_b']}}
  log(f'evaluate: Hillas distances on {len(gi)} class-matched pairs')

  # --- conditioning: per-class median size
  size_g, size_m = 10 ** h_gen[:, 0] - 1, 10 ** h_mc[:, 0] - 1
  rel = []
  per_class = {}
  for c in np.intersect1d(gen['class_id'], mc['class_id']):
    g, m = size_g[gen['class_id'] == c], size_m[mc['class_id'] == c]
    if min(len(g), len(m)) >= 10 and np.median(m) > 0:
      r = (np.median(g) - np.median(m)) / np.median(m)
      rel.append(r)
      per_class[int(c)] = {'gen_median': float(np.median(g)), 'mc_median': float(np.median(m)),
                           'rel_err': float(r), 'n_gen': int(len(g)), 'n_mc': int(len(m))}
  report['conditioning'] = {'median_size_per_class': per_class,
                            'mean_abs_median_size_rel_err': float(np.mean(np.abs(rel))) if rel else None}

  # --- classifiers trained on MC train
  cache = cfg.classifier_dir or os.path.join(cfg.output_dir, 'classifiers')
  x_gen, x_mc = _to_net(gen['image'], prep), _to_net(mc['image'], prep)
  train = {p: load_mc(spec, 'train', p, cfg.max_train) for p in data_lib.PARTICLES}
  n = min(len(train['gamma']['class_id']), len(train['proton']['class_id']))
  x_tr = _to_net(np.concatenate([train[p]['image'][:n] for p in data_lib.PARTICLES]), prep)
  y_tr = np.r_[np.zeros(n), np.ones(n)].astype(np.float32)   # 1 = proton (hadron)
  gh = train_classifier('gamma_hadron', x_tr, {'hadron': y_tr}, {'hadron': 1}, cfg, cache, log)
  other = 'proton' if particle == 'gamma' else 'gamma'
  mc_other = load_mc(spec, 'test', other, cfg.max_examples)
  gamma_score = lambda x: 1.0 - predict(gh, x)['hadron'][:, 0]
  s_mc, s_gen, s_other = gamma_score(x_mc), gamma_score(x_gen), gamma_score(_to_net(mc_other['image'], prep))
  s_gammas, s_protons = (s_mc, s_other) if particle == 'gamma' else (s_other, s_mc)
  gh_rep = {'mean_gamma_score_mc': float(s_mc.mean()), 'mean_gamma_score_generated': float(s_gen.mean()),
            'auc_mc_gamma_vs_proton': metrics.auc(np.r_[np.ones(len(s_gammas)), np.zeros(len(s_protons))],
                                                  np.r_[s_gammas, s_protons])}
  for t in THRESHOLDS:
    gh_rep[f'pass_mc_{t}'] = float(np.mean(s_mc > t))
    gh_rep[f'pass_generated_{t}'] = float(np.mean(s_gen > t))
    gh_rep[f'pass_diff_{t}'] = gh_rep[f'pass_generated_{t}'] - gh_rep[f'pass_mc_{t}']
    gh_rep[f'pass_mc_{other}_{t}'] = float(np.mean(s_other > t))
  report['gamma_hadron'] = gh_rep
  log(f'evaluate: gamma/hadron CNN: MC {particle}s pass {gh_rep["pass_mc_0.5"]:.3f} (>0.5), '
      f'generated {gh_rep["pass_generated_0.5"]:.3f}')

  # energy / distance classifier on MC (the requested particle)
  tp = train[particle]
  x_p = _to_net(tp['image'], prep)
  ed = train_classifier(f'energy_distance_{particle}', x_p,
                        {'energy_bin': tp['energy_bin'], 'distance_bin': tp['distance_bin']},
                        {'energy_bin': spec.n_energy_bins, 'distance_bin': spec.n_distance_bins},
                        cfg, cache, log)

  def within_one(x, cols):
    p = predict(ed, x)
    e = np.abs(p['energy_bin'].argmax(1) - cols['energy_bin']) <= 1
    d = np.abs(p['distance_bin'].argmax(1) - cols['distance_bin']) <= 1
    return {'energy': float(e.mean()), 'distance': float(d.mean()), 'both': float((e & d).mean())}
  report['conditioning']['classifier_within_one_bin'] = {
      'generated': within_one(x_gen, gen), 'mc_test': within_one(x_mc, mc)}

  # two-sample test: MC test vs generated, same class mix, held-out AUC
  xs = np.concatenate([x_mc[mi], x_gen[gi]])
  ys = np.r_[np.zeros(len(mi)), np.ones(len(gi))].astype(np.float32)
  order = rng.permutation(len(ys))
  xs, ys = xs[order], ys[order]
  cut = len(ys) // 2
  c2st = train_classifier('two_sample', xs[:cut], {'generated': ys[:cut]}, {'generated': 1},
                          cfg, None, log)
  report['two_sample'] = {'auc': metrics.auc(ys[cut:], predict(c2st, xs[cut:])['generated'][:, 0]),
                          'n_train': int(cut), 'n_test': int(len(ys) - cut)}
  log(f'evaluate: classifier two-sample test AUC {report["two_sample"]["auc"]:.3f} (0.5 = indistinguishable)')

  # --- the plan
  planned = np.asarray(gen_meta.get('class_counts', []))
  if len(planned):
    got = np.bincount(gen['model_label'], minlength=len(planned))
    e_plan = planned.reshape(-1, spec.n_energy_bins, spec.n_distance_bins).sum((0, 2))
    e_got = got.reshape(-1, spec.n_energy_bins, spec.n_distance_bins).sum((0, 2))
    report['plan'] = {'plan': gen_meta.get('plan'), 'evaluated_all': bool(got.sum() == planned.sum()),
                      'max_abs_count_diff': int(np.abs(got - planned).max()) if got.sum() == planned.sum() else None,
                      'energy_hist_planned': e_plan.tolist(), 'energy_hist_generated': e_got.tolist()}

  report['seconds'] = time.time() - t0
  with open(os.path.join(cfg.output_dir, 'report.json'), 'w') as f:
    json.dump(report, f, indent=1, default=float)
  from taiga_tf import evaluation_plots  # pylint: disable=g-import-not-at-top
  pngs = evaluation_plots.write_all(cfg.output_dir, cam, spec, gen, mc, h_gen, h_mc, gi, mi,
                                    s_mc, s_gen, s_other, particle, other, report)
  write_tensorboard(cfg.output_dir, report, pngs)
  report['plots'] = pngs
  return report


def write_tensorboard(output_dir, report, pngs):
  w = tf.summary.create_file_writer(os.path.join(output_dir, 'tensorboard'))
  with w.as_default(step=0):
    for p, v in report['hillas']['overall'].items():
      for k, x in v.items():
        tf.summary.scalar(f'hillas/{p}/{k}', x)
    for k, v in report['gamma_hadron'].items():
      tf.summary.scalar(f'gamma_hadron/{k}', v)
    tf.summary.scalar('two_sample/auc', report['two_sample']['auc'])
    for k, v in report['conditioning']['classifier_within_one_bin']['generated'].items():
      tf.summary.scalar(f'conditioning/within_one_bin_{k}', v)
    if report['conditioning']['mean_abs_median_size_rel_err'] is not None:
      tf.summary.scalar('conditioning/mean_abs_median_size_rel_err',
                        report['conditioning']['mean_abs_median_size_rel_err'])
    for path in pngs:
      with open(path, 'rb') as f:
        tf.summary.image(os.path.splitext(os.path.basename(path))[0],
                         tf.image.decode_png(f.read())[None])
  w.flush()


def summary_table(report) -> str:
  g = report['gamma_hadron']
  rows = [('gamma/hadron pass rate > 0.5 (MC / generated)', f'{g["pass_mc_0.5"]:.3f} / {g["pass_generated_0.5"]:.3f}'),
          ('gamma/hadron pass rate > 0.999 (MC / generated)', f'{g["pass_mc_0.999"]:.3f} / {g["pass_generated_0.999"]:.3f}'),
          ('mean gamma score (MC / generated)', f'{g["mean_gamma_score_mc"]:.3f} / {g["mean_gamma_score_generated"]:.3f}'),
          ('two-sample AUC (0.5 = indistinguishable)', f'{report["two_sample"]["auc"]:.3f}')]
  c = report['conditioning']
  if c['mean_abs_median_size_rel_err'] is not None:
    rows.append(('mean |median size error| per class', f'{c["mean_abs_median_size_rel_err"]:.3f}'))
  wi = c['classifier_within_one_bin']
  rows.append(('within one energy bin (generated / MC)', f'{wi["generated"]["energy"]:.3f} / {wi["mc_test"]["energy"]:.3f}'))
  rows.append(('within one distance bin (generated / MC)', f'{wi["generated"]["distance"]:.3f} / {wi["mc_test"]["distance"]:.3f}'))
  for p, v in report['hillas']['overall'].items():
    rows.append((f'{p}: W1 / sep (MC-MC)', f'{v["w1"]:.3f} / {v["sep"]:.3f}  ({v["w1_mc_mc"]:.3f} / {v["sep_mc_mc"]:.3f})'))
  cr = report['hillas']['correlation']
  rows.append(('Hillas correlations: max |diff| (MC-MC)', f'{cr["max_abs_diff"]:.3f}  ({cr["max_abs_diff_mc_mc"]:.3f})'))
  w = max(len(r[0]) for r in rows)
  return '\n'.join(f'{a:<{w}}  {b}' for a, b in rows)
