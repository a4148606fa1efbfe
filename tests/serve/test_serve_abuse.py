"""``mlflow-debt serve`` under abuse (issue 21 §4), a real process on 127.0.0.1: a correctly
signed but deeply nested body is a 400, slow-loris connections are closed within the header
timeout while real deliveries are still answered, a slow body is a 408, and stderr carries only
JSON lines (no uvicorn traceback)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
import uuid

import pytest

from mlflow_debt.serve import app, verify

from support.serve import SECRET, Receiver

pytestmark = [pytest.mark.slow, pytest.mark.server]

HEADER_TIMEOUT = 2
BODY_TIMEOUT = 2


@pytest.fixture
def receiver(tracking_uri, tmp_path, monkeypatch):
    monkeypatch.setenv(app.HEADER_TIMEOUT_ENV, str(HEADER_TIMEOUT))
    monkeypatch.setenv(app.BODY_TIMEOUT_ENV, str(BODY_TIMEOUT))
    r = Receiver(tracking_uri, tmp_path).start()
    yield r
    r.stop()


def post(url: str, body: bytes, *, signed: bool = True) -> tuple[int, dict]:
    did, ts = uuid.uuid4().hex, str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": did,
        "X-MLflow-Timestamp": ts,
    }
    if signed:
        headers["X-MLflow-Signature"] = verify.sign(SECRET, did, ts, body)
    request = urllib.request.Request(url + "/webhook", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def only_json_lines(r: Receiver) -> list[dict]:
    text = r.log.read_text()
    assert "Traceback" not in text
    docs = [json.loads(line) for line in text.splitlines() if line.strip()]  # each line is JSON
    assert all({"ts", "level", "event"} <= set(d) for d in docs)
    return docs


def test_a_signed_deeply_nested_body_is_400_not_500(receiver):
    body = b'{"entity": "model_version", "action": "created", "data": ' + b"[" * 100_000
    body += b"]" * 100_000 + b"}"
    assert len(body) < app.MAX_BODY
    status, doc = post(receiver.url, body)
    assert status == 400
    assert doc == {"error": "bad request"}
    # Still serving, and the log says why, in one JSON line.
    assert post(receiver.url, b'{"entity": "x"}')[0] == 400
    rejected = [d for d in only_json_lines(receiver) if d["event"] == "delivery.rejected"]
    assert rejected[0]["reason"] == "body is nested too deeply"


def slow_client(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest
    return s


def closed_by_server(s: socket.socket, wait: float) -> bool:
    s.settimeout(wait)
    try:
        return s.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_slow_loris_connections_are_closed_and_deliveries_still_answered(receiver):
    slow = [slow_client(receiver.port) for _ in range(50)]
    try:
        # While they hang, a real delivery is answered.
        body = json.dumps(
            {"entity": "registered_model", "action": "created", "data": {"name": "m"}}
        ).encode()
        assert post(receiver.url, body)[0] == 200
        t0 = time.monotonic()
        for s in slow:
            s.sendall(b"X-Slow: 1\r\n")  # a trickle of header bytes does not keep it open
        assert all(closed_by_server(s, HEADER_TIMEOUT + 5) for s in slow)
        assert time.monotonic() - t0 < HEADER_TIMEOUT + 8
    finally:
        for s in slow:
            s.close()
    stats = receiver.status()["deliveries"]
    assert stats["rejected_by_status"].get("408") == 50
    only_json_lines(receiver)


def test_a_body_that_never_finishes_is_408(receiver):
    s = socket.create_connection(("127.0.0.1", receiver.port), timeout=10)
    try:
        s.sendall(
            b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        s.settimeout(BODY_TIMEOUT + 8)
        answer = s.recv(4096)
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 408")
    reasons = [d.get("reason", "") for d in only_json_lines(receiver)]
    assert any(r.startswith("body not received within") for r in reasons)


def test_garbage_on_the_wire_is_a_json_line_not_uvicorns_text(receiver):
    s = socket.create_connection(("127.0.0.1", receiver.port), timeout=10)
    try:
        s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        s.settimeout(5)
        s.recv(1024)
    finally:
        s.close()
    time.sleep(0.5)
    docs = only_json_lines(receiver)
    assert any(d["event"] == "http.server" for d in docs)


@pytest.mark.usefixtures("tracking_uri")
def test_bad_timeout_settings_are_exit_2(monkeypatch):
    from click.testing import CliRunner

    from mlflow_debt.cli import cli

    monkeypatch.setenv(app.HEADER_TIMEOUT_ENV, "forever")
    monkeypatch.setenv("MLFLOW_DEBT_TEST_SECRET", "x")
    result = CliRunner().invoke(
        cli,
        ["serve", "--port", "0", "--secret-env", "MLFLOW_DEBT_TEST_SECRET"],
    )
    assert result.exit_code == 2, result.output
    assert f"{app.HEADER_TIMEOUT_ENV} must be a number of seconds" in result.output


def test_a_delivery_the_receiver_fails_on_is_a_500_and_one_json_line(mocker):
    """Fault injection in-process: whatever ``accept`` raises becomes a 500 and a
    ``delivery.failed`` line, never uvicorn's traceback."""
    import threading

    import uvicorn

    from mlflow_debt.serve.service import Log, Service, Settings

    lines: list[str] = []

    class Sink:
        def write(self, s: str) -> None:
            lines.extend(x for x in s.splitlines() if x)

        def flush(self) -> None:
            pass

    svc = Service(Settings(secret=SECRET), lambda _: None, list, log=Log(Sink()))  # type: ignore[arg-type]
    mocker.patch.object(svc, "accept", side_effect=RuntimeError("boom"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app.create_app(svc), log_level="critical", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status, doc = post(f"http://127.0.0.1:{port}", b"{}")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert (status, doc) == (500, {"error": "internal error"})
    (line,) = [json.loads(x) for x in lines]
    assert line["event"] == "delivery.failed"
    assert line["error"] == "RuntimeError"
