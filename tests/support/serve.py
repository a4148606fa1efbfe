"""Fixtures for the receiver against real servers: a webhook-delivering ``mlflow server`` (SQLite
or PostgreSQL) and ``mlflow-debt serve`` processes, each started on 127.0.0.1 and stopped by PID.

Only these test servers get the settings that loopback needs and production must not have
(``MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https``, ``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true``), plus a
1-second webhook cache so a webhook installed by a test is used at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli

from support.server import MlflowServer, free_port, postgres_database, reset_store

SECRET_ENV = "MLFLOW_DEBT_TEST_WEBHOOK_SECRET"
SECRET = "s3cret-" + uuid.uuid4().hex
WEBHOOK_ENV = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    # Without it each server process encrypts webhook secrets with a key of its own (and a
    # restarted server cannot read them): production servers need one too (docs/enforce.md).
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
}


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ],
)
def hook_server(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` that delivers webhooks to loopback (test settings only)."""
    work = tmp_path_factory.mktemp(f"hooks-{request.param}")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            uri = f"sqlite:///{work}/mlflow.db"
        else:
            uri = stack.enter_context(postgres_database("mlflow_debt_serve"))
        server = MlflowServer(uri, work, env=WEBHOOK_ENV).start()
        stack.callback(server.stop)
        yield server


@pytest.fixture
def hc(hook_server: MlflowServer) -> MlflowClient:
    """A client on the webhook server, emptied first."""
    client = MlflowClient(tracking_uri=hook_server.url, registry_uri=hook_server.url)
    reset_store(client)
    return client


class Receiver:
    """One ``mlflow-debt serve`` process (its own process group), with its webhook installed."""

    def __init__(
        self, tracking_uri: str, workdir: Path, *, args: tuple[str, ...] = (), secret: str = SECRET
    ) -> None:
        self.tracking_uri = tracking_uri
        self.args = args
        self.secret = secret
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"receiver-{self.port}.log"
        self.name = f"rcv-{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
        env.update(
            {
                SECRET_ENV: self.secret,
                # Quick failures in tests; the service's own backoff does the retrying.
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
            }
        )
        cmd = [
            sys.executable, "-m", "mlflow_debt", "serve", "--port", str(self.port),
            "--secret-env", SECRET_ENV, "--tracking-uri", self.tracking_uri, "--settle", "1",
            "--reconcile-every", "0", *self.args,
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url + "/healthz", timeout=2) as resp,
            ):
                if resp.status == 200:
                    return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"receiver did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/status", timeout=5) as resp:
            doc: dict[str, Any] = json.loads(resp.read())
            return doc

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                if isinstance(doc, dict) and "event" in doc:
                    out.append(doc)
        return out

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.proc = None


def serve_cli(*args: str, secret: str = SECRET) -> Any:
    return CliRunner().invoke(
        cli, ["serve", *args], env={SECRET_ENV: secret}, catch_exceptions=False
    )


def install(receiver: Receiver, server_url: str) -> None:
    result = serve_cli(
        "install", "--url", receiver.url + "/webhook", "--secret-env", SECRET_ENV,
        "--name", receiver.name, "--tracking-uri", server_url, secret=receiver.secret,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    time.sleep(1.5)  # the server's webhook cache (1 s in tests)


@pytest.fixture
def receivers(tmp_path, hook_server: MlflowServer) -> Iterator[Any]:
    """``start(tracking_uri=None, install=True, **kw)`` -> a running, installed Receiver."""
    started: list[Receiver] = []

    def start(tracking_uri: str | None = None, *, hook: bool = True, **kw: Any) -> Receiver:
        r = Receiver(tracking_uri or hook_server.url, tmp_path, **kw).start()
        started.append(r)
        if hook:
            install(r, hook_server.url)
        return r

    try:
        yield start
    finally:
        for r in started:
            r.stop()
            serve_cli("uninstall", "--name", r.name, "--tracking-uri", hook_server.url)


def wait_until(cond: Any, timeout: float = 60, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s")
        time.sleep(interval)
