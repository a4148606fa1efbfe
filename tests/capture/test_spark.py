"""pyspark.ml capture end to end: real Spark (local[2]) fits inside real runs on real stores."""

from __future__ import annotations

import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest

import mlflow_debt
from mlflow_debt import tags
from mlflow_debt.capture import engines, profile
from mlflow_debt.capture import hook as sklearn_hook
from mlflow_debt.capture.fingerprint import same_definition
from mlflow_debt.capture.hook import MlflowDebtWarning

from support.engines import spark  # noqa: F401 - the session fixture

pytestmark = [pytest.mark.spark, pytest.mark.slow]  # a JVM and Spark jobs: not everyday


def customers(n: int = 3000, seed: int = 0, months: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(38, 11, n).clip(18, 90).round(1)
    df = pd.DataFrame(
        {
            "user_age": age * (12 if months else 1),
            "num_devices": rng.integers(1, 6, n),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]),
            "passenger": rng.normal(size=n),  # read by no stage: never a feature
        }
    )
    df["label"] = (0.6 * df["num_devices"] - 0.03 * (age - 38) + rng.normal(0, 1, n) > 2).astype(
        int
    )
    return df


@pytest.fixture
def sdf(spark):  # noqa: F811
    return spark.createDataFrame(customers())


def lr_pipeline(inputs=("user_age", "num_devices"), scaler: bool = True):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StandardScaler, VectorAssembler

    stages = [VectorAssembler(inputCols=list(inputs), outputCol="raw" if scaler else "features")]
    if scaler:
        stages.append(StandardScaler(inputCol="raw", outputCol="features"))
    stages.append(LogisticRegression(maxIter=5))
    return Pipeline(stages=stages)


def features_of(client, run_id: str) -> tags.FeatureSet | None:
    assert mlflow_debt.flush()
    return tags.decode(client.get_run(run_id).data.tags)


class Counting:
    """Counts the writes engines.record makes (the real write still happens)."""

    def __init__(self, monkeypatch) -> None:
        self.sources: list[str] = []
        real = engines.record

        def record(records, source, model=None):
            self.sources.append(source)
            return real(records, source, model)

        monkeypatch.setattr(engines, "record", record)


# --- what is recorded -------------------------------------------------------------------------


def test_a_pipeline_fit_in_a_run_records_the_columns_it_reads(client, sdf) -> None:
    with mlflow.start_run() as run:
        lr_pipeline().fit(sdf)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.complete
    assert fs.source == "spark:Pipeline"
    assert fs.names == ["user_age", "num_devices"]  # not passenger, plan or label
    assert [f.dtype for f in fs.features] == ["double", "bigint"]
    assert all(f.fingerprint.startswith(("num:", "int:")) for f in fs.features)


def test_outside_a_run_nothing_is_recorded_and_no_run_is_made(client, sdf) -> None:
    lr_pipeline().fit(sdf)
    assert mlflow.active_run() is None
    exps = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(exps) == []


def test_features_are_traced_through_every_kind_of_stage_in_model_order(spark) -> None:  # noqa: F811
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import (
        Bucketizer,
        Imputer,
        OneHotEncoder,
        SQLTransformer,
        StringIndexer,
        VectorAssembler,
    )

    from mlflow_debt.capture import spark as spark_capture

    df = spark.createDataFrame(customers(500))
    pipe = Pipeline(
        stages=[
            SQLTransformer(statement="SELECT *, user_age / 10 AS decade FROM __THIS__"),
            Imputer(inputCols=["decade"], outputCols=["decade_f"]),
            Bucketizer(splits=[-np.inf, 2, 4, np.inf], inputCol="num_devices", outputCol="dev_b"),
            StringIndexer(inputCol="plan", outputCol="plan_i"),
            OneHotEncoder(inputCols=["plan_i"], outputCols=["plan_oh"]),
            VectorAssembler(inputCols=["plan_oh", "decade_f", "dev_b"], outputCol="features"),
            LogisticRegression(maxIter=3),
        ]
    )
    model = pipe.fit(df)
    found = spark_capture.trace(model, df.schema, spark)
    assert found.features == ["plan", "user_age", "num_devices"]  # the order the vector has
    assert found.untraceable == []
    assert "SQLTransformer" in found.chains["user_age"]
    assert "Imputer" in found.chains["user_age"]
    assert found.chains["num_devices"].startswith("Bucketizer(")
    assert "VectorAssembler" not in found.chains["plan"]  # wiring is not preprocessing


def test_a_precomputed_vector_column_is_said_not_guessed(client, spark) -> None:  # noqa: F811
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    df = spark.createDataFrame(customers(500))
    assembled = VectorAssembler(inputCols=["user_age", "num_devices"], outputCol="features")
    ready = assembled.transform(df)
    with mlflow.start_run() as run, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LogisticRegression(maxIter=3).fit(ready)
    mine = [w for w in caught if issubclass(w.category, MlflowDebtWarning)]
    assert len(mine) == 1
    assert "'features'" in str(mine[0].message)
    assert features_of(client, run.info.run_id) is None


def test_an_opaque_custom_stage_is_one_warning_and_the_rest_is_recorded(client, spark) -> None:  # noqa: F811
    from pyspark.ml import Pipeline, Transformer
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    class Doubler(Transformer):
        def _transform(self, dataset):
            return dataset.withColumn("twice", dataset["user_age"] * 2)

    df = spark.createDataFrame(customers(500))
    pipe = Pipeline(
        stages=[
            Doubler(),
            VectorAssembler(inputCols=["twice", "num_devices"], outputCol="features"),
            LogisticRegression(maxIter=3),
        ]
    )
    with mlflow.start_run() as run, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe.fit(df)
        pipe.fit(df)  # one warning per run per cause
    mine = [w for w in caught if issubclass(w.category, MlflowDebtWarning)]
    assert len(mine) == 1
    assert "made by Doubler" in str(mine[0].message)
    # num_devices also went through Doubler (it outputs every column): not guessed either.
    assert features_of(client, run.info.run_id) is None


@pytest.mark.usefixtures("client")
def test_a_warning_filter_set_to_error_never_fails_the_fit(spark) -> None:  # noqa: F811
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    df = spark.createDataFrame(customers(300))
    ready = VectorAssembler(inputCols=["user_age"], outputCol="features").transform(df)
    with mlflow.start_run(), warnings.catch_warnings():
        warnings.simplefilter("error")
        model = LogisticRegression(maxIter=2).fit(ready)
    assert model is not None


# --- attribution ------------------------------------------------------------------------------


def test_cross_validator_records_once_as_the_outer_fit(client, sdf, monkeypatch) -> None:
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    pipe = lr_pipeline()
    lr = pipe.getStages()[-1]
    grid = ParamGridBuilder().addGrid(lr.regParam, [0.0, 0.1]).build()
    cv = CrossValidator(
        estimator=pipe,
        estimatorParamMaps=grid,
        evaluator=BinaryClassificationEvaluator(),
        numFolds=2,
        parallelism=2,  # candidates fit in a thread pool: still inner
    )
    counted = Counting(monkeypatch)
    with mlflow.start_run() as run:
        cv.fit(sdf)
    assert counted.sources == ["spark:CrossValidator"]
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["user_age", "num_devices"]


@pytest.mark.usefixtures("client")
def test_train_validation_split_records_once(sdf, monkeypatch) -> None:
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.tuning import ParamGridBuilder, TrainValidationSplit

    pipe = lr_pipeline(scaler=False)
    lr = pipe.getStages()[-1]
    tvs = TrainValidationSplit(
        estimator=pipe,
        estimatorParamMaps=ParamGridBuilder().addGrid(lr.regParam, [0.0, 0.5]).build(),
        evaluator=BinaryClassificationEvaluator(),
    )
    counted = Counting(monkeypatch)
    with mlflow.start_run():
        tvs.fit(sdf)
    assert counted.sources == ["spark:TrainValidationSplit"]


@pytest.mark.slow
def test_autolog_on_and_off(client, sdf) -> None:
    mlflow.pyspark.ml.autolog(log_models=False)
    try:
        lr_pipeline().fit(sdf)  # autolog makes the run
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        assert len(runs) == 1
        fs = features_of(client, runs[0].info.run_id)
        assert fs is not None
        assert fs.names == ["user_age", "num_devices"]
        with mlflow.start_run() as run:
            lr_pipeline(inputs=("num_devices",)).fit(sdf)
        fs = features_of(client, run.info.run_id)
        assert fs is not None
        assert fs.names == ["num_devices"]
        # uninstall() under autolog: autolog keeps working, our wrapper passes through.
        sklearn_hook.uninstall()
        try:
            with mlflow.start_run() as run:
                lr_pipeline().fit(sdf)
            assert features_of(client, run.info.run_id) is None
            assert client.get_run(run.info.run_id).data.params  # autolog still logged params
        finally:
            sklearn_hook.install()
    finally:
        mlflow.pyspark.ml.autolog(disable=True)
    with mlflow.start_run() as run:
        lr_pipeline().fit(sdf)
    assert features_of(client, run.info.run_id) is not None


def test_uninstall_restores_estimator_fit_and_install_patches_it_again(client, sdf) -> None:
    from pyspark.ml.base import Estimator

    patched = Estimator.__dict__["fit"]
    assert hasattr(patched, "__wrapped__")
    sklearn_hook.uninstall()
    try:
        assert not hasattr(Estimator.__dict__["fit"], "__wrapped__")
        with mlflow.start_run() as run:
            lr_pipeline().fit(sdf)
        assert features_of(client, run.info.run_id) is None
    finally:
        sklearn_hook.install()
    assert hasattr(Estimator.__dict__["fit"], "__wrapped__")
    with mlflow.start_run() as run:
        lr_pipeline().fit(sdf)
    assert features_of(client, run.info.run_id) is not None


def test_disabled_by_the_environment(client, sdf, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_DEBT_DISABLE", "1")
    with mlflow.start_run() as run:
        lr_pipeline().fit(sdf)
    assert features_of(client, run.info.run_id) is None


# --- fingerprints -----------------------------------------------------------------------------


def spark_tokens(spark, pdf: pd.DataFrame, names=("user_age", "num_devices", "plan")):  # noqa: F811
    from mlflow_debt.capture import spark_profile

    return {
        r.name: r.fingerprint
        for r in spark_profile.describe(spark.createDataFrame(pdf), list(names))
    }


def test_spark_tokens_are_the_pandas_tokens_of_the_same_data(spark) -> None:  # noqa: F811
    pdf = customers(5000)
    got = spark_tokens(spark, pdf)
    for name, token in got.items():
        expected = profile.profile(pdf[name])
        assert same_definition(token, expected), (name, token, expected)
    assert got["plan"] == profile.profile(pdf["plan"])  # categorical: exactly the same


def test_tokens_that_need_the_mean_and_std_match_pandas(spark) -> None:  # noqa: F811
    # binary, sparse (IQR zero) and constant columns need the mean and std (computed in the
    # same aggregation as the quantiles); a boolean its share of True
    rng = np.random.default_rng(3)
    n = 4000
    pdf = pd.DataFrame(
        {
            "flag": (rng.random(n) < 0.3).astype("int64"),
            "sparse": np.where(rng.random(n) < 0.9, 0.0, rng.integers(1, 50, n)).astype(float),
            "const": np.full(n, 3.0),
            "ok": rng.random(n) < 0.7,
            "wide": rng.normal(40, 12, n),
        }
    )
    got = spark_tokens(spark, pdf, names=tuple(pdf.columns))
    for name in ("flag", "const", "ok"):
        assert got[name] == profile.profile(pdf[name]), name
    assert got["flag"].startswith("bin:p0.3")
    assert got["const"].startswith("int:+:cp0.5")
    for name in ("sparse", "wide"):
        assert same_definition(got[name], profile.profile(pdf[name])), (name, got[name])


def test_a_resample_gives_the_same_token_and_the_same_data_the_identical_one(spark) -> None:  # noqa: F811
    big = customers(40_000, seed=1)
    first = spark_tokens(spark, big)
    assert spark_tokens(spark, big) == first  # seeded: the same data, the same token
    other = spark_tokens(spark, customers(40_000, seed=2))  # another sample of the population
    for name in first:
        assert same_definition(first[name], other[name]), name


def test_definition_changes_are_caught_on_spark(spark) -> None:  # noqa: F811
    base = customers(5000)
    ref = spark_tokens(spark, base)
    months = base.assign(user_age=base["user_age"] * 12)  # unit change
    scaled = base.assign(num_devices=base["num_devices"] * 100)  # rescaling
    recoded = base.assign(plan=base["plan"].map({"basic": "b", "plus": "p", "pro": "x"}))
    holes = base.copy()
    holes.loc[holes.index % 7 == 0, "user_age"] = np.nan
    zero_fill = holes.fillna({"user_age": 0.0})  # a different fill than "no nulls"
    assert not same_definition(spark_tokens(spark, months)["user_age"], ref["user_age"])
    assert not same_definition(spark_tokens(spark, scaled)["num_devices"], ref["num_devices"])
    assert not same_definition(spark_tokens(spark, recoded)["plan"], ref["plan"])
    with_nulls = spark_tokens(spark, holes)["user_age"]
    assert not same_definition(with_nulls, ref["user_age"])
    assert not same_definition(spark_tokens(spark, zero_fill)["user_age"], with_nulls)


def test_the_preprocessing_chain_is_part_of_the_definition(client, sdf) -> None:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import MinMaxScaler, StandardScaler, VectorAssembler

    def fit_with(scaler) -> dict[str, str]:
        pipe = Pipeline(
            stages=[
                VectorAssembler(inputCols=["user_age"], outputCol="raw"),
                scaler,
                LogisticRegression(maxIter=3),
            ]
        )
        with mlflow.start_run() as run:
            pipe.fit(sdf)
        fs = features_of(client, run.info.run_id)
        assert fs is not None
        return {f.name: f.fingerprint for f in fs.features}

    standard = fit_with(StandardScaler(inputCol="raw", outputCol="features"))
    minmax = fit_with(MinMaxScaler(inputCol="raw", outputCol="features"))
    assert standard["user_age"].rsplit(":p", 1)[0] == minmax["user_age"].rsplit(":p", 1)[0]
    assert not same_definition(standard["user_age"], minmax["user_age"])


# --- the profiling job runs alongside the fit ---------------------------------------------------

PROFILE_JOB = "mlflow-debt: feature fingerprints"


def spark_jobs(spark) -> list[dict]:  # noqa: F811
    """Every job of the session so far: id, description, group, submitted and completed (ms)."""
    jobs = spark.sparkContext._jsc.sc().statusStore().jobsList(None)
    out = []
    for i in range(jobs.size()):
        job = jobs.apply(i)
        out.append(
            {
                "id": job.jobId(),
                "description": _option(job.description()),
                "group": _option(job.jobGroup()),
                "submitted": job.submissionTime().get().getTime(),
                "completed": job.completionTime().get().getTime()
                if job.completionTime().isDefined()
                else None,
            }
        )
    return sorted(out, key=lambda j: j["id"])


def _option(value):  # a Scala Option through Py4J
    return value.get() if value.isDefined() else None


def new_jobs(spark, before: int) -> tuple[list[dict], list[dict]]:  # noqa: F811
    """(capture's profiling jobs, the other jobs) since job id ``before``."""
    jobs = [j for j in spark_jobs(spark) if j["id"] > before]
    ours = [j for j in jobs if j["description"] == PROFILE_JOB]
    return ours, [j for j in jobs if j["description"] != PROFILE_JOB]


def last_job_id(spark) -> int:  # noqa: F811
    return max((j["id"] for j in spark_jobs(spark)), default=-1)


def profiler_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "mlflow-debt-spark-profile"]


def test_the_job_runs_during_the_fit_with_the_same_tokens(client, spark, sdf) -> None:  # noqa: F811
    from mlflow_debt.capture import spark as spark_capture
    from mlflow_debt.capture import spark_profile

    sdf = sdf.cache()
    sdf.count()
    before = last_job_id(spark)
    pipe = lr_pipeline()
    with mlflow.start_run() as run:
        model = pipe.fit(sdf)
    ours, fit_jobs = new_jobs(spark, before)
    assert len(ours) == 1  # one aggregation job, no count (the cache knows its rows)
    assert ours[0]["submitted"] < max(j["completed"] for j in fit_jobs)  # during the fit
    assert profiler_threads() == []  # the fit returned after the job, never before
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    found = spark_capture.trace(model, sdf.schema)
    after = spark_profile.describe(sdf, found.features, found.chains)  # the job after the fit
    assert list(fs.features) == after
    sdf.unpersist()


def test_the_fit_keeps_its_job_group_and_its_own_local_properties(client, spark, sdf) -> None:  # noqa: F811
    sc = spark.sparkContext
    before = last_job_id(spark)
    sc.setJobGroup("users-group", "the user's own jobs")
    try:
        with mlflow.start_run() as run:
            lr_pipeline().fit(sdf)
        assert sc.getLocalProperty("spark.jobGroup.id") == "users-group"
        assert sc.getLocalProperty("spark.job.description") == "the user's own jobs"
        assert set(sc.getJobTags()) == set()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]
    ours, fit_jobs = new_jobs(spark, before)
    assert ours
    assert {j["group"] for j in ours + fit_jobs} == {"users-group"}  # cancelled with the user's
    assert features_of(client, run.info.run_id) is not None


def test_a_failing_fit_raises_its_own_error_and_the_job_ends(client, sdf, monkeypatch) -> None:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    def failing_fit():
        pipe = Pipeline(
            stages=[
                VectorAssembler(inputCols=["user_age", "num_devices"], outputCol="features"),
                LogisticRegression(labelCol="no_such_label"),
            ]
        )
        with pytest.raises(Exception) as caught, mlflow.start_run() as run:  # noqa: PT011
            pipe.fit(sdf)
        return caught.value, run.info.run_id

    monkeypatch.setenv("MLFLOW_DEBT_DISABLE", "1")
    bare, _ = failing_fit()
    monkeypatch.delenv("MLFLOW_DEBT_DISABLE")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        error, run_id = failing_fit()
    assert type(error) is type(bare)
    assert str(error) == str(bare)
    assert not [w for w in seen if issubclass(w.category, MlflowDebtWarning)]
    assert features_of(client, run_id) is None
    import time

    deadline = time.monotonic() + 30
    while profiler_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert profiler_threads() == []


def test_columns_unnamed_before_the_fit_are_profiled_after(client, spark, sdf) -> None:  # noqa: F811
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.tuning import ParamGridBuilder, TrainValidationSplit

    from mlflow_debt.capture import spark_profile

    pipe = lr_pipeline(inputs=("passenger",), scaler=False)
    assembler = pipe.getStages()[0]
    tvs = TrainValidationSplit(  # every candidate reads other columns than the estimator names
        estimator=pipe,
        estimatorParamMaps=ParamGridBuilder()
        .addGrid(assembler.inputCols, [["user_age", "num_devices"]])
        .build(),
        evaluator=BinaryClassificationEvaluator(),
    )
    before = last_job_id(spark)
    with mlflow.start_run() as run:
        tvs.fit(sdf)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["user_age", "num_devices"]
    assert list(fs.features) == spark_profile.describe(sdf, ["user_age", "num_devices"])
    ours, _ = new_jobs(spark, before)
    assert len(ours) == 2  # the early count and aggregation (of passenger); the rest, after


def test_a_param_map_given_to_fit_is_the_one_profiled_early(client, spark, sdf) -> None:  # noqa: F811
    pipe = lr_pipeline(scaler=False)
    assembler = pipe.getStages()[0]
    before = last_job_id(spark)
    with mlflow.start_run() as run:
        pipe.fit(sdf, {assembler.inputCols: ["num_devices"]})
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["num_devices"]
    ours, fit_jobs = new_jobs(spark, before)
    assert len(ours) == 2  # the count (not cached) and the aggregation, both during the fit
    assert max(j["submitted"] for j in ours) < max(j["completed"] for j in fit_jobs)


def test_a_failing_profiling_job_is_one_short_warning_and_the_fit_returns(
    client, sdf, mocker
) -> None:
    from mlflow_debt.capture import spark_profile

    mocker.patch.object(
        spark_profile, "raw", side_effect=RuntimeError("the job failed\n\tat some.Java(Frame)")
    )
    with warnings.catch_warnings(record=True) as seen, mlflow.start_run() as run:
        warnings.simplefilter("always")
        model = lr_pipeline().fit(sdf)
    assert model.stages[-1].coefficients.size == 2  # the fit's own result, untouched
    ours = [str(w.message) for w in seen if issubclass(w.category, MlflowDebtWarning)]
    assert ours == [
        "mlflow-debt could not record the features of a Spark model: RuntimeError: the job failed"
    ]
    assert features_of(client, run.info.run_id) is None
    assert profiler_threads() == []
