"""Spark capture's cost: the profiling job against the fit it runs alongside (issue 13).

Case: ``Pipeline(VectorAssembler, StandardScaler, LogisticRegression).fit`` on a cached
1,000,000-row x 10-column DataFrame (``--quick``: 200,000 rows) on ``local[2]``, inside a run,
capture on vs off (``MLFLOW_DEBT_DISABLE=1``), interleaved, each fit in a new run. Goal: the
fit call with capture (which includes tracing, the count, the aggregation job and the tag write)
within 10% of the fit without. The profiling job runs alongside the fit (the unfitted pipeline
names its columns). Also reported, without a goal: the capture alone, after a fit (trace, the
job on the caller's thread, the write, on the same DataFrame), and the first and second fits of
a fresh session (a new Python and JVM per measurement, so nothing is warm yet; not with
``--quick``). Skipped, with the reason, when pyspark or Java is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import Row, interleaved_medians, median_time

FRESH_SESSIONS = 3  # per arm


def _spark():
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName("mlflow-debt-bench")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def _case(rows: int) -> tuple[Any, Any, Any]:
    """(session, the cached DataFrame, the unfitted pipeline)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StandardScaler, VectorAssembler
    from pyspark.sql import functions as F

    spark = _spark()
    spark.sparkContext.setLogLevel("ERROR")
    cols = [f"x{i}" for i in range(10)]
    df = spark.range(rows, numPartitions=2).select(
        *[(F.randn(seed=i) * (i + 1) + i).alias(c) for i, c in enumerate(cols)],
        (F.rand(seed=99) > 0.5).cast("int").alias("label"),
    )
    df = df.cache()
    df.count()
    pipe = Pipeline(
        stages=[
            VectorAssembler(inputCols=cols, outputCol="raw"),
            StandardScaler(inputCol="raw", outputCol="features"),
            LogisticRegression(),
        ]
    )
    return spark, df, pipe


def fresh_session(rows: int) -> list[float]:
    """In this (new) process: the wall times of its first two fits, each in a new run."""
    import time

    import mlflow

    spark, df, pipe = _case(rows)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/bench.db")
        mlflow.set_experiment("bench-spark")
        for _ in range(2):
            with mlflow.start_run():
                t0 = time.perf_counter()
                pipe.fit(df)
                times.append(time.perf_counter() - t0)
    spark.stop()
    return times


def _fresh_sessions(rows: int) -> dict[str, list[list[float]]]:
    """Alternating new processes with capture on and off: each one's first two fit times."""
    out: dict[str, list[list[float]]] = {"on": [], "off": []}
    for _ in range(FRESH_SESSIONS):
        for arm in ("on", "off"):
            env = {k: v for k, v in os.environ.items() if k != "MLFLOW_DEBT_DISABLE"}
            if arm == "off":
                env["MLFLOW_DEBT_DISABLE"] = "1"
            done = subprocess.run(
                [sys.executable, __file__, "--fresh-session", str(rows)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).parent,
            )
            out[arm].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def run(quick: bool = False) -> list[Row]:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        print("bench_spark: skipped, pyspark is not installed")
        return []
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        print("bench_spark: skipped, Java is not installed")
        return []
    import mlflow

    from mlflow_debt.capture import spark as spark_capture

    rows = 200_000 if quick else 1_000_000
    repeat = 3 if quick else 9
    spark, df, pipe = _case(rows)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/bench.db")
        mlflow.set_experiment("bench-spark")

        def fit(enabled: bool):
            def one() -> None:
                if enabled:
                    os.environ.pop("MLFLOW_DEBT_DISABLE", None)
                else:
                    os.environ["MLFLOW_DEBT_DISABLE"] = "1"
                with mlflow.start_run():
                    pipe.fit(df)
                os.environ.pop("MLFLOW_DEBT_DISABLE", None)

            return one

        # Two warm-up rounds: the JVM's JIT is still compiling the fit's code paths in the
        # first ones (each arm's first fits are 10-30% slower than its later ones; the fresh
        # sessions below report those).
        times = interleaved_medians({"on": fit(True), "off": fit(False)}, repeat=repeat, warmup=2)
        ratio = times["on"] / times["off"]
        out.append(
            Row(
                "spark",
                f"Pipeline(VA, StandardScaler, LR).fit, {rows:,} x 10, local[2], capture on",
                times["on"],
                "capture off",
                times["off"],
                goal="<= 1.10x",
                met=ratio <= 1.10,
            )
        )
        model = pipe.fit(df)

        def capture_only() -> None:
            with mlflow.start_run():
                spark_capture.record_fit(pipe, model, df)

        alone = median_time(capture_only, repeat=repeat)
        out.append(
            Row(
                "spark",
                "the capture alone, after the fit (trace, one aggregation job, tag write)",
                alone,
                "the fit, capture off",
                times["off"],
            )
        )
    df.unpersist()
    spark.stop()
    if not quick:
        fresh = _fresh_sessions(rows)
        for i, label in enumerate(("first", "second")):
            on = statistics.median(t[i] for t in fresh["on"])
            off = statistics.median(t[i] for t in fresh["off"])
            out.append(
                Row(
                    "spark",
                    f"the {label} fit of a fresh session, capture on ({FRESH_SESSIONS} sessions)",
                    on,
                    "capture off",
                    off,
                )
            )
    return out


if __name__ == "__main__" and sys.argv[1:2] == ["--fresh-session"]:
    print(json.dumps(fresh_session(int(sys.argv[2]))))
