"""prune/restore against a real multi-worker `mlflow server` (REST, artifacts proxied)."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt import store
from mlflow_debt.cli import cli
from mlflow_debt.prune import apply as prune_apply
from mlflow_debt.prune import history
from mlflow_debt.prune import read as prune_read

from support.prune import live_versions, make_model

pytestmark = [pytest.mark.slow, pytest.mark.server]

EXAMPLE = [0.82, 0.85, 0.88, 0.90, 0.87]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def http(mlflow_server_url: str) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_server_url, registry_uri=mlflow_server_url)


def test_prune_json_and_restore_over_http(http, mlflow_server_url):
    name = f"churn-{uuid.uuid4().hex[:8]}"
    made = make_model(http, name, EXAMPLE, where="model", version_tags={1: {"team": "risk"}})
    result = run(
        "prune", "--tracking-uri", mlflow_server_url, "--model", name, "--max-versions", "3",
        "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # nothing else on stdout (MLflow's "View run" line)
    assert doc["models"][name]["delete"] == [2, 1]
    assert live_versions(http, name) == [5, 4, 3]
    audit = http.get_run(doc["prune_id"])
    assert audit.info.status == "FINISHED"

    result = run("restore", "--tracking-uri", mlflow_server_url, "--model", name, "--version", "1")
    assert result.exit_code == 0, result.output
    assert f'Restored "{name}" version 1 as version 6.' in result.stdout
    v6 = http.get_model_version(name, "6")
    assert (v6.source, v6.run_id, v6.tags) == (made.sources[1], made.runs[1], {"team": "risk"})


def test_vanished_and_recheck_over_http(http):
    name = f"m-{uuid.uuid4().hex[:8]}"
    make_model(http, name, [0.9, 0.8, 0.7, 0.6])
    snapshot, plan = prune_read.load(http, prune_read.Selection(models=(name,), max_versions=1))
    assert store.default_workers(http) > 1
    http.delete_model_version(name, "4")  # gone before we get there
    http.set_registered_model_alias(name, "shadow", "3")  # protected after planning
    result = prune_apply.apply(http, snapshot, plan)
    assert {r.version: r.state for r in result.records} == {
        2: history.DELETED,
        3: history.SKIPPED,
        4: history.VANISHED,
    }
    assert live_versions(http, name) == [3, 1]


def test_unknown_model_over_http(mlflow_server_url):
    result = run(
        "prune", "--tracking-uri", mlflow_server_url, "--model", "no-such", "--max-versions", "1"
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == 'Error: Registered model "no-such" does not exist'
