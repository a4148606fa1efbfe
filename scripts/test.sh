#!/usr/bin/env bash
# Set up and run the test suite: a virtualenv in .venv with mlflow-debt and its test extra, then
# pytest. Needs only Python 3.10+ and pip. Arguments go to pytest:
#   bash scripts/test.sh                  # everything (what CI runs)
#   bash scripts/test.sh -m "not slow"    # the everyday run, a few minutes
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"

export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true GIT_PYTHON_REFRESH=quiet
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests; that is a failure here." >&2
  exit 1
fi
exit "$status"
