"""Spark capture's cost: the profiling job against the fit it follows (issue 13).

Case: ``Pipeline(VectorAssembler, StandardScaler, LogisticRegression).fit`` on a cached
1,000,000-row x 10-column DataFrame (``--quick``: 200,000 rows) on ``local[2]``, inside a run,
capture on vs off (``MLFLOW_DEBT_DISABLE=1``), interleaved, each fit in a new run. Goal: the
fit call with capture (which includes tracing, the count, the aggregation job and the tag write)
within 10% of the fit without. The capture alone (trace + profile + write on the same
DataFrame) is reported too. Skipped, with the reason, when pyspark or Java is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from harness import Row, interleaved_medians, median_time


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
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StandardScaler, VectorAssembler
    from pyspark.sql import functions as F

    from mlflow_debt.capture import spark as spark_capture

    rows = 200_000 if quick else 1_000_000
    repeat = 3 if quick else 5
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

        times = interleaved_medians({"on": fit(True), "off": fit(False)}, repeat=repeat)
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
                "the capture alone (trace, count, one aggregation job, tag write)",
                alone,
                "the fit, capture off",
                times["off"],
            )
        )
    df.unpersist()
    spark.stop()
    return out
