"""The large benchmark stores of issue 19: up to 1,000,000 runs, built by cloning rows in SQL.

Shape: 20 experiments, 30 features per run, 20 registered models of 10 versions each (the
newest 10 runs of experiment ``e`` are the versions of ``model-e``), aliases ``champion`` (v9)
and ``challenger`` (v10) on every model. The runs arrive at a *constant rate*, one every
:data:`SPACING_MS` (about 21 minutes, interleaved across the experiments), so a store with 16x
the runs has 16x the history, not 16x the recent activity: the ``--since`` window of the last
90 days holds the same ~6,200 runs in every size. The newest run starts at :data:`NEWEST_MS`
(fixed, so a cached store means the same thing whenever it is measured; benchmarks pass
``--since`` relative to it). Half-way through each experiment's history, a few features are
rescaled (a second fingerprint), as in ``bench_consumers``.

One template run is made through MLflow and cloned set-wise in SQL (``INSERT ... SELECT`` joined
to a table of generated ids), which keeps every row exactly as MLflow writes it. The stores are
cached under :data:`CACHE` (``$MLFLOW_DEBT_BENCH_CACHE``, default ``~/.cache/mlflow-debt-bench``),
outside any worktree, so they survive between runs and checkouts: the 1,000,000-run store takes
several minutes to build and about 6 GB.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
import uuid
from pathlib import Path

CACHE = Path(os.environ.get("MLFLOW_DEBT_BENCH_CACHE") or Path.home() / ".cache/mlflow-debt-bench")

N_EXPERIMENTS = 20
N_FEATURES = 30
FEATURE_POOL = 60
N_VERSIONS = 10
#: One run every ~21 minutes: 1,000,000 runs span ~40 years, 62,500 about 2.5.
SPACING_MS = 21 * 60 * 1000
#: The newest run's start (2026-12-01 00:00 UTC).
NEWEST_MS = 1_796_083_200_000
DAY_MS = 86_400_000
SCHEMA_VERSION = "1"  # bump to rebuild cached stores when the shape changes


def _records(exp: int, gen: int) -> list:
    from mlflow_debt.tags import FeatureRecord

    out = []
    for i in range(N_FEATURES):
        f = (exp * 3 + i) % FEATURE_POOL
        g = gen if f % 10 == 0 else 1
        out.append(FeatureRecord(f"feat_{f:02d}", "float64", f"num:+:m{g}.0:s1.0:na0"))
    return out


def path_of(n_runs: int) -> Path:
    return CACHE / f"live-v{SCHEMA_VERSION}-{n_runs}.db"


def uri(n_runs: int) -> str:
    """The cached store of ``n_runs`` runs (built on first use)."""
    path = path_of(n_runs)
    if not path.exists():
        print(f"# building {path} ({n_runs} runs, once) ...", file=sys.stderr, flush=True)
        t0 = time.time()
        build(path, n_runs)
        print(f"# built in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return f"sqlite:///{path}"


def build(path: Path, n_runs: int) -> None:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from mlflow_debt import tags

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    db_uri = f"sqlite:///{tmp}"
    client = MlflowClient(tracking_uri=db_uri, registry_uri=db_uri)
    exp_ids = [client.create_experiment(f"team-{e:02d}") for e in range(N_EXPERIMENTS)]
    template = client.create_run(exp_ids[0])
    tid = template.info.run_id
    client.log_batch(
        tid,
        metrics=[Metric(m, 0.5, NEWEST_MS, 0) for m in ("auc", "logloss", "f1")],
        params=[Param(p, "1") for p in ("max_depth", "n_estimators", "lr", "seed", "cv")],
        tags=[RunTag("mlflow.user", "bench"), RunTag("mlflow.source.name", "train.py")],
    )
    client.set_terminated(tid)
    # The template carries no feature tags and is the oldest run (it is read by no analysis).
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-500000")
    con.execute("PRAGMA temp_store=MEMORY")
    con.execute("UPDATE runs SET start_time=0, end_time=1 WHERE run_uuid=?", (tid,))
    per_exp = n_runs // N_EXPERIMENTS
    con.execute(
        "CREATE TEMP TABLE ids (run_uuid TEXT, exp_id INTEGER, e INTEGER, r INTEGER,"
        " gen INTEGER, start_time INTEGER)"
    )
    rows = []
    newest: dict[int, list[str]] = {}
    for r in range(per_exp):
        for e in range(N_EXPERIMENTS):
            g = r * N_EXPERIMENTS + e
            rid = uuid.uuid4().hex
            start = NEWEST_MS - (n_runs - 1 - g) * SPACING_MS
            rows.append((rid, int(exp_ids[e]), e, r, 2 if r >= per_exp // 2 else 1, start))
            if r >= per_exp - N_VERSIONS:
                newest.setdefault(e, []).append(rid)
    con.executemany("INSERT INTO ids VALUES (?, ?, ?, ?, ?, ?)", rows)
    del rows
    con.execute("CREATE TEMP TABLE ftags (e INTEGER, gen INTEGER, key TEXT, value TEXT)")
    con.executemany(
        "INSERT INTO ftags VALUES (?, ?, ?, ?)",
        [
            (e, gen, k, v)
            for e in range(N_EXPERIMENTS)
            for gen in (1, 2)
            for k, v in tags.encode(_records(e, gen), "sklearn:Bench").items()
        ],
    )
    run_cols = [r[1] for r in con.execute('PRAGMA table_info("runs")')]
    subst = {
        "run_uuid": "b.run_uuid",
        "name": "'run-' || b.e || '-' || b.r",
        "experiment_id": "b.exp_id",
        "start_time": "b.start_time",
        "end_time": "b.start_time + 500",
        "artifact_uri": "'/tmp/mlartifacts/' || b.run_uuid",
    }
    select = ", ".join(subst.get(c, f't."{c}"') for c in run_cols)
    con.execute(
        f"INSERT INTO runs ({', '.join(run_cols)}) SELECT {select} FROM runs t, ids b "
        "WHERE t.run_uuid = ? ORDER BY b.run_uuid",
        (tid,),
    )
    for (table,) in list(con.execute("SELECT name FROM sqlite_master WHERE type='table'")):
        cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
        if "run_uuid" not in cols or table == "runs":
            continue
        sel = ", ".join("b.run_uuid" if c == "run_uuid" else f't."{c}"' for c in cols)
        con.execute(
            f'INSERT INTO "{table}" ({", ".join(cols)}) SELECT {sel} FROM "{table}" t, ids b '
            "WHERE t.run_uuid = ?",
            (tid,),
        )
    con.execute(
        "INSERT INTO tags (key, value, run_uuid) SELECT f.key, f.value, b.run_uuid "
        "FROM ids b JOIN ftags f ON f.e = b.e AND f.gen = b.gen ORDER BY f.key, b.run_uuid"
    )
    con.commit()
    con.close()
    for e in range(N_EXPERIMENTS):
        name = f"model-{e:02d}"
        client.create_registered_model(name)
        for rid in newest[e]:
            client.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
        client.set_registered_model_alias(name, "champion", str(N_VERSIONS - 1))
        client.set_registered_model_alias(name, "challenger", str(N_VERSIONS))
    tmp.rename(path)


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    for n in map(int, sys.argv[1:] or ["2000"]):
        print(uri(n))
