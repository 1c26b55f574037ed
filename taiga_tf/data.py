"""Input pipelines over built TFDS datasets: transform, class labels, batching.

Datasets are opened with tfds.builder_from_directory from
<data_dir>/<name>/<config>/<version>, so training needs only the built files.
What is detector-specific (image geometry, classes, particles, the columns reports
read) comes from the dataset's Detector (taiga_tf.detectors), chosen by its metadata.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from taiga_tf import detectors


def _is_build_of(path: str, name: str) -> str | None:
  """None if `path` holds a TFDS build of `name` ('builder/config'), else what it is."""
  try:
    with open(os.path.join(path, 'dataset_info.json'), encoding='utf-8') as f:
      info = json.load(f)
  except FileNotFoundError:
    return 'no dataset_info.json'
  except (OSError, ValueError) as e:
    return f'an unreadable dataset_info.json ({e})'
  if not isinstance(info, dict):
    return 'a dataset_info.json that is not a JSON object'
  builder, _, config = name.partition('/')
  got = f'{info.get("name")}/{info.get("configName")}' if info.get('configName') else \
      str(info.get('name'))
  if info.get('name') != builder or (config and info.get('configName') != config):
    return f'a {got} dataset'
  return None


def dataset_dir(dataset: str, data_dir: str) -> str:
  """<data_dir>/<name>/<config>/<latest version> for 'name/config[:version]'. Only a
  folder whose dataset_info.json names this builder and config counts as a version: a
  generated dataset written to <data_dir>/taiga_iact/<config>/9.9.9 is not one."""
  name, _, version = dataset.partition(':')
  root = os.path.join(os.path.expanduser(data_dir), name)
  if version:
    path = os.path.join(root, version)
    if not os.path.isdir(path):
      raise FileNotFoundError(f'no version {version} of dataset {name!r} in {root}')
    why = _is_build_of(path, name)
    if why:
      raise ValueError(f'{path} is not a build of {name!r}: it holds {why}')
    return path
  if not os.path.isdir(root):
    raise FileNotFoundError(f'no dataset {name!r} under {data_dir}: build it with '
                            f'`tfds build datasets/{name.split("/")[0]} --config=... '
                            f'--data_dir={data_dir}`')
  versions = sorted((v for v in os.listdir(root) if re.fullmatch(r'\d+\.\d+\.\d+', v) and
                     _is_build_of(os.path.join(root, v), name) is None),
                    key=lambda v: tuple(int(p) for p in v.split('.')))
  if not versions:
    raise FileNotFoundError(f'no built version of {name!r} in {root} (a version is a folder '
                            'like 1.1.0 whose dataset_info.json names the dataset)')
  return os.path.join(root, versions[-1])


@dataclasses.dataclass
class DatasetSpec:
  """What later stages need to know about a built dataset."""
  builder: tfds.core.DatasetBuilder
  detector: detectors.Detector

  @property
  def n_classes(self) -> int:
    return self.detector.n_classes

  @property
  def particles(self) -> tuple[str, ...]:
    return self.detector.particles


def open_dataset(dataset: str, data_dir: str) -> DatasetSpec:
  b = tfds.builder_from_directory(dataset_dir(dataset, data_dir))
  return DatasetSpec(b, detectors.from_metadata(b.info.metadata))


ALL = 'all'     # a model of every particle, its label the class only (e.g. LArTPC)


def selected_particle(particle: str, condition_on_particle: bool) -> str | None:
  """The particle a model's examples are filtered to: None (all) when the particle is part
  of the label or the model is of every particle."""
  return None if condition_on_particle or particle == ALL else particle


def label_fn(n_classes: int, condition_on_particle: bool):
  """Model label of an example: class_id, or class_id + n_classes * particle."""
  def fn(ex):
    y = tf.cast(ex['class_id'], tf.int32)
    if condition_on_particle:
      y = y + n_classes * tf.cast(ex['particle'], tf.int32)
    return y
  return fn


def image_key(signal_only: bool) -> str:
  """The feature a model learns: the full image, or the signal before NSB."""
  return 'image_signal' if signal_only else 'image'


def check_signal_images(spec: DatasetSpec, split: str, particle: str | None):
  """Raises unless every example of `split` (of `particle`, None = all) has its
  signal-only image (datasets before taiga_iact 1.1.0 have none; chain files need
  their matching _c.txt)."""
  m = spec.builder.info.metadata
  name = spec.builder.info.full_name
  have = m.get('signal_counts', {}).get(split)
  counts = m.get('class_counts', {}).get(split)
  if have is None or counts is None:
    raise ValueError(f'{name} has no signal-only images (image_signal): rebuild it with '
                     'taiga_iact >= 1.1.0 from files that include the chain\'s *_c.txt')
  for p in ([particle] if particle else spec.particles):
    n = int(sum(counts.get(p, [])))
    if int(have.get(p, 0)) < n:
      raise ValueError(
          f'{name}: only {have.get(p, 0)} of the {n} {p} examples of split {split!r} have a '
          'signal-only image: --signal_only needs every *_cbN.txt file next to its *_c.txt '
          '(see the builder\'s manual-download instructions)')


def measure_nsb_sigma(spec: DatasetSpec, split: str = 'train', particle: str | None = None,
                      max_examples: int = 2000) -> float:
  """The std (pe) of image - image_signal on the camera pixels: the sigma of the
  chain's Gaussian night-sky background, as a signal-only model must add it back."""
  ds = spec.builder.as_dataset(split=split).filter(particle_filter(spec, particle))
  ds = ds.filter(lambda ex: ex['has_signal']).take(max_examples)
  mask = spec.detector.mask
  diffs = [b['image'][:, mask] - b['image_signal'][:, mask]
           for b in tfds.as_numpy(ds.map(lambda ex: {'image': ex['image'],
                                                   'image_signal': ex['image_signal']}).batch(512))]
  if not diffs:
    raise ValueError(f'{spec.builder.info.full_name}: no example of split {split!r} has a '
                     'signal-only image')
  return float(np.std(np.concatenate(diffs)))


def particle_filter(spec: DatasetSpec, particle: str | None):
  if particle is None:
    return lambda ex: True
  if particle not in spec.particles:
    raise ValueError(f'{spec.builder.info.full_name} has no particle {particle!r}: one of '
                     f'{", ".join(spec.particles)}')
  pid = spec.particles.index(particle)
  return lambda ex: tf.equal(ex['particle'], pid)


def training_dataset(spec: DatasetSpec, prep, batch_size: int, n_slots: int,
                     particle: str | None = 'gamma', condition_on_particle: bool = False,
                     split: str = 'train', seed: int = 0, image_key: str = 'image',
                     start_step: int = 0, random_flips: bool = False) -> tf.data.Dataset:
  """Endless batches {'image': [B, n_slots, H, W, 1], 'label': [B, n_slots], 'pos': [B]}.

  n_slots independent real images per batch position feed the n_disc
  discriminator steps of one training step. image_key: the feature learnt
  ('image', or 'image_signal' for a model of the signal only).

  The order is a pure function of (seed, step): the split is read once, in its
  stored order, into memory, and example j of the endless stream is example
  index_shuffle(j mod N; seed, epoch j // N) (a stateless permutation per epoch).
  A run resumed at `start_step` therefore sees exactly the batches the
  uninterrupted run would have, and two runs with one seed see the same data.
  random_flips: example j is flipped left-right and/or up-down by two bits of a
  stateless hash of (seed, j), so the augmentation resumes exactly too.
  """
  to_label = label_fn(spec.n_classes, condition_on_particle)
  ds = spec.builder.as_dataset(split=split, shuffle_files=False,
                               read_config=tfds.ReadConfig(interleave_cycle_length=1))
  ds = ds.filter(particle_filter(spec, particle)).map(
      lambda ex: (prep.forward(ex[image_key]), to_label(ex)), num_parallel_calls=tf.data.AUTOTUNE,
      deterministic=True)
  xs, ys = [], []
  for x, y in ds.batch(4096):
    xs.append(x)
    ys.append(y)
  if not xs:
    raise ValueError(f'{spec.builder.info.full_name}: no {particle or ""} examples in split '
                     f'{split!r}')
  images, labels = tf.concat(xs, 0)[..., None], tf.concat(ys, 0)
  n = int(labels.shape[0])
  per_step = batch_size * n_slots

  def example(j):
    epoch, pos = j // n, j % n
    k = tf.random.experimental.index_shuffle(pos, tf.stack([tf.cast(seed, tf.int64), epoch]),
                                             n - 1)
    x = tf.gather(images, k)
    if random_flips:
      bits = tf.random.stateless_uniform([2], tf.stack([tf.constant(int(seed) ^ 0xF11B, tf.int64), j]),
                                         maxval=2, dtype=tf.int32)
      x = tf.cond(bits[0] > 0, lambda: tf.reverse(x, [1]), lambda: x)     # left-right
      x = tf.cond(bits[1] > 0, lambda: tf.reverse(x, [0]), lambda: x)     # up-down
    return x, tf.gather(labels, k)

  ds = tf.data.Dataset.range(start_step * per_step, 2 ** 62).map(
      example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(n_slots, drop_remainder=True).batch(batch_size, drop_remainder=True)
  ds = ds.map(lambda x, y: {'image': x, 'label': y, 'pos': tf.range(batch_size, dtype=tf.int32)})
  return ds.prefetch(tf.data.AUTOTUNE)


def load_columns(spec: DatasetSpec, split: str, particle: str | None = 'gamma',
                 condition_on_particle: bool = False, with_images: bool = False,
                 max_examples: int | None = None, image_key: str = 'image') -> dict:
  """Numpy columns of a split: label, class_id, the detector's columns (TAIGA-IACT:
  energy_bin, distance_bin, size) and with_images the feature `image_key` as 'image'."""
  to_label = label_fn(spec.n_classes, condition_on_particle)
  ds = spec.builder.as_dataset(split=split).filter(particle_filter(spec, particle))
  if max_examples:
    ds = ds.take(max_examples)

  def pick(ex):
    out = {'label': to_label(ex), 'class_id': ex['class_id'], **spec.detector.columns(ex)}
    if with_images:
      out['image'] = ex[image_key]
    return out

  cols = {}
  for batch in tfds.as_numpy(ds.map(pick).batch(4096)):
    for k, v in batch.items():
      cols.setdefault(k, []).append(v)
  return {k: np.concatenate(v) for k, v in cols.items()}
