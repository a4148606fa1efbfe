#!/usr/bin/env bash
# Set up and run the test suite: a virtualenv in .venv with mlflow-debt and its dev extra (the
# test extra plus ruff, mypy, pytest-cov, playwright, build, twine), then pytest. Needs only Python 3.10+ and pip. Arguments go to pytest:
#   bash scripts/test.sh                  # everything (what CI runs)
#   bash scripts/test.sh -m "not slow and not server and not postgres and not browser"  # everyday
# Environment: VENV (default .venv) picks the virtualenv; PINS adds requirements to it, e.g.
#   VENV=/tmp/venv-old PINS="mlflow==3.1.0 sqlalchemy<2.1" bash scripts/test.sh tests/prune
# NO_DEPS replaces packages afterwards with --no-deps, then installs their other requirements:
# how MLflow 3.18 installs where mlflow-tracing 3.18.0 is missing (mlflow-skinny carries its
# modules), e.g. NO_DEPS="mlflow==3.18.0 mlflow-skinny==3.18.0" (.ci/run does).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# shellcheck disable=SC2086  # PINS is a list of requirements
"$VENV/bin/python" -m pip install --quiet -e ".[dev]" ${PINS:-}
if [ -n "${NO_DEPS:-}" ]; then
  # shellcheck disable=SC2086  # NO_DEPS is a list of requirements
  "$VENV/bin/python" scripts/no_deps.py $NO_DEPS
fi

export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true GIT_PYTHON_REFRESH=quiet
set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests; that is a failure here." >&2
  exit 1
fi
exit "$status"
