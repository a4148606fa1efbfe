"""Issue 18 §1: follow the data through transformers (provenance).

The idioms of the issue's table, each as a new user writes it, in a fresh interpreter (scikit-
learn's ``set_config`` and the hook's patching are process-wide), on a real SQLite store; then the
guest contract: the registry never keeps an output alive, never changes outputs, pickles, clone or
warnings.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from mlflow_debt.capture import provenance

ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def run_script(
    code: str, tmp_path: Path, *, flags: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    """As tests/capture/test_plugin_contract.py: the script in a fresh interpreter."""
    script = tmp_path / "script.py"
    script.write_text(code)
    merged = {**ENV, **env}
    if "MLFLOW_DEBT_DISABLE" not in env:
        merged.pop("MLFLOW_DEBT_DISABLE", None)
    return subprocess.run(
        [sys.executable, *flags, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=merged,
    )


PRELUDE = """
import json, sys, warnings
import mlflow, numpy as np, pandas as pd, sklearn
import mlflow_debt
from mlflow_debt import tags
mlflow.set_tracking_uri("sqlite:///{db}")
rng = np.random.default_rng(0)
n = 400
X = pd.DataFrame({{"age": rng.normal(40, 10, n), "visits": rng.poisson(5, n).astype(float),
                  "plan": rng.choice(["basic", "pro", "max"], n),
                  **{{f"x{{i:02d}}": rng.normal(size=n) for i in range(17)}}}})
y = (X["age"] > 40).astype(int)
num = ["age", "visits"]
out = {{}}
def record(label, run):
    mlflow_debt.flush()
    t = mlflow.get_run(run.info.run_id).data.tags
    fs = tags.decode(t)
    out[label] = {{"names": fs.names, "fps": [f.fingerprint for f in fs.features],
                   "source": fs.source, "unread": tags.decode_unread(t)}} if fs else {{}}
"""


def run_idioms(tmp_path: Path, body: str, *flags: str) -> dict:
    code = PRELUDE.format(db=f"{tmp_path.as_posix()}/m.db") + body + "\nprint(json.dumps(out))\n"
    proc = run_script(code, tmp_path, flags=flags)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_issues_idioms_record_what_a_user_expects(tmp_path) -> None:
    body = """
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, PolynomialFeatures, StandardScaler
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for T in (StandardScaler, MinMaxScaler, SimpleImputer, PolynomialFeatures):
        with mlflow.start_run() as run:
            Xs = T().fit_transform(X[num]); LogisticRegression().fit(Xs, y)
        record("tutorial " + T.__name__, run)
        with mlflow.start_run() as run:
            Pipeline([("t", T()), ("m", LogisticRegression())]).fit(X[num], y)
        record("pipeline " + T.__name__, run)
    scaler = StandardScaler()
    with mlflow.start_run() as run:
        scaler.fit(X[num]); LogisticRegression().fit(scaler.transform(X[num]), y)
    record("fit then transform", run)
    sklearn.set_config(transform_output="pandas")
    ohe = OneHotEncoder(sparse_output=False)
    ct = ColumnTransformer([("num", StandardScaler(), num), ("cat", ohe, ["plan"])])
    with mlflow.start_run() as run:
        Xt = ct.fit_transform(X); LogisticRegression().fit(Xt, y)
    record("pandas output", run)
    from sklearn.model_selection import train_test_split
    with mlflow.start_run() as run:
        Xt = ct.fit_transform(X); Xa, Xb, ya, yb = train_test_split(Xt, y, random_state=0)
        LogisticRegression().fit(Xa[["num__age", "cat__plan_pro"]], ya)
    record("pandas output, split and subset", run)
    sklearn.set_config(transform_output="default")
    # the notebook: transformers fitted before the run, the model inside it
    outside = StandardScaler().fit(X[num]); Xs_before = StandardScaler().fit_transform(X[num])
    with mlflow.start_run() as run:
        LogisticRegression().fit(outside.transform(X[num]), y)
    record("scaler fitted outside the run", run)
    with mlflow.start_run() as run:
        LogisticRegression().fit(Xs_before, y)
    record("array made outside the run", run)
    # chained transformers and a view of the output
    with mlflow.start_run() as run:
        Xi = SimpleImputer().fit_transform(X[num]); Xs = StandardScaler().fit_transform(Xi)
        LogisticRegression().fit(Xs[:300], y[:300])
    record("chained, then a row slice", run)
    with mlflow.start_run() as run:
        steps = [("i", SimpleImputer()), ("s", StandardScaler()), ("m", LogisticRegression())]
        Pipeline(steps).fit(X[num], y)
    record("chained pipeline", run)
out["warnings"] = [str(w.message) for w in caught if "mlflow-debt" in str(w.message)]
"""
    out = run_idioms(tmp_path, body)
    assert out["warnings"] == []
    for T in ("StandardScaler", "MinMaxScaler", "SimpleImputer", "PolynomialFeatures"):
        tutorial, pipeline = out["tutorial " + T], out["pipeline " + T]
        assert tutorial["names"] == ["age", "visits"], T
        assert tutorial["source"] == "sklearn:LogisticRegression"
        assert tutorial["fps"] == pipeline["fps"], T  # the same features as the pipeline
        assert all(":p" in fp for fp in tutorial["fps"])
    assert out["fit then transform"]["fps"] == out["tutorial StandardScaler"]["fps"]
    pandas_out = out["pandas output"]
    assert pandas_out["names"] == ["age", "visits", "plan"]  # never num__age, cat__plan_basic
    assert pandas_out["unread"] == 17
    split = out["pandas output, split and subset"]
    assert split["names"] == ["age", "plan"]
    assert split["fps"][0] == pandas_out["fps"][0]
    assert out["scaler fitted outside the run"]["fps"] == out["tutorial StandardScaler"]["fps"]
    assert out["array made outside the run"]["fps"] == out["tutorial StandardScaler"]["fps"]
    assert out["chained, then a row slice"]["fps"] == out["chained pipeline"]["fps"]


@pytest.mark.slow
def test_a_model_fit_outside_the_run_on_a_transformed_array_gets_its_features_when_logged(
    tmp_path,
) -> None:
    body = """
import mlflow.sklearn
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
model = LogisticRegression().fit(StandardScaler().fit_transform(X[num]), y)
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(model, name="m")
record("run", run)
mlflow_debt.flush()
lm = MlflowClient().get_logged_model(info.model_id)
out["model"] = tags.decode(lm.tags).names
"""
    out = run_idioms(tmp_path, body)
    assert out["run"]["names"] == ["age", "visits"]
    assert out["model"] == ["age", "visits"]


@pytest.mark.slow
def test_w_error_and_outputs_are_as_without_the_plugin(tmp_path) -> None:
    """Under ``-W error::UserWarning``, and capture on vs off: the same outputs, bit for bit."""
    body = """
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler
ohe = OneHotEncoder(sparse_output=False)
ct = ColumnTransformer([("num", StandardScaler(), num), ("cat", ohe, ["plan"])])
with mlflow.start_run() as run:
    Xt = ct.fit_transform(X); again = ct.transform(X)
    model = LogisticRegression().fit(Xt, y)
    np.save("out.npy", np.hstack([Xt, again, model.predict_proba(again)]))
"""
    on = tmp_path / "on"
    off = tmp_path / "off"
    on.mkdir()
    off.mkdir()
    run_idioms(on, body, "-W", "error::UserWarning")
    code = PRELUDE.format(db=f"{off.as_posix()}/m.db") + body
    proc = run_script(code, off, flags=("-W", "error::UserWarning"), MLFLOW_DEBT_DISABLE="1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert np.array_equal(np.load(on / "out.npy"), np.load(off / "out.npy"))


# --- in this process: the registry is a guest ----------------------------------------------


def frame(n: int = 200) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"age": rng.normal(40, 10, n), "visits": rng.poisson(5, n).astype(float)})
    return X, pd.Series((X["age"] > 40).astype(int))


def test_provenance_never_keeps_an_output_alive() -> None:
    X, _ = frame()
    scaler = StandardScaler()
    Xs = scaler.fit_transform(X)
    assert provenance.origin_of(Xs) is not None  # remembered...
    ref = weakref.ref(Xs)
    key = id(Xs)
    del Xs
    gc.collect()
    assert ref() is None  # ...but never kept alive
    assert key not in provenance._origins


def test_provenance_never_copies_or_changes_the_output() -> None:
    X, y = frame()
    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    assert provenance.origin_of(Xs) is not None
    assert type(Xs) is np.ndarray
    assert Xs.flags.owndata
    assert Xs.base is None
    assert np.array_equal(Xs, (X.to_numpy() - scaler.mean_) / scaler.scale_)
    # the array pickles, and so do the transformer and its clone, as plain sklearn objects
    assert np.array_equal(pickle.loads(pickle.dumps(Xs)), Xs)
    assert b"mlflow_debt" not in pickle.dumps(Xs) + pickle.dumps(scaler)
    assert clone(scaler).get_params() == scaler.get_params()
    LogisticRegression().fit(Xs, y)  # outside a run: nothing recorded, nothing raised


def test_the_registry_is_bounded_and_an_id_reused_never_matches() -> None:
    X, _ = frame(50)
    scaler = StandardScaler().fit(X)
    keep = [scaler.transform(X) for _ in range(provenance.MAX_ORIGINS + 10)]
    assert len(provenance._origins) <= provenance.MAX_ORIGINS
    assert provenance.origin_of(keep[-1]) is not None
    assert provenance.origin_of(keep[0]) is None  # the oldest went first
    assert provenance.origin_of(np.zeros((50, 2))) is None  # an unrelated array


def test_fit_transform_inherited_from_transformer_mixin_is_recorded(client) -> None:
    """It was never recorded: ``TransformerMixin`` is not a ``BaseEstimator``, so its
    ``fit_transform`` was not patched, and the ``fit`` it calls is called by sklearn's code."""
    import mlflow
    from sklearn.base import BaseEstimator, TransformerMixin

    import mlflow_debt
    from mlflow_debt import tags
    from mlflow_debt.capture import hook

    class Halver(TransformerMixin, BaseEstimator):
        def fit(self, X, y=None):  # noqa: ARG002  sklearn's signature
            return self

        def transform(self, X):
            return np.asarray(X) / 2

    assert isinstance(TransformerMixin.__dict__["fit_transform"], hook.FitDescriptor)
    X, y = frame()
    with mlflow.start_run() as run:
        Xh = Halver().fit_transform(X)
    assert mlflow_debt.flush()
    fs = tags.decode(client.get_run(run.info.run_id).data.tags)
    assert fs is not None
    assert fs.names == ["age", "visits"]
    assert fs.source == "sklearn:Halver"
    with mlflow.start_run() as run:
        LogisticRegression().fit(Xh, y)
    assert mlflow_debt.flush()
    fs = tags.decode(client.get_run(run.info.run_id).data.tags)
    assert fs is not None
    assert fs.names == ["age", "visits"]
    assert all(":p" in f.fingerprint for f in fs.features)  # Halver's chain
