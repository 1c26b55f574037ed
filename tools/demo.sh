#!/usr/bin/env bash
# Quickstart command 1: set up, then run the main job end to end on the built-in data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
.venv/bin/python tools/demo.py "$@"
