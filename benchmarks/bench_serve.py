"""`mlflow-debt serve`: how many webhook deliveries a receiver accepts, and how fast (issue 12).

A real receiver process (``mlflow-debt serve``, secret set, on 127.0.0.1 on a free port, stopped
by PID) on a SQLite store, fed signed ``model_version.created`` deliveries by ``CLIENTS``
threads on keep-alive connections, each delivery a new id for one of 20 models (which have no
policy: the worker only reads their tags). Bounded: ``N`` deliveries (full 4,000; quick 600) and
a 120 s cap. Measured per request: acceptance latency (send to answer). Baseline, same run, same
clients: ``GET /healthz`` (the bare cost of a request to this server). Goals: >= 200
deliveries/s accepted, p99 < 100 ms; memory flat (receiver RSS after the second half of the load
vs after the first).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from harness import Row

CLIENTS = 8
SECRET = "bench-" + uuid.uuid4().hex
TIME_CAP = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _delivery(i: int) -> tuple[dict[str, str], bytes]:
    from mlflow_debt.serve import verify

    body = json.dumps(
        {
            "entity": "model_version",
            "action": "created",
            "timestamp": "2026-01-01T00:00:00+00:00",
            "data": {"name": f"bench-{i % 20}", "version": str(i), "source": "runs:/x/model",
                     "run_id": "x", "tags": {}, "description": None},
        }
    ).encode()  # fmt: skip
    did, ts = str(uuid.uuid4()), str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": did,
        "X-MLflow-Timestamp": ts,
        "X-MLflow-Signature": verify.sign(SECRET, did, ts, body),
    }, body


def _load(port: int, n: int, method: str) -> tuple[list[float], float]:
    """``n`` requests over ``CLIENTS`` keep-alive connections: (latencies, wall seconds)."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(n))
    deadline = time.monotonic() + TIME_CAP
    errors: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        for i in counter:
            if time.monotonic() > deadline:
                break
            if method == "POST":
                headers, body = _delivery(i)
                t0 = time.perf_counter()
                conn.request("POST", "/webhook", body=body, headers=headers)
            else:
                t0 = time.perf_counter()
                conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            mine.append(time.perf_counter() - t0)
            if resp.status not in (200, 202):
                errors.append(str(resp.status))
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} deliveries not accepted: {errors[:5]}")
    return latencies, wall


def _p99(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(len(xs) * 0.99) - 1)]


def run(quick: bool = False) -> list[Row]:
    n = 600 if quick else 4000
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    port = _free_port()
    env = {**os.environ, "MLFLOW_DEBT_BENCH_SECRET": SECRET}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = open(work / "receiver.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow_debt", "serve", "--port", str(port),
         "--secret-env", "MLFLOW_DEBT_BENCH_SECRET", "--reconcile-every", "0",
         "--tracking-uri", f"sqlite:///{work}/mlflow.db"],
        stdout=subprocess.DEVNULL, stderr=log, env=env, start_new_session=True, cwd=work,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((work / "receiver.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        _load(port, 200, "POST")  # warm-up
        base_lat, base_wall = _load(port, n // 2, "GET")
        first, wall1 = _load(port, n // 2, "POST")
        rss1 = _rss_kb(proc.pid)
        second, wall2 = _load(port, n - n // 2, "POST")
        rss2 = _rss_kb(proc.pid)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as resp:
            status: dict[str, Any] = json.loads(resp.read())
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()

    lat = first + second
    rate = len(lat) / (wall1 + wall2)
    p99 = _p99(lat)
    growth = rss2 - rss1
    accepted = int(status["deliveries"]["accepted"])
    extra = {
        "deliveries": len(lat),
        "rate_per_s": round(rate, 1),
        "p99_ms": round(p99 * 1000, 2),
        "healthz_rate_per_s": round(len(base_lat) / base_wall, 1),
        "rss_kb_after_half": rss1,
        "rss_kb_after_all": rss2,
        "accepted_by_receiver": accepted,
    }
    print(json.dumps({"bench_serve": extra}), file=sys.stderr)
    return [
        Row(
            "serve",
            f"POST /webhook latency, {len(lat)} signed deliveries, {CLIENTS} clients",
            statistics.median(lat),
            "GET /healthz, same clients",
            statistics.median(base_lat),
            goal="p99 < 100 ms",
            met=p99 < 0.1,
            extra=extra,
        ),
        Row(
            "serve",
            f"seconds per accepted delivery ({rate:.0f}/s; receiver RSS {growth:+d} kB "
            f"over the second half, of {rss2 // 1024} MB)",
            1 / rate,
            "GET /healthz, same clients",
            base_wall / len(base_lat),
            goal=">= 200/s, RSS flat (< 5 MB)",
            met=rate >= 200 and accepted >= len(lat) and growth < 5 * 1024,
            extra=extra,
        ),
    ]
