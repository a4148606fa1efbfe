"""Credentials against a real ``mlflow server --app-name basic-auth``.

mlflow-debt only uses MLflow's client, so MLflow's auth variables (``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD``) just work, and a password never appears in an error message, whether
it came in the URI (``http://user:pass@host``) or not.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from mlflow_debt.cli import cli

from support.server import MlflowServer

pytestmark = [pytest.mark.slow, pytest.mark.server]

ADMIN_PASSWORD = "Adm1n-s3cret-pw"
WRONG_PASSWORD = "Wr0ng-s3cret-pw"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    work = tmp_path_factory.mktemp("auth-server")
    config = work / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{work}/basic_auth.db\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    server = MlflowServer(
        f"sqlite:///{work}/mlflow.db",
        work,
        workers=1,
        extra_args=("--app-name", "basic-auth"),
        env={
            "MLFLOW_AUTH_CONFIG_PATH": str(config),
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-csrf-key",
        },
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


def policy_show(uri: str):
    return CliRunner().invoke(
        cli, ["policy", "show", "--tracking-uri", uri], catch_exceptions=False
    )


def test_mlflows_auth_variables_are_used(auth_server, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    result = policy_show(auth_server.url)
    assert result.exit_code == 0, result.output


def test_without_credentials_the_server_refuses_in_one_line(auth_server) -> None:
    result = policy_show(auth_server.url)
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr


def test_a_password_in_the_uri_is_never_printed(auth_server) -> None:
    host = auth_server.url.removeprefix("http://")
    result = policy_show(f"http://admin:{WRONG_PASSWORD}@{host}")
    assert result.exit_code == 3, result.output
    assert WRONG_PASSWORD not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
