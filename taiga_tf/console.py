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

Library noise a user should not have to read is routed the same way:
`quiet_library_logs` drops TFDS's `FeatureConnector.dtype is deprecated` warning
(TFDS 4.9 triggers it itself when it decodes a Tensor feature; our own code reads
`np_dtype`), and `run_quiet` runs another tool's command (the demo's `tfds build`)
with TensorFlow's C++ start-up lines and the `DatasetInfo` repr it prints at the end
filtered out of its output, progress bars kept.
No TensorFlow import at module level (the numpy-only MC imports nothing of TF).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
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
    from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
    absl_logging.set_verbosity(absl_logging.ERROR)
  quiet_library_logs()


# Python-side log records of the libraries that say nothing to a user of taiga_tf.
LIBRARY_NOISE = ('.dtype` is deprecated. Please change your code to use NumPy',)

# Lines of another process's output that are TensorFlow's start-up noise: absl's C++
# log prefix (I/W/E + MMDD or 0000 + time), its "before InitializeLog" notice, and the
# optional-dependency warning of apache_beam's GCP extras.
_NOISE_LINE = re.compile(r'^([IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\]|'
                         r'WARNING: All log messages before absl::InitializeLog|'
                         r'WARNING:root:apitools not found)')


class _DropLibraryNoise(logging.Filter):
  def filter(self, record):
    msg = record.getMessage()
    return not any(n in msg for n in LIBRARY_NOISE)


def quiet_library_logs():
  """Drops LIBRARY_NOISE from Python logging (absl's logger included), unless
  TensorFlow's logs were asked for (--verbosity, TAIGA_TF_TF_LOGS=1)."""
  if tf_logs_wanted():
    return
  for name in ('absl', ''):
    log = logging.getLogger(name)
    if not any(isinstance(f, _DropLibraryNoise) for f in log.filters):
      log.addFilter(_DropLibraryNoise())
  for handler in logging.getLogger().handlers + logging.getLogger('absl').handlers:
    if not any(isinstance(f, _DropLibraryNoise) for f in handler.filters):
      handler.addFilter(_DropLibraryNoise())


class NoiseFilter:
  """Line filter for another process's output: drops TensorFlow's start-up lines and a
  `tfds.core.DatasetInfo(...)` repr block; everything else passes unchanged."""

  def __init__(self):
    self._in_info = False

  @property
  def in_block(self) -> bool:
    """Inside a DatasetInfo repr: its lines are being dropped."""
    return self._in_info

  def keep(self, line: str) -> bool:
    if self._in_info:
      if line.rstrip('\r\n') == ')':
        self._in_info = False
      return False
    if line.startswith('tfds.core.DatasetInfo('):
      self._in_info = True
      return False
    return not _NOISE_LINE.match(line)


def run_quiet(cmd: list, **kwargs) -> int:
  """Runs `cmd` with its stdout and stderr relayed to ours through NoiseFilter
  (progress bars, which redraw with carriage returns, pass as they come). With
  TensorFlow's logs asked for, the output is not filtered. Raises
  subprocess.CalledProcessError on a non-zero exit, like subprocess.run(check=True)."""
  if tf_logs_wanted():
    return subprocess.run(cmd, check=True, **kwargs).returncode
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)
  noise, pending, out = NoiseFilter(), b'', sys.stdout
  while True:
    chunk = os.read(proc.stdout.fileno(), 65536)
    if not chunk:
      break
    pending += chunk
    *lines, pending = pending.split(b'\n')
    for line in lines:
      text = line.decode(errors='replace') + '\n'
      if noise.keep(text):
        out.write(text)
    if b'\r' in pending and not noise.in_block:       # a progress bar redrawing itself
      head, _, pending = pending.rpartition(b'\r')
      out.write(head.decode(errors='replace') + '\r')
    out.flush()
  if pending and noise.keep(pending.decode(errors='replace')):
    out.write(pending.decode(errors='replace'))
    out.flush()
  rc = proc.wait()
  if rc:
    raise subprocess.CalledProcessError(rc, cmd)
  return rc


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
