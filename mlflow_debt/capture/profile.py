"""Turning a training input into :class:`~mlflow_debt.tags.FeatureRecord`\\ s. Pure: no MLflow.

A pandas DataFrame, or a polars one (detected by its type's module, so polars is imported only
when the input is a polars frame; only the bounded sample is converted). Each column gets a name,
a dtype and a fingerprint: :mod:`mlflow_debt.capture.fingerprint` makes and compares those, this
module feeds it the columns and works out the preprocessing a fitted pipeline applies to each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlflow_debt.capture import fingerprint, reads
from mlflow_debt.capture.fingerprint import same_definition as same_definition  # re-exported
from mlflow_debt.tags import UNKNOWN, FeatureRecord

#: Profiles are computed on at most this many rows (an even stride through the data): plenty
#: for statistics bucketed at 0.1 decade, and it keeps capture's cost flat in the data size.
MAX_ROWS = 10_000


def _frame_kind(X: Any) -> str | None:
    cls = type(X)
    if cls.__name__ != "DataFrame":
        return None
    root = cls.__module__.split(".")[0]
    return root if root in {"pandas", "polars"} else None


def is_frame(X: Any) -> bool:
    """Whether ``X`` is a DataFrame whose columns can be recorded (pandas or polars).

    Never imports either library: it looks at the type's name and module.
    """
    return _frame_kind(X) is not None


def profile(series: pd.Series) -> str:
    """The fingerprint of one column's values (see :mod:`mlflow_debt.capture.fingerprint`)."""
    n = len(series)
    if n == 0:
        return UNKNOWN
    na = fingerprint.na_bucket(float(series.isna().mean()))
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return fingerprint.boolean(float(series.dropna().astype(float).mean()), na)
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return fingerprint.datetime(na)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        return fingerprint.numeric(values, na)
    counts = series.dropna().astype(str).value_counts()
    total = int(counts.sum())
    # Only the frequent categories reach Python (an id column has thousands of rare ones).
    frequent = counts[counts >= fingerprint.MIN_CATEGORY_SHARE * total].iloc[
        : fingerprint.MAX_CATEGORIES
    ]
    return fingerprint.categorical(((str(c), int(k)) for c, k in frequent.items()), na, total)


def _stride(n: int) -> int:
    return 1 if n <= MAX_ROWS else math.ceil(n / MAX_ROWS)


def _sample(df: pd.DataFrame) -> pd.DataFrame:
    step = _stride(len(df))
    return df if step == 1 else df.iloc[::step]


def _polars_sample(X: Any) -> tuple[pd.DataFrame, dict[str, str]]:
    """The strided sample of a polars frame as pandas, and each column's polars dtype name.

    Column by column through numpy (no pyarrow needed): numbers stay numbers (nulls become NaN),
    booleans with nulls become objects, strings and categoricals objects, dates datetime64.
    """
    step = _stride(X.height)
    sample = X.gather_every(step) if step > 1 else X
    columns: dict[str, Any] = {}
    dtypes: dict[str, str] = {}
    for name, s in zip(sample.columns, sample.get_columns()):
        dtypes[str(name)] = str(s.dtype)
        try:
            values = s.to_numpy()
        except Exception:  # noqa: BLE001  nested or exotic types: their text still profiles as categories
            values = np.asarray(s.cast(str, strict=False).to_list(), dtype=object)
        if values.dtype == object and s.dtype.is_numeric():
            values = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy()
        columns[str(name)] = values
    return pd.DataFrame(columns, copy=False), dtypes


def _is_plain_numeric(dtype: Any) -> bool:
    return (
        isinstance(dtype, np.dtype)
        and dtype.kind in "iuf"  # bool ("b") and complex are profiled one by one
    )


def _vectorised_profiles(sample: pd.DataFrame) -> dict[int, str]:
    """Fingerprints of the plain numeric columns without nulls, computed together."""
    idx = [i for i, d in enumerate(sample.dtypes) if _is_plain_numeric(d)]
    if len(idx) < 2 or len(sample) == 0:
        return {}
    block = sample.iloc[:, idx].to_numpy(dtype="float64")
    return {i: fp for i, fp in zip(idx, fingerprint.numeric_columns(block)) if fp is not None}


def describe(X: Any, estimator: Any = None, *, fingerprints: bool = True) -> list[FeatureRecord]:
    """One record per column of ``X`` (pandas or polars) in column order: name, dtype, fingerprint.

    ``estimator``, when given and fitted, contributes the preprocessing applied to each column,
    and only the columns it reads are described (docs/lineage.md, "What each pattern records").
    """
    sample, pre = snapshot(X, estimator)
    read = analyse(estimator, sample).read_positions() if estimator is not None else None
    return describe_sample(sample, pre, fingerprints=fingerprints, columns=read)


def copy_on_write() -> bool:
    """Whether pandas guarantees copy-on-write: a frame derived from another (a slice) never sees
    later in-place changes to it (always in pandas 3; opt-in in pandas 2)."""
    try:
        if int(pd.__version__.split(".", 1)[0]) >= 3:
            return True
        return pd.get_option("mode.copy_on_write") is True
    except Exception:  # noqa: BLE001  an unknown pandas: take the copy
        return False


def snapshot(
    X: Any, estimator: Any = None, *, copy: bool = True
) -> tuple[pd.DataFrame, dict[str, str]]:
    """What :func:`describe_sample` needs, taken now: a private copy of the rows it profiles and
    the preprocessing of each column. Cheap (a strided copy of at most :data:`MAX_ROWS` rows), so
    the profiling itself can run later, elsewhere, without seeing later changes to ``X``.

    ``copy=False`` (only when :func:`copy_on_write` holds) returns the strided rows as a derived
    frame that shares ``X``'s memory: pandas copies ``X`` before any later in-place change, so the
    sample still never sees one. The caller copies it (:func:`materialize`) or drops it soon, so
    that it does not keep all of ``X`` alive; this keeps even the copy out of the user's ``fit``.

    A polars frame is sampled first, then only the sample is converted to pandas; its columns keep
    their polars dtype names (``Float64``, ``String``), kept in the sample's ``attrs``.
    """
    sample, pre, _ = snapshot_reads(X, estimator, copy=copy)
    return sample, pre


def snapshot_reads(
    X: Any, estimator: Any = None, *, copy: bool = True
) -> tuple[pd.DataFrame, dict[str, str], list[int] | None]:
    """:func:`snapshot`, and the positions of the columns the fitted ``estimator`` reads
    (``None``: no estimator). One walk of the fitted object gives both."""
    analysis = None
    if _frame_kind(X) == "polars":
        sample, dtypes = _polars_sample(X)
        sample.attrs[_DTYPES_ATTR] = dtypes
        if estimator is not None:
            analysis = analyse(estimator, sample)
    else:
        if estimator is not None:
            analysis = analyse(estimator, X)
        sample = _sample(X)
        sample = sample.copy() if copy else sample.copy(deep=False)
    if analysis is None:
        return sample, {}, None
    chains = analysis.chain_text()
    if not chains:
        return sample, {}, analysis.read_positions()
    names = _names(sample)
    pre = {names[i]: t for i, t in chains.items() if i < len(names)}
    return sample, pre, analysis.read_positions()


def materialize(sample: pd.DataFrame) -> pd.DataFrame:
    """A private copy of a sample taken with ``snapshot(..., copy=False)``."""
    return sample.copy()


_DTYPES_ATTR = "mlflow_debt.dtypes"


def describe_sample(
    sample: pd.DataFrame,
    pre: dict[str, str] | None = None,
    *,
    fingerprints: bool = True,
    columns: Sequence[int] | None = None,
) -> list[FeatureRecord]:
    """Records for the columns of ``sample`` (see :func:`snapshot`); ``columns``: only those
    positions (the columns the model reads), in the sample's order."""
    pre = pre or {}
    names: dict[str, str] = sample.attrs.get(_DTYPES_ATTR) or {}
    if columns is not None:
        keep = sorted(set(columns))
        if keep != list(range(sample.shape[1])):
            attrs = dict(sample.attrs)
            sample = sample.iloc[:, keep]
            sample.attrs.update(attrs)
    fast = _vectorised_profiles(sample) if fingerprints else {}
    records = []
    for i, name in enumerate(sample.columns):
        fp = fast.get(i) or (profile(sample.iloc[:, i]) if fingerprints else UNKNOWN)
        if str(name) in pre:
            fp = fingerprint.with_preprocessing(fp, pre[str(name)])
        dtype = names.get(str(name)) or str(sample.dtypes.iloc[i])
        records.append(FeatureRecord(str(name), dtype, fp))
    return records


def describe_names(
    names: Sequence[Any], dtypes: Sequence[str] | None = None
) -> list[FeatureRecord]:
    """Records for bare column names (fingerprint unknown), e.g. from a schema or signature."""
    dtypes = list(dtypes) if dtypes is not None else [UNKNOWN] * len(names)
    return [FeatureRecord(str(n), str(d) or UNKNOWN, UNKNOWN) for n, d in zip(names, dtypes)]


# --- preprocessing and the read set ----------------------------------------------------------


def _describe_transformer(t: Any) -> str:
    return reads.describe(t)


def analyse(estimator: Any, X: Any) -> reads.Reads:
    """What the fitted ``estimator`` reads of ``X``'s columns and the transformers it applies to
    each (:func:`mlflow_debt.capture.reads.analyse`); O(columns), no data is touched."""
    return reads.analyse(estimator, reads.LazyNames(lambda: _names(X)), len(X.columns))


def _names(X: Any) -> list[str]:
    """The column labels as text (``tolist`` first: iterating a pandas Index is far slower)."""
    columns = X.columns
    labels = columns.tolist() if hasattr(columns, "tolist") else list(columns)
    return [c if isinstance(c, str) else str(c) for c in labels]


def preprocessing_by_column(estimator: Any, X: Any) -> dict[str, str]:
    """For each input column, a description of the transformers the fitted model applies to it.

    Follows pipelines, ColumnTransformers (fitted selections), selectors and any meta-estimator
    (:mod:`mlflow_debt.capture.reads`). Columns the model reads untransformed are absent.
    """
    names = _names(X)
    chains = analyse(estimator, X).chain_text()
    return {names[i]: text for i, text in chains.items() if i < len(names)}
