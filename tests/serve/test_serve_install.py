"""``serve install/uninstall/check`` against real servers: idempotent install, the test event
verified (or not, with a different secret), and one-line errors for servers that cannot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from support.serve import SECRET_ENV, Receiver, serve_cli
from support.server import MlflowServer

pytestmark = [pytest.mark.slow, pytest.mark.server]


def hooks_named(url: str, name: str) -> list:
    client = MlflowClient(url, url)
    return [w for w in client.list_webhooks(max_results=100) if w.name == name]


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_install_is_idempotent_check_and_uninstall(hook_server, receivers, tmp_path):
    r = receivers(hook=False)
    args = ("--name", r.name, "--tracking-uri", hook_server.url)
    first = serve_cli("install", "--url", r.url, "--secret-env", SECRET_ENV, *args)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith(f"Registered webhook '{r.name}'")
    assert f"-> {r.url}/webhook" in first.stdout  # the path is added when missing
    again = serve_cli("install", "--url", r.url + "/webhook", "--secret-env", SECRET_ENV, *args)
    assert again.exit_code == 0
    assert again.stdout.startswith("Updated")
    (hook,) = hooks_named(hook_server.url, r.name)
    assert sorted(str(e) for e in hook.events) == [
        "model_version.created", "model_version_alias.deleted",
        "model_version_tag.deleted", "model_version_tag.set",
    ]  # fmt: skip
    assert "s3cret" not in first.output + again.output

    ok = serve_cli("check", *args)
    assert ok.exit_code == 0, ok.output
    assert "the receiver verified the test delivery" in ok.stdout
    # MLflow's test event names "example_model", which does not exist: nothing else happens.
    assert r.status()["deliveries"]["accepted"] == 1

    # The receiver runs with another secret: check says so, exit 3.
    other = Receiver(hook_server.url, tmp_path, secret="another-secret").start()
    try:
        wrong = serve_cli(
            "install", "--url", other.url, "--secret-env", SECRET_ENV, *args
        )  # same name: re-pointed to the other receiver, with our secret
        assert wrong.exit_code == 0
        line = one_line_error(serve_cli("check", *args), 3)
        assert "rejected the signature" in line
        assert other.status()["deliveries"]["rejected_by_status"] == {"401": 1}
    finally:
        other.stop()

    gone = serve_cli("uninstall", *args)
    assert gone.exit_code == 0
    assert gone.stdout.strip() == f"Removed webhook '{r.name}'."
    assert not hooks_named(hook_server.url, r.name)
    assert serve_cli("uninstall", *args).stdout.startswith("No webhook")
    line = one_line_error(serve_cli("check", *args), 2)
    assert "serve install" in line


def test_a_password_in_the_receivers_url_is_never_echoed(hook_server, receivers):
    r = receivers(hook=False)
    args = ("--name", r.name, "--tracking-uri", hook_server.url)
    url = r.url.replace("http://", "http://hook:Pa55-w0rd@") + "/webhook"
    done = serve_cli("install", "--url", url, "--secret-env", SECRET_ENV, *args)
    assert done.exit_code == 0, done.output
    assert "-> http://hook:***@127.0.0.1:" in done.stdout
    checked = serve_cli("check", *args)
    assert "Pa55-w0rd" not in done.output + checked.output
    assert "hook:***@" in checked.output
    serve_cli("uninstall", *args)


def test_scheme_not_allowed_by_the_server(mlflow_server_url):
    # The session server has MLflow's defaults: https only, no private addresses.
    result = serve_cli(
        "install", "--url", "http://127.0.0.1:9/webhook", "--secret-env", SECRET_ENV,
        "--tracking-uri", mlflow_server_url,
    )  # fmt: skip
    line = one_line_error(result, 2)
    assert "MLFLOW_WEBHOOK_ALLOWED_SCHEMES" in line


def test_private_address_refused_by_the_server(mlflow_server_url):
    result = serve_cli(
        "install", "--url", "https://127.0.0.1:9/webhook", "--secret-env", SECRET_ENV,
        "--tracking-uri", mlflow_server_url,
    )  # fmt: skip
    line = one_line_error(result, 2)
    assert "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS" in line


@pytest.fixture(scope="module")
def file_store_server(tmp_path_factory) -> Iterator[MlflowServer]:
    work = tmp_path_factory.mktemp("file-store")
    server = MlflowServer(
        str(work / "mlruns"), work, workers=1, env={"MLFLOW_ALLOW_FILE_STORE": "true"}
    ).start()
    try:
        yield server
    finally:
        server.stop()


def test_file_store_server_has_no_webhooks(file_store_server):
    result = serve_cli(
        "install", "--url", "https://receiver.example.com/webhook", "--secret-env", SECRET_ENV,
        "--tracking-uri", file_store_server.url,
    )  # fmt: skip
    line = one_line_error(result, 3)
    assert "no webhook support" in line
    assert "3.3.0" in line


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory) -> Iterator[MlflowServer]:
    work: Path = tmp_path_factory.mktemp("auth-hooks")
    config = work / "basic_auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{work}/basic_auth.db\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    server = MlflowServer(
        f"sqlite:///{work}/mlflow.db", work, workers=1, extra_args=("--app-name", "basic-auth"),
        env={
            "MLFLOW_AUTH_CONFIG_PATH": str(config),
            "MLFLOW_AUTH_ADMIN_PASSWORD": "Adm1n-s3cret-pw",
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-csrf-key",
        },
    ).start()  # fmt: skip
    try:
        yield server
    finally:
        server.stop()


def test_auth_failure_is_one_line(auth_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "Wr0ng-s3cret-pw")
    result = serve_cli(
        "install", "--url", "https://receiver.example.com/webhook", "--secret-env", SECRET_ENV,
        "--tracking-uri", auth_server.url,
    )  # fmt: skip
    line = one_line_error(result, 3)
    assert "credentials" in line
    assert "Wr0ng" not in line
