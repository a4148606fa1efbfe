"""`mlflow-debt report` end to end vs MLflow's bare reads of the same runs and versions.

The store is the consumers benchmark's (20,000 runs x 30 features across 20 experiments, 20
registered models of 10 versions each; `quick`: 2,000 runs), built once and cached under
``benchmarks/.results/``.

Baseline, measured in the same run: the bare paged ``search_runs`` over every experiment plus the
paged ``search_model_versions`` — the reads no report can avoid. The report adds the registered
models, the LoggedModels, the batched source-run look-ups, each version's ``MLmodel`` (here a
missing artifact: the benchmark's versions point at run paths that hold nothing) and the prune
history, then all nine checks and both renderings (HTML and JSON).

Goal (issue 6): the report costs at most 2x the bare reads.
"""

from __future__ import annotations

import json
import sys

from bench_consumers import N_EXPERIMENTS, N_FEATURES, N_VERSIONS, RESULTS, _peak_mb, _store
from harness import Row, interleaved_medians


def run(quick: bool) -> list[Row]:
    from mlflow.tracking import MlflowClient

    from mlflow_debt import store
    from mlflow_debt.report import read as report_io
    from mlflow_debt.report import text as report_render
    from mlflow_debt.report.html import report_html

    n_runs = 2_000 if quick else 20_000
    uri = _store(n_runs)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    ids = [e.experiment_id for e in store.experiments(client)]
    seen: dict[str, object] = {}

    def bare() -> None:
        runs = sum(1 for _ in store.iter_runs(client, ids))
        versions = sum(1 for _ in store.iter_model_versions(client))
        seen["bare"] = (runs, versions)

    def report() -> None:
        result = report_io.build(client)
        report_html(result)
        report_render.dumps(report_render.report_json(result))
        seen["report"] = result

    medians = interleaved_medians({"bare": bare, "report": report}, repeat=3, warmup=1)
    result = seen["report"]
    assert seen["bare"] == (n_runs + 1, N_EXPERIMENTS * N_VERSIONS)
    assert len(result.scores) == N_EXPERIMENTS  # type: ignore[attr-defined]
    peaks = {"bare": round(_peak_mb(bare), 1), "report": round(_peak_mb(report), 1)}
    ratio = medians["report"] / medians["bare"]
    rows = [
        Row(
            benchmark="report",
            case=f"report (HTML + JSON), {n_runs} runs x {N_FEATURES} features, "
            f"{N_EXPERIMENTS * N_VERSIONS} versions",
            median_s=medians["report"],
            baseline="bare paged search_runs + search_model_versions",
            baseline_s=medians["bare"],
            goal="<= 2x",
            met=ratio <= 2.0,
            extra={
                "runs": n_runs,
                "versions": N_EXPERIMENTS * N_VERSIONS,
                "peak_mib": peaks["report"],
                "baseline_peak_mib": peaks["bare"],
            },
        )
    ]
    (RESULTS / f"report-{n_runs}.json").write_text(
        json.dumps([r.as_dict() for r in rows], indent=2)
    )
    print(f"# report peak {peaks['report']} MiB (bare: {peaks['bare']} MiB)", file=sys.stderr)
    return rows + live_rows(quick)


def live_rows(quick: bool) -> list[Row]:
    """Issue 19: the report on the large stores (the default 90-day window, counted back from
    the stores' newest run): <= 30 s at 1,000,000 runs, 16x the runs <= 1.5x the time."""
    import os

    import bigstore
    from mlflow.tracking import MlflowClient

    from mlflow_debt.report import read as report_io
    from mlflow_debt.report import text as report_render
    from mlflow_debt.report.html import report_html

    small, big = (1_250, 20_000) if quick else (62_500, 1_000_000)
    since = bigstore.NEWEST_MS - 90 * bigstore.DAY_MS
    clients = {}
    for n in (small, big):
        uri = bigstore.uri(n)
        clients[n] = MlflowClient(tracking_uri=uri, registry_uri=uri)
    seen: dict[int, object] = {}

    def report(n: int):
        def fn() -> None:
            result = report_io.build(clients[n], since=since)
            report_html(result)
            report_render.dumps(report_render.report_json(result))
            seen[n] = result

        return fn

    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    medians = interleaved_medians({str(n): report(n) for n in (small, big)}, repeat=3, warmup=1)
    peaks = {n: round(_peak_mb(report(n)), 1) for n in (small, big)}
    t_small, t_big = medians[str(small)], medians[str(big)]
    rows = [
        Row(
            benchmark="report-live",
            case=f"report (HTML + JSON), {big:,} runs, 90-day window (SQLite)",
            median_s=t_big,
            baseline=f"same, {small:,} runs (1/16 of the history)",
            baseline_s=t_small,
            goal="<= 1.5x; <= 30 s",
            met=t_big <= 1.5 * t_small and t_big <= 30,
            extra={
                "runs": big,
                "versions": N_EXPERIMENTS * N_VERSIONS,
                "peak_mib": peaks[big],
                "baseline_peak_mib": peaks[small],
                "load_average_before": load,
            },
        )
    ]
    (RESULTS / f"report-live-{big}.json").write_text(
        json.dumps([r.as_dict() for r in rows], indent=2)
    )
    print(
        f"# report live: {small:,} runs {t_small:.2f} s ({peaks[small]} MiB), {big:,} runs "
        f"{t_big:.2f} s ({peaks[big]} MiB); load {load}",
        file=sys.stderr,
    )
    return rows
