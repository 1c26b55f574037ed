"""Writes a TFDS-compatible dataset directory shard by shard, resumably, atomically.

Layout (loadable with tfds.builder_from_directory, no builder code needed):
  <output_dir>/dataset_info.json, features.json, metadata.json, ...
  <output_dir>/<name>-train.tfrecord-00000-of-000NN ...
Work happens in `<output_dir>.incomplete/`: every shard is written to a `.tmp`
file renamed when complete, a `state.json` pins the run's arguments, and the
folder is renamed to <output_dir> only when every shard exists. Started again
with the same arguments, a run skips the finished shards: no duplicates, no gaps.
Constructing a DatasetWriter writes nothing; `begin()`, called once the run's
checks have all passed, creates the folder and its state.json. A non-finite image
is refused (`serialize_generated`): a dataset never holds NaN or inf.

`claim_output_dir` runs first, before any work: it fails when the output path is
a file, when it is an existing folder that this writer did not write (also with
overwrite: only a dataset of the same name is ever replaced, and only once the new
one is complete), and when another process is writing into it (an exclusive
flock on `<output_dir>.lock`, released by the OS if that process dies).

Several workers (machines sharing the file system, or processes) may write one
dataset: worker i of N writes its own block of shards into the same
`.incomplete/` folder; each holds a shared flock on `<output_dir>.lock` (so a
one-process run cannot start beside them) and an exclusive one on
`<output_dir>.worker-i-of-N.lock` (so two workers cannot take the same block).
Whoever finds every shard written when it finishes renames the folder into
place (`finalize_if_complete`, under `<output_dir>.finalize.lock`): the result
is the one-process run's folder, shard for shard.
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
  """A non-blocking flock on `<output_dir><suffix>` (held while open).

  Exclusive: the file names the holder and is removed on release. Shared (the
  workers of one multi-worker run): several holders, no exclusive one; the file stays.
  """

  def __init__(self, output_dir: str, suffix: str = '.lock', shared: bool = False):
    self.path, self.shared = output_dir + suffix, shared
    self._f = open(self.path, 'a+')   # pylint: disable=consider-using-with
    try:
      fcntl.flock(self._f, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
      self._f.seek(0)
      who = self._f.read().strip() or 'other worker processes'
      self._f.close()
      raise OutputDirError(f'{output_dir} is being written by {who} (lock {self.path}); wait '
                           'for it to finish or stop it first') from None
    if not shared:
      self._f.seek(0)
      self._f.truncate()
      self._f.write(f'taiga_tf pid {os.getpid()}')
      self._f.flush()

  def release(self):
    if not self._f.closed:
      if not self.shared:
        try:
          os.remove(self.path)
        except FileNotFoundError:
          pass
      self._f.close()


class _Locks:
  """A worker's locks; the last worker out removes the shared lock file."""

  def __init__(self, output_dir, locks):
    self.output_dir, self.locks = output_dir, locks

  def release(self):
    for lock in reversed(self.locks):
      lock.release()
    try:
      OutputLock(self.output_dir).release()
    except OutputDirError:
      pass      # other workers still hold it


def claim_output_dir(output_dir: str, name: str, overwrite: bool, worker: tuple = (0, 1)):
  """Checks `output_dir` before any work and locks it for this process (or worker
  (index, count) of a multi-worker run); returns the lock (`.release()`)."""
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
  index, count = worker
  if count == 1:
    return OutputLock(out)
  shared = OutputLock(out, shared=True)
  try:
    return _Locks(out, [shared, OutputLock(out, f'.worker-{index}-of-{count}.lock')])
  except OutputDirError:
    shared.release()
    raise


class DatasetWriter:

  def __init__(self, output_dir: str, features: tfds.features.FeaturesDict, n_examples: int,
               n_shards: int, state: dict, name: str):
    self.output_dir = os.path.abspath(output_dir)
    self.tmp = self.output_dir + '.incomplete'
    self.features, self.name = features, name
    self.n_examples = n_examples
    self.n_shards = max(1, min(n_shards, n_examples))
    self.bounds = [round(k * n_examples / self.n_shards) for k in range(self.n_shards + 1)]
    # the output folder was checked (and locked) by claim_output_dir before any work;
    # nothing is written here: begin() does, once every check has passed
    self.state = json.loads(json.dumps(dict(state, n_examples=n_examples, n_shards=self.n_shards)))
    self.state_path = os.path.join(self.tmp, 'state.json')
    if os.path.exists(self.state_path):
      self._check_state()

  def _check_state(self):
    with open(self.state_path) as f:
      old = json.load(f)
    if old != self.state:
      diff = sorted(k for k in set(old) | set(self.state) if old.get(k) != self.state.get(k))
      raise ValueError(f'{self.tmp} holds an interrupted run with other arguments '
                       f'(differs in {diff}): rerun with the same arguments to resume, '
                       f'or delete it')

  def begin(self) -> bool:
    """Creates `<output_dir>.incomplete/state.json` (the first byte a run writes, after all
    its checks), or checks the one there; True if this call created it. Atomic and
    first-come: a worker starting beside this one reads all of it or nothing, and two
    workers cannot both create it."""
    os.makedirs(self.tmp, exist_ok=True)
    tmp = f'{self.state_path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
      json.dump(self.state, f, indent=1)
    try:
      os.link(tmp, self.state_path)            # fails if another worker created it first
      return True
    except FileExistsError:
      self._check_state()
      return False
    except OSError:                            # a file system without hard links
      if os.path.exists(self.state_path):
        self._check_state()
        return False
      os.replace(tmp, self.state_path)
      return True
    finally:
      if os.path.exists(tmp):
        os.remove(tmp)

  @staticmethod
  def discard_if_empty(output_dir: str) -> None:
    """Removes `<output_dir>.incomplete/` when it holds nothing but its state.json (and
    .tmp files): a run that failed before its first shard leaves nothing to resume, so
    the corrected command is not refused as "an interrupted run with other arguments".
    Only for the holder of the exclusive lock (no other worker can be using it)."""
    tmp = os.path.abspath(output_dir) + '.incomplete'
    try:
      names = os.listdir(tmp)
    except OSError:
      return
    if all(f == 'state.json' or f.endswith('.tmp') for f in names):
      shutil.rmtree(tmp, ignore_errors=True)

  def shard_path(self, k: int) -> str:
    return os.path.join(self.tmp, f'{self.name}-train.tfrecord-{k:05d}-of-{self.n_shards:05d}')

  def pending_shards(self) -> list[int]:
    return [k for k in range(self.n_shards) if not os.path.exists(self.shard_path(k))]

  def shard_range(self, k: int) -> tuple[int, int]:
    return self.bounds[k], self.bounds[k + 1]

  def open_shard(self, k: int) -> '_ShardWriter':
    return _ShardWriter(self, k)

  def worker_shards(self, index: int, count: int) -> list[int]:
    """Worker `index` of `count`: a contiguous block of the shards."""
    if count > self.n_shards:
      raise ValueError(f'{count} workers for {self.n_shards} shards: give --num_shards of at '
                       f'least {count} (the same in every worker and in any rerun)')
    return list(range(index * self.n_shards // count, (index + 1) * self.n_shards // count))

  def finalize_if_complete(self, metadata: dict, description: str) -> str | None:
    """finalize() when every shard is written (by any worker), else None. Once only:
    under `<output_dir>.finalize.lock`, and a folder already renamed is left alone."""
    with open(self.output_dir + '.finalize.lock', 'a+') as f:
      fcntl.flock(f, fcntl.LOCK_EX)
      if not os.path.isdir(self.tmp):
        return self.output_dir if written_by(self.output_dir, self.name) else None
      if self.pending_shards():
        return None
      out = self.finalize(metadata, description)
      os.remove(self.output_dir + '.finalize.lock')   # a later claim finds the dataset itself
      return out

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
  if not np.all(np.isfinite(image)):
    raise ValueError(f'example {ints.get("seed_index", "?")}: the image is not finite (NaN or '
                     'inf): a generated dataset never holds one')
  ex = tf.train.Example()
  f = ex.features.feature
  f['image'].bytes_list.value.append(
      zlib.compress(np.ascontiguousarray(image, np.float32).tobytes(), level))
  for k, v in ints.items():
    f[k].int64_list.value.append(int(v))
  return ex.SerializeToString(deterministic=True)   # map keys sorted: the same bytes in any process
