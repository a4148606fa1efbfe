"""A real ``mlflow server`` for tests: started on 127.0.0.1 on a free port, stopped by its PID.

``MlflowServer(backend_store_uri, workdir).start()`` launches ``mlflow server`` in its own process
group (gunicorn/uvicorn and their workers all live in it), waits for ``/health`` and ``stop()``
terminates the whole group, so no worker outlives the test session. ``restart()`` starts it again on
the same port and store (the fault tests kill it mid-prune).

``reset_store(client)`` empties a shared server between tests through the public API: deleted
experiment names stay reserved in MLflow, so experiments are renamed before they are deleted.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"mlflow server did not start at {url}:\n{log.read_text()[-4000:]}")
        time.sleep(0.3)


class MlflowServer:
    """One ``mlflow server`` process group with its own store and artifact root."""

    def __init__(
        self,
        backend_store_uri: str,
        workdir: Path,
        *,
        workers: int = 2,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.backend_store_uri = backend_store_uri
        self.workdir = workdir
        self.workers = workers
        self.extra_args = extra_args
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MlflowServer:
        mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
        cmd = [
            mlflow_bin,
            "server",
            "--backend-store-uri",
            self.backend_store_uri,
            "--artifacts-destination",
            str(self.workdir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            *self.extra_args,
        ]
        env = {**os.environ, **(self.env or {})}
        # The server must not inherit the test's client settings (a store URI pointing elsewhere).
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            env.pop(var, None)
        # MLflow 3.x servers also start a job runner (huey consumers, ~8 processes) for
        # server-side jobs mlflow-debt never uses: off, it starts faster and costs less CPU.
        env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                start_new_session=True,  # its own process group: killpg reaches every worker
            )
        try:
            wait_healthy(self.url, self.proc, self.log)
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL the whole group at once: the crash the fault tests simulate."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=20)
            # Workers can outlive their master for a moment: make sure none is left.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            self.proc = None

    def restart(self) -> MlflowServer:
        self.stop()
        return self.start()


def reset_store(client: MlflowClient) -> None:
    """Make a shared server's store look empty: no models, no runs, only the Default experiment."""
    for model in client.search_registered_models(max_results=1000):
        client.delete_registered_model(model.name)
    for exp in client.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=1000):
        if exp.experiment_id == "0":
            continue
        # Deleted experiment names stay taken: free the name first.
        client.rename_experiment(exp.experiment_id, f"deleted-{uuid.uuid4().hex}")
        client.delete_experiment(exp.experiment_id)
    default = client.get_experiment("0")
    for key in default.tags:
        if not key.startswith("mlflow."):
            client.delete_experiment_tag("0", key)
    while True:
        runs = client.search_runs(["0"], max_results=1000)
        if not runs:
            break
        for run in runs:
            client.delete_run(run.info.run_id)


class FaultProxy:
    """A tiny HTTP proxy in front of a server that answers 503 when ``fault(method, path)`` says.

    ``fault`` returns None (forward normally), "before" (answer 503 without forwarding: the server
    never saw the call) or "after" (forward, then answer 503 anyway: the call took effect but its
    response was lost). The client's own retries go through it, so the real retry path is tested.
    """

    def __init__(self, upstream: str, fault: Callable[[str, str], str | None]) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.fault = fault
        self.seen: list[tuple[str, str, int]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                action = proxy.fault(self.command, self.path)
                status, headers, payload = 503, [], b"injected 503"
                if action != "before":
                    conn = http.client.HTTPConnection(
                        proxy.upstream.hostname, proxy.upstream.port, timeout=60
                    )
                    hop = {"host", "connection", "content-length", "transfer-encoding"}
                    fwd = {k: v for k, v in self.headers.items() if k.lower() not in hop}
                    conn.request(self.command, self.path, body=body, headers=fwd)
                    resp = conn.getresponse()
                    data = resp.read()
                    conn.close()
                    if action != "after":
                        status, payload = resp.status, data
                        headers = [
                            (k, v)
                            for k, v in resp.getheaders()
                            if k.lower() not in hop and k.lower() != "content-encoding"
                        ]
                with proxy.lock:
                    proxy.seen.append((self.command, self.path, status))
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _any

        self.lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


POSTGRES_ENV = "MLFLOW_DEBT_TEST_POSTGRES_URI"


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server named by ``MLFLOW_DEBT_TEST_POSTGRES_URI``.

    Created with a unique name and dropped afterwards, so two test runs on one machine (a
    developer's and CI's) never empty each other's store. Without the variable the test skips
    locally and fails under ``CI=true``.
    """
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        message = f"PostgreSQL not configured: set {POSTGRES_ENV} (.ci/run does)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    import psycopg

    admin = base.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
