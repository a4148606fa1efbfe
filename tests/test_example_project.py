"""The example project, end to end through `mlflow run --env-manager local` on a real store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_debt import tags

ROOT = Path(__file__).resolve().parents[1]


def mlflow_run(tracking_uri: str, *params: str, project: Path = ROOT) -> str:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        # `mlflow run` starts the entry point with `python` from PATH: make it this interpreter.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    args = [sys.executable, "-m", "mlflow", "run", str(project), "--env-manager", "local"]
    args += ["--experiment-name", "churn-team"]
    for p in params:
        args += ["-P", p]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    match = re.search(r"Run \(ID '([0-9a-f]+)'\) succeeded", out.stderr)
    assert match, out.stderr[-2000:]
    return match.group(1)


@pytest.mark.slow
def test_mlflow_run_of_the_example_project_records_features(client, tracking_uri) -> None:
    run_id = mlflow_run(tracking_uri, "alpha=0.5", "model=churn_model")
    run = client.get_run(run_id)
    fs = tags.decode(run.data.tags)
    assert fs is not None
    assert fs.complete
    assert fs.names == [
        "user_age",
        "session_count",
        "tenure_months",
        "monthly_spend",
        "support_tickets",
        "days_since_login",
        "plan",
    ]
    assert fs.source == "sklearn:Pipeline"
    assert all(f.fingerprint != tags.UNKNOWN for f in fs.features)
    assert run.data.params["alpha"] == "0.5"
    assert 0.5 < run.data.metrics["accuracy"] <= 1.0
    versions = client.search_model_versions("name = 'churn_model'")
    assert [v.run_id for v in versions] == [run_id]


@pytest.mark.slow
def test_the_example_projects_own_mlproject_and_a_search_model(client, tracking_uri) -> None:
    run_id = mlflow_run(tracking_uri, "model=recommender", project=ROOT / "example_project")
    fs = tags.decode(client.get_run(run_id).data.tags)
    assert fs is not None
    assert fs.source == "sklearn:GridSearchCV"
    assert fs.names == ["session_count", "avg_session_minutes", "is_mobile", "plan"]


@pytest.mark.slow
def test_a_unit_change_shows_in_the_fingerprint(client, tracking_uri) -> None:
    from mlflow_debt.capture.profile import same_definition

    years = tags.decode(client.get_run(mlflow_run(tracking_uri, "model=ltv_model")).data.tags)
    months = tags.decode(
        client.get_run(
            mlflow_run(tracking_uri, "model=ltv_model", "user_age_unit=months", "seed=1")
        ).data.tags
    )
    assert years is not None
    assert months is not None
    by_name = {f.name: f.fingerprint for f in months.features}
    for f in years.features:
        expected = f.name != "user_age"
        assert same_definition(f.fingerprint, by_name[f.name]) is expected, f.name
