"""The plugin is a guest in users' code: nothing it does may change what that code does.

Issue 11's defects 1, 8, 9 and 10 and the "never break user code" contract, each as a user meets
it, most in a fresh interpreter (import order, pickles, forks, exit, ``-W error``), on real
SQLite stores and real libraries.
"""

from __future__ import annotations

import inspect
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import mlflow_debt
from mlflow_debt import tags
from mlflow_debt.capture import hook, recorder, samples
from mlflow_debt.errors import MlflowDebtWarning

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GIT_PYTHON_REFRESH": "quiet",
}


def run_script(
    code: str, tmp_path: Path, *, flags: tuple[str, ...] = (), timeout: float = 180, **env: str
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    merged = {**ENV, **env}
    if "MLFLOW_DEBT_DISABLE" not in env:
        merged.pop("MLFLOW_DEBT_DISABLE", None)
    return subprocess.run(
        [sys.executable, *flags, str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env=merged,
    )


def frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"age": rng.normal(40, 10, n), "visits": rng.poisson(5, n).astype(float)})
    return X, pd.Series((X["age"] > 40).astype(int))


class Doubler(TransformerMixin, BaseEstimator):
    """A user's own transformer."""

    def __init__(self, factor: float = 2.0) -> None:
        self.factor = factor

    def fit(self, X, y=None, sample_weight=None):  # noqa: ARG002  sklearn's fit signature
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        return np.asarray(X) * self.factor


# --- how users' classes look (defect 8) ----------------------------------------------------


def test_class_access_sees_the_users_own_function() -> None:
    original = Doubler.__dict__["fit"].original
    assert isinstance(Doubler.__dict__["fit"], hook.FitDescriptor)  # the hook is installed
    assert Doubler.fit is original
    assert inspect.getfullargspec(Doubler.fit).args == ["self", "X", "y", "sample_weight"]
    assert Doubler.fit.__code__.co_filename == __file__
    assert inspect.getsourcefile(Doubler.fit) == __file__
    assert not hasattr(Doubler.fit, "__wrapped__")
    assert Doubler.fit.__module__ == __name__
    assert Doubler.fit.__qualname__ == "Doubler.fit"
    assert str(inspect.signature(Doubler().fit)) == "(X, y=None, sample_weight=None)"
    assert Doubler().fit.__func__ is original
    assert Doubler().fit.__name__ == "fit"
    # sklearn's own classes: whatever class access gave without the plugin
    from sklearn.utils import all_estimators

    patched = 0
    for _, cls in all_estimators():
        for name in hook.FIT_METHODS:
            attr = cls.__dict__.get(name)
            if isinstance(attr, hook.FitDescriptor):
                patched += 1
                seen = getattr(cls, name)
                if inspect.isfunction(attr.original):
                    assert seen is attr.original, (cls, name)
                else:  # available_if makes a new function on each access: compare what shows
                    plain = type(attr.original).__get__(attr.original, None, cls)
                    assert inspect.signature(seen) == inspect.signature(plain), (cls, name)
                    assert seen.__qualname__ == plain.__qualname__
    assert patched > 100
    assert "mlflow_debt" not in inspect.getsourcefile(LogisticRegression.fit)


def test_metadata_routing_clone_and_params_are_as_without_the_plugin() -> None:
    import sklearn

    est = Doubler(factor=3.0)
    assert clone(est).get_params() == {"factor": 3.0}
    X, y = frame()
    with sklearn.config_context(enable_metadata_routing=True):
        est.set_fit_request(sample_weight=True)
        assert est.get_metadata_routing().fit.requests == {"sample_weight": True}
        lr = LogisticRegression().set_fit_request(sample_weight=False)
        Pipeline([("d", est), ("lr", lr)]).fit(X, y, sample_weight=np.ones(len(X)))
    assert type(est).__module__ == __name__
    assert type(est).__qualname__ == "Doubler"


def test_bound_fit_compares_hashes_and_pickles_like_a_bound_method() -> None:
    est = Doubler()
    assert est.fit == est.fit
    assert hash(est.fit) == hash(est.fit)
    assert repr(est.fit).startswith("<bound method Doubler.fit of")
    data = pickle.dumps(est.fit)
    assert b"mlflow_debt" not in data
    assert pickle.loads(data).__self__.factor == 2.0


@pytest.mark.usefixtures("client")
def test_a_warning_filter_set_to_error_never_fails_a_fit() -> None:
    X, y = frame()
    with mlflow.start_run(), warnings.catch_warnings():
        warnings.simplefilter("error")
        model = LogisticRegression().fit(X.to_numpy(), y)  # would warn: numpy has no names
    assert hasattr(model, "coef_")


@pytest.mark.usefixtures("client")
def test_every_warning_is_an_mlflow_debt_warning_once_per_run_and_cause() -> None:
    X, y = frame()
    with mlflow.start_run(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            LogisticRegression().fit(X.to_numpy(), y)
            LogisticRegression().fit(pd.DataFrame(X.to_numpy()), y)
    ours = [w for w in caught if "mlflow-debt" in str(w.message)]
    assert len(ours) == 2
    assert all(issubclass(w.category, MlflowDebtWarning) for w in ours)
    assert issubclass(MlflowDebtWarning, UserWarning)
    assert hook.MlflowDebtWarning is MlflowDebtWarning  # the old import path still works


def test_fits_inside_sklearn_functions_never_warn(client) -> None:
    """Defect 10: log_loss fits a LabelBinarizer internally; it is not the user's model."""
    from sklearn.metrics import log_loss
    from sklearn.model_selection import cross_val_score

    X, y = frame()
    with mlflow.start_run() as run, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log_loss(y.to_numpy(), np.full(len(y), 0.5))
        cross_val_score(LogisticRegression(), X.to_numpy(), y, cv=2)
    assert [w for w in caught if issubclass(w.category, MlflowDebtWarning)] == []
    assert mlflow_debt.flush()
    assert tags.decode(client.get_run(run.info.run_id).data.tags) is None


@pytest.mark.usefixtures("client")
def test_the_writer_thread_does_not_outlive_its_work() -> None:
    X, y = frame()
    with mlflow.start_run():
        LogisticRegression().fit(X, y)
    assert mlflow_debt.flush()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        t.name.startswith("mlflow-debt") for t in threading.enumerate()
    ):
        time.sleep(0.05)
    assert [t.name for t in threading.enumerate() if t.name.startswith("mlflow-debt")] == []


@pytest.mark.parametrize("pandas_version", ["installed", "2.x"])
@pytest.mark.parametrize("rows", [3_000, 30_000], ids=["every-row", "strided"])
def test_a_change_to_x_right_after_the_fit_never_reaches_the_recorded_features(
    client, monkeypatch, rows: int, pandas_version: str
) -> None:
    """The fit keeps only a copy-on-write slice of ``X`` (the writer copies it later): an in-place
    change made before that copy must not reach the fingerprints (pandas copies ``X`` first).
    A pandas without copy-on-write (2.x by default) makes the fit take its own copy."""
    from mlflow_debt.capture import profile

    if pandas_version != "installed":  # pandas 2 without copy-on-write (its default)
        monkeypatch.setattr(profile, "copy_on_write", lambda: False)

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"age": rng.normal(40, 10, rows), "visits": rng.poisson(5, rows) * 1.0})
    y = (X["age"] > 40).astype(int)
    expected = tags.encode(profile.describe(X.copy()), "sklearn:LogisticRegression")
    with mlflow.start_run() as run:
        with samples._lock:  # the writer cannot copy the sample until the change is made
            LogisticRegression().fit(X, y)
            X.iloc[:, 0] = X["age"].to_numpy() * 1000.0  # in place: a unit change
            X.loc[X.index[: rows // 5], "visits"] = np.nan
        assert mlflow_debt.flush()
    recorded = client.get_run(run.info.run_id).data.tags
    assert {k: recorded.get(k) for k in expected} == expected
    assert X["age"].mean() > 1_000  # the user's change itself is untouched


def test_copy_on_write_is_known_from_the_pandas_version_and_option(monkeypatch) -> None:
    from mlflow_debt.capture import profile

    if int(pd.__version__.split(".")[0]) >= 3:
        assert profile.copy_on_write() is True  # always, whatever the deprecated option says
    monkeypatch.setattr(pd, "__version__", "2.2.3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 deprecates the option that pandas 2 reads
        for value, expected in ((False, False), ("warn", False), (True, True)):
            with pd.option_context("mode.copy_on_write", value):
                assert profile.copy_on_write() is expected
    monkeypatch.setattr(pd, "__version__", "unknown")
    assert profile.copy_on_write() is False


@pytest.mark.parametrize("rows", [2_000, 30_000], ids=["small-frames", "large-frames"])
def test_capture_keeps_no_reference_to_the_users_training_data(client, rows: int) -> None:
    """Once a run is written, nothing of the frames its fits saw is kept, however many fits it
    had: letting them go frees their memory. A live model keeps a private sample, so its features
    are complete when it is logged later."""
    import gc
    import weakref

    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=(rows, 3)) for _ in range(6)]
    refs = [weakref.ref(a) for a in arrays]
    kept = None
    with mlflow.start_run():
        for i, values in enumerate(arrays):
            X = pd.DataFrame(values, columns=["a", "b", "c"], copy=False)
            model = LogisticRegression().fit(X, (X["a"] > 0).astype(int))
            if i == 2:
                kept = model
            if i == 4:
                IsolationForest(n_estimators=5, random_state=0).fit(X[["a", "b"]])  # a monitor
    assert mlflow_debt.flush()
    del X, values, arrays, model
    gc.collect()
    assert [r() is None for r in refs] == [True] * 6
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(kept, name="m")
    assert mlflow_debt.flush()
    features = tags.decode(client.get_logged_model(info.model_id).tags)
    assert features is not None
    assert features.names == ["a", "b", "c"]
    assert all(f.fingerprint.startswith("num:") for f in features.features)


def test_a_searchs_best_estimator_outlives_its_search_and_keeps_its_features(client) -> None:
    """The search object is gone, its refit model lives on: logged later, it has its features."""
    import gc

    from sklearn.model_selection import GridSearchCV

    X, y = frame(400)
    with mlflow.start_run():
        search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
        best = search.best_estimator_
        del search
        gc.collect()
        LogisticRegression().fit(X[["age"]], y)  # the run's model now: the search's is not
    assert mlflow_debt.flush()  # written and tidied: the run is closed
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(best, name="m")
    assert mlflow_debt.flush()
    features = tags.decode(client.get_logged_model(info.model_id).tags)
    assert features is not None
    assert features.names == ["age", "visits"]
    assert all(f.fingerprint.startswith(("num:", "int:")) for f in features.features)


def test_finished_runs_leave_nothing_behind_in_the_process(client) -> None:
    """A sweep of runs (a model and a monitor each) does not grow what capture keeps."""
    from sklearn.ensemble import IsolationForest

    X, y = frame(3_000)
    assert mlflow_debt.flush()
    with samples._lock:  # what earlier tests left (fits outside runs whose models live)
        runs_before, cells_before = set(samples._runs), samples._held_cells
    for _ in range(12):
        with mlflow.start_run():
            LogisticRegression().fit(X, y)
            IsolationForest(n_estimators=5, random_state=0).fit(X[["age"]])
        assert mlflow_debt.flush()
    with samples._lock:
        assert set(samples._runs) <= runs_before
        assert samples._held_cells <= cells_before
    assert len(client.search_runs([e.experiment_id for e in client.search_experiments()])) == 12


def _fit_like_signatures() -> dict[tuple[str, str], inspect.Signature]:
    from sklearn.utils import all_estimators

    out = {}
    for name, cls in all_estimators():
        for method in ("fit", "fit_transform", "fit_predict"):
            if hasattr(cls, method) and not isinstance(getattr(cls, method), property):
                out[(name, method)] = inspect.signature(getattr(cls, method))
    return out


@pytest.mark.usefixtures("client")
def test_autolog_keeps_every_estimators_signatures_with_the_plugin() -> None:
    """MLflow's own test_autolog_preserves_original_function_attributes, with the plugin on.

    Its fit_transform/fit_predict behind sklearn's available_if (Pipeline, ...) once made
    inspect.signature raise through autolog's wrapper and our descriptor.
    """
    before = _fit_like_signatures()
    mlflow.sklearn.autolog(log_models=False, silent=True)
    try:
        after = _fit_like_signatures()
    finally:
        mlflow.sklearn.autolog(disable=True)
    assert after == before


@pytest.mark.usefixtures("client")
def test_uninstall_after_autolog_leaves_autologs_patch() -> None:
    X, y = frame()
    mlflow.sklearn.autolog(log_models=False, silent=True)
    try:
        patched = LogisticRegression.__dict__["fit"]
        assert not isinstance(patched, hook.FitDescriptor)  # autolog wrapped our descriptor
        hook.uninstall()
        try:
            assert LogisticRegression.__dict__["fit"] is patched
            LogisticRegression().fit(X, y)  # autolog still makes its run
            runs = mlflow.search_runs(search_all_experiments=True)
            assert len(runs) == 1
            assert "metrics.training_score" in runs
        finally:
            hook.install()
    finally:
        mlflow.sklearn.autolog(disable=True)
    assert isinstance(LogisticRegression.__dict__["fit"], hook.FitDescriptor)


def test_autolog_and_capture_compose_both_ways(client) -> None:
    X, y = frame()
    mlflow.sklearn.autolog(log_models=False, silent=True)
    try:
        LogisticRegression().fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    assert mlflow_debt.flush()
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert "training_score" in run.data.metrics
    fs = tags.decode(run.data.tags)
    assert fs is not None
    assert fs.names == ["age", "visits"]


# --- fresh interpreters --------------------------------------------------------------------

MAIN_ESTIMATOR = """
import numpy as np, pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
class Shift(TransformerMixin, BaseEstimator):
    def __init__(self, by=1.0):
        self.by = by
    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self
    def transform(self, X):
        return np.asarray(X) + self.by
rng = np.random.default_rng(0)
X = pd.DataFrame({"age": rng.normal(40, 10, 200), "visits": rng.poisson(5, 200) * 1.0})
y = (X.age > 40).astype(int)
"""

BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "mlflow_debt" or name.startswith("mlflow_debt."):
            raise ImportError("mlflow-debt is not installed here")
sys.meta_path.insert(0, Block())
"""


@pytest.mark.slow
def test_main_estimators_pickle_by_value_and_load_without_mlflow_debt(tmp_path) -> None:
    """Defects 1 and 8: cloudpickle, loky workers and log_model(cloudpickle), no run needed."""
    uri = f"sqlite:///{tmp_path}/m.db"
    code = (
        MAIN_ESTIMATOR
        + f"""
import mlflow, cloudpickle, sys
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from mlflow_debt.capture import hook
assert isinstance(Shift.__dict__["fit"], hook.FitDescriptor)
blob = cloudpickle.dumps(make_pipeline(Shift(), LogisticRegression()).fit(X, y))
assert b"mlflow_debt" not in blob and b"_thread" not in blob
open("model.pkl", "wb").write(blob)
cross_val_score(make_pipeline(Shift(), LogisticRegression()), X, y, cv=2, n_jobs=2)
mlflow.set_tracking_uri({uri!r})
with mlflow.start_run():
    GridSearchCV(make_pipeline(Shift(), LogisticRegression()), {{"shift__by": [0, 1]}},
                 cv=2, n_jobs=2).fit(X, y)
    info = mlflow.sklearn.log_model(make_pipeline(Shift(), LogisticRegression()).fit(X, y),
                                    name="m", serialization_format="cloudpickle")
loaded = mlflow.sklearn.load_model(info.model_uri)
print("ok", loaded.predict(X)[:3].tolist(), info.model_uri)
"""
    )
    out = run_script(code, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1].startswith("ok")
    load = (
        BLOCKER
        + MAIN_ESTIMATOR
        + """
import pickle
try:
    import mlflow_debt
except ImportError:
    pass
else:
    raise SystemExit("the blocker did not block")
model = pickle.load(open("model.pkl", "rb"))
print("loaded", type(model.steps[0][1]).__module__, model.predict(X)[:3].tolist())
"""
    )
    out = run_script(load, tmp_path, flags=("-I",), MLFLOW_DEBT_DISABLE="1")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("loaded __main__")


@pytest.mark.slow
def test_python_w_error_never_makes_a_fit_raise(tmp_path) -> None:
    code = f"""
import mlflow, numpy as np
from sklearn.linear_model import LogisticRegression
mlflow.set_tracking_uri("sqlite:///{tmp_path}/w.db")
with mlflow.start_run():
    LogisticRegression().fit(np.arange(40.0).reshape(20, 2), [0, 1] * 10)
print("fit ok")
"""
    out = run_script(code, tmp_path, flags=("-W", "error::UserWarning"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "fit ok" in out.stdout


@pytest.mark.slow
def test_importing_the_plugin_before_mlflow_keeps_capture_on(tmp_path, client, tracking_uri):
    """Issue 10 §3.2: `import mlflow_debt.plugin` first used to leave capture silently off."""
    code = f"""
import warnings
import mlflow_debt.plugin
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import mlflow
from mlflow_debt.capture import hook
assert hook.installed(), "capture is off"
assert not [w for w in caught if "context provider" in str(w.message)], caught
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
mlflow.set_tracking_uri({tracking_uri!r})
with mlflow.start_run() as run:
    LogisticRegression().fit(pd.DataFrame({{"a": np.arange(20.0)}}), [0, 1] * 10)
print(run.info.run_id)
"""
    out = run_script(code, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    fs = tags.decode(client.get_run(out.stdout.split()[-1]).data.tags)
    assert fs is not None
    assert fs.names == ["a"]


@pytest.mark.slow
def test_a_fork_after_a_fit_never_hangs_and_flush_in_the_child_is_prompt(tmp_path) -> None:
    """Defect 9: multiprocessing.Pool (fork) after a fit on SQLite, children using MLflow."""
    code = f"""
import multiprocessing as mp, time
import mlflow, numpy as np, pandas as pd, mlflow_debt
from sklearn.linear_model import LogisticRegression
mlflow.set_tracking_uri("sqlite:///{tmp_path}/f.db")
X = pd.DataFrame({{"a": np.arange(200.0), "b": np.arange(200.0) % 7}})
y = (X.a > 100).astype(int)
def child(i):
    t = time.monotonic()
    assert mlflow_debt.flush()
    waited = time.monotonic() - t
    mlflow.MlflowClient().search_experiments()
    return waited
with mlflow.start_run() as run:
    for _ in range(5):
        LogisticRegression().fit(X, y)
        ctx = mp.get_context("fork")
        with ctx.Pool(4) as pool:
            waits = pool.map(child, range(8))
        assert max(waits) < 1.0, waits
print("done")
"""
    start = time.monotonic()
    out = run_script(code, tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "done" in out.stdout
    assert time.monotonic() - start < 100


class _HangingServer:
    """Accepts connections and never answers: a tracking server that hangs mid-write."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[object] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()


@pytest.mark.slow
def test_exit_is_bounded_when_the_server_hangs_during_the_write(tmp_path, client) -> None:
    run = client.create_run("0")
    server = _HangingServer()
    try:
        code = """
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
import mlflow
LogisticRegression().fit(pd.DataFrame({"a": np.arange(20.0)}), [0, 1] * 10)
print("fit done")
"""
        start = time.monotonic()
        out = run_script(
            code,
            tmp_path,
            timeout=90,
            MLFLOW_TRACKING_URI=f"http://127.0.0.1:{server.port}",
            MLFLOW_RUN_ID=run.info.run_id,
            MLFLOW_DEBT_EXIT_TIMEOUT="2",
        )
        elapsed = time.monotonic() - start
    finally:
        server.close()
    assert out.returncode == 0, out.stderr[-3000:]
    assert "fit done" in out.stdout
    assert elapsed < 40, elapsed  # MLflow's own HTTP timeouts and retries take minutes
    assert out.stderr.count("MlflowDebtWarning") == 1, out.stderr[-2000:]
    assert "gave up after 2 s" in out.stderr
    assert run.info.run_id in out.stderr


# --- scikit-learn's own estimator checks, inside an active run --------------------------------


def _estimators() -> list[BaseEstimator]:
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import (
        GradientBoostingRegressor,
        IsolationForest,
        RandomForestClassifier,
    )
    from sklearn.feature_selection import SelectKBest
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Lasso, LinearRegression, Ridge, SGDClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        MinMaxScaler,
        OneHotEncoder,
        PolynomialFeatures,
        RobustScaler,
    )
    from sklearn.svm import SVC, LinearSVR
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    return [
        LogisticRegression(max_iter=200),
        LinearRegression(),
        Ridge(),
        Lasso(),
        SGDClassifier(max_iter=20, tol=None),
        StandardScaler(),
        MinMaxScaler(),
        RobustScaler(),
        PolynomialFeatures(),
        FunctionTransformer(),
        OneHotEncoder(handle_unknown="ignore"),
        SimpleImputer(),
        PCA(n_components=1),
        SelectKBest(k=1),
        KMeans(n_clusters=2, n_init=2),
        IsolationForest(n_estimators=5),
        DecisionTreeClassifier(),
        DecisionTreeRegressor(),
        RandomForestClassifier(n_estimators=5),
        GradientBoostingRegressor(n_estimators=5),
        GaussianNB(),
        KNeighborsClassifier(),
        SVC(),
        LinearSVR(),
        MLPClassifier(max_iter=50),
        DummyClassifier(),
        make_pipeline(StandardScaler(), LogisticRegression()),
        ColumnTransformer([("s", StandardScaler(), [0])], remainder="passthrough"),
        GridSearchCV(LogisticRegression(), {"C": [1.0]}, cv=2),
        Doubler(),
    ]


@pytest.fixture
def active_run(tracking_uri):  # noqa: ARG001  requested for the store it sets
    with mlflow.start_run() as run:
        yield run


def _checks():
    from sklearn.utils.estimator_checks import parametrize_with_checks

    return parametrize_with_checks(_estimators())


@pytest.mark.usefixtures("active_run")
@pytest.mark.slow
@_checks()
def test_sklearn_estimator_checks_pass_inside_an_active_run(estimator, check):
    """Each check passes inside a run, or fails exactly as it does without the plugin."""
    assert hook.installed()
    assert mlflow.active_run() is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        try:
            check(clone(estimator))
        except Exception as exc:  # noqa: BLE001  any failure: it must fail the same way without us
            hook.uninstall()
            try:
                with pytest.raises(type(exc)):
                    check(clone(estimator))
            finally:
                hook.install()


def test_the_checks_see_no_mlflow_debt_warning_and_record_nothing(active_run, client) -> None:
    """The checks' fits are made by sklearn's check_* functions: not the user's models."""
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_estimator(StandardScaler())
    assert [w for w in caught if issubclass(w.category, MlflowDebtWarning)] == []
    assert mlflow_debt.flush()
    assert tags.decode(client.get_run(active_run.info.run_id).data.tags) is None


def test_outermost_call_is_usable_by_other_engines() -> None:
    seen = []
    with recorder.outermost_call("xgboost.train") as outer:
        seen.append(outer)
        with recorder.outermost_call("fit") as inner:
            seen.append(inner)
        assert os.environ[recorder.OUTER_ENV] == str(os.getpid())
    with recorder.outermost_call("fit") as again:
        seen.append(again)
    assert seen == [True, False, True]
    assert recorder.OUTER_ENV not in os.environ


# --- joblib workers under `mlflow run` (defect 4) ------------------------------------------

TRAIN = """
import sys
import mlflow, numpy as np, pandas as pd
from joblib import parallel_backend
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from mlflow_debt import tags
from mlflow_debt.capture.profile import describe

class Scale(TransformerMixin, BaseEstimator):  # __main__: loky workers get it by value
    def __init__(self, by=1.0):
        self.by = by
    def fit(self, X, y=None):
        self.seen_run_ = bool(mlflow.active_run())  # workers import mlflow (and the plugin)
        return self
    def transform(self, X):
        return np.asarray(X) * self.by

rng = np.random.default_rng(0)
X = pd.DataFrame({"age": rng.normal(40, 10, 300), "visits": rng.poisson(5, 300) * 1.0})
y = (X.age + rng.normal(0, 5, 300) > 40).astype(int)
with parallel_backend(sys.argv[1], n_jobs=2):
    search = GridSearchCV(make_pipeline(Scale(), LogisticRegression()),
                          {"scale__by": [0.001, 1.0, 1000.0]}, cv=3, n_jobs=2).fit(X, y)
open("expected.txt", "w").write(tags.encode(describe(X, search), "x")[tags.DIGEST_KEY])
"""

MLPROJECT = """
name: joblib-check
entry_points:
  main:
    parameters:
      backend: {type: string, default: loky}
    command: "python train.py {backend}"
"""


@pytest.mark.slow
@pytest.mark.parametrize("joblib_backend", ["loky", "threading"])
def test_a_parallel_search_under_mlflow_run_writes_only_the_search(
    tmp_path, client, tracking_uri, joblib_backend
) -> None:
    import re

    project = tmp_path / "project"
    project.mkdir()
    (project / "MLproject").write_text(MLPROJECT)
    (project / "train.py").write_text(TRAIN)
    env = {
        **ENV,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("MLFLOW_DEBT_DISABLE", None)
    args = [sys.executable, "-m", "mlflow", "run", str(project), "--env-manager", "local"]
    out = subprocess.run(
        [*args, "-P", f"backend={joblib_backend}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=project,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    run_id = re.search(r"Run \(ID '([0-9a-f]+)'\) succeeded", out.stderr).group(1)
    run_tags = client.get_run(run_id).data.tags
    fs = tags.decode(run_tags)
    assert fs is not None
    assert fs.source == "sklearn:GridSearchCV"
    assert fs.complete
    # the selected model's preprocessing, not a candidate's that a worker wrote last
    assert fs.digest == (project / "expected.txt").read_text()
    assert "mlflow_debt.other_fits" not in run_tags
    assert "MlflowDebtWarning" not in out.stderr
