"""What the apps print: their own progress and summary, TensorFlow's start-up messages
only on request, and a one-line error instead of a traceback for a bad input.

    def main(argv):
      console.start_tensorflow()
      with console.user_errors('taiga_tf.generate'):
        ...

TensorFlow writes about six lines from C++ as it starts (oneDNN and CPU-feature
notices, `cuInit` errors on machines without a GPU), some before its log level
is read, so TF_CPP_MIN_LOG_LEVEL cannot hide them: `start_tensorflow` imports
TensorFlow and lists its devices with the process's stderr pointed at /dev/null.
They stay visible with `--verbosity=N` (absl's flag, N >= 0) or
TAIGA_TF_TF_LOGS=1. TAIGA_TF_TRACEBACK=1 shows the full traceback of an error.
No TensorFlow import at module level (the numpy-only MC imports nothing of TF).
"""
from __future__ import annotations

import contextlib
import os
import sys

LOGS_ENV = 'TAIGA_TF_TF_LOGS'
TRACEBACK_ENV = 'TAIGA_TF_TRACEBACK'

# Errors that mean "this input or argument is wrong", raised with a message that
# says what and where (file:line, flag, folder); anything else keeps its traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
               IsADirectoryError, PermissionError)


def _flag(name: str):
  try:
    from absl import flags  # pylint: disable=g-import-not-at-top
    return flags.FLAGS[name] if name in flags.FLAGS else None
  except Exception:  # pylint: disable=broad-except
    return None


def tf_logs_wanted() -> bool:
  if os.environ.get(LOGS_ENV, '') not in ('', '0'):
    return True
  v = _flag('verbosity')
  return bool(v is not None and v.present and v.value >= 0)


@contextlib.contextmanager
def stderr_silenced(enabled: bool = True):
  """Points file descriptor 2 at /dev/null (C++ writes included) inside the block."""
  if not enabled:
    yield
    return
  sys.stderr.flush()
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield
  finally:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


def start_tensorflow():
  """Imports TensorFlow and finds its devices quietly (see the module doc); sets the
  Python-side (absl) log level to ERROR unless --verbosity was given."""
  wanted = tf_logs_wanted()
  if not wanted:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')   # later C++ notices
  with stderr_silenced(not wanted):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.config.list_physical_devices()                  # cuInit happens here
    import tensorflow_datasets  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  v = _flag('verbosity')
  if v is None or not v.present:
    from absl import logging  # pylint: disable=g-import-not-at-top
    logging.set_verbosity(logging.ERROR)


@contextlib.contextmanager
def user_errors(app_name: str):
  """A USER_ERRORS exception becomes `<app>: error: <message>` on stderr and exit code 2."""
  try:
    yield
  except USER_ERRORS as e:
    if os.environ.get(TRACEBACK_ENV, '') not in ('', '0'):
      raise
    msg = str(e) if not isinstance(e, OSError) or not e.filename else (
        f'{e.filename}: {e.strerror or e}')
    print(f'{app_name}: error: {msg}', file=sys.stderr)
    sys.exit(2)
