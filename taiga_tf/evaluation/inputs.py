"""What a report checks before any work (a report trains classifiers for minutes):
its arguments, the splits it reads (parsed with TFDS's split syntax, slices included:
never the training split), and the --generated folder and its images. Each bad input
is a ValueError (FileNotFoundError, NotADirectoryError) naming the flag, the folder or
the split and what was expected.

    spec, gen, gen_meta = inputs.start_report(cfg, n_groups)   # before any classifier trains
"""
from __future__ import annotations

import os

import numpy as np
import tensorflow_datasets as tfds

# --------------------------------------------------------- checks before any work
# (a report trains classifiers for minutes: every argument and input is checked first)
LOWEST = {'max_examples': (2, 'a comparison needs at least 2 images per side'),
          'max_train': (1, 'the classifiers train on MC train images'),
          'epochs': (1, 'each classifier trains at least one epoch'),
          'patience': (0, 'epochs without improvement before stopping'),
          'n_boot': (10, 'a 95 % interval needs resamples; the default is 200'),
          'n_mc_splits': (1, 'the MC-vs-MC baselines need at least one halving of the MC'),
          'seed': (0, 'seeds are non-negative')}
TRAINING_SPLIT = 'train'


def check_config(cfg) -> None:
  """ValueError naming the flag for a number out of range, an empty or unparsable split,
  a training split to compare with, or an output path that is a file."""
  for name, (low, why) in LOWEST.items():
    v = getattr(cfg, name)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
      raise ValueError(f'--{name}={v}: expected an integer >= {low} ({why})')
  if cfg.seed >= 2 ** 32:
    raise ValueError(f'--seed={cfg.seed}: expected a seed below 2^32')
  check_mc_split(cfg)
  for flag in ('output_dir', 'classifier_dir'):
    path = getattr(cfg, flag)
    if flag == 'output_dir' and not path:
      raise ValueError('--output_dir is empty: give the folder the report goes to')
    if path and os.path.exists(path) and not os.path.isdir(path):
      raise NotADirectoryError(f'--{flag}={path} is a file, not a folder')


def split_names(split: str, flag: str) -> list[str]:
  """The split names a TFDS split spec reads ('validation+test[:50%]' -> validation, test;
  'all' stays 'all'); ValueError naming the flag when it does not parse."""
  if not isinstance(split, str) or not split.strip():
    raise ValueError(f'--{flag} is empty: give a TFDS split, e.g. test or validation+test')
  try:
    parsed = tfds.core.ReadInstruction.from_spec(split)
  except (ValueError, NotImplementedError, TypeError) as e:
    why = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    raise ValueError(f'--{flag}={split} is not a TFDS split ({why}); e.g. test, '
                     'validation+test, test[:50%]') from None
  names, todo = [], [parsed]
  while todo:
    s = todo.pop(0)
    if hasattr(s, 'left') and hasattr(s, 'right'):     # a + b
      todo[:0] = [s.left, s.right]
    else:
      names.append(getattr(s, 'split_name', 'all'))
  return names


def check_mc_split(cfg) -> None:
  """The report compares with MC no model and no classifier trained on: no part of
  --mc_split (slices included) may read the training split ('all' reads it too)."""
  for name in split_names(cfg.mc_split, 'mc_split'):
    if name in (TRAINING_SPLIT, 'all') and not cfg.allow_training_split:
      part = 'reads every split' if name == 'all' else 'reads the training split'
      raise ValueError(f'--mc_split={cfg.mc_split} {part}: the report compares with MC the '
                       'models never trained on; use test, validation or validation+test')


def split_ranges(spec, split: str, flag: str) -> dict:
  """{split name: [(start, stop), ...]} of the examples a split spec reads from the
  reference; ValueError naming the flag and the dataset for an unknown split name, a
  slice beyond the split, or a spec that reads no example."""
  split_names(split, flag)
  infos = spec.builder.info.splits
  name = spec.builder.info.full_name
  try:
    parts = tfds.core.ReadInstruction.from_spec(split).to_absolute(infos)
  except (ValueError, KeyError, NotImplementedError) as e:
    why = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    raise ValueError(f'--{flag}={split}: {why} ({name} has splits '
                     f'{", ".join(f"{k} ({v.num_examples})" for k, v in infos.items())})') from None
  out = {}
  for a in parts:
    n = infos[a.splitname].num_examples
    lo, hi = a.from_ or 0, n if a.to is None else a.to
    if hi > lo:
      out.setdefault(a.splitname, []).append((lo, hi))
  if not out:
    raise ValueError(f'--{flag}={split} reads no example of {name}')
  return out


def check_splits(cfg, spec) -> None:
  """--mc_split against the reference: its split names exist, it reads some examples."""
  check_mc_split(cfg)
  split_ranges(spec, cfg.mc_split, 'mc_split')


GENERATED_FEATURES = ('image', 'class_id', 'particle', 'model_label')
_WHAT = 'give the --output_dir of a finished `python -m taiga_tf.generate` run'


def _not_a_dataset(path: str, p: str) -> str:
  """Why folder p (with no dataset_info.json) is not a generated dataset."""
  if os.path.exists(os.path.join(p, 'config.json')) or os.path.isdir(os.path.join(p, 'saved_model')):
    return (f'--generated={path} is a training workdir, not a generated dataset: generate one '
            f'with `python -m taiga_tf.generate --model={os.path.join(path, "saved_model")} '
            '--output_dir=...` and give that folder')
  if os.path.exists(os.path.join(p, 'saved_model.pb')):
    return (f'--generated={path} is a SavedModel, not a generated dataset: generate one with '
            f'`python -m taiga_tf.generate --model={path} --output_dir=...`')
  for root, dirs, files in os.walk(p):
    if 'dataset_info.json' in files:
      return (f'--generated={path} is not a dataset folder but holds one below it '
              f'({root}); {_WHAT}')
    if root[len(p):].count(os.sep) >= 3:
      dirs[:] = []
  return f'--generated={path} is not a dataset folder (it has no dataset_info.json); {_WHAT}'


def open_generated(path: str | None, det):
  """The TFDS builder of a generated dataset of detector `det`'s images, checked: a
  folder written by taiga_tf.generate (not a workdir, an MC dataset or a missing folder),
  of the same detector, image size, pixel lattice and classes as the reference."""
  from taiga_tf import detectors  # pylint: disable=g-import-not-at-top
  if not path:
    raise ValueError('give --generated=<dataset directory> (the --output_dir of '
                     'taiga_tf.generate), or --calibrate')
  p = os.path.abspath(os.path.expanduser(path))
  if not os.path.exists(p):
    if os.path.isdir(p + '.incomplete'):
      raise FileNotFoundError(f'--generated={path} is not finished ({p}.incomplete holds the '
                              'shards written so far): rerun taiga_tf.generate with the same '
                              'arguments to complete it')
    raise FileNotFoundError(f'--generated={path}: no such folder; {_WHAT}')
  if not os.path.isdir(p):
    raise NotADirectoryError(f'--generated={path} is a file, not a dataset folder; {_WHAT}')
  if not os.path.isfile(os.path.join(p, 'dataset_info.json')):
    raise ValueError(_not_a_dataset(path, p))
  try:
    b = tfds.builder_from_directory(p)
    meta = dict(b.info.metadata or {})
    features = b.info.features
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f'--generated={path}: its dataset_info.json and features cannot be read '
                     f'as a TFDS dataset ({type(e).__name__}: {str(e).strip()[:300]})') from None
  if meta.get('source') != 'generated' or not b.info.name.endswith('_generated'):
    raise ValueError(f'--generated={path} is the dataset {b.info.full_name} (source '
                     f'{meta.get("source")!r}), not a generated one: the report compares a '
                     f'generated dataset with the --reference MC; {_WHAT}')
  name = detectors.detector_name(meta)
  if name != det.name:
    raise ValueError(f'--generated={path} holds {name} images, but the --reference is a '
                     f'{det.name} dataset: compare it with a {name} reference')
  try:
    gdet = detectors.from_metadata(meta)
  except (KeyError, TypeError, ValueError) as e:
    raise ValueError(f'--generated={path}: its metadata does not describe a {name} detector '
                     f'({type(e).__name__}: {e})') from None
  s = det.image_size
  if (gdet.image_size != s or np.asarray(gdet.mask).shape != np.asarray(det.mask).shape
      or not np.array_equal(gdet.mask, det.mask)):
    raise ValueError(f'--generated={path} holds {gdet.image_size} x {gdet.image_size} images of '
                     f'another pixel lattice than the reference\'s {s} x {s}: compare it with '
                     'the dataset its model was trained on (or one of the same geometry)')
  if gdet.n_classes != det.n_classes:
    raise ValueError(f'--generated={path} has {gdet.n_classes} classes per particle, the '
                     f'reference {det.n_classes}: its class ids mean other things')
  missing = [k for k in (*GENERATED_FEATURES, *det.generated_features()) if k not in features]
  if missing or tuple(features['image'].shape) != (s, s):
    raise ValueError(f'--generated={path} is not a generated {name} dataset: '
                     + (f'no feature {", ".join(missing)}' if missing else
                        f'images of shape {tuple(features["image"].shape)}, expected ({s}, {s})'))
  if 'train' not in b.info.splits or not b.info.splits['train'].num_examples:
    raise ValueError(f'--generated={path} holds no images')
  return b


def load_generated(path: str, max_examples: int, det=None) -> tuple[dict, dict]:
  """Numpy columns (the image and every integer feature) of a generated dataset, and
  its metadata; with `det` (the reference's detector) the folder is checked first
  (open_generated) and the images must be finite."""
  b = open_generated(path, det) if det is not None else tfds.builder_from_directory(path)
  keys = [k for k, f in b.info.features.items()
          if k == 'image' or (f.shape == () and np.dtype(f.np_dtype).kind in 'iu')]
  ds = b.as_dataset(split='train').take(max_examples).map(lambda ex: {k: ex[k] for k in keys})
  cols = {}
  for batch in tfds.as_numpy(ds.batch(4096)):
    for k, v in batch.items():
      cols.setdefault(k, []).append(v)
  cols = {k: np.concatenate(v) for k, v in cols.items()}
  if det is not None:
    check_finite(cols['image'], f'--generated={path}')
  return cols, dict(b.info.metadata)


def check_finite(images, where: str) -> None:
  """ValueError with counts when some pixels are NaN or infinite (no measure of the
  report is defined on them: a distance would be NaN, a matrix square root fail)."""
  images = np.asarray(images)
  if np.isfinite(images).all():
    return
  per = ~np.isfinite(images.reshape(len(images), -1)).all(1)
  n_nan, n_inf = int(np.isnan(images).sum()), int(np.isinf(images).sum())
  first = np.flatnonzero(per)[:5].tolist()
  raise ValueError(f'{where}: {int(per.sum())} of {len(images)} images have pixels that are not '
                   f'finite ({n_nan} NaN and {n_inf} infinite pixels; examples '
                   f'{", ".join(map(str, first))}{" ..." if per.sum() > 5 else ""} of its train '
                   'split): the report compares finite images only (a diverged model or sampler?)')


def start_report(cfg, n_groups: int, spec=None):
  """Every check a report makes before any work: the arguments, --mc_split against the
  reference, and the generated dataset (read here: at most max_examples for each of the
  report's n_groups particles or classes). Returns (spec, gen, gen_meta)."""
  from taiga_tf import data as data_lib  # pylint: disable=g-import-not-at-top
  check_config(cfg)
  spec = spec or data_lib.open_dataset(cfg.reference, cfg.data_dir)
  check_splits(cfg, spec)
  gen, gen_meta = load_generated(cfg.generated, cfg.max_examples * n_groups, spec.detector)
  return spec, gen, gen_meta


def start_calibration(cfg, spec=None):
  """The checks of calibrate() before any work (arguments, both splits); returns the spec."""
  from taiga_tf import data as data_lib  # pylint: disable=g-import-not-at-top
  check_config(cfg)
  spec = spec or data_lib.open_dataset(cfg.reference, cfg.data_dir)
  check_splits(cfg, spec)
  check_calibration_split(cfg, spec)
  return spec


def check_calibration_split(cfg, spec=None):
  """--calibration_split (parsed, slices included) reads neither the training split nor an
  example --mc_split reads (with the reference's spec: by example ranges, so
  validation[:50%] and validation[50%:] are disjoint; without: by split name)."""
  bad = ValueError(f'--calibration_split={cfg.calibration_split} must be held out from '
                   f'training and from --mc_split={cfg.mc_split}')
  names = split_names(cfg.calibration_split, 'calibration_split')
  if TRAINING_SPLIT in names or 'all' in names:
    raise bad
  if spec is None:
    if set(names) & set(split_names(cfg.mc_split, 'mc_split')):
      raise bad
    return
  src = split_ranges(spec, cfg.calibration_split, 'calibration_split')
  ref = split_ranges(spec, cfg.mc_split, 'mc_split')
  for name, ranges in src.items():
    if any(a < d and c < b for a, b in ranges for c, d in ref.get(name, [])):
      raise bad
