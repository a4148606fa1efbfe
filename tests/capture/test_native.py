"""Native xgboost/lightgbm training records its DataFrame's features (real libraries, stores)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest

import mlflow_debt
from mlflow_debt import tags
from mlflow_debt.capture import hook as sklearn_hook
from mlflow_debt.capture import profile
from mlflow_debt.capture.fingerprint import same_definition
from mlflow_debt.capture.hook import MlflowDebtWarning

from support.engines import require


@pytest.fixture
def xgb():
    return require("xgboost")


@pytest.fixture
def lgb():
    return require("lightgbm")


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 2000
    X = pd.DataFrame(
        {
            "user_age": rng.normal(38, 11, n).round(1),
            "num_devices": rng.integers(1, 6, n),
            "monthly_spend": rng.lognormal(3.2, 0.6, n).round(2),
        }
    )
    X.loc[X.index % 10 == 0, "monthly_spend"] = np.nan
    y = (X["num_devices"] + rng.normal(0, 1, n) > 3).astype(int).to_numpy()
    return X, y


def features_of(client, run_id: str) -> tags.FeatureSet | None:
    assert mlflow_debt.flush()
    return tags.decode(client.get_run(run_id).data.tags)


def pandas_tokens(X: pd.DataFrame) -> dict[str, str]:
    return {c: profile.profile(X[c]) for c in X.columns}


PARAMS = {"objective": "binary:logistic", "max_depth": 2, "verbosity": 0}


def test_xgboost_train_on_a_dmatrix_of_a_dataframe_records_its_features(client, xgb, data):
    X, y = data
    with mlflow.start_run() as run:
        booster = xgb.train(PARAMS, xgb.DMatrix(X, label=y), num_boost_round=3)
    assert booster.num_boosted_rounds() == 3
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.source == "xgboost:train"
    assert fs.names == ["user_age", "num_devices", "monthly_spend"]
    assert [f.dtype for f in fs.features] == ["float", "int", "float"]
    expected = pandas_tokens(X)
    for f in fs.features:  # the same definition as a pandas capture of the same frame
        assert same_definition(f.fingerprint, expected[f.name]), (f, expected[f.name])


def test_lightgbm_train_on_a_dataset_of_a_dataframe_records_its_features(client, lgb, data):
    X, y = data
    with mlflow.start_run() as run:
        lgb.train({"verbose": -1, "num_leaves": 4}, lgb.Dataset(X, label=y), num_boost_round=3)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.source == "lightgbm:train"
    assert fs.names == list(X.columns)
    assert [f.dtype for f in fs.features] == [str(d) for d in X.dtypes]
    assert {f.name: f.fingerprint for f in fs.features} == pandas_tokens(X)


def test_from_import_after_the_library_is_imported_is_patched_too(client, xgb, lgb, data):
    from lightgbm import train as lgb_train
    from xgboost import train as xgb_train

    assert xgb_train is xgb.train is xgb.training.train
    assert lgb_train is lgb.train is lgb.engine.train
    X, y = data
    with mlflow.start_run() as run:
        xgb_train(PARAMS, xgb.DMatrix(X[["user_age"]], label=y), num_boost_round=1)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["user_age"]


def test_numpy_input_is_one_warning_and_not_recorded(client, xgb, lgb, data):
    X, y = data
    with mlflow.start_run() as run, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        xgb.train(PARAMS, xgb.DMatrix(X.to_numpy(), label=y), num_boost_round=1)
        xgb.train(PARAMS, xgb.DMatrix(X.to_numpy(), label=y), num_boost_round=1)
        positional = pd.DataFrame(X.to_numpy())
        lgb.train({"verbose": -1}, lgb.Dataset(positional, label=y), num_boost_round=1)
    mine = [str(w.message) for w in caught if issubclass(w.category, MlflowDebtWarning)]
    assert len(mine) == 2, mine  # one per engine per run
    assert any("xgboost.train" in m for m in mine)
    assert any("lightgbm.train" in m for m in mine)
    assert features_of(client, run.info.run_id) is None


def test_the_sklearn_wrappers_are_recorded_once_by_the_sklearn_hook(client, xgb, lgb, data):
    X, y = data
    with mlflow.start_run() as run:
        xgb.XGBClassifier(n_estimators=2, max_depth=2).fit(X, y)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.source == "sklearn:XGBClassifier"
    with mlflow.start_run() as run:
        lgb.LGBMClassifier(n_estimators=2, verbose=-1).fit(X, y)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.source == "sklearn:LGBMClassifier"


def test_outside_a_run_nothing_is_recorded(client, xgb, data):
    X, y = data
    xgb.train(PARAMS, xgb.DMatrix(X, label=y), num_boost_round=1)
    assert mlflow.active_run() is None
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


@pytest.mark.usefixtures("client")
def test_a_training_error_is_the_users_own(xgb, data):
    X, _ = data
    with mlflow.start_run(), pytest.raises(xgb.core.XGBoostError):
        xgb.train({"objective": "no-such-objective"}, xgb.DMatrix(X), num_boost_round=1)


def test_uninstall_restores_train_and_install_patches_it_again(client, xgb, lgb, data):
    wrapped_xgb, wrapped_lgb = xgb.train, lgb.train
    assert hasattr(wrapped_xgb, "__wrapped__")
    assert hasattr(wrapped_lgb, "__wrapped__")
    sklearn_hook.uninstall()
    try:
        assert xgb.train is wrapped_xgb.__wrapped__
        assert xgb.training.train is xgb.train
        assert lgb.train is wrapped_lgb.__wrapped__
        assert lgb.engine.train is lgb.train
        X, y = data
        with mlflow.start_run() as run:
            xgb.train(PARAMS, xgb.DMatrix(X, label=y), num_boost_round=1)
        assert features_of(client, run.info.run_id) is None
    finally:
        sklearn_hook.install()
    assert xgb.train.__wrapped__ is wrapped_xgb.__wrapped__  # patched again, once
    import inspect

    assert inspect.signature(xgb.train) == inspect.signature(wrapped_xgb.__wrapped__)


@pytest.mark.slow
@pytest.mark.parametrize("first", ["mlflow", "engines"])
def test_engines_are_patched_only_once_imported_in_either_order(tmp_path, first) -> None:
    require("xgboost")
    require("lightgbm")
    script = textwrap.dedent(
        f"""
        import sys
        if {first!r} == "engines":
            import xgboost, lightgbm
        import mlflow
        import mlflow_debt.plugin
        if {first!r} == "mlflow":
            # mlflow itself may import parts of pyspark; the plugin imports none of these
            heavy = [m for m in ("xgboost", "lightgbm", "pyspark.ml.base") if m in sys.modules]
            assert heavy == [], heavy
            import xgboost, lightgbm
        assert hasattr(xgboost.train, "__wrapped__"), "xgboost not patched"
        assert hasattr(lightgbm.train, "__wrapped__"), "lightgbm not patched"
        import numpy as np, pandas as pd
        X = pd.DataFrame({{"a": np.arange(200.0), "b": np.arange(200) % 3}})
        y = (X["a"] > 100).astype(int)
        mlflow.set_tracking_uri("sqlite:///{tmp_path}/mlflow.db")
        with mlflow.start_run() as run:
            lightgbm.train({{"verbose": -1}}, lightgbm.Dataset(X, label=y), num_boost_round=1)
        import mlflow_debt
        print(mlflow_debt.get_features(run.info.run_id).names)
        """
    )
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "GIT_PYTHON_REFRESH": "quiet"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "['a', 'b']"


def test_train_inside_a_users_sklearn_estimator_is_that_estimators_inner_call(
    client, xgb, data, monkeypatch
):
    from sklearn.base import BaseEstimator, ClassifierMixin

    from mlflow_debt.capture import engines

    written: list[str] = []
    real = engines.record
    monkeypatch.setattr(
        engines,
        "record",
        lambda records, source, model=None: written.append(source) or real(records, source, model),
    )

    class Boosted(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.booster_ = xgb.train(PARAMS, xgb.DMatrix(X, label=y), num_boost_round=1)
            return self

    X, y = data
    with mlflow.start_run() as run:
        Boosted().fit(X, y)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.source == "sklearn:Boosted"
    assert written == []  # the inner xgboost.train wrote nothing
