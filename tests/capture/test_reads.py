"""Issue 18 §2 and §3: what a fitted estimator reads, and the preprocessing found through any
wrapper. Table-driven over real fitted scikit-learn objects; :mod:`mlflow_debt.capture.reads`
itself imports neither (tests/test_package.py checks it)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, make_column_selector
from sklearn.ensemble import (
    BaggingClassifier,
    RandomForestClassifier,
    StackingClassifier,
    VotingClassifier,
)
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from mlflow_debt.capture import profile, reads

N = 240


def frame(width: int = 20, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    data = {"age": rng.normal(40, 10, N), "visits": rng.poisson(5, N).astype(float)}
    data["plan"] = rng.choice(["basic", "pro", "max"], N)
    data["spend"] = rng.lognormal(3, 1, N)
    for i in range(width - 4):
        data[f"x{i:02d}"] = rng.normal(size=N)
    X = pd.DataFrame(data)
    return X, pd.Series((X["age"] + rng.normal(0, 5, N) > 40).astype(int))


def read_names(est, X) -> list[str]:
    names = [str(c) for c in X.columns]
    return [names[i] for i in reads.analyse(est, names, len(names)).read_positions()]


FOUR = ["age", "visits", "plan", "spend"]


def ct(remainder="drop", cols=("age", "visits", "spend")):
    return ColumnTransformer(
        [("num", StandardScaler(), list(cols)), ("cat", OneHotEncoder(), ["plan"])],
        remainder=remainder,
    )


# --- §2: only what the model reads ------------------------------------------------------------

READ_CASES = [
    ("bare model reads every column", lambda: LogisticRegression(max_iter=500), None),
    (
        "4-column ColumnTransformer, remainder drop",
        lambda: make_pipeline(ct(), LogisticRegression()),
        FOUR,
    ),
    (
        "remainder passthrough reads everything",
        lambda: make_pipeline(ct("passthrough"), LogisticRegression(max_iter=500)),
        None,
    ),
    (
        "a callable selector, resolved at fit",
        lambda: make_pipeline(
            ColumnTransformer(
                [
                    ("num", StandardScaler(), make_column_selector(pattern="^age$|^spend$")),
                    ("cat", OneHotEncoder(), make_column_selector(dtype_include=object)),
                ]
            ),
            LogisticRegression(),
        ),
        ["age", "plan", "spend"],
    ),
    (
        "a drop part and an empty part",
        lambda: make_pipeline(
            ColumnTransformer(
                [
                    ("num", StandardScaler(), ["age"]),
                    ("gone", "drop", ["visits"]),
                    ("none", StandardScaler(), []),
                ]
            ),
            LogisticRegression(),
        ),
        ["age"],
    ),
    (
        "a selector before the model keeps 2 of the 3 numbers",
        lambda: Pipeline(
            [
                ("ct", ColumnTransformer([("num", StandardScaler(), ["age", "visits", "spend"])])),
                ("k", SelectKBest(f_classif, k=1)),
                ("m", LogisticRegression()),
            ]
        ),
        ["age"],
    ),
    (
        "a search over the 4-column pipeline",
        lambda: GridSearchCV(
            make_pipeline(ct(), LogisticRegression()), {"logisticregression__C": [0.1, 1]}, cv=2
        ),
        FOUR,
    ),
    (
        "a wrapper of the 4-column pipeline",
        lambda: CalibratedClassifierCV(make_pipeline(ct(), LogisticRegression()), cv=2),
        FOUR,
    ),
    (
        "voting over two 4-column pipelines (its label encoder reads nothing of X)",
        lambda: VotingClassifier(
            [
                ("a", make_pipeline(ct(), LogisticRegression())),
                ("b", make_pipeline(ct(), LogisticRegression(C=0.5))),
            ]
        ),
        FOUR,
    ),
    (
        "a ColumnTransformer fitted on its own",
        lambda: ct(),
        FOUR,
    ),
]


@pytest.mark.parametrize(("case", "make", "expected"), READ_CASES, ids=[c[0] for c in READ_CASES])
def test_the_features_are_the_columns_the_fitted_estimator_reads(case, make, expected) -> None:
    X, y = frame()
    est = make()
    if case.startswith("bare"):
        X = X.drop(columns=["plan"])
    if case.startswith("a ColumnTransformer"):
        est.fit(X)
    else:
        est.fit(X, y)
    assert read_names(est, X) == (expected if expected is not None else list(X.columns))


def test_the_20_column_frame_through_a_4_column_transformer_records_4() -> None:
    X, y = frame(20)
    model = make_pipeline(ct(), LogisticRegression()).fit(X, y)
    records = profile.describe(X, model)
    assert [r.name for r in records] == FOUR
    assert all(":p" in r.fingerprint for r in records)


def test_the_read_set_maps_one_hot_columns_to_their_source() -> None:
    X, _ = frame(8)
    enc = OneHotEncoder().fit(X[["plan", "visits"]])
    outs = reads.outputs(enc, ["plan", "visits"], 2)
    assert outs is not None
    assert {frozenset([0])} | {frozenset([1])} == set(outs)
    assert outs.count(frozenset([0])) == 3  # three plans


# --- §3: preprocessing through any wrapper ----------------------------------------------------


def _clf(scaler):
    return make_pipeline(scaler, LogisticRegression(max_iter=500))


def _reg(scaler):
    return make_pipeline(scaler, Ridge())


class SamplingPipeline(Pipeline):
    """Stands in for imbalanced-learn's Pipeline (a Pipeline subclass with a sampler step)."""


class RowSampler(BaseEstimator):
    """A sampler-like step (``fit_resample``); it passes sklearn's step validation by also
    being an identity transformer."""

    def fit(self, X, y=None):  # noqa: ARG002  sklearn's signature
        return self

    def transform(self, X):
        return X

    def fit_resample(self, X, y):
        return X, y


WRAPPERS = [
    (
        "TransformedTargetRegressor",
        lambda s: TransformedTargetRegressor(
            regressor=_reg(s), func=np.log1p, inverse_func=np.expm1
        ),
        "reg",
    ),
    ("CalibratedClassifierCV", lambda s: CalibratedClassifierCV(_clf(s), cv=2), "clf"),
    ("OneVsRestClassifier", lambda s: OneVsRestClassifier(_clf(s)), "multi"),
    ("MultiOutputRegressor", lambda s: MultiOutputRegressor(_reg(s)), "multireg"),
    (
        "VotingClassifier",
        lambda s: VotingClassifier(
            [("a", _clf(s)), ("b", RandomForestClassifier(5, random_state=0))]
        ),
        "clf",
    ),
    (
        "StackingClassifier",
        lambda s: StackingClassifier([("a", _clf(s)), ("b", LogisticRegression())], cv=2),
        "clf",
    ),
    (
        "GridSearchCV",
        lambda s: GridSearchCV(_clf(s), {"logisticregression__C": [1.0]}, cv=2),
        "clf",
    ),
    (
        "a Pipeline subclass with a sampler",
        lambda s: SamplingPipeline(
            [("s", RowSampler()), ("scale", s), ("m", LogisticRegression())]
        ),
        "clf",
    ),
    (
        "nested: search of a calibrated pipeline",
        lambda s: GridSearchCV(CalibratedClassifierCV(_clf(s), cv=2), {"cv": [2]}, cv=2),
        "clf",
    ),
]


def _target(kind: str, X: pd.DataFrame, y: pd.Series):
    if kind == "reg":
        return X["spend"]
    if kind == "multireg":
        return np.column_stack([X["spend"], X["age"]])
    if kind == "multi":
        return np.asarray(pd.cut(X["age"], 3, labels=False))
    return y


@pytest.mark.parametrize(("name", "make", "kind"), WRAPPERS, ids=[w[0] for w in WRAPPERS])
def test_a_changed_scaler_inside_any_wrapper_changes_the_fingerprint(name, make, kind) -> None:  # noqa: ARG001
    X, y = frame(6)
    X = X.drop(columns=["plan"])
    target = _target(kind, X, y)
    standard = make(StandardScaler()).fit(X, target)
    minmax = make(MinMaxScaler()).fit(X, target)
    again = make(StandardScaler()).fit(X, target)
    a, b, c = (profile.describe(X, m) for m in (standard, minmax, again))
    assert [r.name for r in a] == list(X.columns)
    assert all(":p" in r.fingerprint for r in a), a
    assert [r.fingerprint for r in a] != [r.fingerprint for r in b]
    assert [r.fingerprint for r in a] == [r.fingerprint for r in c]  # deterministic


def test_a_plain_pipeline_keeps_the_chain_it_had_before() -> None:
    """The walk is new; the descriptions (so stored ``:p`` hashes) of known patterns are not."""
    X, y = frame(6)
    model = make_pipeline(
        ColumnTransformer([("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age"])]),
        LogisticRegression(),
    ).fit(X, y)
    pre = profile.preprocessing_by_column(model, X)
    assert pre == {
        "age": "SimpleImputer(add_indicator=False,copy=True,fill_value=None,"
        "keep_empty_features=False,missing_values=nan,strategy='mean')"
        ">StandardScaler(copy=True,with_mean=True,with_std=True)"
    }


# --- the walk is bounded ------------------------------------------------------------------


class Loop(ClassifierMixin, BaseEstimator):
    """A wrapper whose fitted child points back at it (a cycle)."""

    def __init__(self, inner=None):
        self.inner = inner

    def fit(self, X, y):
        self.inner_ = clone(self.inner).fit(X, y)
        self.inner_.parent_ = self
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def predict(self, X):
        return self.inner_.predict(X)


def test_a_cycle_between_estimators_ends() -> None:
    X, y = frame(6)
    model = Loop(_clf(StandardScaler())).fit(X.drop(columns=["plan"]), y)
    assert read_names(model, X.drop(columns=["plan"])) == [c for c in X.columns if c != "plan"]
    assert profile.preprocessing_by_column(model, X.drop(columns=["plan"]))


def test_a_huge_ensemble_is_walked_in_bounded_time() -> None:
    X, y = frame(6)
    X = X.drop(columns=["plan"])
    bag = BaggingClassifier(_clf(StandardScaler()), n_estimators=300, random_state=0).fit(X, y)
    start = time.perf_counter()
    budget = reads._Budget()
    reads._analyse(bag, None, X.shape[1], budget, 0)
    assert budget.nodes <= reads.MAX_NODES + 1
    assert time.perf_counter() - start < 2.0
    forest = RandomForestClassifier(400, random_state=0).fit(X, y)
    assert read_names(forest, X) == list(X.columns)


def test_an_estimator_that_cannot_be_followed_reads_everything() -> None:
    class Odd:
        def get_params(self, deep=False):  # noqa: ARG002  sklearn's signature
            raise RuntimeError("no")

    assert reads.analyse(Odd(), ["a", "b"], 2).read_positions() == [0, 1]
    assert reads.analyse(LinearRegression(), None, 3).chains == {}


# --- through a real run and store ------------------------------------------------------------


def test_a_run_records_the_4_columns_read_and_counts_the_16_unread(client) -> None:
    import mlflow

    import mlflow_debt
    from mlflow_debt import tags

    X, y = frame(20)
    with mlflow.start_run() as run:
        make_pipeline(ct(), LogisticRegression()).fit(X, y)
    assert mlflow_debt.flush()
    stored = client.get_run(run.info.run_id).data.tags
    fs = tags.decode(stored)
    assert fs is not None
    assert fs.names == FOUR
    assert tags.decode_unread(stored) == 16
    assert stored[tags.UNREAD_KEY].endswith(": " + ", ".join(f"x{i:02d}" for i in range(16)))


def test_the_unread_tag_is_bound_to_its_feature_set() -> None:
    from mlflow_debt import tags

    records = [tags.FeatureRecord("a", "float64", "?")]
    encoded = tags.encode(records, "x", unread=["b", "c,d"])
    assert encoded[tags.UNREAD_KEY] == f"2 {encoded[tags.DIGEST_KEY]}: b, c d"
    assert tags.decode_unread(encoded) == 2
    assert tags.UNREAD_KEY not in tags.encode(records, "x")  # nothing unread: no tag
    stale = {
        **tags.encode([tags.FeatureRecord("z", "int64", "?")], "y"),
        tags.UNREAD_KEY: encoded[tags.UNREAD_KEY],
    }
    assert tags.decode_unread(stale) is None  # an earlier capture's value is never read
    many = tags.encode(records, "x", unread=[f"column_{i:04d}" for i in range(1000)])
    assert many[tags.UNREAD_KEY].startswith("1000 ")
    assert len(many[tags.UNREAD_KEY]) < tags.UNREAD_MAX + 40
    assert many[tags.UNREAD_KEY].endswith(", ...")


def test_a_search_over_a_users_transformer_without_fitted_names_keeps_its_chain() -> None:
    """The user's transformer records neither ``feature_names_in_`` nor ``n_features_in_``
    (nor does its pipeline): the search's ``best_estimator_`` is still its fitted child."""
    from sklearn.base import TransformerMixin

    class Scale(TransformerMixin, BaseEstimator):
        def __init__(self, by=1.0):
            self.by = by

        def fit(self, X, y=None):  # noqa: ARG002  sklearn's signature
            self.seen_ = True
            return self

        def transform(self, X):
            return np.asarray(X) * self.by

    X, y = frame(6)
    X = X.drop(columns=["plan"])
    search = GridSearchCV(make_pipeline(Scale(), LogisticRegression()), {"scale__by": [1.0]}, cv=2)
    pre = profile.preprocessing_by_column(search.fit(X, y), X)
    assert pre == dict.fromkeys(X.columns, "Scale(by=1.0)")
