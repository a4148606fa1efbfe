"""The receiver's core without a tracking server: signatures, replay, bodies, coalescing, the
HTTP app on a real uvicorn (in a thread, on 127.0.0.1), shutdown, and the CLI's refusals."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from mlflow_debt.cli import cli
from mlflow_debt.serve import verify
from mlflow_debt.serve.app import create_app
from mlflow_debt.serve.queue import Coalescer, Seen
from mlflow_debt.serve.service import Log, Service, Settings

from support.server import free_port

SECRET = "test-secret-\u00e9"


def delivery(
    event: str = "model_version.created",
    model: str = "churn",
    *,
    secret: str | None = SECRET,
    ts: int | None = None,
    delivery_id: str | None = None,
    **data: Any,
) -> tuple[dict[str, str], bytes]:
    entity, _, action = event.partition(".")
    body = json.dumps(
        {"entity": entity, "action": action, "timestamp": "x", "data": {"name": model, **data}}
    ).encode()
    did = delivery_id or str(uuid.uuid4())
    stamp = str(int(time.time()) if ts is None else ts)
    headers = {"x-mlflow-delivery-id": did, "x-mlflow-timestamp": stamp}
    if secret is not None:
        headers["x-mlflow-signature"] = verify.sign(secret, did, stamp, body)
    return headers, body


def test_sign_matches_mlflow():
    delivery = pytest.importorskip("mlflow.webhooks.delivery", reason="MLflow < 3.3: no webhooks")
    _generate_hmac_signature = delivery._generate_hmac_signature

    payload = json.dumps({"data": {"name": "é"}})
    assert verify.sign(SECRET, "id-1", "1700000000", payload.encode()) == (
        _generate_hmac_signature(SECRET, "id-1", "1700000000", payload)
    )


def test_verify_accepts_fresh_signed():
    headers, body = delivery()
    assert verify.verify(headers, body, SECRET, time.time()) == headers["x-mlflow-delivery-id"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h, b: ({**h, "x-mlflow-signature": "v1,AAAA"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "x-mlflow-signature"}, b),
        lambda h, b: (h, b + b" "),  # body changed after signing
        lambda h, b: ({**h, "x-mlflow-delivery-id": "other"}, b),
        lambda h, b: ({**h, "x-mlflow-timestamp": "abc"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "x-mlflow-delivery-id"}, b),
    ],
    ids=["forged", "missing", "body", "id", "timestamp", "no-id"],
)
def test_verify_rejects(mutate):
    headers, body = mutate(*delivery())
    with pytest.raises(verify.Rejected) as info:
        verify.verify(headers, body, SECRET, time.time())
    assert info.value.status == 401


def test_verify_wrong_secret():
    headers, body = delivery(secret="other")
    with pytest.raises(verify.Rejected, match="bad signature"):
        verify.verify(headers, body, SECRET, time.time())


@pytest.mark.parametrize("age", [301, -301, 10_000])
def test_verify_rejects_stale_and_future(age):
    now = time.time()
    headers, body = delivery(ts=int(now) - age)
    with pytest.raises(verify.Rejected, match="stale"):
        verify.verify(headers, body, SECRET, now)


def test_verify_without_secret_still_checks_time():
    headers, body = delivery(secret=None, ts=int(time.time()) - 1000)
    with pytest.raises(verify.Rejected):
        verify.verify(headers, body, None, time.time())
    headers, body = delivery(secret=None)
    assert verify.verify(headers, body, None, time.time())


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[1]", b'{"entity": "model_version"}', b"\xff\xfe",
     b'{"entity": "model_version", "action": "created", "data": {}}'],
)  # fmt: skip
def test_parse_rejects_malformed(body):
    with pytest.raises(verify.Rejected) as info:
        verify.parse(body)
    assert info.value.status == 400


def test_parse_events():
    def ev(event: str, **data: Any) -> verify.Event:
        return verify.parse(delivery(event, **data)[1])

    assert ev("model_version.created") == verify.Event("model_version.created", "churn", True)
    assert ev("model_version_alias.deleted", alias="champion").enforce
    assert ev("model_version_tag.deleted", key="mlflow_debt.keep", version="1").enforce
    assert ev("model_version_tag.set", key="mlflow_debt.keep", value="false").enforce
    assert not ev("model_version_tag.set", key="team", value="x").enforce
    assert not ev("model_version_alias.created", alias="x").enforce
    assert not ev("prompt.created").enforce
    with pytest.raises(verify.Rejected, match="unknown event"):
        ev("model_version.exploded")


@given(st.binary(max_size=300))
def test_parse_never_crashes(body):
    rejected = None
    try:
        verify.parse(body)
    except verify.Rejected as exc:
        rejected = exc
    assert rejected is None or rejected.status == 400


def test_seen_dedups_and_forgets():
    seen = Seen(ttl=10, capacity=3)
    assert seen.add("a", 0)
    assert not seen.add("a", 1)
    assert seen.add("b", 2)
    assert seen.add("c", 3)
    assert seen.add("d", 4)  # capacity: "a" forgotten
    assert len(seen) == 3
    assert seen.add("a", 5)
    assert seen.add("e", 100)  # ttl: everything older forgotten
    assert len(seen) == 1


def test_seen_memory_is_bounded():
    seen = Seen(ttl=1e9, capacity=1000)
    for i in range(20_000):
        seen.add(str(i), float(i))
    assert len(seen) == 1000


def test_coalescer_one_entry_per_burst():
    q = Coalescer(settle=1.0, max_wait=10.0)
    for i in range(50):
        q.add("m", i * 0.01)
    assert q.pending() == 1
    assert q.poll(0.6) == (None, pytest.approx(0.89))
    assert q.poll(1.5) == ("m", None)
    assert q.poll(1.6) == (None, None)


def test_coalescer_max_wait_for_a_model_that_never_settles():
    q = Coalescer(settle=1.0, max_wait=3.0)
    t = 0.0
    while t < 2.9:
        q.add("m", t)
        assert q.poll(t)[0] is None
        t += 0.5
    q.add("m", 3.0)
    assert q.poll(3.0)[0] == "m"


def test_coalescer_running_model_is_not_handed_out_twice():
    q = Coalescer(settle=0.0, max_wait=0.0)
    q.add("m", 0)
    assert q.poll(0)[0] == "m"
    q.add("m", 1)  # an event during its enforcement
    assert q.poll(2) == (None, None)
    q.finish("m")
    assert q.poll(2)[0] == "m"  # enforced once more


def test_coalescer_overflow_and_reconcile_entries():
    q = Coalescer(settle=5.0, max_wait=5.0, max_models=2)
    assert q.add("a", 0)
    assert q.add("b", 0)
    assert not q.add("c", 0)
    assert q.overflowed
    q2 = Coalescer(settle=5.0, max_wait=50.0)
    q2.add("r", 100.0, settle=False)
    assert q2.poll(100.0)[0] == "r"


def test_coalescer_take_blocks_until_due_or_closed():
    q = Coalescer(settle=0.2, max_wait=1.0)
    q.add("m", time.monotonic())
    started = time.monotonic()
    assert q.take(time.monotonic, timeout=5) == "m"
    assert time.monotonic() - started >= 0.15
    threading.Timer(0.2, q.close).start()
    assert q.take(time.monotonic, timeout=5) is None


class Recorder:
    def __init__(self, fail: int = 0, block: threading.Event | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail
        self.block = block
        self.started = threading.Event()

    def __call__(self, model: str) -> Any:
        self.calls.append(model)
        self.started.set()
        if self.block is not None:
            self.block.wait(10)
        if self.fail:
            self.fail -= 1
            raise RuntimeError("503 Service Unavailable")

        class Outcome:
            status = "enforced"
            deleted = 2

        return Outcome()


def make_service(enforce: Any, **kw: Any) -> tuple[Service, list[dict[str, Any]]]:
    lines: list[dict[str, Any]] = []

    class Sink:
        def write(self, s: str) -> None:
            lines.extend(json.loads(x) for x in s.splitlines() if x)

        def flush(self) -> None:
            pass

    settings = Settings(
        secret=SECRET,
        settle=kw.pop("settle", 0.05),
        max_wait=1,
        reconcile_every=kw.pop("reconcile_every", 0),
        backoff=0.01,
        **kw,
    )
    svc = Service(settings, enforce, lambda: ["a", "b"], log=Log(Sink()))  # type: ignore[arg-type]
    return svc, lines


def wait_for(cond: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_service_accepts_dedups_coalesces_and_counts():
    rec = Recorder()
    svc, lines = make_service(rec)
    svc.start()
    try:
        h, b = delivery()
        assert svc.accept(h, b)[0] == 202
        assert svc.accept(h, b) == (200, {"status": "duplicate", "verified": True})
        for _ in range(49):
            assert svc.accept(*delivery())[0] == 202
        assert svc.accept(*delivery(secret="forged"))[0] == 401
        assert svc.accept(*delivery("prompt.created"))[0] == 200
        wait_for(lambda: svc.status()["enforcements"] == 1)
        time.sleep(0.2)
        assert rec.calls == ["churn"]
        st_ = svc.status()
        assert st_["deliveries"] == {
            "accepted": 50, "rejected": 1, "duplicate": 1, "ignored": 1,
            "rejected_by_status": {"401": 1},
        }  # fmt: skip
        assert st_["versions_deleted"] == 2
    finally:
        assert svc.stop(5)
    assert all({"ts", "level", "event"} <= set(line) for line in lines)
    assert SECRET not in json.dumps(lines)


def test_service_retries_then_leaves_to_reconcile():
    rec = Recorder(fail=10)
    svc, lines = make_service(rec, attempts=3)
    svc.start()
    try:
        svc.accept(*delivery())
        wait_for(lambda: svc.status()["enforcement_failures"] == 1)
        assert rec.calls == ["churn"] * 3
        assert "503" in svc.status()["last_error"]
        retries = [x["retry_in"] for x in lines if x["event"] == "enforce.failed"]
        assert retries == [0.01, 0.02, None]
    finally:
        svc.stop(5)


def test_service_retry_succeeds():
    rec = Recorder(fail=1)
    svc, _ = make_service(rec)
    svc.start()
    try:
        svc.accept(*delivery())
        wait_for(lambda: svc.status()["enforcements"] == 1)
        assert svc.status()["enforcement_failures"] == 0
    finally:
        svc.stop(5)


def test_service_stop_waits_for_the_running_enforcement_and_abandons_pending():
    gate = threading.Event()
    rec = Recorder(block=gate)
    svc, lines = make_service(rec)
    svc.start()
    svc.accept(*delivery(model="a"))
    assert rec.started.wait(5)
    svc.accept(*delivery(model="b"))
    stopper = threading.Thread(target=svc.stop)
    stopper.start()
    time.sleep(0.2)
    assert stopper.is_alive()  # still waiting for "a"
    gate.set()
    stopper.join(5)
    assert not stopper.is_alive()
    assert rec.calls == ["a"]
    assert svc.status()["enforcements"] == 1
    assert lines[-1]["event"] == "service.stopped"
    assert lines[-1]["abandoned_models"] == 1


def test_service_reconcile_enqueues_policy_models():
    rec = Recorder()
    svc, _ = make_service(rec, reconcile_every=3600)
    svc.start()
    try:
        wait_for(lambda: svc.status()["enforcements"] == 2)
        assert sorted(rec.calls) == ["a", "b"]
        assert svc.status()["reconciles"] == 1
    finally:
        svc.stop(5)


# ---- the HTTP app on a real uvicorn ----------------------------------------------------------


@pytest.fixture
def app_url():
    rec = Recorder()
    svc, _ = make_service(rec)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(svc, max_body=64 * 1024), host="127.0.0.1", port=port,
                       log_level="error", lifespan="off")
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    svc.start()
    try:
        yield f"http://127.0.0.1:{port}", svc, rec
    finally:
        svc.stop(5)
        server.should_exit = True
        thread.join(5)


def post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url + "/webhook", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def post_big(url: str, size: int) -> int:
    """POST ``size`` bytes; the status, even when the server answers before reading them all."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    h, _ = delivery()
    conn.putrequest("POST", "/webhook")
    for k, v in {**h, "Content-Length": str(size)}.items():
        conn.putheader(k, v)
    conn.endheaders()
    chunk = b"x" * 65536
    try:
        for _ in range(size // len(chunk)):
            conn.send(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered (413) and closed without reading the rest
    status = conn.getresponse().status
    conn.close()
    return status


def test_app_answers(app_url):
    url, _svc, rec = app_url
    assert post(url, *delivery())[0] == 202
    status, doc = post(url, *delivery(secret="forged"))
    assert (status, doc) == (401, {"error": "unauthorized"})  # no detail
    assert post(url, *delivery(ts=int(time.time()) - 600))[0] == 401
    h, b = delivery()
    assert post(url, h, b)[0] == 202
    assert post(url, h, b)[1]["status"] == "duplicate"
    assert post_big(url, 10 * 1024 * 1024) == 413
    junk = b"not json"
    did, stamp = str(uuid.uuid4()), str(int(time.time()))
    signed = {
        "x-mlflow-delivery-id": did,
        "x-mlflow-timestamp": stamp,
        "x-mlflow-signature": verify.sign(SECRET, did, stamp, junk),
    }
    assert post(url, signed, junk)[0] == 400
    assert post(url, *delivery("model_version.exploded"))[0] == 400
    with urllib.request.urlopen(url + "/healthz") as resp:
        assert json.loads(resp.read()) == {"status": "ok"}
    with urllib.request.urlopen(url + "/status") as resp:
        doc = json.loads(resp.read())
    assert doc["deliveries"]["rejected_by_status"] == {"401": 2, "413": 1, "400": 2}
    assert doc["deliveries"]["accepted"] == 2
    wait_for(lambda: rec.calls == ["churn"])


def test_app_rejects_chunked_oversized_body(app_url):
    url, _, _ = app_url

    def chunks():
        for _ in range(200):
            yield b"x" * 1024

    h, _ = delivery()
    req = urllib.request.Request(url + "/webhook", data=chunks(), headers=h, method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 413


# ---- the CLI's refusals ----------------------------------------------------------------------


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_serve_refuses_without_secret():
    result = run("serve", "--tracking-uri", "sqlite:///x.db")
    assert result.exit_code == 2
    assert "--secret-env VAR" in result.stderr
    assert "Traceback" not in result.output


def test_serve_refuses_unset_secret_variable():
    result = run("serve", "--secret-env", "NO_SUCH_VAR_XYZ", env={"NO_SUCH_VAR_XYZ": ""})
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: Environment variable NO_SUCH_VAR_XYZ (--secret-env) is not set"
    )


def test_serve_refuses_both():
    result = run("serve", "--secret-env", "X", "--insecure-no-secret", env={"X": "s"})
    assert result.exit_code == 2


def test_serve_has_no_secret_option():
    result = run("serve", "--secret", "abc")
    assert result.exit_code == 2
    assert "No such option" in result.stderr


def test_serve_bad_duration():
    result = run("serve", "--reconcile-every", "soon", "--insecure-no-secret")
    assert result.exit_code == 2
    assert "not a duration" in result.stderr


def test_install_needs_a_server(tracking_uri):
    result = run(
        "serve", "install", "--url", "https://x.example/webhook", "--insecure-no-secret",
        "--tracking-uri", tracking_uri,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "mlflow server" in result.stderr
    assert "Traceback" not in result.output


def test_install_bad_url():
    result = run(
        "serve", "install", "--url", "ftp://x", "--insecure-no-secret",
        "--tracking-uri", "http://127.0.0.1:9",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--url must be an http(s) URL" in result.stderr


@pytest.mark.parametrize(
    ("code", "message", "kind", "needle"),
    [
        ("ENDPOINT_NOT_FOUND", "API request to /api/2.0/mlflow/webhooks failed: 404 Not Found",
         "ServerError", "older than MLflow 3.3.0"),
        ("INVALID_PARAMETER_VALUE", "Invalid webhook URL scheme: 'http'. Allowed schemes are: "
         "https.", "InputError", "MLFLOW_WEBHOOK_ALLOWED_SCHEMES"),
        ("INVALID_PARAMETER_VALUE", "Webhook URL resolves to a non-public IP address",
         "InputError", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"),
        ("PERMISSION_DENIED", "Permission denied", "ServerError", "refused the credentials"),
        ("INTERNAL_ERROR", "FileStore does not support create_webhook", "ServerError",
         "no webhook support"),
    ],
)  # fmt: skip
def test_webhook_errors_are_named(code, message, kind, needle):
    from mlflow.exceptions import MlflowException

    from mlflow_debt.serve import webhooks

    err = webhooks._translate("Registering webhook", MlflowException(message, error_code=code))
    assert type(err).__name__ == kind
    assert needle in str(err)


def test_serve_taken_port_is_one_line(tracking_uri):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(
            "serve", "--insecure-no-secret", "--port", str(port), "--reconcile-every", "0",
            "--tracking-uri", tracking_uri,
        )  # fmt: skip
    assert result.exit_code == 2
    assert f"Error: Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.output
