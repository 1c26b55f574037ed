"""The MC CLI and the real `tfds build` command, end to end on tiny inputs."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np

from taiga_tf.detectors.taiga_iact.camera import builtin_camera
from taiga_tf.detectors.taiga_iact.formats import taiga_text

REPO = pathlib.Path(__file__).resolve().parents[1]
TFDS = os.path.join(os.path.dirname(sys.executable), 'tfds')
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')


def test_mc_cli_writes_real_format(tmp_path):
  out = subprocess.run(
      [sys.executable, '-m', 'taiga_tf.detectors.taiga_iact.mc', '--particle=gamma', '--n_events=25',
       '--seed=4', f'--output_dir={tmp_path}', '--events_per_file=10'],
      capture_output=True, text=True, timeout=300, env=ENV)
  assert out.returncode == 0, out.stderr[-2000:]
  assert 'taiga_tf.detectors.taiga_iact.mc: 25 gamma events' in out.stdout.splitlines()[-1]
  files = sorted(tmp_path.glob('*_cb4.txt'))
  assert len(files) == 3
  cam = builtin_camera()
  blocks = [b for f in files for b in taiga_text.read_events(f)]
  assert len(blocks) == 25
  for b in blocks:
    assert b.n_pix == cam.n_pixels
    a = b.amplitudes(cam)
    assert np.isfinite(a).all()
  # the matching _c.txt files: the same events before NSB, only pixels with signal
  signal = [b for f in files for b in taiga_text.read_events(str(f).replace('_cb4.txt', '_c.txt'))]
  assert [(b.n_shower, b.i_scat) for b in signal] == [(b.n_shower, b.i_scat) for b in blocks]
  assert all(0 < b.n_pix < cam.n_pixels for b in signal)
  nsb = np.concatenate([b.amplitudes(cam) - s.amplitudes(cam) for b, s in zip(blocks, signal)])
  assert abs(nsb.std() - 4.0) < 0.15
  # no numpy-only path pulls in TensorFlow
  code = ('import sys, taiga_tf.detectors.taiga_iact.mc.simulate, '
          'taiga_tf.detectors.taiga_iact.formats.taiga_text, taiga_tf.detectors.taiga_iact.hillas, '
          'taiga_tf.detectors.lartpc.mc.simulate, taiga_tf.detectors.lartpc.features;'
          'print("tensorflow" in sys.modules)')
  res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
  assert res.stdout.strip() == 'False'


def test_mc_cli_rejects_bad_flags(tmp_path):
  out = subprocess.run([sys.executable, '-m', 'taiga_tf.detectors.taiga_iact.mc', '--particle=iron',
                        f'--output_dir={tmp_path}'], capture_output=True, text=True, env=ENV)
  assert out.returncode != 0 and 'particle' in out.stderr


def test_tfds_build_cli_simulated(tmp_path):
  """`tfds build` of a tiny simulated config given as JSON (the config API)."""
  config = json.dumps({'name': 'tiny', 'source': 'simulated', 'n_events': 30, 'seed': 3})
  cmd = [TFDS, 'build', str(REPO / 'datasets' / 'taiga_iact'), f'--config={config}',
         f'--data_dir={tmp_path / "data"}', f'--download_dir={tmp_path / "dl"}']
  out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=ENV,
                       cwd=tmp_path)
  assert out.returncode == 0, out.stderr[-3000:]
  import tensorflow_datasets as tfds
  b = tfds.builder_from_directory(str(tmp_path / 'data' / 'taiga_iact' / 'tiny' / '1.1.0'))
  total = sum(s.num_examples for s in b.info.splits.values())
  assert total == 60
  labels = [int(x['particle']) for x in tfds.as_numpy(b.as_dataset(split='train+validation+test'))]
  assert labels.count(0) == 30 and labels.count(1) == 30
  # the MC wrote the _c.txt files too: every event has its signal-only image
  assert sum(sum(c.values()) for c in b.info.metadata['signal_counts'].values()) == 60


def test_mc_run_arguments_are_checked_before_any_file(tmp_path):
  """Both MCs: counts < 1 (events_per_file=0 looped forever), negative seeds, tiny canvases,
  impossible momenta or settings are ValueErrors naming the flag; nothing is written."""
  import pytest
  from taiga_tf.detectors.lartpc.mc import simulate as lar
  from taiga_tf.detectors.taiga_iact.mc import simulate as taiga
  out = tmp_path / 'mc'
  t = lambda **kw: taiga.write_run(kw.pop('cfg', taiga.MCConfig()), out, kw.pop('n_events', 5),
                                   kw.pop('seed', 1), kw.pop('events_per_file', 10), log=None)
  for kw, match in ((dict(events_per_file=0), '--events_per_file=0'),
                    (dict(n_events=-5), '--n_events=-5'), (dict(n_events=0), '--n_events=0'),
                    (dict(seed=-1), '--seed=-1'),
                    (dict(cfg=taiga.MCConfig(n_scat=0)), '--n_scat=0'),
                    (dict(cfg=taiga.MCConfig(core_radius_m=float('nan'))), r'\(--core_radius\)'),
                    (dict(cfg=taiga.MCConfig(cone_deg=-1)), r'\(--cone\)'),
                    (dict(cfg=taiga.MCConfig(telescope=taiga.telescope.TelescopeConfig(
                        nsb_sigma=-1))), r'\(--nsb_sigma\)')):
    with pytest.raises(ValueError, match=match):
      t(**kw)
  lw = lambda cfg=lar.LArTPCConfig(), n=2, epf=10, first=0: lar.write_run(
      cfg, out, n, 1, epf, first, log=lambda *a: None)
  for kw, match in ((dict(epf=0), '--events_per_file=0'), (dict(n=-1), '--n_events=-1'),
                    (dict(first=-3), '--first=-3'),
                    (dict(cfg=lar.LArTPCConfig(canvas=0)), '--canvas=0: expected an integer >= 8'),
                    (dict(cfg=lar.LArTPCConfig(momentum_min=0.0)), '--p_min=0.0'),
                    (dict(cfg=lar.LArTPCConfig(momentum_min=500.0, momentum_max=100.0)),
                     'expected 0 < p_min <= p_max')):
    with pytest.raises(ValueError, match=match):
      lw(**kw)
  assert not out.exists()
  out.write_text('a file')
  with pytest.raises(NotADirectoryError, match='is a file'):
    t()


def test_mc_settings_that_never_trigger_fail_instead_of_looping(tmp_path, monkeypatch):
  import pytest
  from taiga_tf.detectors.taiga_iact.mc import simulate
  monkeypatch.setattr(simulate, 'MAX_SHOWERS_WITHOUT_EVENT', 20)
  with pytest.raises(ValueError, match='not one of the first 20 showers .* triggered'):
    simulate.write_run(simulate.MCConfig(core_radius_m=1e7, n_scat=2), tmp_path, 3, 1, log=None)


def test_mc_apps_print_one_line_errors(tmp_path):
  for app, flag, match in (
      ('taiga_tf.detectors.taiga_iact.mc', '--events_per_file=0', '--events_per_file=0: expected'),
      ('taiga_tf.detectors.taiga_iact.mc', '--e_min=5', 'expected 0 < e_min < e_max'),
      ('taiga_tf.detectors.lartpc.mc', '--canvas=0', '--canvas=0: expected'),
      ('taiga_tf.detectors.lartpc.mc', '--n_events=-2', '--n_events=-2: expected')):
    r = subprocess.run([sys.executable, '-m', app, flag, '--e_max=2' if 'e_min' in flag else
                        '--seed=1', f'--output_dir={tmp_path / "out"}'],
                       capture_output=True, text=True, timeout=120, env=ENV)
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert r.stderr.strip() == f'{app}: error: ' + r.stderr.strip().split(': error: ', 1)[1]
    assert match in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
  assert not (tmp_path / 'out').exists()
