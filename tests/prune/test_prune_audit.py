"""The audit trail, restore, and robustness: re-checks, vanished versions, failures, crashes."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.errors import ServerError
from mlflow_debt.prune import apply as prune_apply
from mlflow_debt.prune import audit, history
from mlflow_debt.prune import read as prune_read

from support.prune import fail_result_write, live_versions, make_model

pytestmark = pytest.mark.backends  # store tests also run against the servers

EXAMPLE = [0.82, 0.85, 0.88, 0.90, 0.87]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def deleted_in_audit(mc: MlflowClient) -> list[tuple[str, int]]:
    return sorted(
        (e.record.name, e.record.version)
        for e in audit.read_audit(mc)
        if e.record.state == history.DELETED
    )


def test_audit_is_a_run_with_full_records(mc):
    made = make_model(
        mc,
        "churn",
        EXAMPLE,
        where="model",
        version_tags={1: {"team": "risk"}},
        descriptions={1: "first try"},
    )
    doc = json.loads(run("prune", "--max-versions", "3", "--format", "json").stdout)
    prune_id = doc["prune_id"]
    audit_run = mc.get_run(prune_id)
    exp = mc.get_experiment(audit_run.info.experiment_id)
    assert exp.name == "mlflow-debt"
    assert audit_run.info.status == "FINISHED"
    assert audit_run.data.tags["mlflow_debt.state"] == "done"
    assert audit_run.data.metrics["versions_deleted"] == 2
    # The records are run tags in the store itself (no artifact to lose).
    assert mc.list_artifacts(prune_id) == []
    assert audit_run.data.tags[history.SCHEMA_TAG] == str(history.TAG_SCHEMA)

    entries = {e.record.version: e.record for e in audit.read_audit(mc)}
    assert set(entries) == {1, 2}
    rec = entries[1]
    assert rec.name == "churn"
    assert rec.source == made.sources[1]
    assert rec.run_id == made.runs[1]
    assert rec.model_id == made.model_ids[1]
    assert rec.tags == {"team": "risk"}
    assert rec.description == "first try"
    assert rec.aliases == []
    assert rec.metric == "accuracy"
    assert rec.value == pytest.approx(0.82)
    assert rec.state == history.DELETED
    # The plan was recorded before anything was deleted: it holds the same records, "planned".
    planned = history.decode_parts(history.PLAN_TAG, audit_run.data.tags)["records"]
    assert [(r["version"], r["state"]) for r in planned] == [(2, "planned"), (1, "planned")]


@pytest.mark.parametrize("where", ["run", "model"])
def test_restore_round_trip(mc, where):
    made = make_model(
        mc,
        "churn",
        EXAMPLE,
        where=where,
        version_tags={1: {"team": "risk", "mlflow_debt.note": "x"}, 2: {"k": "v"}},
        descriptions={2: "second"},
    )
    run("prune", "--max-versions", "3")
    assert live_versions(mc, "churn") == [5, 4, 3]

    result = run("restore", "--model", "churn", "--version", "1")
    assert result.exit_code == 0, result.output
    assert 'Restored "churn" version 1 as version 6.' in result.stdout
    new = mc.get_model_version("churn", "6")
    assert new.source == made.sources[1]
    assert new.run_id == made.runs[1]
    assert new.tags == {"team": "risk", "mlflow_debt.note": "x"}

    doc = json.loads(run("restore", "--model", "churn", "--format", "json").stdout)
    assert doc["restored"] == [
        {
            "name": "churn",
            "version": 2,
            "new_version": 7,
            "prune_id": doc["restored"][0]["prune_id"],
        }
    ]
    assert doc["already_restored"][0]["new_version"] == 6
    v7 = mc.get_model_version("churn", "7")
    assert (v7.source, v7.tags, v7.description) == (made.sources[2], {"k": "v"}, "second")

    # Running it again registers nothing twice.
    again = run("restore", "--all")
    assert again.exit_code == 0
    assert "Restored 0 versions." in again.stdout
    assert live_versions(mc, "churn") == [7, 6, 5, 4, 3]


def test_restore_by_prune_id_dry_run_and_list(mc):
    make_model(mc, "a", EXAMPLE)
    make_model(mc, "b", EXAMPLE)
    first = json.loads(
        run("prune", "--max-versions", "4", "--model", "a", "--format", "json").stdout
    )
    run("prune", "--max-versions", "4", "--model", "b")
    dry = run("restore", "--prune-id", first["prune_id"], "--dry-run")
    assert dry.exit_code == 0
    assert 'Would restore "a" version 1' in dry.stdout
    assert live_versions(mc, "a") == [5, 4, 3, 2]

    listed = json.loads(run("restore", "--list", "--format", "json").stdout)["records"]
    assert [(r["name"], r["version"], r["state"]) for r in listed] == [
        ("a", 1, "deleted"),
        ("b", 1, "deleted"),
    ]
    assert run("restore", "--prune-id", first["prune_id"]).exit_code == 0
    assert live_versions(mc, "a") == [6, 5, 4, 3, 2]
    assert live_versions(mc, "b") == [5, 4, 3, 2]


def test_restore_recreates_a_deleted_registered_model(mc):
    made = make_model(mc, "gone", EXAMPLE, where="model")
    run("prune", "--max-versions", "4")
    mc.delete_registered_model("gone")
    result = run("restore", "--model", "gone")
    assert result.exit_code == 0, result.output
    assert mc.get_model_version("gone", "1").source == made.sources[1]


def test_restore_bad_selection(mc):
    assert run("restore").exit_code == 2
    make_model(mc, "a", EXAMPLE)
    result = run("restore", "--model", "a")
    assert result.exit_code == 2
    assert 'No pruned versions recorded for model "a"' in result.stderr
    result = run("restore", "--prune-id", "0123456789abcdef")
    assert result.exit_code == 2


def test_alias_set_after_planning_is_rechecked(mc):
    make_model(mc, "churn", EXAMPLE)
    snapshot, plan = prune_read.load(mc, prune_read.Selection(max_versions=3))
    assert [d.version for d in plan.deletions] == [2, 1]
    mc.set_registered_model_alias("churn", "challenger", "1")  # between plan and delete
    result = prune_apply.apply(mc, snapshot, plan)
    states = {r.version: r.state for r in result.records}
    assert states == {2: history.DELETED, 1: history.SKIPPED}
    assert live_versions(mc, "churn") == [5, 4, 3, 1]
    assert int(mc.get_model_version_by_alias("churn", "challenger").version) == 1


def test_alias_set_right_before_the_delete_call_is_rechecked(mc, mocker):
    make_model(mc, "churn", EXAMPLE)
    snapshot, plan = prune_read.load(mc, prune_read.Selection(max_versions=3))
    real_get = MlflowClient.get_model_version

    def get_then_alias(self, name, version):
        if version == "1":  # someone sets an alias after the fresh re-plan, before the delete
            real_set = MlflowClient.set_registered_model_alias
            real_set(self, name, "champion", version)
        return real_get(self, name, version)

    mocker.patch.object(
        MlflowClient, "get_model_version", autospec=True, side_effect=get_then_alias
    )
    result = prune_apply.apply(mc, snapshot, plan)
    assert {r.version: r.state for r in result.records}[1] == history.SKIPPED
    assert 1 in live_versions(mc, "churn")


def test_vanished_version_is_not_an_error(mc):
    make_model(mc, "churn", EXAMPLE)
    snapshot, plan = prune_read.load(mc, prune_read.Selection(max_versions=3))
    mc.delete_model_version("churn", "1")  # someone else got there first
    result = prune_apply.apply(mc, snapshot, plan)
    assert {r.version: r.state for r in result.records} == {
        2: history.DELETED,
        1: history.VANISHED,
    }
    assert deleted_in_audit(mc) == [("churn", 2)]


def test_stale_plan_never_deletes_a_version_the_policy_now_keeps(mc):
    make_model(mc, "churn", EXAMPLE)
    snapshot, plan = prune_read.load(mc, prune_read.Selection(max_versions=3))
    mc.delete_model_version("churn", "4")  # a keeper disappears after planning
    result = prune_apply.apply(mc, snapshot, plan)
    # With v4 gone, v2 (0.85) is now in the top 3: it must survive.
    assert {r.version: r.state for r in result.records} == {
        2: history.SKIPPED,
        1: history.DELETED,
    }
    assert live_versions(mc, "churn") == [5, 3, 2]


def test_two_prunes_at_once_agree(mc):
    make_model(mc, "churn", [*EXAMPLE, 0.5, 0.6])
    a = prune_read.load(mc, prune_read.Selection(max_versions=3))
    b = prune_read.load(mc, prune_read.Selection(max_versions=3))
    results: list[history.ApplyResult] = []
    errors: list[BaseException] = []

    def go(snap_plan):
        try:
            results.append(prune_apply.apply(mc, *snap_plan))
        except BaseException as exc:  # noqa: BLE001  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(x,)) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert live_versions(mc, "churn") == [5, 4, 3]
    # Both recorded only what the policy deletes. (Both may record the same version as
    # deleted when their delete calls raced: MLflow's delete has no compare-and-set.)
    assert sorted(set(deleted_in_audit(mc))) == [("churn", v) for v in (1, 2, 6, 7)]
    for result in results:
        assert {r.version for r in result.records} == {1, 2, 6, 7}
        assert {r.state for r in result.records} <= {history.DELETED, history.VANISHED}


def test_delete_failing_on_the_second_of_three_then_rerun(mc, mocker):
    make_model(mc, "churn", [0.9, 0.8, 0.7, 0.6])
    real_delete = MlflowClient.delete_model_version
    calls: list[str] = []

    def flaky(self, name, version):
        calls.append(version)
        if len(calls) == 2:
            raise MlflowException("Internal error: database is locked", error_code=INTERNAL_ERROR)
        return real_delete(self, name, version)

    mocker.patch.object(MlflowClient, "delete_model_version", autospec=True, side_effect=flaky)
    # One worker, so "the 2nd of 3" is well defined (over HTTP the default is a pool).
    result = run("prune", "--max-versions", "1", "--workers", "1")
    assert result.exit_code == 3
    assert "Error: Prune stopped deleting" in result.stderr
    assert "Deleted 1 of 3 versions" in result.stderr
    assert "Traceback" not in result.output
    assert len(calls) == 2  # no new delete started after the failure
    assert deleted_in_audit(mc) == [("churn", int(calls[0]))]

    mocker.stopall()
    rerun = run("prune", "--max-versions", "1")
    assert rerun.exit_code == 0, rerun.output
    assert live_versions(mc, "churn") == [1]
    assert deleted_in_audit(mc) == [("churn", 2), ("churn", 3), ("churn", 4)]
    states = [(e.record.version, e.record.state) for e in audit.read_audit(mc)]
    assert (int(calls[1]), history.FAILED) in states


def test_crash_after_deleting_is_resolved_from_the_recorded_plan(mc, mocker):
    make_model(mc, "churn", EXAMPLE)
    fail_result_write(mocker, ConnectionError("server went away"))
    result = run("prune", "--max-versions", "4")
    assert result.exit_code == 3
    assert live_versions(mc, "churn") == [5, 4, 3, 2]
    mocker.stopall()
    # Only plan.json exists; the record resolves to "deleted" since the version is gone.
    assert deleted_in_audit(mc) == [("churn", 1)]
    assert run("prune", "--max-versions", "4").exit_code == 0  # converged: nothing left to do
    assert run("restore", "--model", "churn").exit_code == 0
    assert live_versions(mc, "churn") == [6, 5, 4, 3, 2]


def test_apply_raises_server_error_type(mc, mocker):
    make_model(mc, "churn", [0.9, 0.8])
    snapshot, plan = prune_read.load(mc, prune_read.Selection(max_versions=1))
    mocker.patch.object(
        MlflowClient,
        "delete_model_version",
        autospec=True,
        side_effect=MlflowException("nope", error_code=INTERNAL_ERROR),
    )
    with pytest.raises(ServerError, match="re-run to finish"):
        prune_apply.apply(mc, snapshot, plan)


def test_a_403_on_one_version_is_denied_and_the_others_are_deleted(mc, mocker):
    # Issue 21 §5: a 403 (MLflow 3.17's per-version permissions) leaves that version, recorded
    # as denied, never "does not exist", and the prune goes on.
    make_model(mc, "churn", [0.9, 0.8, 0.7, 0.6])
    snapshot, plan = prune_read.load(mc, prune_read.Selection(max_versions=1))
    real_delete = MlflowClient.delete_model_version

    def deny_version_2(self, name, version):
        if str(version) == "2":
            raise MlflowException("Permission denied", error_code=PERMISSION_DENIED)
        return real_delete(self, name, version)

    mocker.patch.object(
        MlflowClient, "delete_model_version", autospec=True, side_effect=deny_version_2
    )
    result = prune_apply.apply(mc, snapshot, plan, workers=1)
    states = {r.version: r.state for r in result.records}
    assert states == {2: history.DENIED, 3: history.DELETED, 4: history.DELETED}
    assert "permission denied" in next(r.detail for r in result.records if r.version == 2)
    mocker.stopall()
    assert {int(v.version) for v in mc.search_model_versions("name = 'churn'")} == {1, 2}
    recorded = {e.record.version: e.record.state for e in audit.read_audit(mc)}
    assert recorded == {2: history.DENIED, 3: history.DELETED, 4: history.DELETED}


def test_delete_retried_after_a_lost_response_counts_as_deleted(mc, mocker):
    # MLflow's client retries a 5xx; if the first call had deleted the version, the retry answers
    # RESOURCE_DOES_NOT_EXIST. The version is gone because of us: it must stay restorable.
    make_model(mc, "churn", [0.9, 0.8])
    real_delete = MlflowClient.delete_model_version

    def delete_then_not_found(self, name, version):
        real_delete(self, name, version)
        raise MlflowException("Model Version not found", error_code=RESOURCE_DOES_NOT_EXIST)

    mocker.patch.object(
        MlflowClient, "delete_model_version", autospec=True, side_effect=delete_then_not_found
    )
    result = run("prune", "--max-versions", "1")
    assert result.exit_code == 0, result.output
    mocker.stopall()
    assert deleted_in_audit(mc) == [("churn", 2)]
    assert run("restore", "--model", "churn").exit_code == 0
    assert live_versions(mc, "churn") == [3, 1]


def test_crash_mid_prune_then_rerun_counts_each_deletion_once(mc, mocker):
    make_model(mc, "churn", [0.9, 0.8, 0.7, 0.6])
    real_delete = MlflowClient.delete_model_version
    calls: list[str] = []

    def die_on_second(self, name, version):
        calls.append(version)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies: no result.json is written
        return real_delete(self, name, version)

    snapshot, plan = prune_read.load(mc, prune_read.Selection(max_versions=1))
    mocker.patch.object(
        MlflowClient, "delete_model_version", autospec=True, side_effect=die_on_second
    )
    with pytest.raises(KeyboardInterrupt):
        prune_apply.apply(mc, snapshot, plan, workers=1)
    mocker.stopall()
    assert run("prune", "--max-versions", "1").exit_code == 0  # the re-run finishes the job
    assert live_versions(mc, "churn") == [1]

    entries = audit.read_audit(mc)
    first, second = sorted({e.prune_id for e in entries}, key=[e.prune_id for e in entries].index)
    by_run = {
        pid: {e.record.version: e.record.state for e in entries if e.prune_id == pid}
        for pid in (first, second)
    }
    # The crashed prune deleted only its first version; the re-run deleted the other two.
    assert by_run[first] == {
        int(calls[0]): history.DELETED,
        **{v: history.SKIPPED for v in (2, 3, 4) if v != int(calls[0])},
    }
    assert by_run[second] == {v: history.DELETED for v in (2, 3, 4) if v != int(calls[0])}
    assert deleted_in_audit(mc) == [("churn", 2), ("churn", 3), ("churn", 4)]
    # Selecting the crashed prune alone resolves the same way.
    only_first = {e.record.version: e.record.state for e in audit.read_audit(mc, first)}
    assert only_first == by_run[first]
