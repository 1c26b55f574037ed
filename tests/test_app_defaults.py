"""Each app's absl flags and its config dataclass give the same defaults.

Every default is written twice, once as a flag (the apps keep TensorFlow out of
flag definition) and once in the dataclass the library functions take; this test
is what keeps the two from drifting apart."""
import dataclasses
import json
import subprocess
import sys

import pytest

APPS = [('taiga_tf.train', 'taiga_tf.training', 'TrainConfig'),
        ('taiga_tf.generate', 'taiga_tf.generation', 'GenerateConfig'),
        ('taiga_tf.evaluate', 'taiga_tf.evaluation', 'EvalConfig')]

# Fields the library takes that the app deliberately does not offer as a flag.
LIBRARY_ONLY = {'EvalConfig': {'allow_training_split'}}   # the app never compares with training data

PROBE = '''
import dataclasses, importlib, json, sys
from absl import flags
app = importlib.import_module(sys.argv[1])
cls = getattr(importlib.import_module(sys.argv[2]), sys.argv[3])
out = {}
for f in dataclasses.fields(cls):
  if f.name not in flags.FLAGS:
    out[f.name] = {"has_flag": False}
    continue
  d = f.default if f.default is not dataclasses.MISSING else (
      f.default_factory() if f.default_factory is not dataclasses.MISSING else "<required>")
  fd = flags.FLAGS[f.name].default
  out[f.name] = {"has_flag": True, "flag": list(fd) if isinstance(fd, (list, tuple)) else fd,
                 "field": list(d) if isinstance(d, (list, tuple)) else d}
print(json.dumps(out))
'''


@pytest.mark.parametrize('app,module,cls', APPS, ids=[a[0] for a in APPS])
def test_flag_defaults_equal_the_config_defaults(app, module, cls):
  res = subprocess.run([sys.executable, '-c', PROBE, app, module, cls], capture_output=True,
                       text=True, timeout=300)
  assert res.returncode == 0, res.stderr[-3000:]
  fields = json.loads(res.stdout.strip().splitlines()[-1])
  missing = [n for n, v in fields.items()
             if not v['has_flag'] and n not in LIBRARY_ONLY.get(cls, ())]
  assert not missing, f'{cls} fields without a flag of {app}: {missing}'
  differ = {n: v for n, v in fields.items()
            if v['has_flag'] and v['field'] != '<required>' and v['flag'] != v['field']}
  assert not differ, f'{app} flag defaults differ from {cls}: {differ}'
