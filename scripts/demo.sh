#!/usr/bin/env bash
# The mlflow-debt demo, end to end, on MLflow's embedded default (a local SQLite store, no server).
# Needs only Python 3.10+ and pip: it makes .venv, installs mlflow-debt, trains the churn team's
# five models with `mlflow run` (and a sixth on Spark when pyspark and Java are installed), then
# shows the feature tags, version limits, entanglement, and writes the debt report.
# Everything it writes goes to .demo/ (wiped at each start).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# With a Java runtime the demo also trains a model on Spark, so it installs the spark extra.
if command -v java >/dev/null 2>&1; then
  echo "Installing mlflow-debt[spark] into .venv (Java found; a few minutes on a fresh machine)..."
  .venv/bin/python -m pip install --quiet -e ".[spark]"
else
  echo "Installing mlflow-debt into .venv (a minute on a fresh machine; no Java: no Spark model)..."
  .venv/bin/python -m pip install --quiet -e .
fi
export PATH="$ROOT/.venv/bin:$PATH"
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true GIT_PYTHON_REFRESH=quiet

rm -rf .demo && mkdir -p .demo
export MLFLOW_TRACKING_URI="sqlite:///$ROOT/.demo/mlflow.db"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

train() {  # mlflow run the example project; print the run id
  mlflow run . --env-manager local --experiment-name churn-team "$@" 2>&1 \
    | tee .demo/last-run.log | grep -E "accuracy=" >&2 || { cat .demo/last-run.log >&2; exit 1; }
  sed -n "s/.*Run (ID '\([0-9a-f]*\)') succeeded.*/\1/p" .demo/last-run.log
}

step "1. Train the churn team's models with plain 'mlflow run' (no mlflow-debt code in them)"
mlflow experiments create --experiment-name churn-team \
  --artifact-location "$ROOT/.demo/artifacts" >/dev/null
seed=0
for alpha in 30 3 1 0.1; do  # four versions of churn_model, on different data samples
  train -P model=churn_model -P alpha=$alpha -P seed=$seed -P n_rows=3000 >/dev/null
  seed=$((seed + 1))
done
for model in ltv_model fraud_model recommender ads_ranker; do
  train -P model=$model >/dev/null
done
# The Spark-trained fraud_model_spark (reads user_age and num_devices) joins when pyspark and Java
# are here: pip install -e '.[spark]' and a Java 17+ runtime (Debian: openjdk-17-jre-headless).
if .venv/bin/python -c "import pyspark" 2>/dev/null && command -v java >/dev/null 2>&1; then
  echo "pyspark and Java found: training fraud_model_spark on Spark (local[2]) too."
  train -P model=fraud_model_spark >/dev/null
else
  echo "Skipping fraud_model_spark (the Spark-trained model): it needs pyspark" \
    "(pip install -e '.[spark]') and Java 17+."
fi
echo "The churn team now measures user_age in months, and retrains churn_model:"
CHURN_RUN=$(train -P model=churn_model -P alpha=0.5 -P user_age_unit=months)

step "2. Every run recorded its features: the latest churn_model run"
show mlflow-debt features "$CHURN_RUN"
echo "Query them like any tag: mlflow.search_runs(filter_string=\"tags.\`mlflow_debt.n_features\` = '7'\")"

step "3. Version limits: keep the 3 most accurate churn_model versions"
python - <<'PY'
from mlflow import MlflowClient
MlflowClient().set_registered_model_alias("churn_model", "champion", "1")
print("Set alias champion -> churn_model version 1 (aliased versions are never pruned).")
PY
show mlflow-debt policy set churn_model --max-versions 3
show mlflow-debt prune --dry-run
show mlflow-debt prune --yes
show mlflow-debt restore --list

step "4. Entanglement: who reads which feature, what changed, who never declared it"
show mlflow-debt consumers --declared example_project/declared_consumers.yaml
set +e
show mlflow-debt consumers --declared example_project/declared_consumers.yaml \
  --fail-on undeclared --format json >/dev/null
echo "As a CI gate (--fail-on undeclared) it exits $?."
set -e
show mlflow-debt impact user_age

step "5. The debt report: one page for the team lead, one exit code for CI"
show mlflow-debt report --declared example_project/declared_consumers.yaml --output .demo/report.html --log --annotate
show mlflow-debt report --declared example_project/declared_consumers.yaml --output .demo/report.md
sed -n '/^## Most urgent/,/^## Entanglement graph/p' .demo/report.md | sed '$d'
set +e
show mlflow-debt report --declared example_project/declared_consumers.yaml \
  --fail-on correction-cascade,undeclared-consumer --format json >/dev/null
echo "As a CI gate (--fail-on correction-cascade,undeclared-consumer) it exits $?."
set -e
echo "Open it: $ROOT/.demo/report.html (one self-contained file: share it, attach it to CI)."

step "6. See it in the MLflow UI"
echo "  .venv/bin/mlflow ui --backend-store-uri $MLFLOW_TRACKING_URI"
echo "  then open http://127.0.0.1:5000: experiment churn-team, any run, Tags (mlflow_debt.*);"
echo "  Models: churn_model shows its kept versions and its mlflow_debt.max_versions tag;"
echo "  open a version (Models > churn_model > Version N): its Tags table lists the features it"
echo "  was trained on (mlflow_debt.f.*) and, after --annotate, its findings (mlflow_debt.findings)."
echo "  Experiment mlflow-debt, run 'debt-report ...': the debt as metrics (Model metrics tab) and"
echo "  the page itself (Artifacts, report.html); each --log adds a point to the trend."
