"""Automatic capture end to end: real fits inside real runs, tags read back from a real store."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlflow_debt
from mlflow_debt import tags
from mlflow_debt.capture import hook as sklearn_hook
from mlflow_debt.errors import InputError
from mlflow_debt.plugin import DebtRunContextProvider

pytestmark = pytest.mark.backends  # store tests also run against the servers


@pytest.fixture
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame(
        {
            "user_age": rng.normal(38, 11, n),
            "session_count": rng.poisson(6, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
        }
    )
    y = pd.Series((X["user_age"] + rng.normal(0, 5, n) > 38).astype(int))
    return X, y


def pipeline() -> Pipeline:
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), ["user_age", "session_count"]),
            ("cat", OneHotEncoder(), ["plan"]),
        ]
    )
    return Pipeline([("prep", prep), ("lr", LogisticRegression(max_iter=300))])


def features_of(client: MlflowClient, run_id: str) -> tags.FeatureSet | None:
    assert mlflow_debt.flush()  # capture writes in the background
    return tags.decode(client.get_run(run_id).data.tags)


def all_runs(client: MlflowClient) -> list:
    exps = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(exps)


def test_the_plugin_is_loaded_by_import_mlflow_and_adds_no_context_tags() -> None:
    from mlflow.tracking.context.registry import _run_context_provider_registry

    providers = [p for p in _run_context_provider_registry if isinstance(p, DebtRunContextProvider)]
    assert len(providers) == 1
    assert providers[0].in_context() is False
    assert providers[0].tags() == {}
    assert sklearn_hook.installed()
    assert isinstance(LogisticRegression.__dict__["fit"], sklearn_hook.FitDescriptor)


def test_a_plain_start_run_script_records_features(client, data) -> None:
    X, y = data
    with mlflow.start_run() as run:
        pipeline().fit(X, y)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.complete
    assert fs.names == ["user_age", "session_count", "plan"]
    assert fs.source == "sklearn:Pipeline"
    assert [f.dtype for f in fs.features] == ["float64", "int64", str(X["plan"].dtype)]
    assert all(f.fingerprint.startswith(("num:", "int:", "cat:")) for f in fs.features)
    # queryable with mlflow.search_runs
    found = mlflow.search_runs(filter_string=f"tags.`mlflow_debt.digest` = '{fs.digest}'")
    assert list(found["run_id"]) == [run.info.run_id]


def test_outside_a_run_nothing_is_recorded_and_no_run_is_created(client, data) -> None:
    X, y = data
    pipeline().fit(X, y)
    assert all_runs(client) == []


def test_nested_fits_are_recorded_once_for_the_outermost_fit(client, data, mocker) -> None:
    X, y = data
    spy = mocker.spy(MlflowClient, "log_batch")
    with mlflow.start_run() as run:
        GridSearchCV(pipeline(), {"lr__C": [0.1, 1.0, 10.0]}, cv=3).fit(X, y)
    mlflow_debt.flush()
    assert spy.call_count == 1  # 10 inner fits of 4 estimators each, one write
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.source == "sklearn:GridSearchCV"
    assert fs.names == ["user_age", "session_count", "plan"]


def test_the_pipelines_preprocessing_is_fingerprinted(client, data) -> None:
    X, y = data
    with mlflow.start_run() as run:
        pipeline().fit(X, y)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert all(":p" in f.fingerprint for f in fs.features)  # every column goes through a step


def test_refits_in_a_loop_cost_one_write_and_the_last_predictor_fit_is_the_runs(
    client, data, mocker
) -> None:
    X, y = data
    spy = mocker.spy(MlflowClient, "log_batch")
    with mlflow.start_run() as run:
        for _ in range(3):
            LogisticRegression().fit(X[["user_age", "session_count"]], y)
        LogisticRegression().fit(X[["user_age"]], y)
        mlflow_debt.flush()
        assert spy.call_count <= 2  # debounced: not one write per fit
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["user_age"]
    assert fs.complete
    others = client.get_run(run.info.run_id).data.tags["mlflow_debt.other_fits"]
    assert others.startswith("#")
    assert "sklearn:LogisticRegression 2f" in others
    assert "x3" in others


def test_autolog_runs_get_feature_tags(client, data) -> None:
    X, y = data
    X = X[["user_age", "session_count"]]
    mlflow.sklearn.autolog(log_models=False, log_datasets=True, silent=True)
    try:
        LogisticRegression().fit(X, y)  # autolog makes the run
    finally:
        mlflow.sklearn.autolog(disable=True)
    assert mlflow_debt.flush()  # capture writes in the background
    runs = all_runs(client)
    assert len(runs) == 1
    fs = tags.decode(runs[0].data.tags)
    assert fs is not None
    assert fs.names == ["user_age", "session_count"]
    # and after autolog is switched off, capture still works on its own
    with mlflow.start_run() as run:
        LogisticRegression().fit(X, y)
    assert features_of(client, run.info.run_id) is not None


def test_autolog_inside_an_explicit_run(client, data) -> None:
    X, y = data
    mlflow.sklearn.autolog(log_models=False, silent=True)
    try:
        with mlflow.start_run() as run:
            pipeline().fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["user_age", "session_count", "plan"]


def test_numpy_without_names_is_skipped_with_a_warning(client, data) -> None:
    X, y = data
    with mlflow.start_run() as run, pytest.warns(UserWarning, match="without column names"):
        LogisticRegression().fit(X[["user_age", "session_count"]].to_numpy(), y)
    assert features_of(client, run.info.run_id) is None


def test_the_environment_variable_turns_capture_off(client, data, monkeypatch) -> None:
    X, y = data
    monkeypatch.setenv("MLFLOW_DEBT_DISABLE", "1")
    with mlflow.start_run() as run:
        pipeline().fit(X, y)
    assert features_of(client, run.info.run_id) is None


def test_a_capture_error_never_fails_the_fit(client, data, mocker) -> None:
    X, y = data
    mocker.patch("mlflow_debt.capture.profile.describe_sample", side_effect=RuntimeError("boom"))
    with mlflow.start_run() as run, pytest.warns(sklearn_hook.MlflowDebtWarning, match="boom"):  # noqa: PT031  from the fit or the write at flush
        model = LogisticRegression().fit(X[["user_age"]], y)
        mlflow_debt.flush()
    assert hasattr(model, "coef_")  # the fit completed
    assert features_of(client, run.info.run_id) is None


@pytest.mark.usefixtures("client")
def test_a_store_failure_never_fails_the_fit(data, mocker) -> None:
    X, y = data
    mocker.patch.object(MlflowClient, "log_batch", side_effect=MlflowException("store down"))
    with mlflow.start_run(), pytest.warns(sklearn_hook.MlflowDebtWarning, match="store down"):  # noqa: PT031  from the write at flush
        model = LogisticRegression().fit(X[["user_age"]], y)
        mlflow_debt.flush()
    assert hasattr(model, "coef_")


def test_a_run_resumed_through_mlflow_run_id_is_tagged_without_start_run(
    client, data, monkeypatch
) -> None:
    """What `mlflow run` does: the parent creates the run, the child only has MLFLOW_RUN_ID."""
    X, y = data
    run = client.create_run("0")
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    LogisticRegression().fit(X[["user_age", "session_count"]], y)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["user_age", "session_count"]
    assert len(all_runs(client)) == 1


def test_custom_estimators_defined_after_import_are_captured(client, data) -> None:
    X, y = data

    class MeanModel(BaseEstimator):
        def fit(self, X, y=None):  # noqa: ARG002  sklearn's fit signature
            self.mean_ = float(np.mean(y))
            return self

    class Wrapper(MeanModel):
        def fit(self, X, y=None):
            return super().fit(X, y)

    with mlflow.start_run() as run:
        Wrapper().fit(X[["session_count"]], y)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.source == "sklearn:Wrapper"
    assert fs.names == ["session_count"]


def test_uninstall_restores_sklearn_and_install_brings_it_back(client, data) -> None:
    X, y = data
    hooked_init_subclass = BaseEstimator.__dict__["__init_subclass__"]
    sklearn_hook.uninstall()
    try:
        assert not isinstance(LogisticRegression.__dict__["fit"], sklearn_hook.FitDescriptor)
        assert not sklearn_hook.installed()
        with mlflow.start_run() as run:
            LogisticRegression().fit(X[["user_age"]], y)
        assert features_of(client, run.info.run_id) is None
        assert BaseEstimator.__dict__.get("__init_subclass__") is not hooked_init_subclass
    finally:
        sklearn_hook.install()
    with mlflow.start_run() as run:
        LogisticRegression().fit(X[["user_age"]], y)
    assert features_of(client, run.info.run_id) is not None


# --- the explicit API -----------------------------------------------------------------------


def test_log_features_from_a_dataframe_matches_automatic_capture(client, data) -> None:
    X, y = data
    with mlflow.start_run() as auto:
        LogisticRegression().fit(X[["user_age", "session_count"]], y)
    with mlflow.start_run() as manual:
        mlflow_debt.log_features(X[["user_age", "session_count"]])
    a, m = features_of(client, auto.info.run_id), features_of(client, manual.info.run_id)
    assert a is not None
    assert m is not None
    assert a.features == m.features
    assert a.digest == m.digest
    assert m.source == "log_features"


def test_log_features_with_numpy_and_names_and_with_bare_names(client, data) -> None:
    X, _ = data
    run = client.create_run("0")
    fs = mlflow_debt.log_features(
        X[["user_age", "session_count"]].to_numpy(), run_id=run.info.run_id, names=["a", "b"]
    )
    assert fs.names == ["a", "b"]
    assert features_of(client, run.info.run_id).names == ["a", "b"]
    with mlflow.start_run() as active:
        mlflow_debt.log_features(["x", "y, z"])
    got = mlflow_debt.get_features(active.info.run_id)
    assert got is not None
    assert got.names == ["x", "y, z"]
    assert {f.fingerprint for f in got.features} == {tags.UNKNOWN}


@pytest.mark.usefixtures("tracking_uri")
def test_log_features_needs_a_run_and_matching_names(data) -> None:
    X, _ = data
    with pytest.raises(InputError, match="No active run"):
        mlflow_debt.log_features(["a"])
    with mlflow.start_run(), pytest.raises(InputError, match="names has 1"):
        mlflow_debt.log_features(X[["user_age", "session_count"]].to_numpy(), names=["a"])


def test_two_thousand_awkward_names_round_trip_through_a_real_store(client) -> None:
    names = [f"{i:04d} é,=[](){{}}\"' ·:" + "n" * 40 for i in range(2000)]
    with mlflow.start_run() as run:
        mlflow_debt.log_features(names)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.complete
    assert fs.names == names


# --- import order, in fresh interpreters ---------------------------------------------------

SCRIPT = """
import warnings
{imports}
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
mlflow.set_tracking_uri({uri!r})
X = pd.DataFrame({{"a": np.arange(50.0), "b": np.arange(50.0) % 7}})
y = (X.a > 25).astype(int)
{fit}
print(mlflow.last_active_run().info.run_id)
"""
IN_A_RUN = "with mlflow.start_run():\n    LogisticRegression().fit(X, y)"
AUTOLOG = "mlflow.autolog(log_models=False, silent=True)\nLogisticRegression().fit(X, y)"


SKLEARN_FIRST = "import sklearn.linear_model\nimport mlflow"
MLFLOW_FIRST = "import mlflow\nimport sklearn.linear_model"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("imports", "fit"),
    [(SKLEARN_FIRST, IN_A_RUN), (MLFLOW_FIRST, IN_A_RUN), (SKLEARN_FIRST, AUTOLOG)],
    ids=["sklearn-first", "mlflow-first", "universal-autolog"],
)
def test_capture_works_whichever_is_imported_first(client, tracking_uri, imports, fit) -> None:
    script = SCRIPT.format(imports=imports, uri=tracking_uri, fit=fit)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    run_id = out.stdout.strip().splitlines()[-1]
    fs = features_of(client, run_id)
    assert fs is not None
    assert fs.names == ["a", "b"]


@pytest.mark.slow
def test_import_mlflow_survives_a_broken_capture_module() -> None:
    """The plugin must never break `import mlflow`, even if our code is broken."""
    script = textwrap.dedent(
        """
        import sys, types
        broken = types.ModuleType("mlflow_debt.capture.hook")
        def boom(*a, **k): raise RuntimeError("broken")
        broken.disabled = boom
        broken.install = boom
        sys.modules["mlflow_debt.capture.hook"] = broken
        import mlflow
        print("ok", mlflow.__version__)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_changing_the_frame_after_fit_does_not_change_what_was_recorded(client, data) -> None:
    X, y = data
    X = X[["user_age", "session_count"]].copy()
    with mlflow.start_run() as run:
        LogisticRegression().fit(X, y)
        X["user_age"] *= 1000  # the background writer works on a snapshot taken at fit time
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.features[0].fingerprint.startswith("num:+:mp1.6")


# --- attribution: which fit the run's tags describe (issue 11) ------------------------------


def run_tags(client: MlflowClient, run_id: str) -> dict[str, str]:
    assert mlflow_debt.flush()
    return client.get_run(run_id).data.tags


def test_fit_transform_then_a_fit_on_the_array_records_the_frames_columns(client, data) -> None:
    """Defect 2: not the last inner transformer's columns. Issue 18: the fit on the array is
    the model's, traced back to the frame's columns through the transformer (no warning)."""
    X, y = data
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), ["user_age", "session_count"]),
            ("cat", OneHotEncoder(), ["plan"]),
        ]
    )
    with mlflow.start_run() as run:
        Xt = prep.fit_transform(X)
        with warnings.catch_warnings():
            warnings.simplefilter("error", sklearn_hook.MlflowDebtWarning)
            LogisticRegression().fit(Xt, y)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["user_age", "session_count", "plan"]
    assert fs.source == "sklearn:LogisticRegression"
    assert all(":p" in f.fingerprint for f in fs.features)  # with the transformer's chain
    with mlflow.start_run() as run:
        Pipeline([("prep", prep), ("scale", StandardScaler(with_mean=False))]).fit_transform(X)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["user_age", "session_count", "plan"]
    assert fs.source == "sklearn:Pipeline"


def test_cross_validation_then_a_final_fit_records_the_final_model(client, data) -> None:
    """Defect 3: the CV clones' preprocessing used to stay on the run."""
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import RobustScaler

    from mlflow_debt.capture.profile import describe

    X, y = data
    X = X[["user_age", "session_count"]]
    with mlflow.start_run() as run:
        cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()), X, y, cv=3)
        final = make_pipeline(RobustScaler(), LogisticRegression()).fit(X, y)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert [f.fingerprint for f in fs.features] == [r.fingerprint for r in describe(X, final)]
    assert "mlflow_debt.other_fits" not in run_tags(client, run.info.run_id)  # CV is sklearn's


def test_a_monitor_fit_after_the_model_does_not_replace_it(client, data) -> None:
    from sklearn.ensemble import IsolationForest

    X, y = data
    with mlflow.start_run() as run:
        pipeline().fit(X, y)
        IsolationForest(n_estimators=10).fit(X[["user_age"]])
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["user_age", "session_count", "plan"]
    others = run_tags(client, run.info.run_id)["mlflow_debt.other_fits"]
    assert "sklearn:IsolationForest 1f" in others
    assert "main" in others


def test_partial_fit_loops_are_recorded_once(client, data) -> None:
    from sklearn.linear_model import SGDClassifier

    X, y = data
    X = X[["user_age", "session_count"]]
    model = SGDClassifier()
    with mlflow.start_run() as run:
        for start in range(0, 400, 50):
            model.partial_fit(
                X.iloc[start : start + 50], y.iloc[start : start + 50], classes=[0, 1]
            )
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["user_age", "session_count"]
    assert fs.source == "sklearn:SGDClassifier"
    assert "mlflow_debt.other_fits" not in run_tags(client, run.info.run_id)


def test_fits_in_user_threads_are_kept_and_attributed(client, data) -> None:
    import threading

    X, y = data

    def train(cols: list[str]) -> None:
        LogisticRegression().fit(X[cols], y)

    with mlflow.start_run() as run:
        threads = [
            threading.Thread(target=train, args=(c,), name=f"trainer-{i}")
            for i, c in enumerate([["user_age"], ["session_count"]])
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names in (["user_age"], ["session_count"])
    others = run_tags(client, run.info.run_id)["mlflow_debt.other_fits"]
    assert "trainer-" in others
    assert "1f" in others


def test_threading_backend_search_writes_as_one_fit(client, data, mocker) -> None:
    """Defect 4, in process: joblib's threading workers are inner to the search."""
    from joblib import parallel_backend

    X, y = data
    spy = mocker.spy(MlflowClient, "log_batch")
    with mlflow.start_run() as run, parallel_backend("threading", n_jobs=2):
        search = GridSearchCV(pipeline(), {"lr__C": [0.1, 1.0, 10.0]}, cv=3, n_jobs=2).fit(X, y)
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.source == "sklearn:GridSearchCV"
    assert spy.call_count == 1
    assert "mlflow_debt.other_fits" not in run_tags(client, run.info.run_id)
    from mlflow_debt.capture.profile import describe

    assert [f.fingerprint for f in fs.features] == [r.fingerprint for r in describe(X, search)]


def test_positional_column_names_are_not_recorded(client, data) -> None:
    """Defect 5: pd.DataFrame(ndarray) has columns 0..n, shared by every unrelated model."""
    X, y = data
    arr = X[["user_age", "session_count"]].to_numpy()
    with mlflow.start_run() as run:
        with pytest.warns(sklearn_hook.MlflowDebtWarning, match=r"positions \(0, 1, \.\.\.\)"):
            LogisticRegression().fit(pd.DataFrame(arr), y)
        LogisticRegression().fit(pd.DataFrame(arr, columns=[3, 7]), y)  # warned once per run
    assert features_of(client, run.info.run_id) is None
    with mlflow.start_run() as run:
        with pytest.raises(InputError, match="positions"):
            mlflow_debt.log_features(pd.DataFrame(arr))
        mlflow_debt.log_features(pd.DataFrame(arr), names=["age", "sessions"])
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["age", "sessions"]


def test_a_loop_of_many_small_fits_costs_few_writes(client, data, mocker) -> None:
    """Defect 7: every column change used to queue a profile and a log_batch."""
    X, y = data
    cols = ["user_age", "session_count"]
    spy = mocker.spy(MlflowClient, "log_batch")
    with mlflow.start_run() as run:
        for i in range(60):
            LogisticRegression().fit(X[cols[: 1 + i % 2]].iloc[: 100 + i], y.iloc[: 100 + i])
    fs = features_of(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["user_age", "session_count"]
    assert spy.call_count <= 6, spy.call_count
    others = run_tags(client, run.info.run_id)["mlflow_debt.other_fits"]
    assert "x30" in others
    assert "x29" in others


def test_several_models_logged_from_one_run_each_get_their_features(client, data) -> None:
    """Features belong to the model: each LoggedModel carries its own (matched by identity)."""
    X, y = data
    with mlflow.start_run() as run:
        wide = pipeline().fit(X, y)
        narrow = LogisticRegression().fit(X[["user_age"]], y)
        info_wide = mlflow.sklearn.log_model(wide, name="wide", registered_model_name="wide")
        info_narrow = mlflow.sklearn.log_model(narrow, name="narrow")
    assert mlflow_debt.flush()
    wide_tags = client.get_logged_model(info_wide.model_id).tags
    narrow_tags = client.get_logged_model(info_narrow.model_id).tags
    assert tags.decode(wide_tags).names == ["user_age", "session_count", "plan"]
    assert tags.decode(narrow_tags).names == ["user_age"]
    # the run describes the model it produced last
    assert features_of(client, run.info.run_id).names == ["user_age"]
    version = client.get_model_version("wide", "1")
    assert info_wide.model_id in (version.model_id or version.source)


def test_a_logged_model_is_matched_by_its_signature_when_identity_fails(client, data) -> None:
    from mlflow.models import infer_signature

    X, y = data
    X = X[["user_age", "session_count"]]
    with mlflow.start_run() as run:
        LogisticRegression().fit(X, y)
        monitor = LogisticRegression().fit(X[["user_age"]], y)
        other = LogisticRegression().fit(X.to_numpy(), y)  # not recorded (numpy)
        info = mlflow.sklearn.log_model(other, name="m", signature=infer_signature(X, y))
    del monitor
    assert mlflow_debt.flush()
    fs = tags.decode(client.get_logged_model(info.model_id).tags)
    assert fs is not None
    assert fs.names == ["user_age", "session_count"]
    assert features_of(client, run.info.run_id).names == ["user_age", "session_count"]


def test_autolog_models_get_their_features(client, data) -> None:
    X, y = data
    X = X[["user_age", "session_count"]]
    mlflow.sklearn.autolog(log_models=True, silent=True)
    try:
        LogisticRegression().fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    assert mlflow_debt.flush()
    (run,) = all_runs(client)
    models = [
        m
        for m in client.search_logged_models([run.info.experiment_id])
        if m.source_run_id == run.info.run_id
    ]
    assert len(models) == 1
    fs = tags.decode(models[0].tags)
    assert fs is not None
    assert fs.names == ["user_age", "session_count"]


def test_a_model_fit_before_the_run_and_logged_in_it_gets_its_features(client, data) -> None:
    """MLflow's examples often fit first, then `with start_run(): log_model(...)`."""
    X, y = data
    model = pipeline().fit(X, y)  # no run: nothing is written
    assert all_runs(client) == []
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="m")
    assert mlflow_debt.flush()
    fs = tags.decode(client.get_logged_model(info.model_id).tags)
    assert fs is not None
    assert fs.names == ["user_age", "session_count", "plan"]
    assert features_of(client, run.info.run_id).source == "sklearn:Pipeline"
