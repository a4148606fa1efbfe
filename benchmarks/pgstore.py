"""Issue 19's team setup: ``consumers`` on a real ``mlflow server`` on PostgreSQL, 100,000 runs.

The store has :mod:`bigstore`'s shape (20 experiments, 30 features per run, 20 models of 10
versions, aliases, one run every ~21 minutes) and is built the same way, by cloning one template
run in SQL, in its own database ``mlflow_debt_bench_live_<runs>`` on the PostgreSQL server of
``MLFLOW_DEBT_TEST_POSTGRES_URI`` (kept between runs: a second run reuses it). The benchmark
starts ``mlflow server`` on that database (127.0.0.1, a free port, 2 workers), times
``consumers --format json`` through its REST API, and stops the server by its process group.

    MLFLOW_DEBT_TEST_POSTGRES_URI=postgresql+psycopg://... python benchmarks/pgstore.py 100000
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import bigstore

ENV = "MLFLOW_DEBT_TEST_POSTGRES_URI"


def _admin(base: str) -> str:
    return base.replace("postgresql+psycopg://", "postgresql://", 1)


def database_uri(n_runs: int) -> str:
    """The benchmark database's SQLAlchemy URI (built on first use)."""
    import psycopg

    base = os.environ[ENV]
    name = f"mlflow_debt_bench_live_v{bigstore.SCHEMA_VERSION}_{n_runs}"
    uri = f"{base.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(_admin(base), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists:
        with psycopg.connect(_admin(uri)) as conn:
            done = conn.execute("SELECT to_regclass('bench_done')").fetchone()
        if done and done[0]:
            return uri
        with psycopg.connect(_admin(base), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    with psycopg.connect(_admin(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    print(f"# building PostgreSQL {name} ({n_runs} runs, once) ...", file=sys.stderr, flush=True)
    t0 = time.time()
    _build(uri, n_runs)
    print(f"# built in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return uri


def _build(uri: str, n_runs: int) -> None:
    import psycopg
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from mlflow_debt import tags

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    n_exp = bigstore.N_EXPERIMENTS
    exp_ids = [client.create_experiment(f"team-{e:02d}") for e in range(n_exp)]
    template = client.create_run(exp_ids[0], start_time=0)
    tid = template.info.run_id
    client.log_batch(
        tid,
        metrics=[Metric(m, 0.5, bigstore.NEWEST_MS, 0) for m in ("auc", "logloss", "f1")],
        params=[Param(p, "1") for p in ("max_depth", "n_estimators", "lr", "seed", "cv")],
        tags=[RunTag("mlflow.user", "bench"), RunTag("mlflow.source.name", "train.py")],
    )
    client.set_terminated(tid, end_time=1)
    per_exp = n_runs // n_exp
    newest: dict[int, list[str]] = {}
    buf = io.StringIO()
    for r in range(per_exp):
        for e in range(n_exp):
            g = r * n_exp + e
            rid = uuid.uuid4().hex
            start = bigstore.NEWEST_MS - (n_runs - 1 - g) * bigstore.SPACING_MS
            gen = 2 if r >= per_exp // 2 else 1
            buf.write(f"{rid}\t{int(exp_ids[e])}\t{e}\t{r}\t{gen}\t{start}\n")
            if r >= per_exp - bigstore.N_VERSIONS:
                newest.setdefault(e, []).append(rid)
    with psycopg.connect(_admin(uri)) as conn:
        conn.execute(
            "CREATE TEMP TABLE ids (run_uuid TEXT, exp_id INTEGER, e INTEGER, r INTEGER,"
            " gen INTEGER, start_time BIGINT)"
        )
        with conn.cursor().copy("COPY ids FROM STDIN") as copy:
            copy.write(buf.getvalue())
        conn.execute("CREATE TEMP TABLE ftags (e INTEGER, gen INTEGER, key TEXT, value TEXT)")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO ftags VALUES (%s, %s, %s, %s)",
                [
                    (e, gen, k, v)
                    for e in range(n_exp)
                    for gen in (1, 2)
                    for k, v in tags.encode(bigstore._records(e, gen), "sklearn:Bench").items()
                ],
            )

        def columns(table: str) -> list[str]:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND table_schema = 'public' ORDER BY ordinal_position",
                (table,),
            ).fetchall()
            return [r[0] for r in rows]

        subst = {
            "run_uuid": "b.run_uuid",
            "name": "'run-' || b.e || '-' || b.r",
            "experiment_id": "b.exp_id",
            "start_time": "b.start_time",
            "end_time": "b.start_time + 500",
            "artifact_uri": "'/tmp/mlartifacts/' || b.run_uuid",
        }
        run_cols = columns("runs")
        select = ", ".join(subst.get(c, f't."{c}"') for c in run_cols)
        quoted = ", ".join(f'"{c}"' for c in run_cols)
        conn.execute(
            f"INSERT INTO runs ({quoted}) SELECT {select} FROM runs t, ids b WHERE t.run_uuid = %s",
            (tid,),
        )
        tables = conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'run_uuid' "
            "AND table_schema = 'public' AND table_name <> 'runs'"
        ).fetchall()
        for (table,) in tables:
            cols = columns(table)
            sel = ", ".join("b.run_uuid" if c == "run_uuid" else f't."{c}"' for c in cols)
            names = ", ".join(f'"{c}"' for c in cols)
            conn.execute(
                f'INSERT INTO "{table}" ({names}) SELECT {sel} FROM "{table}" t, ids b '
                "WHERE t.run_uuid = %s",
                (tid,),
            )
        conn.execute(
            "INSERT INTO tags (key, value, run_uuid) SELECT f.key, f.value, b.run_uuid "
            "FROM ids b JOIN ftags f ON f.e = b.e AND f.gen = b.gen"
        )
        conn.execute("ANALYZE")
    for e in range(n_exp):
        name = f"model-{e:02d}"
        client.create_registered_model(name)
        for rid in newest[e]:
            client.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
        client.set_registered_model_alias(name, "champion", str(bigstore.N_VERSIONS - 1))
        client.set_registered_model_alias(name, "challenger", str(bigstore.N_VERSIONS))
    with psycopg.connect(_admin(uri), autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_done (at TIMESTAMP DEFAULT now())")


def measure(n_runs: int, repeat: int = 3) -> dict[str, object]:
    """Median seconds of ``consumers --format json`` through a fresh ``mlflow server``."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from mlflow.tracking import MlflowClient

    from mlflow_debt.consumers import render
    from mlflow_debt.consumers.read import build_report

    from support.server import MlflowServer

    uri = database_uri(n_runs)
    with tempfile.TemporaryDirectory() as tmp:
        server = MlflowServer(uri, Path(tmp), workers=2).start()
        try:
            client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
            times = []
            for i in range(repeat + 1):
                t0 = time.perf_counter()
                report = build_report(client)
                render.dumps(render.report_json(report))
                if i:  # the first is a warm-up
                    times.append(time.perf_counter() - t0)
            assert len(report.consumers) == 2 * bigstore.N_EXPERIMENTS
        finally:
            server.stop()
    times.sort()
    return {
        "runs": n_runs,
        "median_s": times[len(times) // 2],
        "times": times,
        "load": os.getloadavg(),
    }


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    for n in map(int, sys.argv[1:] or ["2000"]):
        print(measure(n))
