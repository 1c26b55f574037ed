"""Every shipped flagfile parses with the train app's flags (names, enums, types)."""
import pathlib
import subprocess
import sys

import pytest

CONFIGS = sorted((pathlib.Path(__file__).resolve().parents[1] / 'taiga_tf' / 'configs').glob('*.cfg'))


def test_there_are_configs():
  assert len(CONFIGS) >= 7, CONFIGS


@pytest.mark.parametrize('cfg', CONFIGS, ids=lambda p: p.name)
def test_config_parses(cfg):
  code = ('import sys, taiga_tf.train; from absl import flags; '
          'flags.FLAGS(["train", "--flagfile=" + sys.argv[1]]); '
          'print(flags.FLAGS.model, flags.FLAGS.sampler, flags.FLAGS.num_steps)')
  out = subprocess.run([sys.executable, '-c', code, str(cfg)], capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  model = out.stdout.split()[0]
  assert model == ('cgan' if cfg.name.startswith('cgan') else 'diffusion'), out.stdout


def test_a_bad_flag_value_is_refused(tmp_path):
  bad = tmp_path / 'bad.cfg'
  bad.write_text('--model=diffusion\n--sampler=rk45\n')
  code = 'import sys, taiga_tf.train; from absl import flags; flags.FLAGS(["train", "--flagfile=" + sys.argv[1]])'
  out = subprocess.run([sys.executable, '-c', code, str(bad)], capture_output=True, text=True,
                       timeout=300)
  assert out.returncode != 0 and 'sampler' in out.stderr
