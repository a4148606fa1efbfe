"""``mlflow-debt report --log``: the report as a run of the ``mlflow-debt`` experiment.

Marked ``backends``: the tests on ``tracking_uri`` also run against a real ``mlflow server``
(artifacts proxied over HTTP) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mlflow.tracking import MlflowClient

from mlflow_debt.capture.backfill import backfill
from mlflow_debt.cli import cli
from mlflow_debt.prune import audit
from mlflow_debt.prune.history import AUDIT_EXPERIMENT, OP_TAG
from mlflow_debt.report import log as report_log
from mlflow_debt.report.model import (
    CheckResult,
    DebtReport,
    Finding,
    Graph,
    ModelScore,
    Scope,
)

from support.lineage import team_scenario
from support.report import clean_version

pytestmark = pytest.mark.backends

NAME = re.compile(r"^debt-report \d{4}-\d\d-\d\d \d\d:\d\d$")


def report(*args: str) -> Result:
    return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)


def debt_runs(client: MlflowClient) -> list:
    exp = client.get_experiment_by_name(AUDIT_EXPERIMENT)
    assert exp is not None
    return client.search_runs(
        [exp.experiment_id], f"tags.`{OP_TAG}` = 'report'", order_by=["attributes.start_time ASC"]
    )


# --- what is logged, pure ----------------------------------------------------------------------


def small_report(
    *scores: ModelScore, generated_at: str = "2026-12-06T04:10:33+00:00"
) -> DebtReport:
    f = Finding("entanglement", "high", "user_age", "m", ("a",))
    checks = (
        CheckResult("entanglement", "fail", (f,), applicable=frozenset({"a"})),
        CheckResult("lineage-gap", "pass"),
        CheckResult("prune-history", "skipped", note="no prune has run"),
    )
    return DebtReport(checks, scores, (f,), Graph((), ()), (), Scope(generated_at=generated_at))


def test_metrics_per_check_per_model_and_overall():
    rep = small_report(ModelScore("churn_model", 7, 9, ("entanglement", "x")))
    assert report_log.metrics(rep) == {
        "findings/entanglement": 1.0,
        "findings/lineage-gap": 0.0,  # a check that ran and found nothing: 0
        "checks_passed/churn_model": 7.0,
        "overall/findings": 1.0,
        "overall/findings_high": 1.0,
        "overall/findings_medium": 0.0,
        "overall/findings_low": 0.0,
        "overall/checks_failed": 1.0,
        "overall/checks_passed": 1.0,
        "overall/checks_skipped": 1.0,
        "overall/models": 1.0,
        "overall/models_passing_all": 0.0,
    }  # a skipped check is not logged: a chart must not show it as clean


def test_model_names_mlflow_refuses_in_a_metric_key_are_made_safe_and_kept_apart():
    rep = small_report(
        ModelScore("team/churn<v2>", 1, 2, ()),
        ModelScore("team_churn_v2_", 2, 2, ()),
        ModelScore("x" * 300, 3, 3, ()),
        ModelScore("..", 1, 1, ()),
    )
    keys = [k for k in report_log.metrics(rep) if k.startswith("checks_passed/")]
    assert keys[0] == "checks_passed/team_churn_v2_"
    assert keys[1] == "checks_passed/team_churn_v2__2"
    assert len(keys[2]) == 250
    assert keys[3] == "checks_passed/__"  # "checks_passed/.." would be refused as a path
    assert all(re.fullmatch(r"[\w.\- :/]+", k) for k in keys)


def test_run_names_are_readable_minutes_in_utc():
    assert report_log.run_name(small_report()) == "debt-report 2026-12-06 04:10"
    later = small_report(generated_at="2026-12-06T06:10:00+02:00")
    assert report_log.run_name(later) == "debt-report 2026-12-06 04:10"
    assert NAME.match(report_log.run_name(small_report(generated_at="")))


# --- against a store ---------------------------------------------------------------------------


def test_log_records_the_report_as_a_finished_run(client, tmp_path: Path, backend: str):
    team_scenario(client)
    out = tmp_path / "r.json"
    result = report("--log", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert re.search(r"Logged run 'debt-report [^']+' \(\w+, \d+ metrics\)", result.stderr)
    (run,) = debt_runs(client)
    assert NAME.match(run.info.run_name)
    page = f"/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    if backend == "sqlite":
        assert "/#/" not in result.stderr  # no UI to point at
    else:  # the run's page in the server's UI
        assert result.stderr.rstrip().endswith(f": {client.tracking_uri}{page}")
    assert run.info.status == "FINISHED"
    assert run.data.tags[OP_TAG] == "report"
    assert re.match(r"\d+ of \d+ checks failed", run.data.tags["mlflow.note.content"])
    doc = json.loads(out.read_text(encoding="utf-8"))
    metrics = run.data.metrics
    for check in doc["checks"]:
        if check["status"] == "skipped":
            assert f"findings/{check['id']}" not in metrics
        else:
            assert metrics[f"findings/{check['id']}"] == len(check["findings"])
    for score in doc["summary"]["scores"]:
        assert metrics[f"checks_passed/{score['model']}"] == score["passed"]
    assert metrics["overall/findings"] == doc["summary"]["findings"]
    assert metrics["overall/models"] == len(doc["summary"]["scores"])
    assert run.data.params == {"experiments": "all", "models": "all", "declared": "none"}
    # The artifacts: the page and the JSON (whatever --output's format was).
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert files == {"report.html", "report.json"}
    dst = tmp_path / "dl"
    dst.mkdir()
    logged = json.loads(
        Path(client.download_artifacts(run.info.run_id, "report.json", str(dst))).read_text()
    )
    assert logged["summary"] == doc["summary"]
    page = Path(client.download_artifacts(run.info.run_id, "report.html", str(dst))).read_text()
    assert page.startswith("<!DOCTYPE html>")


def test_repeated_logs_share_one_experiment_with_the_prune_audit(client):
    clean_version(client, "churn_model", ["user_age"])
    n_experiments = len(client.search_experiments())
    for _ in range(3):
        assert report("--log", "--format", "json").exit_code == 0
    assert len(client.search_experiments()) == n_experiments + 1
    exp_id = audit.audit_experiment_id(client, create=False)
    runs = debt_runs(client)
    assert len(runs) == 3
    assert {r.info.experiment_id for r in runs} == {exp_id}
    # The prune audit does not mistake them for prunes.
    assert audit.read_audit(client) == []
    result = report("--format", "json")
    prune = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "prune-history")
    assert prune["status"] == "skipped"


def test_readers_of_training_runs_skip_report_runs(client):
    team_scenario(client)
    before = json.loads(report("--format", "json").stdout)["scope"]
    consumers_before = json.loads(CliRunner().invoke(cli, ["consumers", "--format", "json"]).stdout)
    assert report("--log", "--format", "json").exit_code == 0
    after = json.loads(report("--format", "json").stdout)["scope"]
    assert after["runs_read"] == before["runs_read"]
    consumers_after = json.loads(CliRunner().invoke(cli, ["consumers", "--format", "json"]).stdout)
    assert consumers_after["runs_read"] == consumers_before["runs_read"]
    assert consumers_after["consumers"] == consumers_before["consumers"]
    (run,) = debt_runs(client)
    result = backfill(client, dry_run=True)
    assert run.info.run_id not in result.untaggable
    assert run.info.run_id not in result.tagged_from_dataset + result.tagged_from_signature


@pytest.mark.sqlite_only
def test_a_failed_log_leaves_a_failed_run_and_exit_3(client, mocker):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

    clean_version(client, "churn_model", ["user_age"])
    mocker.patch.object(
        MlflowClient,
        "log_text",
        side_effect=MlflowException("artifact store down", error_code=INTERNAL_ERROR),
    )
    result = CliRunner().invoke(cli, ["report", "--log", "--format", "json"])
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines()[-1].startswith("Error: Logging the report as a run")
    assert "Traceback" not in result.output
    (run,) = debt_runs(client)
    assert run.info.status == "FAILED"
