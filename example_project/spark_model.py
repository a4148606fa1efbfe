"""The churn team's Spark-trained model: ``fraud_model_spark``, a pyspark.ml pipeline.

    python example_project/train.py --model fraud_model_spark

Ordinary MLflow and pyspark code: nothing here mentions mlflow-debt. It reads ``user_age`` and
``num_devices``, the same columns as the scikit-learn ``fraud_model`` and (``user_age``)
``churn_model`` and ``ltv_model``: an entanglement that crosses engines. Needs pyspark
(``pip install 'mlflow-debt[spark]'``) and Java 17+.
"""

from __future__ import annotations

import argparse

import mlflow

NAME = "fraud_model_spark"
FEATURES = ["user_age", "num_devices"]
TARGET = "fraud"


def session():
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName(NAME)
        .config("spark.driver.memory", "768m")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )


def build(alpha: float):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StandardScaler, VectorAssembler

    return Pipeline(
        stages=[
            VectorAssembler(inputCols=FEATURES, outputCol="raw"),
            StandardScaler(inputCol="raw", outputCol="features", withMean=True),
            LogisticRegression(labelCol=TARGET, regParam=alpha / 100, maxIter=50),
        ]
    )


def train(args: argparse.Namespace, customers) -> str:
    """Train, log and register ``fraud_model_spark``; returns the run id."""
    spark = session()
    spark.sparkContext.setLogLevel("ERROR")
    pdf = customers(args.n_rows, args.seed, args.user_age_unit)[[*FEATURES, TARGET]]
    df = spark.createDataFrame(pdf)
    train_df, test_df = df.randomSplit([0.75, 0.25], seed=0)

    with mlflow.start_run(run_name=f"{NAME}-alpha{args.alpha:g}") as run:
        params = {"model": NAME, "alpha": args.alpha, "user_age_unit": args.user_age_unit}
        logged = mlflow.get_run(run.info.run_id).data.params
        mlflow.log_params({k: v for k, v in params.items() if k not in logged})
        model = build(args.alpha).fit(train_df)
        predictions = model.transform(test_df)
        correct = predictions.where(predictions[TARGET] == predictions["prediction"]).count()
        accuracy = correct / max(predictions.count(), 1)
        from mlflow.models import infer_signature

        info = mlflow.spark.log_model(
            model,
            "model",  # mlflow.spark's artifact path is positional
            registered_model_name=None if args.no_register else NAME,
            # The columns it reads: the serving contract (and the report's signature check).
            signature=infer_signature(pdf[FEATURES], pdf[TARGET].astype("float64")),
        )
        mlflow.log_metric("accuracy", accuracy, model_id=info.model_id)
        weights = [abs(w) for w in model.stages[-1].coefficients.toArray()]
        total = sum(weights) or 1.0
        mlflow.log_metrics(
            {f"feature_importance.{c}": round(w / total, 6) for c, w in zip(FEATURES, weights)}
        )
        print(f"{NAME}: accuracy={accuracy:.3f} run_id={run.info.run_id}")
        return run.info.run_id
