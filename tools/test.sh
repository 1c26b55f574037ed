#!/usr/bin/env bash
# Quickstart command 2: set up, build the documentation site in strict mode, run the test suite.
#   bash tools/test.sh                  everything (what CI runs)
#   bash tools/test.sh -m "not slow"    the inner loop: skips the tests marked slow
# Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
# the docs: a broken link, a missing page or a docstring that does not render fails here
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "${TMPDIR:-/tmp}/taiga_tf_site"
echo "test: documentation site built (mkdocs --strict)"
# Two pytest processes, side by side on the two cores (TAIGA_TF_TEST_JOBS=1: one after the
# other): TensorFlow keeps the graphs of every SavedModel a process restores (a score
# model's are ~0.5 GB), so the tests that restore exports many times run in a process of
# their own and the memory is returned in between; much of a test's time is Python
# (tracing, exports), so two processes finish sooner than one after the other.
HEAVY="tests/test_generate.py tests/test_savedmodel_inputs.py tests/test_train_app.py tests/test_diffusion_model.py tests/test_evaluate.py"
LIGHT=$(ls tests/test_*.py | grep -v -F -x -f <(tr ' ' '\n' <<< "$HEAVY"))
status=0
if [ "${TAIGA_TF_TEST_JOBS:-2}" = 1 ]; then
  .venv/bin/python -m pytest $LIGHT "$@" || status=$?
  .venv/bin/python -m pytest $HEAVY "$@" || status=$?
else
  log=$(mktemp "${TMPDIR:-/tmp}/taiga_tf_tests.XXXXXX")
  .venv/bin/python -m pytest $LIGHT "$@" > "$log" 2>&1 &
  light=$!
  .venv/bin/python -m pytest $HEAVY "$@" || status=$?
  wait $light || status=$?
  echo "---- the other pytest process (light group):"
  cat "$log"
  rm -f "$log"
fi
exit $status
