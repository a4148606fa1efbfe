"""A 403 on some versions, from MLflow's own basic-auth app (issue 21 §5).

MLflow 3.17 added per-version permissions (the ``registered_model_version`` tier) with an explicit
``DENY``; a model-level grant refuses writes on other models' versions the same way. Either way a
prune, a restore or the report meets a 403 on some versions: they are left and reported as
``denied`` (their own state in the JSON), never "does not exist", and the rest goes ahead.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.prune import audit, history

from support.server import MlflowServer

pytestmark = [pytest.mark.slow, pytest.mark.server]

ADMIN = ("admin", "Adm1n-s3cret-pw")
BOB = ("bob", "B0b-s3cret-pw-42")
CAROL = ("carol", "C4rol-s3cret-pw-42")


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    work = tmp_path_factory.mktemp("denied-server")
    config = work / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{work}/basic_auth.db\n"
        f"admin_username = {ADMIN[0]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    server = MlflowServer(
        f"sqlite:///{work}/mlflow.db",
        work,
        workers=1,
        extra_args=("--app-name", "basic-auth"),
        env={
            "MLFLOW_AUTH_CONFIG_PATH": str(config),
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-csrf-key",
        },
    ).start()
    try:
        yield server
    finally:
        server.stop()


def as_user(monkeypatch: pytest.MonkeyPatch, user: tuple[str, str]) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])


@pytest.fixture
def admin(auth_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    as_user(monkeypatch, ADMIN)
    return MlflowClient(tracking_uri=auth_server.url, registry_uri=auth_server.url)


def make_model(client: MlflowClient, name: str, values: list[float]) -> None:
    exp = client.get_experiment_by_name("training")
    exp_id = exp.experiment_id if exp else client.create_experiment("training")
    client.create_registered_model(name)
    for value in values:
        run = client.create_run(exp_id)
        client.log_metric(run.info.run_id, "accuracy", value)
        client.create_model_version(
            name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, await_creation_for=0
        )


def grant(server: MlflowServer, user: tuple[str, str], *grants: tuple[str, str, str]) -> None:
    from mlflow.server.auth.client import AuthServiceClient

    auth = AuthServiceClient(server.url)
    with contextlib.suppress(Exception):  # made by an earlier test of this module
        auth.create_user(*user)
    for resource_type, resource_id, permission in grants:
        auth.grant_user_permission(user[0], resource_type, resource_id, permission)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def live(client: MlflowClient, name: str) -> set[int]:
    return {int(v.version) for v in client.search_model_versions(f"name = '{name}'")}


def test_prune_leaves_the_denied_versions_reports_them_and_does_the_rest(
    admin: MlflowClient, auth_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_model(admin, "churn", [0.1, 0.2, 0.3, 0.4])
    make_model(admin, "ltv", [0.1, 0.2, 0.3, 0.4])
    # bob may manage churn; ltv he may only read (the default): its deletes are refused.
    grant(auth_server, BOB, ("registered_model", "churn", "MANAGE"))
    as_user(monkeypatch, BOB)
    result = invoke(
        "prune",
        "--max-versions",
        "2",
        "--yes",
        "--format",
        "json",
        "--workers",
        "1",
        "--tracking-uri",
        auth_server.url,
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["models"]["churn"]["delete"] == [2, 1]
    ltv = doc["models"]["ltv"]
    assert ltv["delete"] == []
    assert {d["state"] for d in ltv["not_deleted"]} == {history.DENIED}
    assert all("does not exist" not in d["detail"] for d in ltv["not_deleted"])
    assert live(admin, "churn") == {3, 4}
    assert live(admin, "ltv") == {1, 2, 3, 4}
    states = {(e.record.name, e.record.version): e.record.state for e in audit.read_audit(admin)}
    assert states == {
        ("churn", 1): history.DELETED,
        ("churn", 2): history.DELETED,
        ("ltv", 1): history.DENIED,
        ("ltv", 2): history.DENIED,
    }
    # In text: one line per denied version on stderr, the summary on stdout.
    text = invoke("prune", "--max-versions", "2", "--yes", "--tracking-uri", auth_server.url)
    assert text.exit_code == 0, text.output
    assert text.stderr.count("(denied: permission denied") == 2, text.stderr


def test_restore_leaves_the_denied_versions_reports_them_and_does_the_rest(
    admin: MlflowClient, auth_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("churn2", "ltv2"):
        make_model(admin, name, [0.1, 0.2, 0.3])
    pruned = invoke(
        "prune",
        "--model",
        "churn2",
        "--model",
        "ltv2",
        "--max-versions",
        "1",
        "--yes",
        "--tracking-uri",
        auth_server.url,
    )
    assert pruned.exit_code == 0, pruned.output
    audit_exp = admin.get_experiment_by_name(history.AUDIT_EXPERIMENT).experiment_id
    # carol may manage churn2 and write the prune history; ltv2 she may only read.
    grant(
        auth_server,
        CAROL,
        ("registered_model", "churn2", "MANAGE"),
        ("experiment", audit_exp, "EDIT"),
    )
    as_user(monkeypatch, CAROL)
    result = invoke(
        "restore",
        "--model",
        "churn2",
        "--model",
        "ltv2",
        "--format",
        "json",
        "--tracking-uri",
        auth_server.url,
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["restored"], doc
    assert sorted((r["name"], r["version"]) for r in doc["restored"]) == [
        ("churn2", 1),
        ("churn2", 2),
    ], doc
    assert sorted((r["name"], r["version"]) for r in doc["denied"]) == [("ltv2", 1), ("ltv2", 2)]
    assert all("does not exist" not in r["detail"] for r in doc["denied"])
    assert len(live(admin, "churn2")) == 3
    assert live(admin, "ltv2") == {3}


def test_the_per_version_tier_denying_deletes_is_reported_version_by_version(
    admin: MlflowClient, auth_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow 3.17's version tier: dave may read every version and delete none."""
    permissions = pytest.importorskip("mlflow.server.auth.permissions")
    if not hasattr(permissions, "RESOURCE_TYPE_REGISTERED_MODEL_VERSION"):
        pytest.skip("MLflow before 3.17 has no per-version permissions")
    make_model(admin, "fraud", [0.1, 0.2, 0.3])
    audit_exp = audit.audit_experiment_id(admin)
    assert audit_exp is not None
    dave = ("dave", "D4ve-s3cret-pw-42")
    grant(
        auth_server,
        dave,
        ("registered_model", "fraud", "MANAGE"),
        ("registered_model_version", "*", "READ"),
        ("experiment", audit_exp, "EDIT"),
    )
    as_user(monkeypatch, dave)
    result = invoke(
        "prune",
        "--model",
        "fraud",
        "--max-versions",
        "1",
        "--yes",
        "--format",
        "json",
        "--tracking-uri",
        auth_server.url,
    )
    assert result.exit_code == 0, result.output
    fraud = json.loads(result.stdout)["models"]["fraud"]
    assert [(d["version"], d["state"]) for d in fraud["not_deleted"]] == [
        (2, history.DENIED),
        (1, history.DENIED),
    ]
    assert live(admin, "fraud") == {1, 2, 3}
    report = invoke("report", "--format", "json", "--tracking-uri", auth_server.url)
    assert report.exit_code == 0, report.output


def test_the_report_says_which_versions_it_could_not_read_and_reads_the_rest(
    admin: MlflowClient, auth_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """erin may not read the experiment one model's runs live in: its versions' model artifacts
    answer 403. The report is made, counts them as not read (never as missing), reads the rest."""
    readable = admin.create_experiment("readable")
    hidden = admin.create_experiment("hidden")
    for name, exp_id in (("seen", readable), ("unseen", hidden)):
        admin.create_registered_model(name)
        run = admin.create_run(exp_id)
        admin.log_text(run.info.run_id, "flavors: {}\n", "model/MLmodel")
        admin.create_model_version(
            name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, await_creation_for=0
        )
    erin = ("erin", "Er1n-s3cret-pw-42")
    grant(auth_server, erin, ("experiment", hidden, "DENY"))
    as_user(monkeypatch, erin)
    result = invoke(
        "report",
        "--model",
        "seen",
        "--model",
        "unseen",
        "--format",
        "json",
        "--tracking-uri",
        auth_server.url,
    )
    assert result.exit_code == 0, result.output
    assert "does not exist" not in result.output
    doc = json.loads(result.stdout)
    (repro,) = [c for c in doc["checks"] if c["id"] == "reproducibility"]
    assert "could not be read" in repro["note"], repro
    missing = [
        f for f in repro["findings"] if "unseen" in f["subject"] and "missing" in f["message"]
    ]
    assert missing == [], missing
