"""What every detector's fidelity report shares: its configuration (checked, with the
generated dataset, by taiga_tf.evaluation.inputs), class-matched samples, the classifiers (two-sample tests and
MC-trained physics CNNs, cached), measures with bootstrap intervals and MC-vs-MC
baselines, the calibration file, TensorBoard and the console format.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings

import numpy as np
import tensorflow as tf

from taiga_tf import metrics
from taiga_tf.evaluation import calibration as calib

CLASSIFIER_VERSION = 2      # bump when the classifiers' training changes: cached ones are retrained

MIN_EARLY_STOPPING = 200   # images; below, classifiers train a fixed few epochs
MIN_EPOCHS = 8             # early stopping watches the validation loss from this epoch on

class NoOverlapError(ValueError):
  """A generated set and the MC have too few events of common classes to compare."""


@dataclasses.dataclass
class EvalConfig:
  generated: str | None
  reference: str
  data_dir: str
  output_dir: str
  classifier_dir: str | None = None   # default: <output_dir>/classifiers
  max_examples: int = 20000           # per side (generated, MC) and particle
  max_train: int = 20000              # MC train images per particle for the classifiers
  epochs: int = 30                    # at most; each classifier stops when its val loss does
  patience: int = 3
  seed: int = 0
  mc_split: str = 'test'
  n_boot: int = 200
  n_mc_splits: int = 5
  calibration: str | None = None      # calibration.json (default <classifier_dir>/calibration.json)
  calibration_split: str = 'validation'   # where calibrate() takes its wrong sets from
  calibration_particles: tuple = ('gamma',)
  # API only, for toy datasets too small to hold out enough MC (tests): lets --mc_split
  # read the training split; the app has no flag for it, and the report records it
  allow_training_split: bool = False


def n_matched(gen_cls, mc_cls) -> int:
  """How many class-matched pairs matched_indices draws."""
  return int(sum(min(np.sum(gen_cls == c), np.sum(mc_cls == c))
                 for c in np.intersect1d(gen_cls, mc_cls)))


def write_report(output_dir: str, report: dict, write_files) -> dict:
  """Writes a computed report: the old report.json goes first, then write_files() (the
  plots; returns their paths), TensorBoard, and report.json last (through a temporary
  file): report.json exists only beside a complete report."""
  os.makedirs(output_dir, exist_ok=True)
  path = os.path.join(output_dir, 'report.json')
  if os.path.exists(path):
    os.remove(path)
  pngs = write_files()
  groups = 'classes' if 'classes' in report else 'particles'
  write_tensorboard(output_dir, report, pngs, groups=groups)
  tmp = f'{path}.tmp-{os.getpid()}'
  with open(tmp, 'w') as f:
    json.dump(report, f, indent=1, default=float)
  os.replace(tmp, path)
  report['plots'] = pngs
  return report


def nan_quiet(fn, *args):
  """fn(*args) without numpy's warnings: empty bins and images give NaN, on purpose."""
  with np.errstate(all='ignore'), warnings.catch_warnings():
    warnings.simplefilter('ignore', RuntimeWarning)
    return fn(*args)


class BaseContext:
  """What a report's comparisons share: the reference dataset, its detector and transform,
  where MC-trained classifiers are cached and the key they are cached under."""

  def __init__(self, cfg: EvalConfig, log=print, spec=None):
    from taiga_tf import data as data_lib  # pylint: disable=g-import-not-at-top
    self.cfg, self.log = cfg, log
    self.spec = spec or data_lib.open_dataset(cfg.reference, cfg.data_dir)
    self.det = self.spec.detector
    self.prep = self.det.preprocessing()
    self.cache = cfg.classifier_dir or os.path.join(cfg.output_dir, 'classifiers')
    self.key = {'reference': self.spec.builder.info.full_name, 'max_train': cfg.max_train}


def matched_indices(gen_cls, mc_cls, rng):
  """Per class, the same number of generated and MC examples (min of the two)."""
  gi, mi = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
  for c in np.intersect1d(gen_cls, mc_cls):
    g, m = np.flatnonzero(gen_cls == c), np.flatnonzero(mc_cls == c)
    k = min(len(g), len(m))
    gi.append(rng.choice(g, k, replace=False))
    mi.append(rng.choice(m, k, replace=False))
  return np.concatenate(gi), np.concatenate(mi)


def to_net(images, prep):
  return prep.forward(images).numpy()[..., None]


def train_classifier(name, x, targets: dict, heads: dict, cfg: EvalConfig, cache_dir, log,
                     key: dict | None = None, n_condition: int = 0, model_fn=None,
                     sample_weight: dict | None = None, batch_size: int = 128):
  """Trains (or reloads from cache_dir) a small CNN until its validation loss stops improving.

  x: images (N, S, S, 1) or {'image', 'condition'}; shuffled here before the
  validation tenth is split off. A cached model is reused only when it was trained
  with the same `key` (dataset, sizes, seed, training settings). model_fn(size):
  another compiled network (default: models.classifier.image_classifier with `heads`);
  sample_weight: per-target weights (e.g. per pixel). Returns (model, info).
  """
  import keras  # pylint: disable=g-import-not-at-top
  from taiga_tf.models.classifier import compile_classifier, image_classifier  # pylint: disable=g-import-not-at-top
  key = dict(key or {}, name=name, epochs=cfg.epochs, patience=cfg.patience, seed=cfg.seed,
             version=CLASSIFIER_VERSION)
  path = os.path.join(cache_dir, f'{name}.keras') if cache_dir else None
  if path and os.path.exists(path) and os.path.exists(path + '.json'):
    cached = _load_cached(path, json.loads(json.dumps(key)), log)
    if cached is not None:
      return cached
  keras.utils.set_random_seed(cfg.seed)
  n = len(next(iter(targets.values())))
  order = np.random.default_rng(cfg.seed).permutation(n)
  take = lambda v: {k: a[order] for k, a in v.items()} if isinstance(v, dict) else v[order]
  x, targets = take(x), take(targets)
  fit_kw = {'sample_weight': take(sample_weight)} if sample_weight is not None else {}
  size = (x['image'] if isinstance(x, dict) else x).shape[1]
  model = (model_fn(size) if model_fn else
           compile_classifier(image_classifier(heads, size, name=name, n_condition=n_condition), heads))
  t0 = time.time()
  if n >= MIN_EARLY_STOPPING:
    # the validation loss of a two-sample CNN often sits on a plateau for several epochs
    # before it falls: patience counts only from MIN_EPOCHS on
    stop = keras.callbacks.EarlyStopping(monitor='val_loss', patience=cfg.patience,
                                         restore_best_weights=True, start_from_epoch=MIN_EPOCHS)
    hist = model.fit(x, targets, batch_size=batch_size, epochs=cfg.epochs, validation_split=0.1,
                     verbose=0, shuffle=True, callbacks=[stop], **fit_kw)
    val = hist.history['val_loss']
    info = {'epochs_run': len(val), 'best_epoch': int(np.argmin(val)) + 1,
            'best_val_loss': float(np.min(val))}
  else:     # too few images to hold a tenth out: a fixed, short training
    epochs = min(cfg.epochs, 5)
    model.fit(x, targets, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True, **fit_kw)
    info = {'epochs_run': epochs, 'best_epoch': None, 'best_val_loss': None}
  info.update(n_train=int(n), seconds=time.time() - t0)
  log(f'evaluate: trained {name} on {n} images in {info["seconds"]:.0f} s '
      f'({info["epochs_run"]} epochs, best {info["best_epoch"]})')
  if path:
    _save_cached(model, path, {'key': key, 'info': info})
  return model, info


def _load_cached(path: str, key: dict, log):
  """(model, info) of a cached classifier trained with `key`, or None (and why, logged)
  when it was trained differently or its files are damaged (it is then trained again)."""
  import keras  # pylint: disable=g-import-not-at-top
  try:
    with open(path + '.json', 'rb') as f:
      stored = json.loads(f.read().decode('utf-8'))
    if not isinstance(stored, dict) or not isinstance(stored.get('info'), dict):
      raise ValueError('not a JSON object with "key" and "info"')
  except (OSError, ValueError) as e:      # (UnicodeDecodeError and JSONDecodeError too)
    log(f'evaluate: {path}.json is damaged ({e}); training {os.path.basename(path)} again')
    return None
  if stored.get('key') != key:
    log(f'evaluate: {path} was trained differently; training it again')
    return None
  try:
    model = keras.models.load_model(path)
  except Exception as e:  # pylint: disable=broad-except   a cut or corrupt .keras archive
    why = str(e).strip().splitlines()[0][:200] if str(e).strip() else ''
    log(f'evaluate: {path} is damaged ({type(e).__name__}: {why}); training it again')
    return None
  log(f'evaluate: reusing {path}')
  return model, stored['info']


def _save_cached(model, path: str, stored: dict) -> None:
  """The model, then its key file, each through a temporary file renamed into place: a
  key file (what makes a cached model reused) exists only beside a complete model."""
  cache_dir = os.path.dirname(path)
  os.makedirs(cache_dir, exist_ok=True)
  if os.path.exists(path + '.json'):
    os.remove(path + '.json')
  tmp = os.path.join(cache_dir, f'.{os.path.basename(path)[:-6]}.tmp-{os.getpid()}.keras')
  try:
    model.save(tmp)
    os.replace(tmp, path)
    with open(f'{tmp}.json', 'w') as f:
      json.dump(stored, f, indent=1)
    os.replace(f'{tmp}.json', path + '.json')
  finally:
    for t in (tmp, f'{tmp}.json'):
      if os.path.exists(t):
        os.remove(t)


def predict(model, x):
  out = model.predict(x, batch_size=512, verbose=0)
  return out if isinstance(out, dict) else {model.output_names[0]: out}


def feature_auc_scores(f_train, y_train, f_test, seed):
  """Gradient-boosted trees (NaN-aware) on feature rows; scores of the test rows."""
  from sklearn.ensemble import HistGradientBoostingClassifier  # pylint: disable=g-import-not-at-top
  clf = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.1,
                                       early_stopping=len(y_train) >= MIN_EARLY_STOPPING,
                                       validation_fraction=0.1, n_iter_no_change=10,
                                       random_state=seed)
  clf.fit(f_train, y_train)
  return clf.predict_proba(f_test)[:, 1]


def measure(value, ci, baseline=None):
  m = {'value': float(value), 'ci': [float(c) for c in ci]}
  if baseline is not None:
    b = np.asarray(baseline, np.float64)
    b = b[np.isfinite(b)]
    m['mc_mc'] = float(b.mean()) if len(b) else float('nan')
    m['mc_mc_range'] = [float(b.min()), float(b.max())] if len(b) else [float('nan')] * 2
  return m


def finite(v):
  return v[np.isfinite(v)]


def w1(a, b):
  return metrics.wasserstein1(finite(a), finite(b))


def calibration_path(cfg):
  if cfg.calibration:
    return cfg.calibration
  return os.path.join(cfg.classifier_dir or os.path.join(cfg.output_dir, 'classifiers'),
                      'calibration.json')


def write_calibration(cfg, cal: dict, groups) -> dict:
  """calibration.json (beside the classifiers and in output_dir), calibration.md and one
  figure per group (particle or class); returns cal with 'plots' and 'table'."""
  path = calibration_path(cfg)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  for target in {os.path.abspath(path), os.path.abspath(os.path.join(cfg.output_dir, 'calibration.json'))}:
    with open(target, 'w') as f:
      json.dump(cal, f, indent=1, default=float)
  md = '\n\n'.join(f'### {g}s\n\n' + calib.table(cal, g) for g in groups)
  with open(os.path.join(cfg.output_dir, 'calibration.md'), 'w') as f:
    f.write(md + '\n')
  cal['plots'] = [calib.figure(cfg.output_dir, cal, g) for g in groups]
  cal['table'] = md
  return cal


def load_calibration(cfg, reference: str, log) -> dict | None:
  path = calibration_path(cfg)
  if not os.path.exists(path):
    if cfg.calibration:
      raise FileNotFoundError(f'calibration file {path} does not exist')
    log(f'evaluate: no calibration ({path}); run `python -m taiga_tf.evaluate --calibrate` '
        'to learn which measures can see a bad generator')
    return None
  how = ('run `python -m taiga_tf.evaluate --calibrate` again (it rewrites it), or give '
         '--calibration=<a good calibration.json>')
  try:
    with open(path, 'rb') as f:
      cal = json.loads(f.read().decode('utf-8'))
  except IsADirectoryError:
    raise IsADirectoryError(f'calibration file {path} is a folder; {how}') from None
  except (OSError, ValueError) as e:
    raise ValueError(f'calibration file {path} is damaged ({e}); {how}') from None
  keys = ('reference', 'mc_split', 'n_per_set', 'detections')
  if not isinstance(cal, dict) or any(k not in cal for k in keys):
    raise ValueError(f'calibration file {path} is not a calibration of this report (expected a '
                     f'JSON object with {", ".join(keys)}); {how}')
  if cal['reference'] != reference or cal['mc_split'] != cfg.mc_split:
    log(f'evaluate: WARNING {path} was made against {cal["reference"]} {cal["mc_split"]}, '
        f'not {reference} {cfg.mc_split}')
  cal['path'] = os.path.abspath(path)
  return cal


def public(rep: dict) -> dict:
  return {k: v for k, v in rep.items() if not k.startswith('_')}


def report_head(cfg, detector: str, reference: str, gen: dict, gen_meta: dict, cal: dict | None,
                groups_key: str, skipped: dict, **extra) -> dict:
  """What both detectors' report.json start with: the inputs, the settings, the
  calibration used, an empty `groups_key` (particles, classes) for compare_groups."""
  summary = None
  if cal:
    summary = {'path': cal['path'], 'n_per_set': cal['n_per_set'], 'required': list(calib.REQUIRED)}
    if 'required_by_measure' in cal:
      summary['required_by_measure'] = cal['required_by_measure']
  head = {'detector': detector, 'generated': os.path.abspath(cfg.generated),
          'reference': reference, 'mc_split': cfg.mc_split,
          'n_generated': int(len(gen['class_id'])),
          'model_kind': gen_meta.get('model_kind', 'cgan'), 'sampling': gen_meta.get('sampling'),
          'n_boot': cfg.n_boot, 'n_mc_splits': cfg.n_mc_splits, **extra,
          'calibration': summary, groups_key: {}, 'skipped': skipped}
  if cfg.allow_training_split:
    head['mc_split_may_be_training'] = True
  return head


def compare_groups(compare, ctx, groups: dict, cal: dict | None, seed: int,
                   out: dict) -> dict:
  """compare(ctx, group, name, seed) for each group, marked with the calibration; the
  public part of each goes into `out` (the report's particles or classes). Returns the
  full results (with their `_` entries, which the plots read)."""
  reps = {}
  for name, g in groups.items():
    reps[name] = compare(ctx, g, name, seed)
    calib.mark(reps[name]['measures'], cal, name)
    out[name] = public(reps[name])
  return reps


def write_tensorboard(output_dir, report, pngs, groups: str = 'particles'):
  """Every measure of `report[groups][g]['measures']` (and its MC-vs-MC baseline), the
  report's own 'scalars', and the PNG plots."""
  w = tf.summary.create_file_writer(os.path.join(output_dir, 'tensorboard'))
  with w.as_default(step=0):
    for p, rep in report[groups].items():
      for m, v in rep['measures'].items():
        tf.summary.scalar(f'{p}/{m}', v['value'])
        if 'mc_mc' in v:
          tf.summary.scalar(f'{p}/{m}_mc_mc', v['mc_mc'])
    for name, v in report.get('scalars', {}).items():     # the detector report's own numbers
      tf.summary.scalar(name, v)
    for path in pngs:
      with open(path, 'rb') as f:
        name = os.path.relpath(os.path.splitext(path)[0], output_dir)
        tf.summary.image(name, tf.image.decode_png(f.read())[None])
  w.flush()


def fmt_measure(v) -> str:
  s = f'{v["value"]:.4g} [{v["ci"][0]:.3g}, {v["ci"][1]:.3g}]'
  if 'mc_mc' in v:
    s += f'  MC-MC {v["mc_mc"]:.3g}'
  elif 'null_interval' in v:
    s += f'  null {v["null_interval"][0]:.3f}-{v["null_interval"][1]:.3f}'
  if v.get('warning'):
    s += f'  ({v["warning"]})'
  if v.get('evidence') is False:
    s += f'  NO EVIDENCE: blind to {", ".join(x for x in v["misses"] if x in calib.REQUIRED)}'
  elif 'evidence' in v and v['evidence'] is None:
    s += '  (uncalibrated)'
  return s
