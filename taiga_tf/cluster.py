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
class CheckpointManager:
  """tf.train.CheckpointManager of the chief; on other workers the same calls, with
  saves into a scratch folder that is deleted (every worker must take part in a save)
  and restores from the chief's folder."""

  def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, run_role: Role,
               max_to_keep: int = 3):
    self.checkpoint, self.directory, self.role = checkpoint, directory, run_role
    own = directory if run_role.is_chief else os.path.join(
        os.path.dirname(directory), '.scratch', f'{run_role.task_type}-{run_role.task_id}')
    self._scratch = None if run_role.is_chief else own
    self._manager = tf.train.CheckpointManager(checkpoint, own, max_to_keep=max_to_keep)

  @property
  def latest_checkpoint(self) -> str | None:
    return tf.train.latest_checkpoint(self.directory)

  def save(self, checkpoint_number=None) -> str:
    path = self._manager.save(checkpoint_number=checkpoint_number)
    if self._scratch is not None:
      shutil.rmtree(self._scratch, ignore_errors=True)
      try:
        os.rmdir(os.path.dirname(self._scratch))     # the last worker out
      except OSError:
        pass
    return path
