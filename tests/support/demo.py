"""The demo's store, built as ``scripts/demo.sh`` builds it, for the documentation's examples.

``scripts/demo.sh`` trains the churn team's models with ``mlflow run`` (one process each), then
sets an alias and a policy and prunes. Here the same trainings run in one fresh interpreter
(``example_project/train.py``'s ``main``, what ``mlflow run`` starts), with the same parameters, in
the same order, into an experiment ``churn-team`` whose artifacts stay next to the store; then
the same alias, policy and prune. The Spark-trained model is left out (it needs Java and a JVM's
start-up; its capture has its own tests). About 30 s: built once per session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from mlflow_debt.cli import cli

ROOT = Path(__file__).resolve().parents[2]

#: The trainings of demo.sh step 1, in its order: ``train.py`` arguments.
TRAININGS = [
    *(
        ["--model", "churn_model", "--alpha", alpha, "--seed", str(seed), "--n-rows", "3000"]
        for seed, alpha in enumerate(["30", "3", "1", "0.1"])
    ),
    *(["--model", model] for model in ("ltv_model", "fraud_model", "recommender", "ads_ranker")),
    ["--model", "churn_model", "--alpha", "0.5", "--user-age-unit", "months"],
]

_TRAIN = """
import sys
sys.path.insert(0, {project!r})
from mlflow import MlflowClient
import train
client = MlflowClient()
client.create_experiment("churn-team", artifact_location={artifacts!r})
for argv in {trainings!r}:
    train.main(argv)
client.set_registered_model_alias("churn_model", "champion", "1")
"""


def build_demo_store(work: Path) -> Path:
    """The demo's store in ``work`` (``mlflow.db``, artifacts beside it); returns the store."""
    store = work / "mlflow.db"
    uri = f"sqlite:///{store}"
    code = _TRAIN.format(
        project=str(ROOT / "example_project"),
        artifacts=str(work / "artifacts"),
        trainings=TRAININGS,
    )
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_EXPERIMENT_NAME": "churn-team",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "GIT_PYTHON_REFRESH": "quiet",
    }
    env.pop("MLFLOW_REGISTRY_URI", None)
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    # demo.sh step 3: the model's own limit, then the prune it enforces.
    previous = Path.cwd()
    os.chdir(work)  # where the prune's audit artifacts go
    try:
        runner = CliRunner()
        for args in (["policy", "set", "churn_model", "--max-versions", "3"], ["prune", "--yes"]):
            result = runner.invoke(cli, [*args, "--tracking-uri", uri])
            assert result.exit_code == 0, result.output
    finally:
        os.chdir(previous)
    return store
