"""`mlflow-debt consumers` end to end vs the bare paged `search_runs` reading the same runs.

The store (20,000 runs x 30 features across 20 experiments, 20 registered models of 10 versions
each, a `champion` alias per model; `quick`: 2,000 runs) is built once and cached under
``benchmarks/.results/``: creating runs through the client takes minutes, so one template run is
made through MLflow and cloned in SQL, which keeps every row exactly as MLflow writes it.

Goal: the whole analysis (registry reads, filtered run reads, decoding, analysis, JSON rendering)
takes at most 1.25x the bare paged ``search_runs`` over the same experiments. Peak Python memory
of both (tracemalloc, one extra untimed pass each) goes in ``extra``.
"""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path

from harness import Row, interleaved_medians

HERE = Path(__file__).resolve().parent
RESULTS = HERE / ".results"

N_EXPERIMENTS = 20
N_FEATURES = 30
FEATURE_POOL = 60
N_VERSIONS = 10


def _records(exp: int, run: int, n_runs: int) -> list:
    from mlflow_debt.tags import FeatureRecord

    records = []
    for i in range(N_FEATURES):
        f = (exp * 3 + i) % FEATURE_POOL
        # A few features are rescaled half-way through every experiment's history.
        gen = 2 if f % 10 == 0 and run >= n_runs // 2 else 1
        records.append(FeatureRecord(f"feat_{f:02d}", "float64", f"num:+:m{gen}.0:s1.0:na0"))
    return records


def build_store(path: Path, n_runs: int) -> None:
    """Create the benchmark store at ``path`` (SQLite), ``n_runs`` feature-tagged runs."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from mlflow_debt import tags

    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    uri = f"sqlite:///{tmp}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    per_exp = n_runs // N_EXPERIMENTS
    exp_ids = [client.create_experiment(f"team-{e:02d}") for e in range(N_EXPERIMENTS)]
    template = client.create_run(exp_ids[0])
    tid = template.info.run_id
    now = int(time.time() * 1000)
    client.log_batch(
        tid,
        metrics=[Metric(m, 0.5, now, 0) for m in ("auc", "logloss", "f1")],
        params=[Param(p, "1") for p in ("max_depth", "n_estimators", "lr", "seed", "cv")],
        tags=[RunTag("mlflow.user", "bench"), RunTag("mlflow.source.name", "train.py")],
    )
    client.set_terminated(tid)

    con = sqlite3.connect(tmp)
    tables = {}
    for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'"):
        cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
        if "run_uuid" in cols and table != "runs":
            tables[table] = cols
    run_cols = [r[1] for r in con.execute('PRAGMA table_info("runs")')]
    run_ids: dict[int, list[str]] = {}
    with con:
        for e, exp_id in enumerate(exp_ids):
            ids = run_ids[e] = []
            for r in range(per_exp):
                rid = uuid.uuid4().hex
                ids.append(rid)
                values = {
                    "run_uuid": f"'{rid}'",
                    "name": f"'run-{e}-{r}'",
                    "experiment_id": str(int(exp_id)),
                    "start_time": str(now + r * 1000 + e),
                    "end_time": str(now + r * 1000 + e + 500),
                    "artifact_uri": f"'/tmp/mlartifacts/{rid}'",
                }
                select = ", ".join(values.get(c, f'"{c}"') for c in run_cols)
                con.execute(f"INSERT INTO runs SELECT {select} FROM runs WHERE run_uuid=?", (tid,))
                for table, cols in tables.items():
                    sel = ", ".join(f"'{rid}'" if c == "run_uuid" else f'"{c}"' for c in cols)
                    con.execute(
                        f'INSERT INTO "{table}" SELECT {sel} FROM "{table}" WHERE run_uuid=?',
                        (tid,),
                    )
                con.executemany(
                    "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                    [
                        (k, v, rid)
                        for k, v in tags.encode(_records(e, r, per_exp), "sklearn:Bench").items()
                    ],
                )
        # The template itself carries no feature tags: it is one of the runs search reads.
    con.close()
    for e in range(N_EXPERIMENTS):
        name = f"model-{e:02d}"
        client.create_registered_model(name)
        for rid in run_ids[e][-N_VERSIONS:]:
            client.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
        client.set_registered_model_alias(name, "champion", str(N_VERSIONS - 1))
    tmp.rename(path)


def _store(n_runs: int) -> str:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"consumers-{n_runs}.db"
    if not path.exists():
        print(f"# building {path.name} ({n_runs} runs, once) ...", file=sys.stderr, flush=True)
        build_store(path, n_runs)
    return f"sqlite:///{path}"


def _peak_mb(fn: Callable[[], object]) -> float:
    """Peak Python memory (tracemalloc) of one untimed call of ``fn``, in MiB."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def run(quick: bool) -> list[Row]:
    from mlflow.tracking import MlflowClient

    from mlflow_debt import store
    from mlflow_debt.consumers import render as lineage_report
    from mlflow_debt.consumers.read import RUNS_PAGE, build_report

    n_runs = 2_000 if quick else 20_000
    uri = _store(n_runs)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    ids = [e.experiment_id for e in store.experiments(client)]
    seen: dict[str, object] = {}

    def bare() -> None:
        # The floor: MLflow's own paged search over the same experiments, biggest pages.
        seen["bare"] = sum(1 for _ in store.iter_runs(client, ids))

    def consumers(page_size: int = RUNS_PAGE) -> None:
        report = build_report(client, page_size=page_size)
        lineage_report.dumps(lineage_report.report_json(report))
        seen["report"] = report

    def one_page() -> None:
        consumers(page_size=store.RUNS_PAGE)

    fns = {"bare": bare, "consumers": consumers, "one_page": one_page}
    medians = interleaved_medians(fns, repeat=3, warmup=1)
    report = seen["report"]
    assert seen["bare"] == n_runs + 1  # + the untagged template run
    assert 0 < report.runs_read <= n_runs  # issue 19: the live read gives the analysis far fewer
    assert len(report.consumers) == 2 * N_EXPERIMENTS
    peaks = {name: round(_peak_mb(fn), 1) for name, fn in fns.items()}
    common = {"runs": n_runs, "features_per_run": N_FEATURES, "baseline_peak_mib": peaks["bare"]}
    ratio = medians["consumers"] / medians["bare"]
    rows = [
        Row(
            benchmark="consumers",
            case=f"consumers --format json, {n_runs} runs x {N_FEATURES} features",
            median_s=medians["consumers"],
            baseline="bare paged search_runs, same runs",
            baseline_s=medians["bare"],
            goal="<= 1.25x",
            met=ratio <= 1.25,
            extra={**common, "page_size": RUNS_PAGE, "peak_mib": peaks["consumers"]},
        ),
        Row(
            benchmark="consumers",
            case=f"same, pages of {store.RUNS_PAGE} (memory trade-off)",
            median_s=medians["one_page"],
            baseline="bare paged search_runs, same runs",
            baseline_s=medians["bare"],
            extra={**common, "page_size": store.RUNS_PAGE, "peak_mib": peaks["one_page"]},
        ),
    ]
    # benchmarks/run.py rewrites latest.json with whatever ran last; keep our own copy too.
    (RESULTS / f"consumers-{n_runs}.json").write_text(
        json.dumps([r.as_dict() for r in rows], indent=2)
    )
    for r in rows:
        print(
            f"# {r.case}: peak {r.extra['peak_mib']} MiB (bare: {peaks['bare']} MiB)",
            file=sys.stderr,
        )
    return rows + live_rows(quick)


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def live_rows(quick: bool) -> list[Row]:
    """Issue 19: consumers on the large stores of ``bigstore`` (constant recent activity, 16x the
    history), against the goals: <= 10 s at 1,000,000 runs; 16x the runs <= 1.5x the time; peak
    memory that grows with live versions, not runs."""
    import bigstore
    from mlflow.tracking import MlflowClient

    from mlflow_debt.consumers import render as lineage_report
    from mlflow_debt.consumers.read import build_report

    small, big = (1_250, 20_000) if quick else (62_500, 1_000_000)
    clients = {}
    for n in (small, big):
        uri = bigstore.uri(n)
        clients[n] = MlflowClient(tracking_uri=uri, registry_uri=uri)
    seen: dict[int, object] = {}

    def consumers(n: int) -> Callable[[], None]:
        def fn() -> None:
            report = build_report(clients[n])
            lineage_report.dumps(lineage_report.report_json(report))
            seen[n] = report

        return fn

    fns = {str(n): consumers(n) for n in (small, big)}
    load_before = _load()
    medians = interleaved_medians(fns, repeat=3, warmup=1)
    peaks = {n: round(_peak_mb(consumers(n)), 1) for n in (small, big)}
    for n in (small, big):
        assert len(seen[n].consumers) == 2 * bigstore.N_EXPERIMENTS  # type: ignore[attr-defined]
    common = {
        "features_per_run": bigstore.N_FEATURES,
        "live_versions": bigstore.N_EXPERIMENTS * bigstore.N_VERSIONS,
        "load_average_before_after": [load_before, _load()],
    }
    t_small, t_big = medians[str(small)], medians[str(big)]
    rows = [
        Row(
            benchmark="consumers-live",
            case=f"consumers --format json, {big:,} runs (SQLite)",
            median_s=t_big,
            baseline=f"same, {small:,} runs (1/16 of the history)",
            baseline_s=t_small,
            goal="<= 1.5x; <= 10 s",
            met=t_big <= 1.5 * t_small and t_big <= 10,
            extra={
                **common,
                "runs": big,
                "peak_mib": peaks[big],
                "baseline_peak_mib": peaks[small],
            },
        )
    ]
    (RESULTS / f"consumers-live-{big}.json").write_text(
        json.dumps([r.as_dict() for r in rows], indent=2)
    )
    print(
        f"# consumers live: {small:,} runs {t_small:.2f} s ({peaks[small]} MiB), {big:,} runs "
        f"{t_big:.2f} s ({peaks[big]} MiB); load {common['load_average_before_after']}",
        file=sys.stderr,
    )
    return rows


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    t0 = time.time()
    for n in map(int, sys.argv[1:] or ["2000"]):
        print(_store(n), f"{time.time() - t0:.1f}s")
