"""The prune audit lives as long as the store (issue 21 §1): records in run tags, artifacts beside
the SQLite file, old records read where they are, unreadable ones listed as such (exit 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.prune import audit, history

from support.prune import live_versions, make_legacy, make_model
from support.report import assess, findings

EXAMPLE = [0.82, 0.85, 0.88, 0.90, 0.87]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def prune_ids(mc: MlflowClient) -> list[str]:
    exp = mc.get_experiment_by_name(history.AUDIT_EXPERIMENT)
    return [r.info.run_id for r in mc.search_runs([exp.experiment_id])]


def test_a_prune_run_from_another_directory_leaves_nothing_there_and_survives_it(
    mc, tmp_path, monkeypatch
):
    make_model(mc, "churn", EXAMPLE)
    elsewhere = tmp_path / "project"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert run("prune", "--max-versions", "3").exit_code == 0
    assert list(elsewhere.iterdir()) == []  # no ./mlruns in the directory prune ran from
    exp = mc.get_experiment_by_name(history.AUDIT_EXPERIMENT)
    assert exp.artifact_location == (tmp_path / audit.ARTIFACTS_DIR).as_uri()
    # Everything but the database goes: the records are in it.
    for item in tmp_path.iterdir():
        if item.name != "mlflow.db":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    listed = run("restore", "--list")
    assert listed.exit_code == 0, listed.output
    assert "No prune has been recorded" not in listed.stdout
    assert run("restore", "--model", "churn").exit_code == 0
    assert live_versions(mc, "churn") == [7, 6, 5, 4, 3]


def test_records_larger_than_a_tag_are_split_and_read_back_whole(mc):
    big = {f"note{i}": "x" * 5000 for i in range(4)}
    make_model(mc, "churn", EXAMPLE, version_tags={1: big, 2: big})
    assert run("prune", "--max-versions", "3").exit_code == 0
    (prune_id,) = prune_ids(mc)
    tags = mc.get_run(prune_id).data.tags
    assert int(tags[history.PLAN_TAG + history.PARTS]) > 2
    assert all(len(v) <= 8000 for v in tags.values())
    assert run("restore", "--all").exit_code == 0
    restored = {mv.tags.get("note3") for mv in mc.search_model_versions("name = 'churn'")}
    assert "x" * 5000 in restored


def test_old_records_in_artifacts_are_still_read_and_restored(mc):
    make_model(mc, "churn", EXAMPLE)
    assert run("prune", "--max-versions", "3").exit_code == 0
    (prune_id,) = prune_ids(mc)
    make_legacy(mc, prune_id)
    assert history.SCHEMA_TAG not in mc.get_run(prune_id).data.tags
    doc = json.loads(run("restore", "--list", "--format", "json").stdout)
    assert sorted(r["version"] for r in doc["records"]) == [1, 2]
    assert doc["unreadable"] == []
    assert run("restore", "--all").exit_code == 0
    assert live_versions(mc, "churn") == [7, 6, 5, 4, 3]


@pytest.fixture
def lost_legacy_prune(mc, tmp_path) -> str:
    """A schema-1 prune whose artifacts (in ./mlruns of wherever it ran) were deleted."""
    mlruns = tmp_path / "old-cwd" / "mlruns"
    mc.create_experiment(history.AUDIT_EXPERIMENT, artifact_location=mlruns.as_uri())
    make_model(mc, "churn", EXAMPLE)
    assert run("prune", "--max-versions", "3").exit_code == 0
    (prune_id,) = prune_ids(mc)
    make_legacy(mc, prune_id)
    shutil.rmtree(mlruns)
    return prune_id


def test_a_prune_whose_artifacts_are_gone_is_listed_as_unreadable_exit_3(mc, lost_legacy_prune):
    listed = run("restore", "--list")
    assert listed.exit_code == 3, listed.output
    assert "No prune has been recorded" not in listed.output
    assert f"prune {lost_legacy_prune}" in listed.stdout
    assert "records unreadable:" in listed.stdout
    assert "prune/plan.json is missing" in listed.stdout
    (error,) = [line for line in listed.stderr.splitlines() if line.strip()]
    assert error.startswith("Error: The records of prune")
    assert "cannot be read" in error

    doc = json.loads(run("restore", "--list", "--format", "json").stdout)
    assert [u["prune_id"] for u in doc["unreadable"]] == [lost_legacy_prune]

    restored = run("restore", "--model", "churn")
    assert restored.exit_code == 3, restored.output
    assert "cannot be read" in restored.stderr
    assert "No pruned versions recorded" not in restored.output
    assert live_versions(mc, "churn") == [5, 4, 3]


def test_the_report_lists_unreadable_records_not_skipped(mc, lost_legacy_prune):
    (finding,) = findings(assess(mc), "prune-history")
    assert finding.detail == {
        "prune_id": lost_legacy_prune,
        "unreadable": finding.detail["unreadable"],
    }
    assert "records unreadable: " in finding.message
    assert "prune/plan.json is missing" in finding.detail["unreadable"]


def test_damaged_record_tags_are_unreadable_not_nothing(mc):
    make_model(mc, "churn", EXAMPLE)
    assert run("prune", "--max-versions", "3").exit_code == 0
    (prune_id,) = prune_ids(mc)
    mc.delete_tag(prune_id, history.PLAN_TAG + "0000")
    hist = audit.read_history(mc)
    assert hist.entries == []
    (lost,) = hist.unreadable
    assert lost.prune_id == prune_id
    assert "missing" in lost.why
    assert lost.started  # from the run's start time


def test_the_audit_experiment_is_found_by_one_public_function(mc):
    exp_id = audit.audit_experiment(mc)
    assert exp_id == audit.audit_experiment(mc)  # get, not create twice
    assert mc.get_experiment(exp_id).name == history.AUDIT_EXPERIMENT
    assert audit.audit_artifact_location("http://127.0.0.1:5000") is None
    assert (
        audit.audit_artifact_location("sqlite:////data/x/mlflow.db")
        == (Path("/data/x").resolve() / audit.ARTIFACTS_DIR).as_uri()
    )


def test_parts_round_trip_and_refuse_damage():
    payload = {"records": [{"a": "é" * 9000}], "started": "now"}
    tags = history.encode_parts(history.PLAN_TAG, payload)
    assert int(tags[history.PLAN_TAG + history.PARTS]) == len(tags) - 1 > 1
    assert all(len(v) <= history.TAG_CHUNK for v in tags.values())
    assert history.decode_parts(history.PLAN_TAG, tags) == payload
    assert history.decode_parts(history.PLAN_TAG, {}) is None
    tags[history.PLAN_TAG + "0001"] = "{"
    with pytest.raises(ValueError, match="valid JSON"):
        history.decode_parts(history.PLAN_TAG, tags)
