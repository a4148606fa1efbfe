"""`mlflow-debt prune`: planning reads and deletions, against the same-run baselines of issue 3.

Data: ``N_MODELS`` registered models x ``PER_MODEL`` versions (full: 50 x 100 = 5,000; quick:
8 x 50 = 400). Half the models are registered from MLflow 3 LoggedModels carrying the metric
(``models:/m-...``), half from runs carrying it. Built once through ``MlflowClient`` (minutes for
the full size) and cached under ``benchmarks/.results/``; every measurement works on a copy.

Planning (``prune.read.load``: registered models, paged versions, batched LoggedModel and run
look-ups, the plan) is timed against, in the same run,

(a) the hand loop users write: ``search_model_versions`` then ``get_run`` per version
    (goal: planning >= 10x faster), and
(b) the bare batched reads of the same data: paged ``search_model_versions`` plus
    ``search_logged_models``/``search_runs`` with ``IN (...)`` batches, sequential
    (goal: planning <= 1.25x of it),

on the SQLite store and over HTTP against a multi-worker ``mlflow server`` (started here on
127.0.0.1 on a free port, stopped by PID). Over HTTP, reads issued with bounded concurrency are
also compared with the sequential bare reads (goal >= 2x faster). Deletions (record, re-check,
delete, one MLflow call per version) with bounded concurrency vs the same work sequentially,
against the server: goal >= 3x.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness import Row, interleaved_medians, median_time

HERE = Path(__file__).resolve().parent
RESULTS = HERE / ".results"
MLFLOW = str(Path(sys.executable).with_name("mlflow"))
SERVER_WORKERS = 4
CONCURRENCY = 8
METRIC = "accuracy"


def _sizes(quick: bool) -> tuple[int, int]:
    return (8, 50) if quick else (50, 100)


def build_store(path: Path, n_models: int, per_model: int) -> None:
    """The benchmark registry at ``path``, through the public client API only."""
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    uri = f"sqlite:///{tmp}"
    # MLflow's SQL registry resolves models:/m-... sources through the default tracking URI.
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp_id = client.create_experiment("training", artifact_location=str(path.parent / "art"))
    t0 = time.perf_counter()
    for m in range(n_models):
        name = f"model-{m:03d}"
        client.create_registered_model(name)
        logged = m % 2 == 0
        for v in range(per_model):
            value = 0.5 + ((v * 37 + m * 11) % 100) / 250
            run_id = client.create_run(exp_id).info.run_id
            if logged:
                lm = client.create_logged_model(exp_id, name="model", source_run_id=run_id)
                client.log_metric(run_id, METRIC, value, model_id=lm.model_id)
                client.create_model_version(
                    name,
                    f"models:/{lm.model_id}",
                    run_id=run_id,
                    model_id=lm.model_id,
                    await_creation_for=0,
                )
            else:
                client.log_batch(run_id, metrics=[Metric(METRIC, value, 0, 0)], synchronous=True)
                client.create_model_version(
                    name, f"{path.parent}/art/{run_id}/model", run_id=run_id, await_creation_for=0
                )
        print(
            f"  built {name} ({(m + 1) * per_model} versions, {time.perf_counter() - t0:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    mlflow.set_tracking_uri("")
    tmp.rename(path)


def cached_store(quick: bool) -> Path:
    n_models, per_model = _sizes(quick)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"prune-{n_models}x{per_model}.db"
    if not path.exists():
        print(f"  building {n_models * per_model} versions (cached at {path})", file=sys.stderr)
        build_store(path, n_models, per_model)
    return path


# ---------------------------------------------------------------------------------------------
# The baselines


def hand_loop(client: Any, sample: int | None = None) -> dict[tuple[str, int], float | None]:
    """What users write: list the versions, then one get_run per version (the first ``sample``)."""
    out: dict[tuple[str, int], float | None] = {}
    for mv in client.search_model_versions(max_results=10_000)[:sample]:
        out[(mv.name, int(mv.version))] = client.get_run(mv.run_id).data.metrics.get(METRIC)
    return out


def bare_reads(client: Any, batch: int = 500) -> dict[tuple[str, int], float | None]:
    """The minimal batched reads of the same data, sequential.

    The same data as a plan needs: the registered models (their aliases and policy tags; MLflow's
    version search does not return aliases), the versions, and each version's metric.
    """
    import re

    from mlflow.entities import ViewType

    models = []
    token = None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        models.extend(page)
        token = page.token
        if not token:
            break
    versions = []
    token = None
    while True:
        page = client.search_model_versions(max_results=10_000, page_token=token)
        versions.extend(page)
        token = page.token
        if not token:
            break
    exp_ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    values: dict[tuple[str, int], float | None] = {}
    by_model: dict[str, tuple[str, int]] = {}
    by_run: dict[str, tuple[str, int]] = {}
    for mv in versions:
        key = (mv.name, int(mv.version))
        m = re.match(r"^models:/(m-[0-9a-f]+)$", mv.source)
        if m:
            by_model[m.group(1)] = key
        else:
            by_run[mv.run_id] = key
    ids = sorted(by_model)
    for i in range(0, len(ids), batch):
        chunk = ids[i : i + batch]
        flt = "model_id IN (" + ",".join(f"'{x}'" for x in chunk) + ")"
        for lm in client.search_logged_models(exp_ids, filter_string=flt, max_results=len(chunk)):
            vals = [x.value for x in lm.metrics or [] if x.key == METRIC]
            values[by_model[lm.model_id]] = vals[-1] if vals else None
    ids = sorted(by_run)
    for i in range(0, len(ids), batch):
        chunk = ids[i : i + batch]
        flt = "attributes.run_id IN (" + ",".join(f"'{x}'" for x in chunk) + ")"
        for run in client.search_runs(exp_ids, filter_string=flt, max_results=len(chunk)):
            values[by_run[run.info.run_id]] = run.data.metrics.get(METRIC)
    return values


def planning(client: Any, workers: int) -> Callable[[], Any]:
    from mlflow_debt.prune import read as prune_read

    def go() -> Any:
        return prune_read.load(client, prune_read.Selection(max_versions=3), workers=workers)

    return go


# ---------------------------------------------------------------------------------------------
# The server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def mlflow_server(db: Path, workdir: Path, workers: int = SERVER_WORKERS) -> Iterator[str]:
    """A real ``mlflow server`` on ``db``; yields its URL; stops it (by its PID) afterwards."""
    port = _free_port()
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            MLFLOW,
            "server",
            "--backend-store-uri",
            f"sqlite:///{db}",
            "--artifacts-destination",
            str(workdir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        start_new_session=True,  # its workers share its process group, stopped with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start; see {workdir / 'server.log'}")
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


# ---------------------------------------------------------------------------------------------


def _row(case: str, ours: float, base_name: str, base: float, goal: str, ok: bool, **extra: Any):
    return Row("prune", case, ours, base_name, base, goal, ok, extra)


def _reads(
    label: str, client: Any, n: int, repeat: int, *, concurrent: bool, hand_sample: int
) -> list[Row]:
    fns = {"plan": planning(client, 1), "bare": lambda: bare_reads(client)}
    if concurrent:
        fns["plan_concurrent"] = planning(client, CONCURRENCY)
    # Same data, same answers: check before timing.
    _, plan = fns["plan"]()
    bare = bare_reads(client)
    assert sum(len(mp.decisions()) for mp in plan.models.values()) == len(bare) == n
    if concurrent:  # warm every server worker up (imports, caches) before timing anything
        for _ in range(2):
            fns["plan_concurrent"]()
        hand_loop(client, sample=4 * SERVER_WORKERS)
    t = interleaved_medians(fns, repeat=repeat, warmup=1)
    # One get_run per version is linear by construction: time it on a sample, scale to n.
    sample = min(n, hand_sample)
    t_hand = median_time(lambda: hand_loop(client, sample), repeat=1, warmup=0) * n / sample
    per = {k: round(v / n * 1000, 3) for k, v in t.items()} | {"hand": round(t_hand / n * 1000, 3)}
    extra = {"versions": n, "ms_per_version": per, "hand_loop_sampled_versions": sample}
    rows = [
        _row(f"plan {label}, sequential", t["plan"], "bare batched reads (b)", t["bare"],
             "<= 1.25x", t["plan"] <= 1.25 * t["bare"], **extra),
        _row(f"plan {label}, sequential", t["plan"], "get_run hand loop (a)", t_hand,
             "<= 0.1x (>= 10x faster)", t["plan"] <= 0.1 * t_hand, **extra),
    ]  # fmt: skip
    if concurrent:
        c = t["plan_concurrent"]
        rows += [
            _row(f"plan {label}, {CONCURRENCY} concurrent", c, "bare batched reads (b)",
                 t["bare"], "<= 0.5x (>= 2x faster)", c <= 0.5 * t["bare"], **extra),
            _row(f"plan {label}, {CONCURRENCY} concurrent", c, "get_run hand loop (a)", t_hand,
                 "<= 0.1x (>= 10x faster)", c <= 0.1 * t_hand, **extra),
        ]  # fmt: skip
    return rows


def _deletes(
    client: Any, models: list[str], per_model: int, rounds: int, per_round: int
) -> list[Row]:
    """Audited deletes: the same work with 1 worker and with CONCURRENCY, on disjoint models."""
    from mlflow_debt.prune import apply as prune_apply
    from mlflow_debt.prune import history
    from mlflow_debt.prune import read as prune_read

    keep = max(1, per_model // 5)
    assert 2 * rounds * per_round <= len(models)
    times: dict[str, list[float]] = {"sequential": [], "concurrent": []}
    counts: dict[str, int] = {"sequential": 0, "concurrent": 0}
    it = iter(range(0, len(models), per_round))
    for _ in range(rounds):
        for mode, workers in (("sequential", 1), ("concurrent", CONCURRENCY)):
            start = next(it)
            chosen = tuple(models[start : start + per_round])
            snap, plan = prune_read.load(
                client, prune_read.Selection(models=chosen, max_versions=keep), workers=workers
            )
            t0 = time.perf_counter()
            result = prune_apply.apply(client, snap, plan, workers=workers)
            times[mode].append(time.perf_counter() - t0)
            n = len(result.by_state(history.DELETED))
            assert n == len(plan.deletions), (n, len(plan.deletions))
            counts[mode] = n
    import statistics

    seq = statistics.median(times["sequential"])
    conc = statistics.median(times["concurrent"])
    extra = {
        "deletions_per_round": counts["concurrent"],
        "ms_per_delete": {
            "sequential": round(seq / counts["sequential"] * 1000, 2),
            "concurrent": round(conc / counts["concurrent"] * 1000, 2),
        },
        "rounds": rounds,
    }
    return [
        _row(f"delete http, {CONCURRENCY} concurrent (record+re-check+delete)", conc,
             "same, sequential", seq, "<= 0.33x (>= 3x faster)", conc <= seq / 3, **extra)
    ]  # fmt: skip


def run(quick: bool) -> list[Row]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient

    n_models, per_model = _sizes(quick)
    n = n_models * per_model
    repeat = 3 if quick else 5
    hand = 100 if quick else 2000
    source = cached_store(quick)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-prune-") as tmp:
        work = Path(tmp)
        db = work / "mlflow.db"
        shutil.copyfile(source, db)
        uri = f"sqlite:///{db}"
        t0 = time.perf_counter()

        def say(what: str) -> None:
            print(f"  [{time.perf_counter() - t0:5.1f} s] {what}", file=sys.stderr, flush=True)

        say("sqlite reads")
        rows += _reads(
            "sqlite", MlflowClient(uri, uri), n, repeat, concurrent=False, hand_sample=hand
        )

        say(f"starting mlflow server ({SERVER_WORKERS} workers)")
        with mlflow_server(db, work) as url:
            client = MlflowClient(url, url)
            say("http reads")
            rows += _reads("http", client, n, repeat, concurrent=True, hand_sample=hand // 4)
            say("http deletes")
            models = [f"model-{m:03d}" for m in range(n_models)]
            rows += _deletes(
                client, models, per_model, rounds=2 if quick else 3, per_round=1 if quick else 4
            )
            say("done")
    return rows


if __name__ == "__main__":  # pragma: no cover
    for r in run(quick="--quick" in sys.argv):
        print(r.as_dict())
