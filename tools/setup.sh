#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs taiga_tf with its test extra.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY=$cand; break
    fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python 3.11 is required (set PYTHON=...)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
echo "setup: installing taiga_tf and its dependencies into .venv (first time: a few minutes)"
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "setup: done ($(.venv/bin/python -c 'import tensorflow as tf, keras, tensorflow_datasets as tfds; print(f"tensorflow {tf.__version__}, keras {keras.__version__}, tfds {tfds.__version__}")' 2>/dev/null))"
