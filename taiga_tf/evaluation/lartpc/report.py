"""The LArTPC fidelity report of a generated dataset against held-out MC.

Per class (track, shower) present in the generated set, against the MC split the
models never trained on (`mc_split`, default test). Every distance compares k
generated with k MC images (k = min(generated, MC / 2)), with a bootstrap 95 %
interval over images and its MC-vs-MC baseline: the same distance between two
disjoint k-samples of the MC, over several draws (distances between finite samples
grow as the samples shrink, so the baseline is taken at the same k). Measures,
oriented so that larger is worse:

- ssnet_fid: the Frechet distance between the pooled bottleneck activations of a
  small UResNet ("SSNet", taiga_tf.models.segmentation) trained on the MC's truth
  labels (background / track / shower), generated vs MC, equal sample sizes;
- w1_ssnet_track_score / w1_ssnet_shower_score: W1 of the SSNet's per-pixel
  track and shower scores on the non-zero pixels;
- w1_track_length, w1_track_width (tracks), w1_log10_total_charge (showers),
  w1_occupancy, w1_pixel_intensity: the physics features of
  taiga_tf.detectors.lartpc.features (DBSCAN eps = 3 px, convex hull, PCA);
- mmd: the (unbiased, squared) maximum mean discrepancy of the flattened images,
  Gaussian kernel at the median distance of the MC;
- nn_memorised_fraction: the fraction of generated images closer (L2) to a
  training image than 95 % of the MC test images are (5 % for the MC itself);
- two_sample_auc_image: a CNN told to separate MC from generated images of the
  class (held-out ROC AUC, with the interval of AUCs a perfect generator gives).
"""
from __future__ import annotations

import os
import time

import numpy as np

from taiga_tf import metrics
from taiga_tf.detectors.lartpc import features as feat
from taiga_tf.detectors.lartpc.detector import CLASSES
from taiga_tf.evaluation import calibration as calib
from taiga_tf.evaluation import common
from taiga_tf.evaluation import inputs
from taiga_tf.evaluation.common import (EvalConfig, NoOverlapError, measure, predict, to_net,
                                        train_classifier, w1)

CLASS_FEATURES = {'track': ('track_length', 'track_width', 'occupancy', 'n_clusters'),
                  'shower': ('log10_total_charge', 'occupancy', 'n_clusters')}
MAX_MMD = 600          # images per side for the MMD (a kernel matrix of (2 x 600)^2)
MAX_NN_TRAIN = 6000    # training images per class searched for nearest neighbours
SSNET_WIDTH = 16
SSNET_MAX_TRAIN = 6000     # labelled MC training images for the SSNet


# ------------------------------------------------------------------ math
def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
  """||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)) of two (N, D) samples."""
  from scipy import linalg  # pylint: disable=g-import-not-at-top
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if len(a) < 2 or len(b) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
    return float('nan')      # (scipy's sqrtm fails on NaN: "Internal error ... -102")
  mu = a.mean(0) - b.mean(0)
  ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  if not np.isfinite(ca @ cb).all():       # finite rows whose covariances overflow
    return float('nan')
  covmean, _ = linalg.sqrtm(ca @ cb, disp=False)
  covmean = covmean.real
  return float(mu @ mu + np.trace(ca) + np.trace(cb) - 2.0 * np.trace(covmean))


def mmd2(a: np.ndarray, b: np.ndarray, bandwidth: float) -> float:
  """Unbiased squared MMD of two (N, D) samples with a Gaussian kernel."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if len(a) < 2 or len(b) < 2:
    return float('nan')
  def k(x, y):
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None] - 2.0 * x @ y.T
    return np.exp(-np.maximum(d2, 0.0) / (2.0 * bandwidth ** 2))
  kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
  n, m = len(a), len(b)
  return float((kaa.sum() - np.trace(kaa)) / (n * (n - 1)) + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
               - 2.0 * kab.mean())


def median_distance(x: np.ndarray, rng, n: int = 500) -> float:
  x = np.asarray(x, np.float64)
  x = x[rng.choice(len(x), min(n, len(x)), replace=False)]
  d2 = (x * x).sum(1)[:, None] + (x * x).sum(1)[None] - 2.0 * x @ x.T
  d = np.sqrt(np.maximum(d2[np.triu_indices(len(x), 1)], 0.0))
  return float(np.median(d)) if len(d) else 1.0


def nearest_distances(x: np.ndarray, ref: np.ndarray, chunk: int = 512) -> np.ndarray:
  """L2 distance of each row of x to its nearest row of ref."""
  x, ref = np.asarray(x, np.float32), np.asarray(ref, np.float32)
  rr = (ref * ref).sum(1)
  out = []
  for i in range(0, len(x), chunk):
    xi = x[i:i + chunk]
    d2 = (xi * xi).sum(1)[:, None] + rr[None] - 2.0 * xi @ ref.T
    out.append(np.sqrt(np.maximum(d2.min(1), 0.0)))
  return np.concatenate(out) if out else np.zeros(0)


# ------------------------------------------------------------------ the context
def _flat(images) -> np.ndarray:
  return np.asarray(images, np.float32).reshape(len(images), -1) / 255.0


class Context(common.BaseContext):
  """What every comparison shares: the MC, its features, the SSNet, training images."""

  def __init__(self, cfg: EvalConfig, log=print, spec=None):
    super().__init__(cfg, log, spec)
    self.key['ssnet'] = {'width': SSNET_WIDTH, 'max_train': SSNET_MAX_TRAIN}
    self._mc, self._train, self._ssnet = {}, {}, None

  def _load(self, split, max_examples, with_labels=False) -> dict:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    ds = self.spec.builder.as_dataset(split=split)
    if max_examples:
      ds = ds.take(max_examples)
    keys = ['image', 'class_id'] + (['label', 'has_label'] if with_labels else [])
    cols = {}
    for b in tfds.as_numpy(ds.map(lambda ex: {k: ex[k] for k in keys}).batch(2048)):
      for k, v in b.items():
        cols.setdefault(k, []).append(v)
    out = {k: np.concatenate(v) for k, v in cols.items()}
    if 'image' not in out:
      raise ValueError(f'{self.spec.builder.info.full_name} split {split!r} is empty')
    out['image'] = out['image'].astype(np.float32)
    return out

  def mc_all(self) -> dict:
    """Columns (image, class_id, labels) of the whole comparison split, before derive."""
    if 'all' not in self._mc:
      self._mc['all'] = self._load(self.cfg.mc_split, None, with_labels=True)
    return self._mc['all']

  def mc(self, cls: str) -> dict:
    """MC columns of the comparison split for one class, with derived columns."""
    if cls not in self._mc:
      allc = self.mc_all()
      sel = allc['class_id'] == CLASSES.index(cls)
      cols = {k: v[sel][: self.cfg.max_examples] for k, v in allc.items()}
      if not len(cols['image']):
        raise ValueError(f'{self.spec.builder.info.full_name} split {self.cfg.mc_split!r} has '
                         f'no {cls}s')
      self._mc[cls] = self.derive(cols)
    return self._mc[cls]

  def derive(self, cols: dict, where: str = 'images') -> dict:
    cols = dict(cols)
    cols['x'] = to_net(cols['image'], self.prep)
    cols['features'] = feat.feature_table(cols['image'])
    emb, scores = self.ssnet_outputs(cols['x'])
    bad = ~np.isfinite(emb.reshape(len(emb), -1)).all(1)
    if bad.any():      # finite pixels, but so far out of range that the network overflows
      raise ValueError(f'{where}: {int(bad.sum())} of {len(emb)} images give non-finite SSNet '
                       f'activations (pixel values {float(np.min(cols["image"])):.3g} to '
                       f'{float(np.max(cols["image"])):.3g}; the detector\'s scale is 0-255)')
    cols['embedding'] = emb
    nz = cols['image'] > 0        # per image: the SSNet scores and values of its charge pixels
    cols['track_score'] = [sc[m, 1] for sc, m in zip(scores, nz)]
    cols['shower_score'] = [sc[m, 2] for sc, m in zip(scores, nz)]
    cols['intensity'] = [im[m] for im, m in zip(cols['image'], nz)]
    if 'label' in cols:        # MC with truth: how well the SSNet labels its charge pixels
      truth = (cols['label'] > 0) & cols['has_label'][:, None, None]
      hit = scores.argmax(-1)[truth] == cols['label'][truth]
      cols['ssnet_accuracy'] = float(hit.mean()) if hit.size else float('nan')
    return cols

  def train_images(self, cls: str) -> np.ndarray:
    """Flattened MC training images of a class (for the nearest-neighbour check)."""
    if cls not in self._train:
      t = self._load('train', self.cfg.max_train * 2)
      for c in CLASSES:
        self._train[c] = _flat(t['image'][t['class_id'] == CLASSES.index(c)][:MAX_NN_TRAIN])
    return self._train[cls]

  def ssnet(self):
    if self._ssnet is None:
      from taiga_tf.models import segmentation  # pylint: disable=g-import-not-at-top
      t = self._load('train', min(self.cfg.max_train, SSNET_MAX_TRAIN), with_labels=True)
      keep = t['has_label']
      if not keep.any():
        raise ValueError(f'{self.spec.builder.info.full_name} has no per-pixel labels: the SSNet '
                         'needs a source with truth labels (the built-in MC or labelled larcv3)')
      x, y = to_net(t['image'][keep], self.prep), t['label'][keep].astype(np.int32)
      weight = np.where(t['image'][keep] > 0, 1.0, 0.02).astype(np.float32)   # charge matters
      model, info = train_classifier(
          'ssnet', x, {'labels': y}, {}, self.cfg, self.cache, self.log, key=self.key,
          model_fn=lambda size: segmentation.compile_uresnet(segmentation.uresnet(size, SSNET_WIDTH)),
          sample_weight={'labels': weight}, batch_size=32)
      self._ssnet = (segmentation.with_embedding(model), info)
    return self._ssnet

  def ssnet_outputs(self, x):
    model, _ = self.ssnet()
    out = model.predict(x, batch_size=128, verbose=0)
    return np.asarray(out['embedding']), np.asarray(out['labels'])


# ------------------------------------------------------------------ one comparison
def compare(ctx: Context, gen: dict, cls: str, seed: int = 0) -> dict:
  """The report of one class: generated columns (image, class_id) against the MC."""
  return common.nan_quiet(_compare, ctx, gen, cls, seed)


def _compare(ctx, gen, cls, seed):
  cfg, log = ctx.cfg, ctx.log
  rng = np.random.default_rng(seed)
  nb = cfg.n_boot
  mc = ctx.mc(cls)
  g = gen if 'features' in gen else ctx.derive(gen)
  ng, nm = len(g['image']), len(mc['image'])
  if ng < 2 or nm < 2:
    raise NoOverlapError(f'too few {cls}s to compare ({ng} generated, {nm} MC)')
  # Every distance compares equal numbers of images: k generated images with k MC images
  # (split 0's second half), and its MC-vs-MC baseline two disjoint k-samples of the MC
  # (each halving); the interval resamples images.
  k = min(ng, nm // 2)
  gk = rng.choice(ng, k, replace=False)
  splits = []
  for _ in range(cfg.n_mc_splits):
    perm = rng.permutation(nm)
    splits.append((perm[:k], perm[k:2 * k]))
  b0 = splits[0][1]
  rep = {'n_generated': int(ng), 'n_mc': int(nm), 'n_compared': int(k),
         'ssnet_mc_pixel_accuracy': mc.get('ssnet_accuracy')}
  measures, dists = {}, {}

  def add(name, dist, take, n_boot=nb):
    f = lambda ig, im: dist(take(g, ig), take(mc, im))
    base = [dist(take(mc, a), take(mc, b)) for a, b in splits]
    measures[name] = measure(f(gk, b0), metrics.bootstrap_ci(f, [gk, b0], n_boot, cfg.seed), base)

  cat = lambda key: (lambda c, idx: np.concatenate([c[key][i] for i in idx]) if len(idx)
                     else np.zeros(0))
  add('ssnet_fid', frechet_distance, lambda c, idx: c['embedding'][idx], min(nb, 50))
  for name in ('track_score', 'shower_score'):      # SSNet scores of the charge pixels
    add(f'w1_ssnet_{name}', w1, cat(name), min(nb, 50))
    dists[f'ssnet_{name}'] = (np.concatenate(g[name]), np.concatenate(mc[name]))
  for name in CLASS_FEATURES[cls]:                  # physics features
    j = feat.FEATURES.index(name)
    add(f'w1_{name}', w1, lambda c, idx, j=j: c['features'][idx, j])
    dists[name] = (g['features'][:, j], mc['features'][:, j])
  add('w1_pixel_intensity', w1, cat('intensity'), min(nb, 50))
  dists['pixel_intensity'] = (np.concatenate(g['intensity']), np.concatenate(mc['intensity']))
  # MMD on flattened images, Gaussian kernel at the MC's median distance
  bw = median_distance(_flat(mc['image']), rng)
  flat = lambda c, idx: _flat(c['image'][idx[:MAX_MMD]])
  add('mmd', lambda a, b: mmd2(a, b, bw), flat, min(nb, 30))
  rep['mmd_bandwidth'] = bw
  # memorisation: how many are closer to a training image than 95 % of MC test images are
  train = ctx.train_images(cls)
  for c in (g, mc):
    if 'nn_distance' not in c:
      c['nn_distance'] = nearest_distances(_flat(c['image']), train)
  closer = lambda a, b: float(np.mean(a < np.quantile(b, 0.05)))
  add('nn_memorised_fraction', closer, lambda c, idx: c['nn_distance'][idx])
  d_gen, d_mc = g['nn_distance'], mc['nn_distance']
  rep['nearest_training_distance'] = {
      'generated_median': float(np.median(d_gen)), 'mc_median': float(np.median(d_mc)),
      'mc_quantile_0.05': float(np.quantile(d_mc, 0.05)), 'n_training_images': int(len(train))}
  dists['nearest_training_distance'] = (d_gen, d_mc)

  # --- two-sample CNN: MC vs generated of this class, held-out half
  n = min(ng, nm)
  gi, mi = rng.choice(ng, n, replace=False), rng.choice(nm, n, replace=False)
  ys = np.r_[np.zeros(n), np.ones(n)].astype(np.float32)
  x_all = np.concatenate([mc['x'][mi], g['x'][gi]])
  order = rng.permutation(len(ys))
  tr, te = order[: len(ys) // 2], order[len(ys) // 2:]
  c2st, info = train_classifier('two_sample', x_all[tr], {'generated': ys[tr]}, {'generated': 1},
                                cfg, None, lambda *a: None)
  s = predict(c2st, x_all[te])['generated'][:, 0]
  y_te = ys[te]
  auc = lambda p, q: metrics.auc(np.r_[np.ones(len(p)), np.zeros(len(q))], np.r_[p, q])
  measures['two_sample_auc_image'] = measure(metrics.auc(y_te, s), metrics.bootstrap_ci(
      auc, [s[y_te == 1], s[y_te == 0]], nb, cfg.seed))
  auc_m = measures['two_sample_auc_image']
  auc_m['null_interval'] = metrics.auc_null_interval(int(y_te.sum()), int(len(y_te) - y_te.sum()))
  if len(tr) < common.MIN_EARLY_STOPPING:
    # a fixed few epochs: the CNN is barely trained, and its AUC leaves the null interval on
    # both sides (below it the sets differ too; the direction was learned the wrong way round)
    auc_m['warning'] = (f'CNN trained on {len(tr)} < {common.MIN_EARLY_STOPPING} images without '
                        'early stopping: no pass/fail reading')
  elif auc_m['value'] < auc_m['null_interval'][0]:
    auc_m['warning'] = 'below the null interval: the sets differ (direction learned reversed)'
  rep['two_sample'] = {'n_train': int(len(tr)), 'n_test': int(len(te)), 'image_cnn_training': info}
  log(f'evaluate: {cls}s: SSNet-FID {measures["ssnet_fid"]["value"]:.3g} '
      f'(MC-MC {measures["ssnet_fid"]["mc_mc"]:.3g}), two-sample AUC '
      f'{measures["two_sample_auc_image"]["value"]:.3f}')
  rep['measures'] = measures
  rep['_dists'] = dists
  rep['_derived'] = g
  return rep


# ------------------------------------------------------------------ the app's job
def _check_inputs(ctx, gen, cfg, log) -> tuple[dict, dict]:
  """Before any network trains: which classes have at least 2 generated and 2 MC images
  ({class: generated columns}); the others are skipped, and said why ({class: why})."""
  mc_cls = ctx.mc_all()['class_id']
  groups, skipped = {}, {}
  for i, c in enumerate(CLASSES):
    sel = gen['class_id'] == i
    if not sel.any():
      continue
    g = {'image': gen['image'][sel][: cfg.max_examples].astype(np.float32),
         'class_id': gen['class_id'][sel][: cfg.max_examples]}
    ng, nm = len(g['image']), min(int(np.sum(mc_cls == i)), cfg.max_examples)
    if ng < 2 or nm < 2:
      skipped[c] = (f'{ng} generated and {nm} MC {cfg.mc_split} {c}s '
                    '(a comparison needs at least 2 of each)')
      log(f'evaluate: WARNING skipping the {c}s: {skipped[c]}')
      continue
    groups[c] = g
  if not groups:
    raise NoOverlapError(f'--generated={cfg.generated}: nothing to compare: '
                         + ('; '.join(skipped.values()) if skipped else 'no track or shower images'))
  return groups, skipped


def evaluate(cfg: EvalConfig, log=print, spec=None) -> dict:
  t0 = time.time()
  spec, gen, gen_meta = inputs.start_report(cfg, len(CLASSES), spec)
  ctx = Context(cfg, log, spec)
  cal = common.load_calibration(cfg, ctx.spec.builder.info.full_name, log)
  groups, skipped = _check_inputs(ctx, gen, cfg, log)
  _, ssnet_info = ctx.ssnet()
  for c in groups:         # the generated images through the SSNet, before any comparison
    groups[c] = ctx.derive(groups[c], f'--generated={cfg.generated}: the {c}s')
  report = common.report_head(cfg, 'lartpc', ctx.spec.builder.info.full_name, gen, gen_meta, cal,
                              'classes', skipped, ssnet=ssnet_info)
  reps = common.compare_groups(compare, ctx, groups, cal, cfg.seed, report['classes'])
  report['seconds'] = time.time() - t0
  from taiga_tf.evaluation.lartpc import plots  # pylint: disable=g-import-not-at-top

  def write_plots():
    pngs = []
    for c, rep in reps.items():
      out = os.path.join(cfg.output_dir, c)
      os.makedirs(out, exist_ok=True)
      pngs += plots.write_all(out, ctx, rep['_derived'], ctx.mc(c), rep, c)
    return pngs
  return common.write_report(cfg.output_dir, report, write_plots)


def calibration_classes(cfg: EvalConfig) -> tuple:
  """The classes to calibrate: --calibration_particles names classes here (its default,
  gamma, a TAIGA-IACT particle, means both)."""
  names = tuple(cfg.calibration_particles)
  if names in ((), ('gamma',)):
    return CLASSES
  bad = [c for c in names if c not in CLASSES]
  if bad:
    raise ValueError(f'--calibration_particles: {", ".join(bad)} is not a LArTPC class '
                     f'({", ".join(CLASSES)})')
  return names


def calibrate(cfg: EvalConfig, log=print, spec=None) -> dict:
  """The report's measures on every wrong set (lartpc.wrong_sets) of each class."""
  from taiga_tf.evaluation.lartpc import wrong_sets  # pylint: disable=g-import-not-at-top
  t0 = time.time()
  classes = calibration_classes(cfg)
  spec = inputs.start_calibration(cfg, spec)
  ctx = Context(cfg, log, spec)
  src = ctx._load(cfg.calibration_split, None)          # pylint: disable=protected-access
  train = ctx._load('train', 4 * cfg.max_examples)      # pylint: disable=protected-access
  for c in classes:          # every class in every split it needs, before the SSNet trains
    i = CLASSES.index(c)
    n = {'the reference MC (--mc_split)': int(np.sum(ctx.mc_all()['class_id'] == i)),
         '--calibration_split': int(np.sum(src['class_id'] == i)),
         'the other class in --calibration_split': int(np.sum(src['class_id'] == 1 - i))}
    few = [f'{k}: {v}' for k, v in n.items() if v < 2]
    if few:
      raise ValueError(f'{ctx.spec.builder.info.full_name}: too few images to calibrate the '
                       f'{c}s ({"; ".join(few)}; at least 2 each)')
  os.makedirs(cfg.output_dir, exist_ok=True)
  cal = {'detector': 'lartpc', 'reference': ctx.spec.builder.info.full_name,
         'mc_split': cfg.mc_split, 'source_split': cfg.calibration_split, 'n_boot': cfg.n_boot,
         'required_by_measure': {m: list(v) for m, v in wrong_sets.REQUIRED_BY_MEASURE.items()},
         'measures': {}, 'detections': {}, 'n_per_set': {}}
  for c in classes:
    i = CLASSES.index(c)
    of = lambda cols, k: cols['image'][cols['class_id'] == k][: cfg.max_examples]
    mc, other, tr = of(src, i), of(src, 1 - i), of(train, i)
    if len(mc) < 2 or len(other) < 2:
      raise ValueError(f'{ctx.spec.builder.info.full_name} {cfg.calibration_split} has {len(mc)} '
                       f'{c}s and {len(other)} {CLASSES[1 - i]}s: too few to calibrate')
    cal['measures'][c], cal['n_per_set'][c] = {}, {}
    for s in wrong_sets.WRONG_SETS:
      images = wrong_sets.wrong_set(s, mc, other, tr, cfg.seed)
      rep = compare(ctx, {'image': images, 'class_id': np.full(len(images), i)}, c, cfg.seed)
      cal['measures'][c][s] = rep['measures']
      cal['n_per_set'][c][s] = rep['n_compared']
      log(f'calibrate: {c}s, {s}: ' + ', '.join(f'{m} {v["value"]:.3g}' for m, v in
                                                 list(rep['measures'].items())[:3]))
    cal['detections'][c] = calib.detections(cal['measures'][c])
  cal['seconds'] = time.time() - t0
  return common.write_calibration(cfg, cal, classes)


def summary_table(report) -> str:
  lines = [f'SSNet (UResNet) trained on MC: {report["ssnet"].get("n_train")} images, '
           f'{report["ssnet"].get("epochs_run")} epochs']
  for c, rep in report['classes'].items():
    lines.append(f'\n{c}s: {rep["n_generated"]} generated vs {rep["n_mc"]} MC, {rep["n_compared"]} '
                 f'compared (SSNet labels {rep["ssnet_mc_pixel_accuracy"]:.1%} of the MC charge pixels '
                 'right) (value [95 % interval]  MC-vs-MC)')
    rows = [(m, common.fmt_measure(v)) for m, v in rep['measures'].items()]
    w = max(len(r[0]) for r in rows)
    lines += [f'  {a:<{w}}  {b}' for a, b in rows]
  lines += [f'\n{c}s: not compared: {why}' for c, why in report.get('skipped', {}).items()]
  return '\n'.join(lines)


def summary_lines(report, mc_split) -> list[str]:
  return [f'taiga_tf.evaluate: {c}s not compared: {why}'
          for c, why in report.get('skipped', {}).items()] + [
      f"taiga_tf.evaluate: {rep['n_generated']} generated vs {rep['n_mc']} MC {mc_split} {c}s: "
      f"SSNet-FID {rep['measures']['ssnet_fid']['value']:.3g} (MC-MC "
      f"{rep['measures']['ssnet_fid']['mc_mc']:.3g}), two-sample AUC image "
      f"{rep['measures']['two_sample_auc_image']['value']:.3f}"
      for c, rep in report['classes'].items()]
