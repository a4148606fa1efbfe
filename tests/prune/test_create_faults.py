"""Creates answered with a 503, on a real ``mlflow server`` behind a fault proxy (issue 21 §5).

MLflow 3.18's client no longer retries a create (run, experiment, version) answered with a 5xx:
prune and restore see the 503 themselves and must still converge in one go, never leaving two
audit runs or registering a version twice; older clients retried it themselves, which could
make it twice. Each test runs on whichever MLflow is installed (CI runs them on 3.17 and 3.18).
"""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.prune import audit, history

from support.server import FaultProxy, MlflowServer, reset_store

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.faults]


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


@pytest.fixture
def http(mlflow_server: MlflowServer) -> MlflowClient:
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    reset_store(client)
    return client


def make_versions(client: MlflowClient, name: str, values: list[float]) -> None:
    exp = client.get_experiment_by_name("training")
    exp_id = exp.experiment_id if exp else client.create_experiment("training")
    client.create_registered_model(name)
    for i, value in enumerate(values, start=1):
        run = client.create_run(exp_id, run_name=f"{name}-{i}")
        client.log_metric(run.info.run_id, "accuracy", value)
        client.create_model_version(
            name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, await_creation_for=0
        )


def once(path_part: str, action: str):
    """A proxy hook that answers the first call whose path holds ``path_part`` with a 503."""
    hit: list[str] = []
    lock = threading.Lock()

    def fault(method: str, path: str) -> str | None:  # noqa: ARG001  the proxy's hook
        with lock:
            if path_part in path and not hit:
                hit.append(path)
                return action
        return None

    return fault, hit


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def audit_runs(client: MlflowClient) -> list[str]:
    exp = client.get_experiment_by_name(history.AUDIT_EXPERIMENT)
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], run_view_type=ViewType.ACTIVE_ONLY)
    return [r.info.run_id for r in runs]


@pytest.mark.parametrize("action", ["before", "after"])
def test_a_prune_whose_audit_run_create_is_answered_503_converges_with_one_run(
    http: MlflowClient, action: str
) -> None:
    make_versions(http, "churn", [0.1, 0.2, 0.3, 0.4])
    invoke("prune", "--model", "churn", "--max-versions", "3", "--tracking-uri", http.tracking_uri)
    assert len(audit_runs(http)) == 1
    make_versions_more = [0.5, 0.6]
    for value in make_versions_more:
        run = http.create_run(http.get_experiment_by_name("training").experiment_id)
        http.log_metric(run.info.run_id, "accuracy", value)
        http.create_model_version(
            "churn", f"{run.info.artifact_uri}/model", run_id=run.info.run_id, await_creation_for=0
        )
    fault, hit = once("/runs/create", action)
    with FaultProxy(http.tracking_uri, fault) as proxy:
        result = invoke("prune", "--max-versions", "3", "--yes", "--tracking-uri", proxy.url)
    assert hit, "the fault was not injected"
    assert result.exit_code == 0, result.output
    assert len(audit_runs(http)) == 2  # the first prune's and this one's: never a third
    assert {int(v.version) for v in http.search_model_versions("name = 'churn'")} == {4, 5, 6}
    deleted = [e for e in audit.read_audit(http) if e.record.state == history.DELETED]
    assert sorted(e.record.version for e in deleted) == [1, 2, 3]


@pytest.mark.parametrize("action", ["before", "after"])
def test_the_audit_experiments_create_answered_503_converges(
    http: MlflowClient, action: str
) -> None:
    make_versions(http, "churn", [0.1, 0.2, 0.3])
    fault, hit = once("/experiments/create", action)
    with FaultProxy(http.tracking_uri, fault) as proxy:
        result = invoke("prune", "--max-versions", "1", "--yes", "--tracking-uri", proxy.url)
    assert hit, "the fault was not injected"
    assert result.exit_code == 0, result.output
    assert len(audit_runs(http)) == 1
    assert {int(v.version) for v in http.search_model_versions("name = 'churn'")} == {3}


@pytest.mark.parametrize("action", ["before", "after"])
def test_a_restore_whose_create_is_answered_503_registers_one_version_in_one_go(
    http: MlflowClient, action: str
) -> None:
    make_versions(http, "churn", [0.1, 0.2, 0.3])
    assert (
        invoke("prune", "--max-versions", "1", "--tracking-uri", http.tracking_uri).exit_code == 0
    )
    fault, hit = once("/model-versions/create", action)
    with FaultProxy(http.tracking_uri, fault) as proxy:
        result = invoke("restore", "--all", "--tracking-uri", proxy.url)
    assert hit, "the fault was not injected"
    assert result.exit_code == 0, result.output
    versions = http.search_model_versions("name = 'churn'")
    assert len(versions) == 3, [v.version for v in versions]  # v3 and one copy each of v1, v2
    sources = sorted((v.source, v.run_id) for v in versions)
    assert len(set(sources)) == 3
