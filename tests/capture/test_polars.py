"""polars DataFrames are recorded like pandas ones: same names, same fingerprints, bounded cost."""

from __future__ import annotations

import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlflow_debt
from mlflow_debt import tags
from mlflow_debt.capture import profile

pl = pytest.importorskip("polars", reason="polars is in the test extra: pip install -e '.[test]'")


def frames(n: int = 3000) -> tuple[pd.DataFrame, object]:
    rng = np.random.default_rng(0)
    pdf = pd.DataFrame(
        {
            "user_age": rng.normal(38, 11, n),
            "balance": -rng.lognormal(3, 1, n),
            "session_count": rng.poisson(6, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "is_mobile": rng.random(n) < 0.4,
            "signup": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
        }
    )
    pdf.loc[::9, "user_age"] = np.nan
    pldf = pl.DataFrame({c: pdf[c].to_numpy() for c in pdf.columns}).with_columns(
        pl.col("user_age").fill_nan(None)  # a polars null, not a NaN
    )
    return pdf, pldf


def test_is_frame_knows_pandas_and_polars_and_nothing_else() -> None:
    pdf, pldf = frames(10)
    assert profile.is_frame(pdf)
    assert profile.is_frame(pldf)
    assert not profile.is_frame(pdf.to_numpy())
    assert not profile.is_frame(pldf["plan"])  # a polars Series is not a frame
    assert not profile.is_frame([[1, 2]])


@pytest.mark.parametrize("n", [3000, 45_000], ids=["small", "strided"])
def test_a_polars_frame_gets_the_same_names_and_fingerprints_as_pandas(n: int) -> None:
    pdf, pldf = frames(n)
    from_pandas, from_polars = profile.describe(pdf), profile.describe(pldf)
    assert [r.name for r in from_polars] == list(pdf.columns)
    assert [r.fingerprint for r in from_polars] == [r.fingerprint for r in from_pandas]
    # dtypes are the user's polars dtypes
    dtypes = [r.dtype for r in from_polars][:5]
    assert dtypes == ["Float64", "Float64", "Int64", "String", "Boolean"]
    assert from_polars[0].fingerprint.endswith(":na20")  # the nulls are seen


def test_only_the_bounded_sample_is_converted() -> None:
    _, pldf = frames(45_000)
    sample, pre = profile.snapshot(pldf)
    assert isinstance(sample, pd.DataFrame)
    assert pre == {}
    assert len(sample) <= profile.MAX_ROWS
    assert list(sample.columns) == pldf.columns


def test_categorical_and_null_holding_columns() -> None:
    s = ["a", "b", None, "a"] * 500
    pldf = pl.DataFrame(
        {
            "cat": pl.Series(s, dtype=pl.Categorical),
            "text": s,
            "ints_with_nulls": [1, None, 3, 4] * 500,
            "bools_with_nulls": [True, None, False, True] * 500,
        }
    )
    recs = profile.describe(pldf)
    assert recs[0].fingerprint == recs[1].fingerprint  # categorical reads as its categories
    assert recs[0].fingerprint.startswith("cat:k2:")
    assert recs[0].fingerprint.endswith("na50")
    assert recs[2].fingerprint.startswith("int:+:")
    assert recs[2].fingerprint.endswith("na50")
    assert recs[2].dtype == "Int64"
    assert all(r.fingerprint != tags.UNKNOWN for r in recs)


def test_polars_is_never_imported_for_pandas_input() -> None:
    code = (
        "import sys, pandas as pd\n"
        "from mlflow_debt.capture import profile, recorder\n"
        "df = pd.DataFrame({'a': [1.0, 2.0, 3.0]})\n"
        "assert profile.is_frame(df) and recorder.is_dataframe(df)\n"
        "profile.describe(df)\n"
        "print('polars' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_fit_on_a_polars_frame_inside_a_run_records_its_features(client) -> None:
    pdf, pldf = frames(500)
    X = pldf.select("balance", "session_count")
    y = (pdf["balance"] < pdf["balance"].median()).astype(int).to_numpy()
    with mlflow.start_run() as run:
        LogisticRegression(max_iter=500).fit(X, y)
    assert mlflow_debt.flush()
    fs = tags.decode(client.get_run(run.info.run_id).data.tags)
    assert fs is not None
    assert fs.names == ["balance", "session_count"]
    assert [f.dtype for f in fs.features] == ["Float64", "Int64"]
    assert fs.features[0].fingerprint.startswith("num:-:mn")
