"""The public Python API: record a run's features explicitly, read them back.

``log_features`` is for everything automatic capture does not see (xgboost/lightgbm native APIs,
torch, numpy arrays with names); it writes synchronously. Automatic capture lives in
:mod:`mlflow_debt.capture.recorder`; :func:`flush` waits for its background writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlflow_debt import tags
from mlflow_debt.capture import profile as capture
from mlflow_debt.capture.recorder import flush, is_dataframe, log_explicit, positional_names
from mlflow_debt.errors import InputError
from mlflow_debt.tags import FeatureSet

__all__ = ["flush", "get_features", "log_features"]


def log_features(
    X_or_names: Any, run_id: str | None = None, *, names: Sequence[str] | None = None
) -> FeatureSet:
    """Record the features a model was trained on, as automatic capture would.

    ``X_or_names`` is a pandas DataFrame, a 2-D array-like with ``names=[...]``, or just a list
    of feature names (their dtype and fingerprint are then unknown). The run is ``run_id``, else
    the active run (under ``mlflow run``, the run it launched). Returns what was recorded.
    """
    from mlflow_debt import store

    run_id = run_id or store.active_run_id()
    if run_id is None:
        raise InputError("No active run: call inside mlflow.start_run() or pass run_id=")
    X = X_or_names
    if is_dataframe(X) and names is None:
        if positional_names(X.columns):
            raise InputError(
                "the DataFrame's columns are positions (0, 1, ...), not names: pass names=[...]"
            )
        records = capture.describe(X)
    elif names is not None:
        import numpy as np
        import pandas as pd

        arr = np.asarray(X)
        if arr.ndim != 2 or arr.shape[1] != len(names):
            raise InputError(
                f"names has {len(names)} entries but X has shape {getattr(arr, 'shape', '?')}"
            )
        records = capture.describe(pd.DataFrame(arr, columns=list(names)))
    elif isinstance(X, (list, tuple)) or type(X).__name__ == "Index":
        records = capture.describe_names(list(X))
    else:
        raise InputError(
            f"log_features takes a pandas DataFrame, an array with names=[...], or a list of "
            f"names; got {type(X).__name__}"
        )
    return log_explicit(run_id, records)


def get_features(run_id: str) -> FeatureSet | None:
    """The features recorded on ``run_id`` (``None`` if it has none)."""
    from mlflow_debt import store

    flush()
    run = store.get_run(store.get_client(), run_id)
    return tags.decode(run.data.tags)
