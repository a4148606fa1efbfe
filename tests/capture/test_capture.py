"""Fingerprints: stable under re-sampling, changed by a change of definition. No store needed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from mlflow_debt.capture.profile import describe, preprocessing_by_column, profile, same_definition


def sample(seed: int, n: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_age": rng.normal(38, 11, n),
            "session_count": rng.poisson(6, n),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1]),
            "is_mobile": rng.random(n) < 0.4,
            "monthly_spend": rng.lognormal(3.2, 0.6, n),
            "signup": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
        }
    )


def fp(df: pd.DataFrame, col: str) -> str:
    return profile(df[col])


@pytest.mark.parametrize("col", ["user_age", "session_count", "plan", "is_mobile", "monthly_spend"])
def test_resampling_keeps_the_definition(col: str) -> None:
    base = fp(sample(0), col)
    same = [same_definition(base, fp(sample(seed), col)) for seed in range(1, 21)]
    assert all(same), (col, base, [fp(sample(s), col) for s in range(1, 21)])


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s / 100,  # unit change
        lambda s: s * 2.54,  # inches -> cm
        lambda s: s * 12,  # years -> months
        lambda s: (s - s.mean()) / s.std(),  # standardised upstream
        lambda s: (s - s.min()) / (s.max() - s.min()),  # min-max scaled
        lambda s: s.round(),  # re-encoded as whole numbers
        lambda s: s.mask(s > 50),  # nulls where there were none
    ],
    ids=["x0.01", "x2.54", "x12", "standardised", "minmax", "rounded", "nulls"],
)
def test_a_changed_definition_changes_the_fingerprint(change) -> None:
    df = sample(1)
    changed = df.assign(user_age=change(df["user_age"]))
    assert same_definition(fp(sample(0), "user_age"), fp(changed, "user_age")) is False


def test_fill_strategy_is_part_of_the_definition() -> None:
    df = sample(2)
    holes = df["user_age"].mask(np.random.default_rng(0).random(len(df)) < 0.1)
    with_nulls, by_zero, by_sentinel = (
        profile(holes),
        profile(holes.fillna(0)),
        profile(holes.fillna(-1)),
    )
    assert len({with_nulls, by_zero, by_sentinel}) == 3


def test_recoded_categories_change_the_fingerprint() -> None:
    df = sample(3)
    recoded = df["plan"].map({"basic": "b", "plus": "p", "pro": "q"})
    assert same_definition(profile(df["plan"]), profile(recoded)) is False
    as_codes = df["plan"].map({"basic": 0, "plus": 1, "pro": 2})
    assert same_definition(profile(df["plan"]), profile(as_codes)) is False


def test_rare_categories_coming_and_going_do_not_matter() -> None:
    df = sample(4)
    with_rare = df["plan"].copy()
    with_rare.iloc[:10] = "legacy"  # 0.2% of rows
    assert profile(df["plan"]) == profile(with_rare)


def test_kinds_are_readable() -> None:
    df = sample(5)
    assert fp(df, "user_age").startswith("num:+:mp1.6")
    assert fp(df, "session_count").startswith("int:+:")
    assert fp(df, "plan").startswith("cat:k3:")
    assert fp(df, "is_mobile").startswith("bin:p0.4")
    assert fp(df, "signup") == "dt:na0"


def test_unknown_fingerprints_are_not_comparable() -> None:
    assert same_definition("?", "num:+:m1:s1:na0") is None
    assert same_definition("num:+:m1:s1:na0", "num:+:m1.1:s1:na0") is True
    assert same_definition("num:+:m1:s1:na0", "num:+:m1.2:s1:na0") is False
    assert same_definition("num:+:m1:s1:na0", "int:+:m1:s1:na0") is False


def test_describe_keeps_column_order_and_dtypes() -> None:
    df = sample(6)[["plan", "user_age", "is_mobile"]]
    recs = describe(df)
    assert [r.name for r in recs] == ["plan", "user_age", "is_mobile"]
    assert [r.dtype for r in recs] == [str(df[c].dtype) for c in df.columns]


def test_preprocessing_is_part_of_each_columns_fingerprint() -> None:
    df = sample(7)
    X, y = df[["user_age", "session_count", "plan"]], df["is_mobile"]

    def pipe(scaler):
        ct = ColumnTransformer(
            [("num", scaler, ["user_age"]), ("cat", OneHotEncoder(), ["plan"])],
            remainder="passthrough",
        )
        return Pipeline([("prep", ct), ("lr", LogisticRegression(max_iter=200))]).fit(X, y)

    std, mm = describe(X, pipe(StandardScaler())), describe(X, pipe(MinMaxScaler()))
    assert std[0].fingerprint != mm[0].fingerprint  # user_age: the scaler changed
    assert std[2].fingerprint == mm[2].fingerprint  # plan: same encoder
    assert std[1].fingerprint == profile(X["session_count"])  # passthrough: raw values only


def test_searches_are_described_by_their_best_estimator() -> None:
    df = sample(8)
    X, y = df[["user_age", "session_count"]], df["is_mobile"]
    pipe = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())])
    search = GridSearchCV(pipe, {"lr__C": [0.1, 1.0]}, cv=2).fit(X, y)
    pre = preprocessing_by_column(search, X)
    assert set(pre) == {"user_age", "session_count"}
    assert pre["user_age"].startswith("StandardScaler(")


def test_the_vectorised_path_agrees_with_profiling_one_column_at_a_time() -> None:
    rng = np.random.default_rng(9)
    df = pd.DataFrame(
        {
            "f": rng.normal(5, 2, 3000),
            "i": rng.integers(0, 100, 3000),
            "b01": rng.integers(0, 2, 3000),
            "const": np.full(3000, 7.0),
            "neg": -rng.exponential(3, 3000),
            "holes": rng.normal(0, 1, 3000),
            "u8": rng.integers(0, 255, 3000).astype("uint8"),
        }
    )
    df.loc[::10, "holes"] = np.nan
    assert [r.fingerprint for r in describe(df)] == [profile(df[c]) for c in df.columns]


def test_large_frames_are_profiled_on_a_stride_sample() -> None:
    rng = np.random.default_rng(10)
    big = pd.DataFrame({"x": rng.normal(40, 10, 300_000), "y": rng.poisson(4, 300_000)})
    sampled, full = describe(big), [profile(big[c]) for c in big.columns]
    assert all(same_definition(a.fingerprint, b) for a, b in zip(sampled, full))
