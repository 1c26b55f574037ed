"""Writes a TFDS-compatible dataset directory shard by shard, resumably, atomically.

Layout (loadable with tfds.builder_from_directory, no builder code needed):
  <output_dir>/dataset_info.json, features.json, metadata.json, ...
  <output_dir>/<name>-train.tfrecord-00000-of-000NN ...
Work happens in `<output_dir>.incomplete/`: every shard is written to a `.tmp`
file renamed when complete, a `state.json` pins the run's arguments, and the
folder is renamed to <output_dir> only when every shard exists. Started again
with the same arguments, a run skips the finished shards: no duplicates, no gaps.

`claim_output_dir` runs first, before any work: it fails when the output path is
a file, when it is an existing folder that this writer did not write (also with
overwrite: only a dataset of the same name is ever replaced, and only once the new
one is complete), and when another process is writing into it (an exclusive
flock on `<output_dir>.lock`, released by the OS if that process dies).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import zlib

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds


class OutputDirError(ValueError):
  """The output directory cannot be used (exists, not ours, busy, not writable)."""


def written_by(path: str, name: str) -> bool:
  """Whether `path` is a finished dataset folder that a DatasetWriter named `name` wrote."""
  try:
    with open(os.path.join(path, 'dataset_info.json')) as f:
      return json.load(f).get('name') == name
  except (OSError, ValueError):
    return False


class OutputLock:
  """An exclusive, non-blocking flock on `<output_dir>.lock` (held while open)."""

  def __init__(self, output_dir: str):
    self.path = output_dir + '.lock'
    self._f = open(self.path, 'a+')   # pylint: disable=consider-using-with
    try:
      fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      self._f.seek(0)
      who = self._f.read().strip() or 'another process'
      self._f.close()
      raise OutputDirError(f'{output_dir} is being written by {who} (lock {self.path}); wait '
                           'for it to finish or stop it first') from None
    self._f.seek(0)
    self._f.truncate()
    self._f.write(f'taiga_tf pid {os.getpid()}')
    self._f.flush()

  def release(self):
    if not self._f.closed:
      try:
        os.remove(self.path)
      except FileNotFoundError:
        pass
      self._f.close()


def claim_output_dir(output_dir: str, name: str, overwrite: bool) -> OutputLock:
  """Checks `output_dir` before any work and locks it for this process."""
  out = os.path.abspath(output_dir)
  parent = os.path.dirname(out)
  if os.path.exists(out) and not os.path.isdir(out):
    raise OutputDirError(f'--output_dir {out} is a file, not a folder')
  if os.path.exists(out) and not overwrite:
    raise FileExistsError(f'{out} exists (use --overwrite to replace a dataset this app wrote)')
  if os.path.isdir(out) and overwrite and not written_by(out, name):
    raise OutputDirError(f'{out} is not a {name} dataset (no dataset_info.json naming it): '
                         '--overwrite replaces only a dataset this app wrote; remove it yourself '
                         'or choose another --output_dir')
  if os.path.exists(out + '.incomplete') and not os.path.isdir(out + '.incomplete'):
    raise OutputDirError(f'{out}.incomplete is a file, not the folder of an interrupted run')
  try:
    os.makedirs(parent, exist_ok=True)
  except OSError as e:
    raise OutputDirError(f'cannot create {parent}: {e.strerror}') from None
  if not os.access(parent, os.W_OK):
    raise OutputDirError(f'{parent} is not writable')
  return OutputLock(out)


class DatasetWriter:

  def __init__(self, output_dir: str, features: tfds.features.FeaturesDict, n_examples: int,
               n_shards: int, state: dict, name: str):
    self.output_dir = os.path.abspath(output_dir)
    self.tmp = self.output_dir + '.incomplete'
    self.features, self.name = features, name
    self.n_examples = n_examples
    self.n_shards = max(1, min(n_shards, n_examples))
    self.bounds = [round(k * n_examples / self.n_shards) for k in range(self.n_shards + 1)]
    # the output folder was checked (and locked) by claim_output_dir before any work
    state = dict(state, n_examples=n_examples, n_shards=self.n_shards)
    state_path = os.path.join(self.tmp, 'state.json')
    if os.path.exists(state_path):
      with open(state_path) as f:
        old = json.load(f)
      if old != json.loads(json.dumps(state)):
        diff = sorted(k for k in set(old) | set(state) if old.get(k) != state.get(k))
        raise ValueError(f'{self.tmp} holds an interrupted run with other arguments '
                         f'(differs in {diff}): rerun with the same arguments to resume, '
                         f'or delete it')
    else:
      os.makedirs(self.tmp, exist_ok=True)
      with open(state_path, 'w') as f:
        json.dump(state, f, indent=1)

  def shard_path(self, k: int) -> str:
    return os.path.join(self.tmp, f'{self.name}-train.tfrecord-{k:05d}-of-{self.n_shards:05d}')

  def pending_shards(self) -> list[int]:
    return [k for k in range(self.n_shards) if not os.path.exists(self.shard_path(k))]

  def shard_range(self, k: int) -> tuple[int, int]:
    return self.bounds[k], self.bounds[k + 1]

  def open_shard(self, k: int) -> '_ShardWriter':
    return _ShardWriter(self, k)

  def finalize(self, metadata: dict, description: str) -> str:
    """Writes dataset_info.json & co. and renames the folder into place."""
    missing = self.pending_shards()
    if missing:
      raise RuntimeError(f'shards {missing} are missing in {self.tmp}')
    lengths = [b - a for a, b in zip(self.bounds[:-1], self.bounds[1:])]
    num_bytes = sum(os.path.getsize(self.shard_path(k)) for k in range(self.n_shards))
    split = tfds.core.SplitInfo(name='train', shard_lengths=lengths, num_bytes=num_bytes)
    template = tfds.core.ShardedFileTemplate(
        data_dir=self.tmp, template='{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}',
        dataset_name=self.name, filetype_suffix='tfrecord')
    tfds.folder_dataset.write_metadata(
        data_dir=self.tmp, features=self.features, split_infos=[split], version='1.0.0',
        filename_template=template, check_data=False, description=description,
        metadata=tfds.core.MetadataDict(metadata))
    os.remove(os.path.join(self.tmp, 'state.json'))
    if os.path.exists(self.output_dir):
      shutil.rmtree(self.output_dir)
    os.replace(self.tmp, self.output_dir)
    return self.output_dir


class _ShardWriter:
  """Records go to `<shard>.tmp`; commit() renames it, abort() deletes it."""

  def __init__(self, parent: DatasetWriter, k: int):
    self.parent, self.k = parent, k
    self.path = parent.shard_path(k)
    self.expected = int(np.diff(parent.shard_range(k))[0])
    self.count = 0
    self.writer = tf.io.TFRecordWriter(self.path + '.tmp')

  def write_serialized(self, record: bytes):
    self.writer.write(record)
    self.count += 1

  def commit(self):
    self.writer.close()
    if self.count != self.expected:
      self.abort()
      raise RuntimeError(f'shard {self.k}: wrote {self.count} examples, expected {self.expected}')
    os.replace(self.path + '.tmp', self.path)

  def abort(self):
    self.writer.close()
    if os.path.exists(self.path + '.tmp'):
      os.remove(self.path + '.tmp')


def generated_features(square_size: int, num_classes: int, n_mc_classes: int,
                       particles=('gamma', 'proton'), extra: dict | None = None
                       ) -> tfds.features.FeaturesDict:
  """Features shared with the MC dataset where they apply (`extra`: the detector's
  integer columns, e.g. TAIGA-IACT's energy_bin and distance_bin), plus the seed index."""
  return tfds.features.FeaturesDict({
      'image': tfds.features.Tensor(shape=(square_size, square_size), dtype=np.float32,
                                    encoding='zlib'),
      'class_id': tfds.features.ClassLabel(num_classes=n_mc_classes),
      'model_label': tfds.features.ClassLabel(num_classes=num_classes),
      'particle': tfds.features.ClassLabel(names=list(particles)),
      **(extra or {}),
      'seed_index': tfds.features.Scalar(dtype=np.int64,
                                         doc='i: the example depends only on (seed, i)'),
  })


def serialize_generated(image: np.ndarray, ints: dict, level: int = 1) -> bytes:
  """Fast path for `generated_features(...).serialize_example`, same wire format.

  TFDS stores a zlib Tensor as zlib.compress(array.tobytes()) in a bytes_list and
  ClassLabel/Scalar integers as int64_list; building the proto directly skips
  TFDS's per-feature Python validation (~5x faster). Level 1 compression reads
  back with the same zlib decoder. tests/test_generate.py checks the equivalence.
  """
  ex = tf.train.Example()
  f = ex.features.feature
  f['image'].bytes_list.value.append(
      zlib.compress(np.ascontiguousarray(image, np.float32).tobytes(), level))
  for k, v in ints.items():
    f[k].int64_list.value.append(int(v))
  return ex.SerializeToString()
