"""The quiet console: library noise filtered, everything else passed through unchanged."""
import logging
import subprocess
import sys

import pytest

from taiga_tf import console

TF_STARTUP = [
    'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n',
    'I0000 00:00:1796236193.898547    5016 port.cc:153] oneDNN custom operations are on.\n',
    'I0000 00:00:1796236193.898861    5016 cudart_stub.cc:31] Could not find cuda drivers on '
    'your machine, GPU will not be used.\n',
    'E0000 00:00:1796236197.355032    5016 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n',
    'WARNING:root:apitools not found, and bigquery client libraries are not available.\n',
]
INFO_REPR = ['tfds.core.DatasetInfo(\n', "    name='taiga_iact',\n", '    features=FeaturesDict({\n',
             "        'x': Scalar(shape=(), dtype=float32),\n", '    }),\n', ')\n']
KEPT = ['INFO[cli_utils.py]: download_and_prepare for dataset taiga_iact/mc/1.1.0...\n',
        'Dataset taiga_iact downloaded and prepared to /tmp/x. Subsequent calls will reuse it.\n',
        'I0000 is not a log prefix without the rest\n', '  )\n', 'tfds build: error: bad file\n']


def test_noise_filter_drops_startup_lines_and_the_info_repr_only():
  f = console.NoiseFilter()
  lines = TF_STARTUP + KEPT[:1] + INFO_REPR + KEPT[1:]
  assert [ln for ln in lines if f.keep(ln)] == KEPT


def test_run_quiet_relays_the_rest_and_raises_on_failure(tmp_path, monkeypatch, capfd):
  monkeypatch.delenv(console.LOGS_ENV, raising=False)
  script = tmp_path / 'noisy.py'
  body = ''.join(TF_STARTUP + KEPT[:2] + INFO_REPR)
  script.write_text('import sys\n'
                    f'sys.stderr.write({body!r})\n'
                    "sys.stdout.write('progress 1/2\\rprogress 2/2\\n')\n"
                    'sys.exit(int(sys.argv[1]))\n')
  assert console.run_quiet([sys.executable, str(script), '0']) == 0
  out = capfd.readouterr().out
  assert 'cudart_stub' not in out and 'DatasetInfo' not in out and 'apitools' not in out
  assert KEPT[0] in out and KEPT[1] in out and 'progress 2/2' in out
  with pytest.raises(subprocess.CalledProcessError):
    console.run_quiet([sys.executable, str(script), '3'])
  monkeypatch.setenv(console.LOGS_ENV, '1')        # asked for: nothing filtered
  console.run_quiet([sys.executable, str(script), '0'])
  assert 'cudart_stub' in capfd.readouterr().err


def test_quiet_library_logs_drops_the_tfds_dtype_warning(monkeypatch, caplog):
  monkeypatch.delenv(console.LOGS_ENV, raising=False)
  console.quiet_library_logs()
  log = logging.getLogger('absl')
  with caplog.at_level(logging.WARNING):
    log.warning('`FeatureConnector.dtype` is deprecated. Please change your code to use NumPy '
                'with the field `FeatureConnector.np_dtype`')
    log.warning('a warning a user should see')
  assert [r.getMessage() for r in caplog.records] == ['a warning a user should see']
