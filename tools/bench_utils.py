"""Shared helper of the benchmarks: run Python code in a fresh process, read its JSON line."""
import json
import os
import subprocess
import sys


def run_child(code: str, cwd=None) -> dict:
  """Runs `code` with this interpreter; returns the JSON object on its last stdout line."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env,
                       cwd=cwd)
  if out.returncode:
    raise RuntimeError(out.stderr[-3000:])
  return json.loads(out.stdout.strip().splitlines()[-1])
