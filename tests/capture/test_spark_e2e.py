"""Spark capture as a user meets it: fresh interpreters, `mlflow run`, the cross-engine graph."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression
from test_example_project import mlflow_run

import mlflow_debt
from mlflow_debt import tags
from mlflow_debt.cli import cli

from support.engines import _absent as absent
from support.engines import java_missing, spark  # noqa: F401 - the session fixture
from support.lineage import register

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def need_spark() -> None:
    reason = java_missing()
    if reason:
        absent(reason)


SCRIPT = """
import sys
if {first!r} == "pyspark":
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler
import mlflow
if {first!r} == "mlflow":
    assert "pyspark.ml.base" not in sys.modules  # the plugin imports nothing heavy
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", "512m")
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
         .getOrCreate())
rows = [(float(i % 50), i % 4, float(i % 3 == 0)) for i in range(400)]
df = spark.createDataFrame(rows, ["user_age", "num_devices", "label"])
pipe = Pipeline(stages=[VectorAssembler(inputCols=["user_age", "num_devices"],
                                        outputCol="features"), LogisticRegression(maxIter=3)])
mlflow.set_tracking_uri("sqlite:///{db}")
with mlflow.start_run() as run:
    pipe.fit(df)
import mlflow_debt
fs = mlflow_debt.get_features(run.info.run_id)
print(fs.source, fs.names)
"""


@pytest.mark.parametrize("first", ["pyspark", "mlflow"])
def test_a_plain_script_records_with_pyspark_imported_before_or_after_mlflow(tmp_path, first):
    need_spark()
    code = textwrap.dedent(SCRIPT.format(first=first, db=tmp_path / "mlflow.db"))
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "GIT_PYTHON_REFRESH": "quiet"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "spark:Pipeline ['user_age', 'num_devices']"


def test_mlflow_run_trains_fraud_model_spark_and_records_its_features(client, tracking_uri):
    need_spark()
    run_id = mlflow_run(tracking_uri, "model=fraud_model_spark")
    run = client.get_run(run_id)
    fs = tags.decode(run.data.tags)
    assert fs is not None
    assert fs.complete
    assert fs.source == "spark:Pipeline"
    assert fs.names == ["user_age", "num_devices"]
    assert [f.dtype for f in fs.features] == ["double", "bigint"]
    assert all(":p" in f.fingerprint for f in fs.features)  # standardised in the pipeline
    assert 0.5 < run.data.metrics["accuracy"] <= 1.0
    versions = client.search_model_versions("name = 'fraud_model_spark'")
    assert [v.run_id for v in versions] == [run_id]


def people(n: int, seed: int, months: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(38, 11, n).clip(18, 90).round(1)
    return pd.DataFrame(
        {
            "user_age": age * (12 if months else 1),
            "num_devices": rng.integers(1, 6, n),
            "label": (age + rng.normal(0, 8, n) > 40).astype(int),
        }
    )


def test_cross_engine_consumers_and_impact_see_a_change_on_the_spark_side(
    client,
    tracking_uri,
    spark,  # noqa: F811
):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression as SparkLR
    from pyspark.ml.feature import VectorAssembler

    def spark_fit(months: bool) -> str:
        df = spark.createDataFrame(people(4000, seed=3, months=months))
        pipe = Pipeline(
            stages=[
                VectorAssembler(inputCols=["user_age", "num_devices"], outputCol="features"),
                SparkLR(maxIter=5),
            ]
        )
        with mlflow.start_run() as run:
            pipe.fit(df)
        register(client, "fraud_model_spark", run.info.run_id)
        return run.info.run_id

    pdf = people(4000, seed=4)
    with mlflow.start_run() as run:
        LogisticRegression().fit(pdf[["user_age"]], pdf["label"])
    assert mlflow_debt.flush()
    register(client, "churn_model", run.info.run_id)
    spark_fit(months=False)

    def consumers_json() -> dict:
        result = CliRunner().invoke(
            cli, ["consumers", "--tracking-uri", tracking_uri, "--format", "json"]
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["features"]["user_age"]

    same = consumers_json()
    assert same["consumers"] == ["churn_model", "fraud_model_spark"]
    assert same["changed"] is False  # one definition, recorded by two engines

    spark_fit(months=True)  # the Spark side now reads user_age in months
    changed = consumers_json()
    assert changed["changed"] is True
    assert [d["consumers"] for d in changed["definitions"]] == [
        ["fraud_model_spark"],
        ["churn_model"],
    ]
    result = CliRunner().invoke(
        cli, ["impact", "user_age", "--tracking-uri", tracking_uri, "--format", "json"]
    )
    impact = json.loads(result.stdout)
    assert [c["name"] for c in impact["consumers"]] == ["churn_model", "fraud_model_spark"]
    assert impact["changed"] is True
    text = CliRunner().invoke(cli, ["impact", "user_age", "--tracking-uri", tracking_uri])
    assert "Definitions already differ: fraud_model_spark on " in text.stdout
