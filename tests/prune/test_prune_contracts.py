"""Prune, policy and restore at their edges (issue 10, section 3): real SQLite stores, mock faults.

Each test here failed on the code before the fix it names: server errors reading the audit
(3.1), store strings and echoed input on a terminal (3.4), faults around deletes and restores
(3.9), conflicting flags (3.10). The same faults against a real server are in
tests/prune/test_server_faults.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter

import pytest
from click.testing import CliRunner, Result
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, PERMISSION_DENIED
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.errors import ServerError
from mlflow_debt.prune import audit, history
from mlflow_debt.store import mlflow_errors

from support.prune import fail_result_write, make_legacy, make_model
from support.report import assess, findings

EXAMPLE = [0.82, 0.85, 0.88, 0.90, 0.87]
ESC = "\x1b"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_error_line(result: Result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def versions(mc: MlflowClient, name: str) -> dict[int, tuple[str, str | None]]:
    """version -> (source, run id) of every live version of ``name`` (any name, no filter)."""
    return {
        int(v.version): (v.source, v.run_id)
        for v in mc.search_model_versions(max_results=10_000)
        if v.name == name
    }


def copies(mc: MlflowClient, name: str, source: str) -> list[int]:
    return sorted(v for v, (src, _) in versions(mc, name).items() if src == source)


# --- 3.1: a server error reading the audit is exit 3, not "does not exist" ---------------------


@pytest.mark.parametrize("code", [INTERNAL_ERROR, PERMISSION_DENIED])
def test_server_error_reading_a_prune_is_exit_3_with_the_servers_words(mc, mocker, code):
    make_model(mc, "churn", EXAMPLE)
    prune_id = json.loads(run("prune", "--max-versions", "3", "--format", "json").stdout)[
        "prune_id"
    ]
    mocker.patch.object(
        MlflowClient,
        "get_run",
        autospec=True,
        side_effect=MlflowException("the database said no (HTTP 500)", error_code=code),
    )
    result = run("restore", "--list", "--prune-id", prune_id)
    assert result.exit_code == 3, result.output
    line = one_error_line(result)
    assert "the database said no" in line
    assert "does not exist" not in line


def test_an_unknown_prune_id_is_still_exit_2(mc):
    make_model(mc, "churn", EXAMPLE)
    run("prune", "--max-versions", "3")
    result = run("restore", "--list", "--prune-id", "0123456789abcdef0123456789abcdef")
    assert result.exit_code == 2
    assert "does not exist" in one_error_line(result)


def test_a_missing_artifact_is_not_found_but_a_failing_download_is_a_server_error(mc, mocker):
    make_model(mc, "churn", EXAMPLE)
    run("prune", "--max-versions", "3")
    (prune_id,) = [e.prune_id for e in audit.read_audit(mc)][:1]
    make_legacy(mc, prune_id)  # records as artifacts (audit schema 1): downloads can fail
    mocker.patch.object(
        MlflowClient,
        "download_artifacts",
        autospec=True,
        side_effect=PermissionError(13, "Permission denied", "/artifacts/prune/result.json"),
    )
    result = run("restore", "--list")
    assert result.exit_code == 3, result.output
    assert "Permission denied" in one_error_line(result)


def test_http_5xx_after_retries_is_reported_as_such_not_as_unreachable():
    message = (
        "API request to http://mlflow.internal:5000/api/2.0/mlflow/runs/search failed with "
        "exception HTTPConnectionPool(host='mlflow.internal', port=5000): Max retries exceeded "
        "with url: /api/2.0/mlflow/runs/search (Caused by ResponseError('too many 503 error "
        "responses'))"
    )
    with pytest.raises(ServerError) as info, mlflow_errors("Reading the prune history"):
        raise MlflowException(message)
    assert "HTTP 503" in str(info.value)
    assert "cannot reach" not in str(info.value)


# --- 3.4: nothing from the store reaches a terminal raw ----------------------------------------

NASTY = "churn\x1b[2J\x1b]8;;evil.example\x07x"  # MLflow forbids "/" and ":" in names


def test_prune_policy_and_restore_text_escape_store_strings(mc):
    make_model(mc, NASTY, EXAMPLE, tags={"mlflow_debt.max_versions": "3"})
    outputs = [
        run("prune", "--dry-run"),
        run("policy", "show"),
        run("prune"),
        run("restore", "--list"),
        run("restore", "--all", "--dry-run"),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.output
        assert ESC not in result.output, result.output
        assert "\x07" not in result.output, result.output
    assert "churn\\x1b[2J" in outputs[0].stdout
    assert "churn\\x1b[2J" in outputs[3].stdout
    # JSON is unaffected: the name as it is.
    doc = json.loads(run("restore", "--list", "--format", "json").stdout)
    assert {r["name"] for r in doc["records"]} == {NASTY}


@pytest.mark.usefixtures("mc")
def test_an_unknown_model_named_with_escapes_is_echoed_escaped():
    result = run("prune", "--model", "\x1b]0;x\x07", "--max-versions", "2")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert ESC not in line
    assert "\x07" not in line
    assert "\\x1b]0;x\\x07" in line
    assert "does not exist" in line


@pytest.mark.usefixtures("mc")
def test_policy_set_on_an_unknown_model_is_echoed_escaped():
    result = run("policy", "set", "\x1b[31mred", "--max-versions", "2")
    assert result.exit_code == 2
    assert ESC not in one_error_line(result)


# --- 3.10: conflicting flags are usage errors ---------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["prune", "--max-versions", "2", "--lower-is-better", "--higher-is-better"],
        ["policy", "set", "m", "--max-versions", "2", "--lower-is-better", "--higher-is-better"],
        ["restore", "--list", "--all"],
    ],
)
def test_conflicting_flags_are_a_usage_error(args):
    result = run(*args)
    assert result.exit_code == 2
    assert "contradict" in one_error_line(result)


def test_each_order_flag_alone_still_works(mc):
    make_model(mc, "churn", EXAMPLE)
    low = json.loads(run("prune", "--max-versions", "3", "--lower-is-better", "--dry-run",
                         "--format", "json").stdout)  # fmt: skip
    high = json.loads(run("prune", "--max-versions", "3", "--higher-is-better", "--dry-run",
                          "--format", "json").stdout)  # fmt: skip
    assert low["models"]["churn"]["delete"] == [3, 4]
    assert high["models"]["churn"]["delete"] == [2, 1]


# --- 3.9: prune and restore under faults --------------------------------------------------------


def test_a_model_named_with_both_quotes_is_skipped_and_the_rest_pruned(mc):
    odd = 'o\'brien "quoted"'
    make_model(mc, odd, EXAMPLE)
    make_model(mc, "churn", EXAMPLE)
    result = run("prune", "--max-versions", "3")
    assert result.exit_code == 0, result.output
    assert f'Skipped "{odd}"' in result.stderr
    assert sorted(versions(mc, "churn")) == [3, 4, 5]
    assert sorted(versions(mc, odd)) == [1, 2, 3, 4, 5]
    doc = json.loads(run("prune", "--max-versions", "3", "--format", "json").stdout)
    assert odd in doc["skipped"]
    assert odd not in doc["models"]


def test_a_version_two_prunes_both_deleted_is_counted_once(mc, mocker):
    from mlflow_debt.prune import apply as prune_apply
    from mlflow_debt.prune import read as prune_read

    make_model(mc, "churn", EXAMPLE)
    selection = prune_read.Selection(max_versions=3)
    snap_a, plan_a = prune_read.load(mc, selection)
    snap_b, plan_b = prune_read.load(mc, selection)
    real_delete = MlflowClient.delete_model_version
    raced: list[str] = []

    def delete(self, name, version):
        if not raced:  # prune A re-checked version 2 and is about to delete it: B runs first
            raced.append(version)
            prune_apply.apply(mc, snap_b, plan_b, workers=1)
        return real_delete(self, name, version)

    mocker.patch.object(MlflowClient, "delete_model_version", autospec=True, side_effect=delete)
    prune_apply.apply(mc, snap_a, plan_a, workers=1)
    mocker.stopall()

    deleted = Counter(
        e.record.version for e in audit.read_audit(mc) if e.record.state == history.DELETED
    )
    assert deleted == Counter({1: 1, 2: 1})
    listed = json.loads(run("restore", "--list", "--format", "json").stdout)["records"]
    assert sorted(r["version"] for r in listed if r["state"] == "deleted") == [1, 2]
    assert run("restore", "--all").exit_code == 0
    assert len(versions(mc, "churn")) == 5


def test_a_crashed_prune_is_a_prune_history_finding(mc, mocker):
    make_model(mc, "churn", EXAMPLE)
    fail_result_write(mocker, KeyboardInterrupt())  # the process stopped before writing the outcome
    crashed = run("prune", "--max-versions", "3")
    mocker.stopall()
    assert crashed.exit_code != 0
    (prune,) = mc.search_runs([mc.get_experiment_by_name("mlflow-debt").experiment_id])
    assert prune.data.tags[history.STATE_TAG] == history.DELETING
    (finding,) = findings(assess(mc), "prune-history")
    assert finding.detail["crashed"] is True
    assert "stopped before recording its outcome" in finding.message


def test_an_alias_moved_onto_a_version_while_its_delete_is_in_flight_is_reinstated(mc, mocker):
    made = make_model(mc, "churn", EXAMPLE)  # ranked: v4 > v3 > v5 > v2 > v1
    mc.set_registered_model_alias("churn", "champion", "4")
    real_delete = MlflowClient.delete_model_version

    def delete(self, name, version):
        if version == "2":  # re-checked without an alias; someone moves champion onto it now
            mc.set_registered_model_alias("churn", "champion", "2")
        return real_delete(self, name, version)

    mocker.patch.object(MlflowClient, "delete_model_version", autospec=True, side_effect=delete)
    result = run("prune", "--max-versions", "2", "--workers", "1")
    mocker.stopall()
    assert result.exit_code == 0, result.output
    champion = mc.get_model_version_by_alias("churn", "champion")
    assert (champion.source, champion.run_id) == (made.sources[2], made.runs[2])
    states = {e.record.version: e for e in audit.read_audit(mc)}
    assert states[2].record.state == history.REINSTATED
    assert states[2].restored_as == int(champion.version)
    assert states[1].record.state == history.DELETED
    # restore does not register it a second time
    assert run("restore", "--all").exit_code == 0
    assert copies(mc, "churn", made.sources[2]) == [int(champion.version)]


@pytest.fixture
def pruned(mc):
    made = make_model(mc, "churn", EXAMPLE)
    assert run("prune", "--max-versions", "3").exit_code == 0
    return made


def test_restore_after_a_failed_write_back_registers_once(mc, mocker, pruned):
    real_set_tag = MlflowClient.set_tag
    failed: list[str] = []

    def set_tag(self, run_id, key, value, *args, **kwargs):
        if key.startswith(history.RESTORED_TAG) and not failed:
            failed.append(key)
            raise MlflowException("write-back failed", error_code=INTERNAL_ERROR)
        return real_set_tag(self, run_id, key, value, *args, **kwargs)

    mocker.patch.object(MlflowClient, "set_tag", autospec=True, side_effect=set_tag)
    first = run("restore", "--model", "churn", "--version", "1")
    assert first.exit_code == 3
    mocker.stopall()
    again = run("restore", "--model", "churn", "--version", "1")
    assert again.exit_code == 0, again.output
    assert len(copies(mc, "churn", pruned.sources[1])) == 1


def test_restore_whose_create_took_effect_but_failed_registers_once(mc, mocker, pruned):
    real_create = MlflowClient.create_model_version

    def create_then_fail(self, *args, **kwargs):
        real_create(self, *args, **kwargs)
        raise MlflowException("503 after the create took effect", error_code=INTERNAL_ERROR)

    mocker.patch.object(
        MlflowClient, "create_model_version", autospec=True, side_effect=create_then_fail
    )
    first = run("restore", "--model", "churn", "--version", "1")
    mocker.stopall()
    assert run("restore", "--model", "churn", "--version", "1").exit_code == 0
    assert len(copies(mc, "churn", pruned.sources[1])) == 1
    assert first.exit_code in (0, 3)


def test_restore_whose_create_was_retried_by_the_client_registers_once(mc, mocker, pruned):
    real_create = MlflowClient.create_model_version

    def create_twice(self, *args, **kwargs):  # MLflow's retry after a lost response
        real_create(self, *args, **kwargs)
        return real_create(self, *args, **kwargs)

    mocker.patch.object(
        MlflowClient, "create_model_version", autospec=True, side_effect=create_twice
    )
    result = run("restore", "--model", "churn", "--version", "1")
    mocker.stopall()
    assert result.exit_code == 0, result.output
    (new,) = copies(mc, "churn", pruned.sources[1])
    assert f"as version {new}." in result.stdout


@pytest.mark.slow
def test_restore_killed_after_registering_then_rerun_registers_once(
    mc, pruned, tracking_uri, tmp_path
):
    script = tmp_path / "killed_restore.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, signal, sys
            from mlflow.tracking import MlflowClient
            from mlflow_debt.cli import main

            real = MlflowClient.create_model_version

            def create_then_die(self, *args, **kwargs):
                real(self, *args, **kwargs)
                os.kill(os.getpid(), signal.SIGKILL)

            MlflowClient.create_model_version = create_then_die
            main(sys.argv[1:])
            """
        )
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    killed = subprocess.run(
        [sys.executable, str(script), "restore", "--model", "churn", "--version", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(copies(mc, "churn", pruned.sources[1])) == 1  # registered, not written back
    again = run("restore", "--model", "churn", "--version", "1")
    assert again.exit_code == 0, again.output
    assert len(copies(mc, "churn", pruned.sources[1])) == 1
    assert run("restore", "--all").exit_code == 0
    assert len(copies(mc, "churn", pruned.sources[1])) == 1
