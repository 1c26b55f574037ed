"""The TAIGA-IACT fidelity report of a generated dataset against held-out MC, and its
calibration.

Everything generated is compared with an MC split the models never trained on
(`mc_split`, default the test split; 'validation+test' for twice the events),
per particle present in the generated set (a model conditioned on the particle
is reported for gammas and protons). Every number comes with a bootstrap 95 %
interval and its MC-vs-MC baseline (the same measure between two random halves
of the MC, over several random splits), and, once `calibrate` has been run, a
mark saying whether the measure can see a bad generator at all (see
taiga_tf.evaluation.calibration and .wrong_sets). The measures, each oriented so
that larger is worse:

- two_sample_auc_image: a CNN told to separate MC from generated images (given
  the requested energy and distance bins too, so a wrong class is visible),
  trained until its validation loss stops improving; held-out ROC AUC;
- two_sample_auc_features: the same test with gradient-boosted trees on the
  Hillas parameters, leakage and concentration (ctapipe's definitions) and the bins;
- pass_diff_0.5 / pass_diff_0.999: |generated - MC| fraction recognised as the
  particle by the reference group's gamma/hadron CNN (trained on MC until its
  validation loss stops improving; its own ROC AUC and gamma efficiency at the
  proton rejection it reaches are in the report);
- w1_<param>: Wasserstein-1 of each Hillas parameter, class mix matched;
- corr_max_abs_diff: largest difference of the Hillas correlation matrices;
- median_size_err: mean |relative error| of the per-class median size;
- energy_cnn_deficit / distance_cnn_deficit: how much less often an MC-trained
  energy/distance CNN puts generated images within one bin of the requested
  class than MC images.
Per energy bin: both two-sample AUCs and the W1 of size, width and length.
"""
from __future__ import annotations

import os
import time

import numpy as np

from taiga_tf import data as data_lib
from taiga_tf import metrics
from taiga_tf.detectors.taiga_iact.detector import FEATURES, PARAMS, PARTICLES
from taiga_tf.evaluation import calibration as calib
from taiga_tf.evaluation import common
from taiga_tf.evaluation import inputs
from taiga_tf.evaluation.common import (EvalConfig, NoOverlapError, feature_auc_scores,
                                        matched_indices, measure, predict, to_net,
                                        train_classifier, w1)
from taiga_tf.evaluation.taiga_iact import wrong_sets

THRESHOLDS = (0.5, 0.999)
BIN_PARAMS = ('log10_size', 'width', 'length')
MIN_PER_BIN = 30


# ------------------------------------------------------------------ loading
def load_mc(spec, split, particle, max_examples, with_images=True):
  cols = data_lib.load_columns(spec, split, particle, with_images=with_images,
                               max_examples=max_examples)
  cols.pop('label')
  cols.pop('size', None)
  cols['particle'] = np.full(len(cols['class_id']), PARTICLES.index(particle), np.int64)
  return cols


# ------------------------------------------------------------------ classifiers
def _condition(cols, det) -> np.ndarray:
  eye_e, eye_d = np.eye(det.n_energy_bins, dtype=np.float32), np.eye(det.n_distance_bins, dtype=np.float32)
  return np.concatenate([eye_e[cols['energy_bin']], eye_d[cols['distance_bin']]], axis=1)


# ------------------------------------------------------------------ the context
class Context(common.BaseContext):
  """What every comparison shares: the MC, its features, the MC-trained classifiers."""

  def __init__(self, cfg: EvalConfig, log=print, spec=None):
    super().__init__(cfg, log, spec)
    self._mc, self._ed = {}, {}
    self._gh = None

  def features(self, images):
    return self.det.report_features(images)

  def mc(self, particle, split=None) -> dict:
    split = split or self.cfg.mc_split
    if (particle, split) not in self._mc:
      cols = load_mc(self.spec, split, particle, self.cfg.max_examples)
      if not len(cols['class_id']):
        raise ValueError(f'{self.spec.builder.info.full_name} split {split!r} has no {particle}s')
      cols['features'] = self.features(cols['image'])
      cols['x'] = to_net(cols['image'], self.prep)
      self._mc[(particle, split)] = cols
    return self._mc[(particle, split)]

  def gamma_hadron(self):
    """The gamma/hadron CNN on MC train, and its own quality on the MC split."""
    if self._gh is None:
      train = {p: load_mc(self.spec, 'train', p, self.cfg.max_train) for p in PARTICLES}
      n = min(len(train['gamma']['class_id']), len(train['proton']['class_id']))
      x = to_net(np.concatenate([train[p]['image'][:n] for p in PARTICLES]), self.prep)
      y = np.r_[np.zeros(n), np.ones(n)].astype(np.float32)   # 1 = proton (hadron)
      model, info = train_classifier('gamma_hadron', x, {'hadron': y}, {'hadron': 1}, self.cfg,
                                     self.cache, self.log, key=self.key)
      score = lambda xx: 1.0 - predict(model, xx)['hadron'][:, 0]        # gamma score
      sg, sp = score(self.mc('gamma')['x']), score(self.mc('proton')['x'])
      auc = lambda a, b: metrics.auc(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b])
      quality = {'training': info, 'mc_split': self.cfg.mc_split,
                 'auc_gamma_vs_proton': auc(sg, sp),
                 'auc_gamma_vs_proton_ci': metrics.bootstrap_ci(auc, [sg, sp], self.cfg.n_boot,
                                                                self.cfg.seed),
                 'at_threshold': {str(t): {
                     'gamma_efficiency': float(np.mean(sg > t)),
                     'proton_rejection': float(np.mean(sp <= t))} for t in THRESHOLDS},
                 'gamma_efficiency_at_proton_rejection': {
                     str(r): metrics.efficiency_at_rejection(sg, sp, r) for r in (0.9, 0.99)}}
      self._gh = (score, quality)
      self.log(f'evaluate: gamma/hadron CNN on MC {self.cfg.mc_split}: ROC AUC '
               f'{quality["auc_gamma_vs_proton"]:.3f}, at 0.5 gamma efficiency '
               f'{quality["at_threshold"]["0.5"]["gamma_efficiency"]:.3f}, proton rejection '
               f'{quality["at_threshold"]["0.5"]["proton_rejection"]:.3f}')
    return self._gh

  def energy_distance(self, particle):
    if particle not in self._ed:
      tp = load_mc(self.spec, 'train', particle, self.cfg.max_train)
      model, _ = train_classifier(
          f'energy_distance_{particle}', to_net(tp['image'], self.prep),
          {'energy_bin': tp['energy_bin'], 'distance_bin': tp['distance_bin']},
          {'energy_bin': self.det.n_energy_bins, 'distance_bin': self.det.n_distance_bins},
          self.cfg, self.cache, self.log, key=self.key)
      self._ed[particle] = model
    return self._ed[particle]


# ------------------------------------------------------------------ one comparison
def _median_size_err(size_g, cls_g, size_m, cls_m, per_class=None):
  rel = []
  for c in np.intersect1d(cls_g, cls_m):
    g, m = size_g[cls_g == c], size_m[cls_m == c]
    if min(len(g), len(m)) >= 10 and np.median(m) > 0:
      r = (np.median(g) - np.median(m)) / np.median(m)
      rel.append(r)
      if per_class is not None:
        per_class[int(c)] = {'gen_median': float(np.median(g)), 'mc_median': float(np.median(m)),
                             'rel_err': float(r), 'n_gen': int(len(g)), 'n_mc': int(len(m))}
  return float(np.mean(np.abs(rel))) if rel else float('nan')


def compare(ctx: Context, gen: dict, particle: str, seed: int = 0) -> dict:
  """The report of one particle: generated columns (image, class_id, energy_bin,
  distance_bin) against the MC of that particle. Returns a dict with 'measures'."""
  return common.nan_quiet(_compare, ctx, gen, particle, seed)


def _compare(ctx, gen, particle, seed):
  cfg, log = ctx.cfg, ctx.log
  rng = np.random.default_rng(seed)
  nb = cfg.n_boot
  mc = ctx.mc(particle)
  other = 'proton' if particle == 'gamma' else 'gamma'
  f_gen = gen['features'] if 'features' in gen else ctx.features(gen['image'])
  f_mc = mc['features']
  x_gen = gen['x'] if 'x' in gen else to_net(gen['image'], ctx.prep)
  gi, mi = matched_indices(gen['class_id'], mc['class_id'], rng)
  if len(gi) < 2:
    raise NoOverlapError(f'the generated {particle}s share no class with the MC {cfg.mc_split} '
                         f'split ({len(gi)} class-matched events)')
  splits = []
  for _ in range(cfg.n_mc_splits):
    perm = rng.permutation(len(mc['class_id']))
    splits.append((perm[: len(perm) // 2], perm[len(perm) // 2:]))
  rep = {'n_generated': int(len(gen['class_id'])), 'n_mc': int(len(mc['class_id'])),
         'matched_examples': int(len(gi))}
  measures = {}

  # --- two-sample tests: MC vs generated, same class mix, held-out half
  ys = np.r_[np.zeros(len(mi)), np.ones(len(gi))].astype(np.float32)
  x_all = np.concatenate([mc['x'][mi], x_gen[gi]])
  c_all = np.concatenate([_condition(mc, ctx.det)[mi], _condition(gen, ctx.det)[gi]])
  f_all = np.concatenate([f_mc[mi], f_gen[gi]])
  e_all = np.r_[mc['energy_bin'][mi], gen['energy_bin'][gi]]
  bins_all = np.stack([e_all, np.r_[mc['distance_bin'][mi], gen['distance_bin'][gi]]], 1)
  order = rng.permutation(len(ys))
  tr, te = order[: len(ys) // 2], order[len(ys) // 2:]
  c2st, c2st_info = train_classifier('two_sample', {'image': x_all[tr], 'condition': c_all[tr]},
                             {'generated': ys[tr]}, {'generated': 1}, cfg, None, lambda *a: None,
                             n_condition=c_all.shape[1])
  s_img = predict(c2st, {'image': x_all[te], 'condition': c_all[te]})['generated'][:, 0]
  s_feat = feature_auc_scores(np.c_[f_all[tr], bins_all[tr]], ys[tr], np.c_[f_all[te], bins_all[te]],
                              cfg.seed)
  y_te = ys[te]
  null = metrics.auc_null_interval(int(y_te.sum()), int(len(y_te) - y_te.sum()))
  auc_ci = lambda s, y=y_te: metrics.bootstrap_ci(
      lambda p, n: metrics.auc(np.r_[np.ones(len(p)), np.zeros(len(n))], np.r_[p, n]),
      [s[y == 1], s[y == 0]], nb, cfg.seed)
  for name, s in (('two_sample_auc_image', s_img), ('two_sample_auc_features', s_feat)):
    measures[name] = measure(metrics.auc(y_te, s), auc_ci(s))
    measures[name]['null_interval'] = null
  rep['two_sample'] = {'n_train': int(len(tr)), 'n_test': int(len(te)), 'image_cnn_training': c2st_info,
                       'features': list(FEATURES) + ['energy_bin', 'distance_bin']}
  log(f'evaluate: {particle}s: two-sample AUC image {measures["two_sample_auc_image"]["value"]:.3f}, '
      f'features {measures["two_sample_auc_features"]["value"]:.3f}')

  # --- the gamma/hadron CNN: recognised as the particle
  gamma_score, _ = ctx.gamma_hadron()
  as_particle = (lambda s: s) if particle == 'gamma' else (lambda s: 1.0 - s)
  s_gen, s_mc = as_particle(gamma_score(x_gen)), as_particle(gamma_score(mc['x']))
  s_other = as_particle(gamma_score(ctx.mc(other)['x']))
  gh = {'score_means': {'generated': float(s_gen.mean()), 'mc': float(s_mc.mean())}}
  rate_ci = lambda v, t: metrics.bootstrap_ci(lambda x: np.mean(x > t), [v], nb, cfg.seed)
  for t in THRESHOLDS:
    gh[f'pass_generated_{t}'] = float(np.mean(s_gen > t))
    gh[f'pass_mc_{t}'] = float(np.mean(s_mc > t))
    gh[f'pass_generated_{t}_ci'] = rate_ci(s_gen, t)
    gh[f'pass_mc_{t}_ci'] = rate_ci(s_mc, t)
    gh[f'pass_mc_{other}_{t}'] = float(np.mean(s_other > t))
    diff = lambda a, b, t=t: abs(np.mean(a > t) - np.mean(b > t))
    measures[f'pass_diff_{t}'] = measure(diff(s_gen, s_mc), metrics.bootstrap_ci(diff, [s_gen, s_mc], nb, cfg.seed),
                                          [diff(s_mc[a], s_mc[b]) for a, b in splits])
  rep['gamma_hadron'] = gh
  rep['_scores'] = (s_gen, s_mc, s_other)

  # --- feature distributions, class mix matched
  overall = {}
  for j, p in enumerate(FEATURES):
    g, m = f_gen[gi, j], f_mc[mi, j]
    base = [w1(f_mc[a, j], f_mc[b, j]) for a, b in splits]
    overall[p] = {'w1': w1(g, m), 'w1_ci': metrics.bootstrap_ci(w1, [g, m], nb, cfg.seed),
                  'w1_mc_mc': float(np.nanmean(base)), 'w1_mc_mc_range': [float(np.nanmin(base)), float(np.nanmax(base))],
                  'sep': metrics.separation_power(g, m),
                  'sep_mc_mc': float(np.nanmean([metrics.separation_power(f_mc[a, j], f_mc[b, j]) for a, b in splits]))}
    if p in PARAMS:
      measures[f'w1_{p}'] = measure(overall[p]['w1'], overall[p]['w1_ci'], base)
  fin = lambda t: t[np.all(np.isfinite(t), axis=1)]
  corr = lambda a, b: metrics.correlation_difference(fin(a), fin(b))['max_abs_diff']
  hp = len(PARAMS)
  c = metrics.correlation_difference(fin(f_gen[gi, :hp]), fin(f_mc[mi, :hp]))
  measures['corr_max_abs_diff'] = measure(
      c['max_abs_diff'], metrics.bootstrap_ci(corr, [f_gen[gi, :hp], f_mc[mi, :hp]], nb, cfg.seed),
      [corr(f_mc[a, :hp], f_mc[b, :hp]) for a, b in splits])
  rep['features'] = {'overall': overall, 'correlation': {'params': list(PARAMS), 'generated': c['corr_a'],
                                                         'mc': c['corr_b']}}

  # --- conditioning: per-class median size, energy/distance CNN
  size_g, size_m = 10 ** f_gen[:, 0] - 1, 10 ** f_mc[:, 0] - 1
  per_class = {}
  mse = lambda ig, im: _median_size_err(size_g[ig], gen['class_id'][ig], size_m[im], mc['class_id'][im])
  all_g, all_m = np.arange(len(size_g)), np.arange(len(size_m))
  value = _median_size_err(size_g, gen['class_id'], size_m, mc['class_id'], per_class)
  measures['median_size_err'] = measure(value, metrics.bootstrap_ci(mse, [all_g, all_m], min(nb, 100), cfg.seed),
                                         [_median_size_err(size_m[a], mc['class_id'][a], size_m[b],
                                                           mc['class_id'][b]) for a, b in splits])
  ed = ctx.energy_distance(particle)

  def within(x, cols):
    p = predict(ed, x)
    return (np.abs(p['energy_bin'].argmax(1) - cols['energy_bin']) <= 1,
            np.abs(p['distance_bin'].argmax(1) - cols['distance_bin']) <= 1)
  (eg, dg), (em, dm) = within(x_gen, gen), within(mc['x'], mc)
  deficit = lambda m, g: float(np.mean(m) - np.mean(g))
  absdef = lambda m, g: abs(deficit(m, g))
  for name, g, m in (('energy', eg, em), ('distance', dg, dm)):
    measures[f'{name}_cnn_deficit'] = measure(deficit(m, g), metrics.bootstrap_ci(deficit, [m, g], nb, cfg.seed),
                                               [absdef(m[a], m[b]) for a, b in splits])
  rep['conditioning'] = {'median_size_per_class': per_class,
                         'classifier_within_one_bin': {
                             'generated': {'energy': float(eg.mean()), 'distance': float(dg.mean()),
                                           'both': float((eg & dg).mean())},
                             'mc': {'energy': float(em.mean()), 'distance': float(dm.mean()),
                                    'both': float((em & dm).mean())}}}

  # --- per energy bin
  per_bin = {}
  e_te = e_all[te]
  for k in range(ctx.det.n_energy_bins):
    gk, mk = gi[gen['energy_bin'][gi] == k], mi[mc['energy_bin'][mi] == k]
    sel = e_te == k
    if min(len(gk), len(mk)) < MIN_PER_BIN or min(y_te[sel].sum(), (1 - y_te[sel]).sum()) < 5:
      continue
    row = {'n_generated': int(len(gk)), 'n_mc': int(len(mk)),
           'energy_tev': [float(ctx.det.energy_edges[k]), float(ctx.det.energy_edges[k + 1])]}
    ys_k = y_te[sel]
    for name, s in (('two_sample_auc_image', s_img), ('two_sample_auc_features', s_feat)):
      row[name] = metrics.auc(ys_k, s[sel])
      row[f'{name}_ci'] = auc_ci(s[sel], ys_k)
    for p in BIN_PARAMS:
      j = FEATURES.index(p)
      base = []
      for a, b in splits:
        a, b = a[mc['energy_bin'][a] == k], b[mc['energy_bin'][b] == k]
        base.append(w1(f_mc[a, j], f_mc[b, j]))
      row[f'w1_{p}'] = w1(f_gen[gk, j], f_mc[mk, j])
      row[f'w1_{p}_ci'] = metrics.bootstrap_ci(w1, [f_gen[gk, j], f_mc[mk, j]], nb, cfg.seed)
      row[f'w1_{p}_mc_mc'] = float(np.nanmean(base))
    per_bin[k] = row
  rep['per_energy_bin'] = per_bin
  rep['measures'] = measures
  rep['_index'] = (gi, mi)
  rep['_features'] = (f_gen, f_mc)
  return rep


def _check_inputs(ctx, gen, gen_meta, cfg, log) -> tuple[dict, dict]:
  """Before any classifier trains: the MC has both particles in --mc_split and in train
  (the gamma/hadron CNN needs both), the plan in the metadata fits the model labels, and
  each generated particle shares at least 2 class-matched events with the MC. Returns
  ({particle: generated columns}, {particle skipped: why})."""
  for p in PARTICLES:
    ctx.mc(p)                      # raises when the split has none
  train_counts = ctx.spec.builder.info.metadata.get('class_counts', {}).get('train')
  if isinstance(train_counts, dict):
    none = [p for p in PARTICLES if not np.sum(train_counts.get(p, []))]
    if none:
      raise ValueError(f'{ctx.spec.builder.info.full_name} split \'train\' has no '
                       f'{" and no ".join(none)}s: the gamma/hadron CNN of the report trains on both')
  planned = np.asarray(gen_meta.get('class_counts', []))
  n_cls = ctx.det.n_energy_bins * ctx.det.n_distance_bins
  if planned.size and (planned.ndim != 1 or len(planned) % n_cls
                       or gen['model_label'].max(initial=0) >= len(planned)):
    raise ValueError(f'--generated={cfg.generated}: its metadata\'s class_counts (shape '
                     f'{planned.shape}) do not fit its model labels (up to '
                     f'{int(gen["model_label"].max(initial=0))}) and {n_cls} classes per particle')
  groups, skipped = {}, {}
  for i, p in enumerate(PARTICLES):
    sel = gen['particle'] == i
    if not sel.any():
      continue
    g = {k: v[sel][: cfg.max_examples] for k, v in gen.items()}
    k = common.n_matched(g['class_id'], ctx.mc(p)['class_id'])
    if k < 2:
      skipped[p] = (f'{len(g["class_id"])} generated {p}s share {k} class-matched events with '
                    f'the MC {cfg.mc_split} split (at least 2 needed)')
      log(f'evaluate: WARNING skipping the {p}s: {skipped[p]}')
      continue
    groups[p] = g
  if not groups:
    other = sorted(set(np.unique(gen['particle']).tolist()) - set(range(len(PARTICLES))))
    raise NoOverlapError(f'--generated={cfg.generated}: nothing to compare: '
                         + ('; '.join(skipped.values()) if skipped else
                            f'no gamma or proton images (particle ids {other})'))
  return groups, skipped


# ------------------------------------------------------------------ the app's two jobs
def evaluate(cfg: EvalConfig, log=print, spec=None) -> dict:
  t0 = time.time()
  spec, gen, gen_meta = inputs.start_report(cfg, len(PARTICLES), spec)
  ctx = Context(cfg, log, spec)
  cal = common.load_calibration(cfg, ctx.spec.builder.info.full_name, log)
  groups, skipped = _check_inputs(ctx, gen, gen_meta, cfg, log)
  log(f'evaluate: {len(gen["class_id"])} generated images ({", ".join(groups)}) vs '
      f'{ctx.spec.builder.info.full_name} {cfg.mc_split}')
  report = common.report_head(cfg, ctx.det.name, ctx.spec.builder.info.full_name, gen, gen_meta,
                              cal, 'particles', skipped)
  reps = common.compare_groups(compare, ctx, groups, cal, cfg.seed, report['particles'])
  report['gamma_hadron_classifier'] = ctx.gamma_hadron()[1]
  report['scalars'] = {'gamma_hadron_classifier/auc':
                       report['gamma_hadron_classifier']['auc_gamma_vs_proton'],
                       **{f'{p}/gamma_hadron/{k}': v for p, r in report['particles'].items()
                          for k, v in r['gamma_hadron'].items() if not isinstance(v, (dict, list))}}

  planned = np.asarray(gen_meta.get('class_counts', []))
  if len(planned):
    got = np.bincount(gen['model_label'], minlength=len(planned))
    e_plan = planned.reshape(-1, ctx.det.n_energy_bins, ctx.det.n_distance_bins).sum((0, 2))
    e_got = got.reshape(-1, ctx.det.n_energy_bins, ctx.det.n_distance_bins).sum((0, 2))
    report['plan'] = {'plan': gen_meta.get('plan'), 'evaluated_all': bool(got.sum() == planned.sum()),
                      'max_abs_count_diff': int(np.abs(got - planned).max()) if got.sum() == planned.sum() else None,
                      'energy_hist_planned': e_plan.tolist(), 'energy_hist_generated': e_got.tolist()}
  report['seconds'] = time.time() - t0
  from taiga_tf.evaluation.taiga_iact import plots  # pylint: disable=g-import-not-at-top

  def write_plots():
    pngs = []
    for p, g in groups.items():
      out = os.path.join(cfg.output_dir, p)
      os.makedirs(out, exist_ok=True)
      pngs += plots.write_all(out, ctx.det, g, ctx.mc(p), reps[p], p)
    return pngs
  return common.write_report(cfg.output_dir, report, write_plots)


def calibrate(cfg: EvalConfig, log=print, spec=None) -> dict:
  """The report's measures on every wrong set (wrong_sets) of each particle."""
  t0 = time.time()
  for p in cfg.calibration_particles:
    if p not in PARTICLES:
      raise ValueError(f'--calibration_particles: unknown particle {p!r} ({", ".join(PARTICLES)})')
  spec = inputs.start_calibration(cfg, spec)
  ctx = Context(cfg, log, spec)
  for p in PARTICLES:               # both, in both splits: before any classifier trains
    ctx.mc(p)
    ctx.mc(p, cfg.calibration_split)
  os.makedirs(cfg.output_dir, exist_ok=True)
  cal = {'detector': ctx.det.name, 'reference': spec.builder.info.full_name, 'mc_split': cfg.mc_split,
         'source_split': cfg.calibration_split, 'n_boot': cfg.n_boot, 'measures': {},
         'detections': {}, 'n_per_set': {}}
  for p in cfg.calibration_particles:
    other = 'proton' if p == 'gamma' else 'gamma'
    src, src_other = ctx.mc(p, cfg.calibration_split), ctx.mc(other, cfg.calibration_split)
    cal['measures'][p], cal['n_per_set'][p] = {}, {}
    for s in wrong_sets.WRONG_SETS:
      ws = wrong_sets.wrong_set(s, src, src_other, ctx.det.camera, ctx.det.n_energy_bins,
                                ctx.det.n_distance_bins, PARTICLES.index(p), cfg.seed)
      try:
        rep = compare(ctx, ws, p, cfg.seed)
      except NoOverlapError as e:      # e.g. energy_shift on a split without two energy bins
        log(f'calibrate: {p}s, {s}: skipped ({e})')
        continue
      cal['measures'][p][s] = rep['measures']
      cal['n_per_set'][p][s] = rep['matched_examples']
      log(f'calibrate: {p}s, {s}: ' + ', '.join(f'{m} {v["value"]:.3g}' for m, v in
                                                 list(rep['measures'].items())[:3]))
    cal['detections'][p] = calib.detections(cal['measures'][p])
  cal['gamma_hadron_classifier'] = ctx.gamma_hadron()[1]
  cal['seconds'] = time.time() - t0
  return common.write_calibration(cfg, cal, cfg.calibration_particles)


def summary_table(report) -> str:
  lines = []
  gh = report['gamma_hadron_classifier']
  lines.append(f'gamma/hadron CNN on MC {gh["mc_split"]}: ROC AUC {gh["auc_gamma_vs_proton"]:.3f}; '
               + '; '.join(f'score > {t}: gamma eff. {v["gamma_efficiency"]:.3f}, proton rej. '
                           f'{v["proton_rejection"]:.3f}' for t, v in gh['at_threshold'].items()))
  for p, rep in report['particles'].items():
    lines.append(f'\n{p}s: {rep["n_generated"]} generated vs {rep["n_mc"]} MC, '
                 f'{rep["matched_examples"]} class-matched (value [95 % interval]  MC-vs-MC)')
    rows = [(m, common.fmt_measure(v)) for m, v in rep['measures'].items()]
    g = rep['gamma_hadron']
    rows.insert(2, (f'recognised as {p} > 0.5 (MC / generated)',
                    f'{g["pass_mc_0.5"]:.3f} / {g["pass_generated_0.5"]:.3f}'))
    w = max(len(r[0]) for r in rows)
    lines += [f'  {a:<{w}}  {b}' for a, b in rows]
  lines += [f'\n{p}s: not compared: {why}' for p, why in report.get('skipped', {}).items()]
  return '\n'.join(lines)


def summary_lines(report, mc_split) -> list[str]:
  out = [f'taiga_tf.evaluate: {p}s not compared: {why}'
         for p, why in report.get('skipped', {}).items()]
  for p, rep in report['particles'].items():
    g, m = rep['gamma_hadron'], rep['measures']
    out.append(f"taiga_tf.evaluate: {rep['n_generated']} generated vs {rep['n_mc']} MC {mc_split} "
               f"{p}s: recognised as {p} (>0.5) {g['pass_generated_0.5']:.3f} vs MC "
               f"{g['pass_mc_0.5']:.3f}, two-sample AUC image {m['two_sample_auc_image']['value']:.3f}, "
               f"features {m['two_sample_auc_features']['value']:.3f}")
  return out
