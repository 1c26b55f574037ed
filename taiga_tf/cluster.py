"""Devices and the distribution strategy of a training run, on one machine or several.

- One machine: MirroredStrategy over all GPUs, or over N virtual CPU devices
  (`--num_cpu_devices`, for tests), else TensorFlow's default strategy.
- Several machines: when the environment variable TF_CONFIG (the usual TensorFlow
  way) names more than one task, MultiWorkerMirroredStrategy over all of them:
    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                "task": {"type": "worker", "index": 0}}'
  and the same `python -m taiga_tf.train --flagfile=...` on every host (its own
  index). Every worker reads the dataset and writes under the workdir, so both
  must be on a file system all hosts share. `--batch_size` is the global batch: each
  of the N replicas gets its 1/N of it, and sample `pos` of the global batch draws
  the same noise wherever it runs, so a step equals the one-process step.
- The chief (task "chief", or worker 0 when there is none) writes the checkpoints,
  TensorBoard events, config.json and the export; the other workers save their
  checkpoints into a scratch folder they delete (all workers must take part in a
  save) and restore from the chief's, so a restarted cluster resumes where the
  chief's last checkpoint stands.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil

import tensorflow as tf


# ---------------------------------------------------------------- TF_CONFIG
def tf_config() -> dict | None:
  """The parsed TF_CONFIG, or None when it is unset or names a single task."""
  raw = os.environ.get('TF_CONFIG', '').strip()
  if not raw:
    return None
  try:
    conf = json.loads(raw)
  except ValueError as e:
    raise ValueError(f'TF_CONFIG is not valid JSON ({e}): {raw[:200]}') from None
  cluster = conf.get('cluster') if isinstance(conf, dict) else None
  task = conf.get('task') if isinstance(conf, dict) else None
  if not isinstance(cluster, dict) or not isinstance(task, dict):
    raise ValueError('TF_CONFIG must hold "cluster" ({"worker": ["host:port", ...]}) and "task" '
                     f'({{"type": "worker", "index": i}}), got: {raw[:200]}')
  n_tasks = sum(len(v) for k, v in cluster.items() if k in ('chief', 'worker'))
  if n_tasks <= 1:
    return None
  kind, index = task.get('type'), task.get('index')
  if kind not in ('chief', 'worker') or not isinstance(index, int) or not (
      0 <= index < len(cluster.get(kind, []))):
    raise ValueError(f'TF_CONFIG task {task} is not one of the cluster\'s tasks '
                     f'{ {k: len(v) for k, v in cluster.items()} }')
  return conf


@dataclasses.dataclass(frozen=True)
class Role:
  """This process in the run: task (type, index), number of workers, chief or not."""
  task_type: str = 'worker'
  task_id: int = 0
  num_workers: int = 1
  is_chief: bool = True

  @property
  def name(self) -> str:
    return f'{self.task_type} {self.task_id} of {self.num_workers}'


def role() -> Role:
  conf = tf_config()
  if conf is None:
    return Role()
  cluster, task = conf['cluster'], conf['task']
  n = sum(len(cluster.get(k, [])) for k in ('chief', 'worker'))
  chief = task['type'] == 'chief' or ('chief' not in cluster and task['index'] == 0)
  return Role(task['type'], task['index'], n, chief)


# ---------------------------------------------------------------- devices, strategy
def configure_devices(num_cpu_devices: int):
  """Splits the CPU into N logical devices (must run before TF initialises them)."""
  if num_cpu_devices > 1:
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_cpu_devices)


def make_strategy(num_cpu_devices: int = 1) -> tf.distribute.Strategy:
  """MultiWorkerMirroredStrategy when TF_CONFIG names several tasks; else
  MirroredStrategy over all GPUs, or over N virtual CPUs; else the default."""
  if tf_config() is not None:
    if num_cpu_devices > 1:
      raise ValueError('--num_cpu_devices > 1 does not combine with a TF_CONFIG cluster: '
                       'each worker trains on its own devices')
    return tf.distribute.MultiWorkerMirroredStrategy()
  gpus = tf.config.list_logical_devices('GPU')
  if gpus:
    return tf.distribute.MirroredStrategy([d.name for d in gpus])
  cpus = tf.config.list_logical_devices('CPU')
  if num_cpu_devices > 1:
    if len(cpus) < num_cpu_devices:
      raise RuntimeError(f'asked for {num_cpu_devices} CPU devices, TF has {len(cpus)}: '
                         'configure_devices() must run before TensorFlow uses the CPU')
    return tf.distribute.MirroredStrategy([d.name for d in cpus[:num_cpu_devices]])
  return tf.distribute.get_strategy()


def resolve_jit(flag: str, num_replicas: int = 1, log=print) -> bool:
  """The one rule for XLA, in training and in sampling: 'true'/'false' as given,
  'auto' on GPUs only; never with several replicas on CPU devices (XLA does not
  combine with MirroredStrategy there).

  Deterministic on purpose: XLA and the plain graph give different numbers in the
  last bits, so the choice is part of a run's and a dataset's identity (stored, and
  checked on resume), never the result of a timing race.
  """
  if flag not in ('auto', 'true', 'false'):
    raise ValueError(f"jit_compile must be 'auto', 'true' or 'false', got {flag!r}")
  on_gpu = bool(tf.config.list_logical_devices('GPU'))
  if flag == 'auto':
    return on_gpu
  if flag == 'true' and not on_gpu and num_replicas > 1:
    log('jit_compile disabled: XLA does not combine with MirroredStrategy on CPU devices')
    return False
  return flag == 'true'


# ---------------------------------------------------------------- checkpoints
_CKPT_FILE = re.compile(r'^(.+)\.(index|data-(\d+)-of-(\d+))$')
_INDEX_PATH = re.compile(r'^(model_checkpoint_path|all_model_checkpoint_paths)\s*:\s*"(.*)"$')
_INDEX_NUMBER = re.compile(r'^(all_model_checkpoint_timestamps|last_preserved_timestamp)\s*:\s*'
                           r'[-+0-9.eE]+$')


def _number(name: str) -> int:
  m = re.search(r'(\d+)$', name)
  return int(m.group(1)) if m else -1


@dataclasses.dataclass
class Restored:
  """What CheckpointManager.restore found: the checkpoint restored (None: none), the
  newer ones it skipped as (name, why), and what is wrong with the `checkpoint` index."""
  path: str | None = None
  skipped: list = dataclasses.field(default_factory=list)
  index_problem: str | None = None

  def skipped_text(self) -> str:
    return '; '.join(f'{name}: {why}' for name, why in self.skipped)


class CheckpointManager:
  """tf.train.CheckpointManager of the chief; on other workers the same calls, with
  saves into a scratch folder that is deleted (every worker must take part in a save)
  and restores from the chief's folder.

  `restore()` reads the `checkpoint` index and every checkpoint it lists or that is
  on disk, and restores the newest one that restores completely (checksums included):
  a checkpoint whose files are missing (a half-copied workdir) or damaged (a
  truncated index or data file) is skipped and named. The chief's first save then
  rewrites the index without the skipped ones, so they never count in the rotation
  (max_to_keep) and the intact older checkpoints are not deleted in their place.
  """

  def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, run_role: Role,
               max_to_keep: int = 3):
    self.checkpoint, self.directory, self.role = checkpoint, directory, run_role
    own = directory if run_role.is_chief else os.path.join(
        os.path.dirname(directory), '.scratch', f'{run_role.task_type}-{run_role.task_id}')
    self._scratch = None if run_role.is_chief else own
    self._own, self._max_to_keep = own, max_to_keep
    self._manager = None            # made at the first save, after restore() has fixed the index
    self._fix_index = None          # the names the index should list (chief, after skips)

  @property
  def latest_checkpoint(self) -> str | None:
    return tf.train.latest_checkpoint(self.directory)

  # ---- what the folder holds
  def _read_index(self):
    """(names the `checkpoint` index lists, newest last; a problem with it or None)."""
    path = os.path.join(self.directory, 'checkpoint')
    if not os.path.exists(path):
      return [], None
    try:
      with open(path, 'rb') as f:
        text = f.read().decode('utf-8', errors='replace')
    except OSError as e:
      return [], f'{path} cannot be read ({e})'
    latest, listed, problem = None, [], None
    for i, line in enumerate(text.splitlines(), 1):
      line = line.strip()
      m = _INDEX_PATH.match(line)
      if m:
        name = os.path.basename(m.group(2).rstrip('/\\'))   # always inside this folder
        if m.group(1) == 'model_checkpoint_path':
          latest = name
        elif name not in listed:
          listed.append(name)
      elif line and not _INDEX_NUMBER.match(line) and problem is None:
        problem = f'{path}:{i}: {line[:60]!r} is not a line of a checkpoint index'
    if latest is None and problem is None:
      problem = f'{path} names no checkpoint (empty or cut short)'
    if latest is not None and latest not in listed:
      listed.append(latest)
    elif latest is not None:
      listed.remove(latest)
      listed.append(latest)
    return listed, problem

  def _files(self) -> dict:
    """{checkpoint name: [its files in the folder]}."""
    out = {}
    if os.path.isdir(self.directory):
      for f in os.listdir(self.directory):
        m = _CKPT_FILE.match(f)
        if m:
          out.setdefault(m.group(1), []).append(f)
    return out

  @staticmethod
  def _missing(name: str, files: list) -> str | None:
    """Why the checkpoint `name` cannot be complete from its file names, or None."""
    if not files:
      return 'named by the checkpoint index, but its files are missing'
    if f'{name}.index' not in files:
      return f'its .index file is missing (has {", ".join(sorted(files))})'
    data = [_CKPT_FILE.match(f) for f in files if f != f'{name}.index']
    if not data:
      return 'its data file is missing'
    n = int(data[0].group(4))
    want = {f'{name}.data-{i:05d}-of-{n:05d}' for i in range(n)}
    lost = sorted(want - set(files))
    return f'data file(s) missing: {", ".join(lost)}' if lost else None

  def restore(self, check=lambda status: status.assert_existing_objects_matched()) -> Restored:
    """Restores the newest checkpoint that restores completely; see the class doc.
    `check(status)` raises when the checkpoint does not match the objects."""
    listed, problem = self._read_index()
    files = self._files()
    names = sorted(set(listed) | set(files),
                   key=lambda n: (_number(n), listed.index(n) if n in listed else -1))
    out = Restored(index_problem=problem)
    for name in reversed(names):
      why = self._missing(name, files.get(name, []))
      if why is None:
        path = os.path.join(self.directory, name)
        try:
          check(self.checkpoint.restore(path))
        except Exception as e:  # pylint: disable=broad-except
          # DataLossError (checksum), OpError (not an sstable), IndexError (a data file cut
          # short), AssertionError (another model): all mean "not this one"
          msg = (str(e).strip().splitlines() or [''])[0]
          why = f'damaged or not this model ({type(e).__name__}: {msg[:160]})'
        else:
          out.path = path
          break
      out.skipped.append((name, why))
    if out.path is not None and self.role.is_chief and (out.skipped or problem or
                                                         listed[-1:] != [os.path.basename(out.path)]):
      older = [n for n in names if _number(n) < _number(os.path.basename(out.path))
               and self._missing(n, files.get(n, [])) is None]
      self._fix_index = older + [os.path.basename(out.path)]
    return out

  def _rewrite_index(self, names):
    """The `checkpoint` index listing `names` (oldest first) only, written atomically;
    their timestamps kept where the old index had them (rotation order)."""
    old = None
    try:
      old = tf.train.get_checkpoint_state(self.directory)
    except Exception:  # pylint: disable=broad-except
      pass
    stamps = {}
    if old is not None:
      stamps = {os.path.basename(p): t for p, t in zip(old.all_model_checkpoint_paths,
                                                        old.all_model_checkpoint_timestamps)}
    times = [stamps.get(n) or os.path.getmtime(os.path.join(self.directory, f'{n}.index'))
             for n in names]
    preserved = (old.last_preserved_timestamp if old is not None and old.last_preserved_timestamp
                 else min(times) - 1.0)
    lines = [f'model_checkpoint_path: "{names[-1]}"']
    lines += [f'all_model_checkpoint_paths: "{n}"' for n in names]
    lines += [f'all_model_checkpoint_timestamps: {t!r}' for t in times]
    lines += [f'last_preserved_timestamp: {preserved!r}']
    path = os.path.join(self.directory, 'checkpoint')
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
      f.write('\n'.join(lines) + '\n')
    os.replace(tmp, path)

  def save(self, checkpoint_number=None) -> str:
    if self._manager is None:
      if self._fix_index:
        self._rewrite_index(self._fix_index)
        self._fix_index = None
      self._manager = tf.train.CheckpointManager(self.checkpoint, self._own,
                                                 max_to_keep=self._max_to_keep)
    path = self._manager.save(checkpoint_number=checkpoint_number)
    if self._scratch is not None:
      shutil.rmtree(self._scratch, ignore_errors=True)
      try:
        os.rmdir(os.path.dirname(self._scratch))     # the last worker out
      except OSError:
        pass
    return path
