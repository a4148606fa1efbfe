"""``mlflow-debt serve`` against a real ``mlflow server`` (SQLite and PostgreSQL) delivering real
webhooks to real receiver processes: convergence, coalescing, bad deliveries, a kill mid-prune,
503s, an alias set mid-enforcement, two receivers, and SIGTERM."""

from __future__ import annotations

import collections
import json
import os
import signal
import threading
import time
import uuid
from typing import Any

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from mlflow_debt.prune.plan import KEEP_TAG, MAX_VERSIONS_TAG
from mlflow_debt.serve import enforce, verify

from support.serve import SECRET, wait_until
from support.server import FaultProxy

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.faults]

KEEP = 3


def runs(client: MlflowClient, n: int) -> list[str]:
    """``n`` finished runs with increasing accuracy (a newer version ranks higher)."""
    exp = client.get_experiment_by_name("training")
    exp_id = exp.experiment_id if exp else client.create_experiment("training")
    out = []
    for i in range(n):
        run_id = client.create_run(exp_id).info.run_id
        client.log_batch(run_id, metrics=[Metric("accuracy", 0.5 + i / 1000, 0, 0)])
        out.append(run_id)
    return out


def register(client: MlflowClient, name: str, run_ids: list[str], **kw: Any) -> None:
    for run_id in run_ids:
        client.create_model_version(
            name, f"runs:/{run_id}/model", run_id=run_id, await_creation_for=0, **kw
        )


def live(client: MlflowClient, name: str) -> set[int]:
    return {int(v.version) for v in client.search_model_versions(f"name = '{name}'")}


def with_protected(client: MlflowClient, name: str, ids: list[str], policy: int | None = KEEP):
    """Model ``name`` with v1 (alias "champion") and v2 (keep tag): both protected."""
    tags = {MAX_VERSIONS_TAG: str(policy)} if policy else None
    client.create_registered_model(name, tags=tags)
    register(client, name, ids[:1])
    client.set_registered_model_alias(name, "champion", "1")
    register(client, name, ids[1:2], tags={KEEP_TAG: "true"})


def expected(n: int) -> set[int]:
    return {1, 2, *range(n - KEEP + 1, n + 1)}


def assert_audit_once(client: MlflowClient, name: str, gone: set[int]) -> None:
    counts = collections.Counter(v for v, _ in enforce.deleted_records(client, name))
    assert set(counts) == gone
    assert all(c == 1 for c in counts.values()), counts
    for prune_id in {p for _, p in enforce.deleted_records(client, name)}:
        assert enforce.trigger_of(client, prune_id) == "serve"


def test_burst_converges_with_one_enforcement_and_no_policy_untouched(hc, receivers):
    r = receivers()
    name, free = f"churn-{uuid.uuid4().hex[:6]}", f"free-{uuid.uuid4().hex[:6]}"
    n = 50
    ids = runs(hc, n)
    with_protected(hc, name, ids)
    hc.create_registered_model(free)
    wait_until(lambda: r.status()["pending_models"] == 0 and r.status()["enforcing"] is None)
    before = r.status()["enforcements"]
    started = time.monotonic()
    for run_id in ids[2:]:  # as fast as one client can
        register(hc, name, [run_id])
        register(hc, free, [run_id])
    wait_until(lambda: live(hc, name) == expected(n), timeout=60)
    converged = time.monotonic() - started
    assert converged < 30, converged
    assert live(hc, free) == set(range(1, n - 1))  # no policy: never touched
    wait_until(lambda: r.status()["pending_models"] == 0 and r.status()["enforcing"] is None)
    time.sleep(1.5)
    status = r.status()
    assert status["enforcements"] - before == 1, status  # 48 deliveries, one prune
    assert status["deliveries"]["accepted"] >= 2 * (n - 2)
    assert status["versions_deleted"] == n - 2 - KEEP
    assert_audit_once(hc, name, set(range(3, n - KEEP + 1)))
    assert not enforce.deleted_records(hc, free)
    assert SECRET not in r.log.read_text()
    started_line = next(x for x in r.lines() if x["event"] == "service.started")
    assert started_line["host"] == "127.0.0.1"  # the default bind
    done = [x for x in r.lines() if x["event"] == "enforce.done" and x["model"] == name]
    assert done[-1]["deleted"] == n - 2 - KEEP


def _post(url: str, headers: dict[str, str], body: bytes) -> int:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url + "/webhook", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _delivery(event: str, model: str, secret: str = SECRET, age: int = 0, did: str | None = None):
    entity, _, action = event.partition(".")
    body = json.dumps({"entity": entity, "action": action, "data": {"name": model}}).encode()
    did = did or str(uuid.uuid4())
    ts = str(int(time.time()) - age)
    headers = {
        "X-MLflow-Delivery-Id": did,
        "X-MLflow-Timestamp": ts,
        "X-MLflow-Signature": verify.sign(secret, did, ts, body),
        "Content-Type": "application/json",
    }
    return headers, body


def test_bad_deliveries_delete_nothing(hc, receivers):
    import http.client

    r = receivers(hook=False)  # no webhook: only our own deliveries reach it
    name = f"over-{uuid.uuid4().hex[:6]}"
    hc.create_registered_model(name, tags={MAX_VERSIONS_TAG: "1"})
    register(hc, name, runs(hc, 4))
    ev = "model_version.created"
    assert _post(r.url, *_delivery(ev, name, secret="forged")) == 401
    h, b = _delivery(ev, name)
    del h["X-MLflow-Signature"]
    assert _post(r.url, h, b) == 401
    assert _post(r.url, *_delivery(ev, name, age=6 * 60)) == 401  # a replay
    assert _post(r.url, *_delivery("model_version.exploded", name)) == 400
    assert _post(r.url, *_delivery("prompt.created", name)) == 200  # ignored
    h, b = _delivery(ev, name)
    body = b"{not json"
    h["X-MLflow-Signature"] = verify.sign(
        SECRET, h["X-MLflow-Delivery-Id"], h["X-MLflow-Timestamp"], body
    )
    assert _post(r.url, h, body) == 400
    conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
    conn.putrequest("POST", "/webhook")
    conn.putheader("Content-Length", str(10 * 1024 * 1024))
    conn.endheaders()
    try:
        for _ in range(160):
            conn.send(b"x" * 65536)
    except OSError:
        pass
    assert conn.getresponse().status == 413
    conn.close()
    time.sleep(2.5)  # longer than --settle
    assert live(hc, name) == {1, 2, 3, 4}
    status = r.status()
    assert status["deliveries"]["rejected_by_status"] == {"401": 3, "400": 2, "413": 1}
    assert status["deliveries"]["accepted"] == 0
    assert status["enforcements"] == 0

    # A duplicated delivery id: enforced once; the service kept serving throughout.
    h, b = _delivery(ev, name)
    assert _post(r.url, h, b) == 202
    assert _post(r.url, h, b) == 200
    wait_until(lambda: live(hc, name) == {4})
    time.sleep(1.5)
    status = r.status()
    assert status["deliveries"]["duplicate"] == 1
    assert status["enforcements"] == 1


def test_killed_mid_enforcement_then_reconcile_finishes(hc, receivers, hook_server):
    name = f"kill-{uuid.uuid4().hex[:6]}"
    n = 30
    ids = runs(hc, n)
    with_protected(hc, name, ids)
    register(hc, name, ids[2:])
    holder: dict[str, Any] = {}
    deletes = {"n": 0}
    lock = threading.Lock()

    def fault(method: str, path: str) -> str | None:  # noqa: ARG001  the proxy's hook
        if "model-versions/delete" in path:
            with lock:
                deletes["n"] += 1
                if deletes["n"] == 6:
                    holder["r"].kill()  # the receiver dies mid-prune
                if deletes["n"] >= 6:
                    return "before"
        return None

    with FaultProxy(hook_server.url, fault) as proxy:
        # No webhook: the start-up reconcile is the enforcement that gets killed.
        r = receivers(proxy.url, hook=False, args=("--reconcile-every", "1h"))
        holder["r"] = r
        wait_until(lambda: r.proc.poll() is not None, timeout=60)
    assert deletes["n"] >= 6
    assert expected(n) <= live(hc, name) < set(range(1, n + 1))  # partway, nothing kept lost
    # Restarted (directly on the server): its start-up reconcile finishes the job.
    r2 = receivers(args=("--reconcile-every", "1h"), hook=False)
    wait_until(lambda: live(hc, name) == expected(n), timeout=60)
    assert_audit_once(hc, name, set(range(3, n - KEEP + 1)))
    assert r2.status()["reconciles"] == 1


def test_503s_are_retried_then_left_to_the_reconcile(hc, receivers, hook_server):
    name = f"flaky-{uuid.uuid4().hex[:6]}"
    n = 12
    ids = runs(hc, n)
    with_protected(hc, name, ids)
    state = {"on": True, "seen": 0}

    def fault(method: str, path: str) -> str | None:  # noqa: ARG001  the proxy's hook
        if state["on"] and "model-versions/delete" in path:
            state["seen"] += 1
            return "before"  # the server is down for deletes
        return None

    with FaultProxy(hook_server.url, fault) as proxy:
        r = receivers(proxy.url, args=("--reconcile-every", "8s"))
        register(hc, name, ids[2:])
        wait_until(lambda: r.status()["enforcement_failures"] >= 1, timeout=90)
        failed = [x for x in r.lines() if x["event"] == "enforce.failed"]
        assert len(failed) >= 4  # 4 attempts, with growing backoff
        assert [x["retry_in"] for x in failed[:4]] == [1.0, 2.0, 4.0, None]
        assert "503" in (r.status()["last_error"] or "")
        # Never a deletion without its record, even mid-outage.
        gone = set(range(1, n + 1)) - live(hc, name)
        assert gone == {v for v, _ in enforce.deleted_records(hc, name)}
        assert expected(n) <= live(hc, name)
        state["on"] = False  # the server recovers: the next reconcile finishes the job
        wait_until(lambda: live(hc, name) == expected(n), timeout=60)
    assert_audit_once(hc, name, set(range(3, n - KEEP + 1)))


def test_a_delete_whose_answer_was_lost_keeps_its_record(hc, receivers, hook_server):
    name = f"lost-{uuid.uuid4().hex[:6]}"
    n = 8
    ids = runs(hc, n)
    with_protected(hc, name, ids)
    state = {"seen": 0, "on": True}

    def fault(method: str, path: str) -> str | None:  # noqa: ARG001  the proxy's hook
        if state["on"] and "model-versions/delete" in path:
            state["seen"] += 1
            # The first delete takes effect but its answer is lost; then the server is down
            # (its retry, and every other delete, fail) until the prune has given up once.
            return "after" if state["seen"] == 1 else "before"
        return None

    with FaultProxy(hook_server.url, fault) as proxy:
        r = receivers(proxy.url)
        register(hc, name, ids[2:])
        wait_until(lambda: any(x["event"] == "enforce.failed" for x in r.lines()), timeout=60)
        state["on"] = False
        wait_until(lambda: live(hc, name) == expected(n), timeout=60)
    gone = set(range(1, n + 1)) - live(hc, name)
    assert gone == {v for v, _ in enforce.deleted_records(hc, name)}


def test_alias_set_during_enforcement_survives(hc, receivers, hook_server):
    name = f"race-{uuid.uuid4().hex[:6]}"
    n = 10
    ids = runs(hc, n)
    with_protected(hc, name, ids)
    register(hc, name, ids[2 : n - 1])
    victim = 3  # planned for deletion
    done = threading.Event()

    def fault(method: str, path: str) -> str | None:  # noqa: ARG001  the proxy's hook
        # The prune has planned and re-planned; now, before its first delete, someone promotes
        # the victim: the re-check right before each delete must see the alias.
        if "runs/create" in path and not done.is_set():
            direct = MlflowClient(hook_server.url, hook_server.url)
            direct.set_registered_model_alias(name, "shadow", str(victim))
            done.set()
        return None

    with FaultProxy(hook_server.url, fault) as proxy:
        receivers(proxy.url)
        register(hc, name, ids[n - 1 :])  # the delivery that starts the enforcement
        wait_until(lambda: len(live(hc, name)) <= len(expected(n)) + 1, timeout=60)
    assert done.is_set()
    assert live(hc, name) == expected(n) | {victim}
    assert hc.get_model_version_by_alias(name, "shadow").version == str(victim)


def test_two_receivers_same_end_state(hc, receivers):
    name = f"twice-{uuid.uuid4().hex[:6]}"
    n = 20
    ids = runs(hc, n)
    with_protected(hc, name, ids)
    a, b = receivers(), receivers()
    register(hc, name, ids[2:])
    wait_until(lambda: live(hc, name) == expected(n), timeout=60)
    time.sleep(2.5)
    assert live(hc, name) == expected(n)
    assert a.status()["enforcements"] >= 1
    assert b.status()["enforcements"] >= 1
    gone = set(range(3, n - KEEP + 1))
    assert {v for v, _ in enforce.deleted_records(hc, name)} == gone
    assert enforce.restorable(hc, name) == sorted(gone)  # each restorable once


def test_sigterm_finishes_the_running_enforcement(hc, receivers, hook_server):
    name = f"term-{uuid.uuid4().hex[:6]}"
    n = 24
    ids = runs(hc, n)
    with_protected(hc, name, ids)
    register(hc, name, ids[2:])
    holder: dict[str, Any] = {}
    first = threading.Event()

    def fault(method: str, path: str) -> str | None:  # noqa: ARG001  the proxy's hook
        if "model-versions/delete" in path:
            if not first.is_set():
                first.set()
                os.killpg(holder["r"].proc.pid, signal.SIGTERM)  # mid-prune
            time.sleep(0.1)  # a slow server: the prune is still running when the signal lands
        return None

    with FaultProxy(hook_server.url, fault) as proxy:
        r = receivers(proxy.url, hook=False, args=("--reconcile-every", "1h"))
        holder["r"] = r
        assert r.proc.wait(timeout=90) == 0
    assert first.is_set()
    assert live(hc, name) == expected(n)  # the running prune was finished, not cut
    assert_audit_once(hc, name, set(range(3, n - KEEP + 1)))
    for prune_id in {p for _, p in enforce.deleted_records(hc, name)}:
        run = hc.get_run(prune_id)
        assert run.info.status == "FINISHED"
        assert "mlflow_debt.result.parts" in run.data.tags  # the outcome was recorded
    assert r.lines()[-1]["event"] == "service.stopped"
    assert r.lines()[-1]["finished"] is True
