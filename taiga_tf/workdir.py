"""A training run's folder (--workdir): its config.json, written atomically and read
with a clear error when damaged, and the traces by which an earlier run is recognised,
so that a workdir holding one is never taken for a new run.

  config.json        the run's configuration, preprocessing, dataset metadata, state
  checkpoints/       taiga_tf.cluster.CheckpointManager
  train/             TensorBoard event files
  saved_model/       the export
  conditioning.json  the last conditioning check

No TensorFlow here (plain files).
"""
from __future__ import annotations

import json
import os

CONFIG = 'config.json'


def write_json_atomic(path: str, obj) -> None:
  """`obj` as JSON at `path`, via a temporary file in the same folder and os.replace:
  a reader (or a killed run) sees the old file or the new one, never half of one."""
  tmp = f'{path}.tmp-{os.getpid()}'
  try:
    with open(tmp, 'w') as f:
      json.dump(obj, f, indent=1)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def read_config(workdir: str) -> dict | None:
  """The run's config.json, or None when the workdir has none. A file that is not a
  JSON object with a "train_config" object is a ValueError naming it."""
  path = os.path.join(workdir, CONFIG)
  if not os.path.lexists(path):
    return None
  how = ('it holds the run\'s flags and measured state: copy it back from a good copy of '
         'the workdir, or train into a new --workdir')
  if os.path.isdir(path):
    raise IsADirectoryError(f'{path} is a folder, not the run\'s config file; {how}')
  try:
    with open(path, 'rb') as f:
      raw = f.read()
  except OSError as e:
    raise ValueError(f'{path} cannot be read ({e.strerror}); {how}') from None
  try:
    info = json.loads(raw.decode('utf-8'))
  except UnicodeDecodeError as e:
    raise ValueError(f'{path} is damaged: byte {e.start} is not UTF-8 text; {how}') from None
  except ValueError as e:
    raise ValueError(f'{path} is damaged: not JSON ({e}; {len(raw)} bytes); {how}') from None
  if not isinstance(info, dict) or not isinstance(info.get('train_config'), dict):
    raise ValueError(f'{path} is not a taiga_tf.train config (expected a JSON object with a '
                     f'"train_config" object, got {type(info).__name__}'
                     f'{" without one" if isinstance(info, dict) else ""}); {how}')
  return info


def traces(workdir: str) -> list[str]:
  """What of an earlier run the workdir holds (empty: a new or empty folder, or one
  with only files of its own)."""
  if not os.path.isdir(workdir):
    return []
  found = []
  for name in (CONFIG, 'conditioning.json'):
    if os.path.lexists(os.path.join(workdir, name)):
      found.append(name)
  for sub, what in (('checkpoints', 'checkpoint files'), ('train', 'TensorBoard files'),
                    ('saved_model', 'a SavedModel')):
    d = os.path.join(workdir, sub)
    if os.path.isdir(d):
      n = sum(len(files) for _, _, files in os.walk(d))
      if n:
        found.append(f'{sub}/ ({n} {what})' if sub != 'saved_model' else f'{sub}/ ({what})')
    elif os.path.lexists(d):
      found.append(sub)
  return found


def check_folder(workdir: str) -> None:
  if not workdir:
    raise ValueError('--workdir is empty: give the run\'s folder')
  if os.path.lexists(workdir) and not os.path.isdir(workdir):
    raise NotADirectoryError(f'--workdir={workdir} is a file, not a folder')
