"""Prune against a real ``mlflow server`` that fails: killed mid-prune, answering 503s, raced.

The faults are real: the server process group is SIGKILLed, and the 503s come from a proxy in
front of the server, so MLflow's own HTTP retries are exercised. (The mock-level failures of one
call live in tests/prune/test_prune_audit.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner, Result
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.prune import audit, history

from support.server import FaultProxy, MlflowServer, reset_store

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.faults]

DELETE_PATH = "/model-versions/delete"


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # A dead server should fail in seconds, not after the CLI's default backoff.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


def prune(uri: str, *args: str):
    return CliRunner().invoke(
        cli, ["prune", "--tracking-uri", uri, "--yes", *args], catch_exceptions=False
    )


def make_versions(client: MlflowClient, name: str, values: list[float]) -> None:
    """``name`` with one version per value (version i has ``values[i-1]`` on its run)."""
    exp = client.get_experiment_by_name("training")
    exp_id = exp.experiment_id if exp else client.create_experiment("training")
    client.create_registered_model(name)
    for i, value in enumerate(values, start=1):
        run = client.create_run(exp_id, run_name=f"{name}-{i}")
        client.log_batch(run.info.run_id, metrics=[Metric("accuracy", value, 0, 0)])
        mv = client.create_model_version(
            name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, await_creation_for=0
        )
        assert int(mv.version) == i


def live(client: MlflowClient, name: str) -> set[int]:
    return {int(v.version) for v in client.search_model_versions(f"name = '{name}'")}


def deletions(client: MlflowClient) -> Counter[tuple[str, int]]:
    """How many times the audit records each (model, version) as deleted."""
    return Counter(
        (e.record.name, e.record.version)
        for e in audit.read_audit(client)
        if e.record.state == history.DELETED
    )


def best(values: list[float], n: int) -> set[int]:
    ranked = sorted(range(1, len(values) + 1), key=lambda v: (-values[v - 1], -v))
    return set(ranked[:n])


#: 24 versions with distinct accuracies, kept: the best 4.
VALUES = [round(0.5 + ((i * 7) % 24) / 100, 2) for i in range(24)]
KEEP = 4


@pytest.fixture
def http(mlflow_server: MlflowServer) -> MlflowClient:
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    reset_store(client)
    return client


@dataclass
class Crash:
    first: Result  # the prune during which the server died
    live_after_crash: set[int]
    rerun: Result  # the re-run after a restart
    live: set[int]
    audit: Counter[tuple[str, int]]


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crash]:
    """Kill the server (SIGKILL, whole process group) in the middle of a prune, restart, re-run."""
    work = tmp_path_factory.mktemp("crash-server")
    server = MlflowServer(f"sqlite:///{work}/mlflow.db", work).start()
    env = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    }
    try:
        with mock.patch.dict(os.environ, env):
            client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
            make_versions(client, "churn", VALUES)
            real_delete = MlflowClient.delete_model_version
            done: list[str] = []

            def delete_then_crash(self, name, version):
                if len(done) == 5:
                    server.kill()
                done.append(version)
                return real_delete(self, name, version)

            with mock.patch.object(
                MlflowClient, "delete_model_version", autospec=True, side_effect=delete_then_crash
            ):
                first = prune(server.url, "--max-versions", str(KEEP), "--workers", "1")
            server.restart()
            live_after_crash = live(client, "churn")
            rerun = prune(server.url, "--max-versions", str(KEEP))
            yield Crash(first, live_after_crash, rerun, live(client, "churn"), deletions(client))
    finally:
        server.stop()


def test_server_killed_mid_prune_is_exit_3_and_the_rerun_converges(crash: Crash) -> None:
    assert crash.first.exit_code == 3, crash.first.output
    lines = crash.first.stderr.strip().splitlines()
    assert len(lines) == 1, crash.first.stderr
    assert lines[0].startswith("Error: "), crash.first.stderr
    assert "Traceback" not in crash.first.output
    # The crash came after some deletes and before the last.
    assert best(VALUES, KEEP) < crash.live_after_crash < set(range(1, 25))
    assert crash.rerun.exit_code == 0, crash.rerun.output
    kept = best(VALUES, KEEP)
    assert crash.live == kept  # no version the policy keeps was deleted
    # Every deleted version is in the audit.
    assert set(crash.audit) == {("churn", v) for v in set(range(1, 25)) - kept}


def test_server_killed_mid_prune_audit_holds_each_deletion_once(crash: Crash) -> None:
    doubled = sorted(v for (_, v), n in crash.audit.items() if n > 1)
    assert doubled == []


def test_503s_are_retried_and_lost_responses_count_once(http: MlflowClient) -> None:
    make_versions(http, "churn", VALUES[:10])
    calls = Counter[str]()
    lock = threading.Lock()

    def fault(method: str, path: str) -> str | None:  # noqa: ARG001  the proxy's hook
        if DELETE_PATH not in path:
            return None
        with lock:
            calls[path] += 1
            n = sum(calls.values())
        # The 1st and 4th deletes answer 503 unseen, the 2nd is applied but its answer is lost.
        return {1: "before", 2: "after", 4: "before"}.get(n)

    with FaultProxy(http.tracking_uri, fault) as proxy:
        result = prune(proxy.url, "--max-versions", "3")
        injected = [s for m, p, s in proxy.seen if DELETE_PATH in p and s == 503]
    assert len(injected) == 3
    assert result.exit_code == 0, result.output
    kept = best(VALUES[:10], 3)
    assert live(http, "churn") == kept
    audit = deletions(http)
    assert set(audit) == {("churn", v) for v in set(range(1, 11)) - kept}
    assert set(audit.values()) == {1}


def test_a_server_that_keeps_answering_503_is_a_clean_exit_3(http: MlflowClient) -> None:
    make_versions(http, "churn", VALUES[:6])

    def fault(method: str, path: str) -> str | None:  # noqa: ARG001  the proxy's hook
        return "before" if DELETE_PATH in path else None

    with FaultProxy(http.tracking_uri, fault) as proxy:
        result = prune(proxy.url, "--max-versions", "2")
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    # Nothing was deleted, and nothing is recorded as deleted: no half-recorded deletion.
    assert live(http, "churn") == set(range(1, 7))
    assert not deletions(http)
    rerun = prune(http.tracking_uri, "--max-versions", "2")
    assert rerun.exit_code == 0, rerun.output
    assert live(http, "churn") == best(VALUES[:6], 2)
    assert set(deletions(http).values()) == {1}


def test_two_prune_processes_at_the_same_moment_end_like_one(http: MlflowClient) -> None:
    name = f"churn-{uuid.uuid4().hex[:6]}"
    make_versions(http, name, VALUES[:12])
    cmd = [
        str(Path(sys.executable).with_name("mlflow-debt")),
        "prune",
        "--tracking-uri",
        http.tracking_uri,
        "--model",
        name,
        "--max-versions",
        "3",
        "--yes",
    ]
    barrier = threading.Barrier(2)
    outcomes: list[subprocess.CompletedProcess[str]] = []

    def go() -> None:
        barrier.wait()
        outcomes.append(subprocess.run(cmd, capture_output=True, text=True, timeout=300))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [o.returncode for o in outcomes] == [0, 0], [o.stderr for o in outcomes]
    kept = best(VALUES[:12], 3)
    assert live(http, name) == kept
    # The same versions are recorded as deleted as one prune would, each counted once although
    # a version deleted in the race may be recorded by both (MLflow's delete has no
    # compare-and-set); never a kept one.
    audit_counts = deletions(http)
    assert set(audit_counts) == {(name, v) for v in set(range(1, 13)) - kept}
    assert set(audit_counts.values()) == {1}
    listed = CliRunner().invoke(
        cli, ["restore", "--list", "--format", "json", "--tracking-uri", http.tracking_uri]
    )
    records = json.loads(listed.stdout)["records"]
    assert len([r for r in records if r["state"] == "deleted"]) == 12 - 3


# --- issue 10 §3.1 / §3.9 against the real server ----------------------------------------------

CREATE_PATH = "/model-versions/create"


def test_a_server_answering_503_while_reading_the_audit_says_so(http: MlflowClient) -> None:
    make_versions(http, "churn", VALUES[:5])
    assert prune(http.tracking_uri, "--max-versions", "3").exit_code == 0

    def fault(method: str, path: str) -> str | None:  # noqa: ARG001  the proxy's hook
        return "before" if "/runs/search" in path else None

    with FaultProxy(http.tracking_uri, fault) as proxy:
        result = CliRunner().invoke(
            cli, ["restore", "--list", "--tracking-uri", proxy.url], catch_exceptions=False
        )
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "HTTP 503" in lines[0], result.stderr
    assert "cannot reach" not in lines[0]
    assert "does not exist" not in lines[0]


def test_restore_whose_create_answer_is_lost_registers_one_version(http: MlflowClient) -> None:
    make_versions(http, "churn", VALUES[:5])
    assert prune(http.tracking_uri, "--max-versions", "3").exit_code == 0
    (entry,) = [e for e in audit.read_audit(http) if e.record.version == 1]
    lost: list[str] = []

    def fault(method: str, path: str) -> str | None:  # noqa: ARG001  the proxy's hook
        if CREATE_PATH in path and not lost:
            lost.append(path)
            return "after"  # registered, but the answer is a 503: MLflow's client retries
        return None

    with FaultProxy(http.tracking_uri, fault) as proxy:
        result = CliRunner().invoke(
            cli,
            ["restore", "--model", "churn", "--version", "1", "--tracking-uri", proxy.url],
            catch_exceptions=False,
        )
    assert lost, "the fault was not injected"
    rerun = CliRunner().invoke(
        cli, ["restore", "--all", "--tracking-uri", http.tracking_uri], catch_exceptions=False
    )
    assert result.exit_code in (0, 3), (result.output, rerun.output)
    assert rerun.exit_code == 0, (result.output, rerun.output)
    same = [
        v
        for v in http.search_model_versions("name = 'churn'")
        if v.source == entry.record.source and v.run_id == entry.record.run_id
    ]
    assert len(same) == 1, [v.version for v in same]


def test_an_alias_moved_onto_a_version_mid_delete_is_reinstated(http: MlflowClient) -> None:
    # v6 holds champion (protected, not counted): keep v5, v4; delete v3 first, then v2, v1.
    make_versions(http, "churn", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    http.set_registered_model_alias("churn", "champion", "6")
    doomed = http.get_model_version("churn", "3")
    moved: list[str] = []

    def fault(method: str, path: str) -> str | None:  # noqa: ARG001  the proxy's hook
        if DELETE_PATH in path and not moved:
            # The DELETE of v3 is in flight: someone moves champion onto v3 first.
            http.set_registered_model_alias("churn", "champion", "3")
            moved.append(path)
        return None

    with FaultProxy(http.tracking_uri, fault) as proxy:
        result = prune(proxy.url, "--max-versions", "2", "--workers", "1")
    assert moved, result.output
    assert result.exit_code == 0, result.output
    champion = http.get_model_version_by_alias("churn", "champion")
    assert (champion.source, champion.run_id) == (doomed.source, doomed.run_id)
    records = {e.record.version: e for e in audit.read_audit(http)}
    assert records[3].record.state == history.REINSTATED
    assert records[3].restored_as == int(champion.version)
    assert live(http, "churn") == {4, 5, 6, int(champion.version)}
