#!/usr/bin/env bash
# Creates .venv (Python 3.11, 3.12 or 3.13; the first found of python3.11,
# python3.12, python3.13, python3, or $PYTHON) and installs taiga_tf with its test
# extra (the Hillas test oracle ctapipe in the version made for that Python).
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))'; then
      PY=$cand; break
    fi
  done
elif ! "$PY" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))'; then
  echo "setup: PYTHON=$PY is $("$PY" --version 2>&1); taiga_tf needs Python 3.11 to 3.13" >&2; exit 1
fi
[ -n "$PY" ] || { echo "setup: Python 3.11, 3.12 or 3.13 is required (set PYTHON=...)" >&2; exit 1; }
VENV=${VENV:-.venv}    # another folder to keep several interpreters side by side
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
echo "setup: installing taiga_tf and its dependencies into $VENV (first time: a few minutes)"
"$VENV/bin/python" -m pip install --quiet -e ".[test]"
echo "setup: done ($("$VENV/bin/python" -c 'import tensorflow as tf, keras, tensorflow_datasets as tfds; print(f"tensorflow {tf.__version__}, keras {keras.__version__}, tfds {tfds.__version__}")' 2>/dev/null))"
