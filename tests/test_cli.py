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
