"""Small helpers the tests share (not a test module)."""
import contextlib
import signal


@contextlib.contextmanager
def time_limit(seconds: float, what: str):
  """Fails the block with TimeoutError(what) after `seconds` instead of hanging the suite
  (a reader blocked on a FIFO, a loop over rows a file only declares)."""
  def on_alarm(*_):
    raise TimeoutError(f'{what} (more than {seconds:g} s)')
  old = signal.signal(signal.SIGALRM, on_alarm)
  signal.setitimer(signal.ITIMER_REAL, seconds)
  try:
    yield
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)
