"""Capture on code nobody here wrote (issue 18 §5): scikit-learn's gallery and MLflow's examples.

Each script of tests/capture/corpus/ runs in a fresh interpreter with capture on
(tests/support/corpus_runner.py): a gallery example inside one MLflow run started for it, an
MLflow example in the runs it opens itself. The runner's oracle observes every outermost fit and
takes, from the fitted object, the columns its model reads (tests/support/corpus_oracle.py).

The comparison, per run the script made and per LoggedModel:

* the fit the run's tags must describe is given by docs/lineage.md's attribution rule applied to
  all the fits the oracle saw (the model last logged from the run, else the last predictor fit
  on the main thread, else the last fit); a LoggedModel's is the fit of the object logged;
* that fit was on a DataFrame with named columns: the recorded feature names (as a set) equal
  the columns the fitted model reads (issue 18 §2: not the frame's width);
* that fit was on an array (no names) or there was no fit: nothing is recorded (docs/lineage.md,
  "Not captured": capture never invents positional names, and no other fit may stand in);
* the script itself runs without an error.

Known misses are in :data:`KNOWN_MISSES` (script: reason) and docs/lineage.md, "Not captured":
they are strict xfails, so a miss that gets fixed turns its test red until the table is updated.
The fast subset (:data:`FAST`) is in the everyday tier; the whole corpus is ``slow``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.corpus_oracle import judge
from mlflow.tracking import MlflowClient

from mlflow_debt import tags

CORPUS = Path(__file__).parent / "corpus"
RUNNER = Path(__file__).parents[1] / "support" / "corpus_runner.py"
#: Each script's own time limit (a shared 2-core machine; every example runs in seconds alone).
TIMEOUT = 180

#: MLflow's examples: the scripts that are run (helpers they import are not).
MLFLOW_SCRIPTS = (
    "mlflow/demos_mlflow-3/ml.py",
    "mlflow/sklearn_autolog/grid_search_cv.py",
    "mlflow/sklearn_autolog/linear_regression.py",
    "mlflow/sklearn_autolog/pipeline.py",
    "mlflow/sklearn_elasticnet_diabetes/train_diabetes.py",
    "mlflow/sklearn_logistic_regression/train.py",
)
SCRIPTS = tuple(sorted(f"sklearn/{p.name}" for p in (CORPUS / "sklearn").glob("*.py")))
SCRIPTS += MLFLOW_SCRIPTS

#: The everyday tier: quick scripts that cover DataFrames, pipelines, arrays, autolog, log_model.
FAST = (
    "sklearn/feature_selection_plot_select_from_model_diabetes.py",
    "sklearn/inspection_plot_permutation_importance_multicollinear.py",
    "sklearn/linear_model_plot_lasso_lars_ic.py",
    "sklearn/preprocessing_plot_scaling_importance.py",
    "sklearn/tree_plot_iris_dtc.py",
    "sklearn/neighbors_plot_nearest_centroid.py",
    "mlflow/demos_mlflow-3/ml.py",
    "mlflow/sklearn_autolog/pipeline.py",
)

#: script -> why capture misses it today (issue 18 section). Also in docs/lineage.md.
KNOWN_MISSES: dict[str, str] = {}


def run_script(script: str, workdir: Path) -> tuple[dict[str, Any], list[Any]]:
    """Run ``script`` under the runner in a fresh interpreter; the oracle and the checks."""
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    out = workdir / "oracle.json"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MPLBACKEND": "Agg",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "GIT_PYTHON_REFRESH": "quiet",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "LOKY_MAX_CPU_COUNT": "2",
    }
    for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(name, None)
    args = [sys.executable, str(RUNNER), str(CORPUS / script), str(out)]
    if script.startswith("mlflow/"):
        args.append("--own-runs")
    proc = subprocess.run(
        args, env=env, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert proc.returncode == 0 and out.exists(), proc.stderr[-3000:]
    oracle = json.loads(out.read_text())
    return oracle, judge(oracle, *recorded_features(uri))


def recorded_features(
    uri: str,
) -> tuple[dict[str, list[str] | None], dict[str, list[str] | None]]:
    """The feature names mlflow-debt recorded on every run and LoggedModel of the store."""
    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs: dict[str, list[str] | None] = {}
    for run in client.search_runs(experiments, max_results=1000):
        found = tags.decode(run.data.tags)
        runs[run.info.run_id] = None if found is None else found.names
    models: dict[str, list[str] | None] = {}
    for model in client.search_logged_models(experiment_ids=experiments):
        found = tags.decode(model.tags)
        models[model.model_id] = None if found is None else found.names
    return runs, models


def _params(scripts: tuple[str, ...]) -> list[Any]:
    params = []
    for script in scripts:
        marks: list[Any] = [] if script in FAST else [pytest.mark.slow]
        if script in KNOWN_MISSES:
            marks.append(pytest.mark.xfail(reason=KNOWN_MISSES[script], raises=AssertionError, strict=True))
        params.append(pytest.param(script, marks=marks, id=script))
    return params


@pytest.mark.parametrize("script", _params(SCRIPTS))
def test_recorded_features_are_what_the_model_reads(script: str, tmp_path: Path) -> None:
    oracle, checks = run_script(script, tmp_path)
    assert oracle["error"] is None, oracle["error"]
    assert oracle["fits"], "the oracle saw no fit: the script does not belong in the corpus"
    wrong = [c for c in checks if not c.ok]
    assert not wrong, "\n".join(f"{c.target}: expected {c.expected}, got {c.recorded}" for c in wrong)


def test_the_tables_name_real_scripts() -> None:
    assert set(FAST) <= set(SCRIPTS)
    assert set(KNOWN_MISSES) <= set(SCRIPTS)
    docs = (Path(__file__).parents[2] / "docs" / "lineage.md").read_text()
    for script in KNOWN_MISSES:
        assert Path(script).name in docs, f"{script} is a known miss not in docs/lineage.md"
