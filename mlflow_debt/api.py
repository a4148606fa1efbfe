"""The public Python API: record a run's features explicitly, read them back.

``record_fit`` is what the sklearn hook calls after an outermost fit; ``log_features`` is the same
thing for everyone else (xgboost/lightgbm/torch users, numpy arrays with names).

Automatic capture keeps the user's fit fast: the fit only pays for a snapshot (a strided copy of
at most 10,000 rows and the pipeline's preprocessing); profiling and the write to MLflow run on
one background thread. Its work is always finished before the process exits (concurrent.futures
joins its workers at exit), so ``mlflow run`` and scripts lose nothing; a process that wants to
read the tags back at once calls :func:`flush`. ``log_features`` writes synchronously.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any

from mlflow_debt import tags
from mlflow_debt.capture import profile as capture
from mlflow_debt.errors import InputError
from mlflow_debt.tags import FeatureRecord, FeatureSet

# run_id -> (names, dtypes) this process recorded there: a second fit on the same columns in the
# same run (cross-validation loops, re-fits) writes nothing more.
_recorded: dict[str, tuple[tuple[str, str], ...]] = {}
_warned_unnamed: set[str] = set()
_lock = threading.Lock()


def _is_dataframe(X: Any) -> bool:
    return type(X).__module__.split(".")[0] == "pandas" and hasattr(X, "columns")


_executor: ThreadPoolExecutor | None = None
_pending: list[Future[Any]] = []


def _write(
    run_id: str, records: list[FeatureRecord], source: str, tracking_uri: str | None = None
) -> FeatureSet:
    from mlflow_debt import store

    encoded = tags.encode(records, source)
    store.set_run_tags(store.get_client(tracking_uri), run_id, encoded)
    key = tuple((r.name, r.dtype) for r in records)
    with _lock:
        _recorded[run_id] = key
    return FeatureSet(tuple(records), source, encoded[tags.DIGEST_KEY])


def _capture_in_background(
    run_id: str, sample: Any, pre: dict[str, str], source: str, tracking_uri: str
) -> None:
    try:
        _write(run_id, capture.describe_sample(sample, pre), source, tracking_uri)
    except Exception as exc:  # never surfaces in the user's code: one warning
        with _lock:
            _recorded.pop(run_id, None)
        from mlflow_debt.capture.hook import MlflowDebtWarning

        warnings.warn(
            f"mlflow-debt could not record the features of run {run_id}: "
            f"{type(exc).__name__}: {exc}",
            MlflowDebtWarning,
            stacklevel=2,
        )


def _submit(*args: Any) -> Future[Any]:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow-debt")
        future = _executor.submit(_capture_in_background, *args)
        _pending[:] = [f for f in _pending if not f.done()] + [future]
    return future


def flush(timeout: float | None = 60.0) -> bool:
    """Wait until features captured in the background are written; True if all were."""
    with _lock:
        pending = list(_pending)
    _, not_done = wait_for(pending, timeout=timeout)
    return not not_done


def record_fit(estimator: Any, X: Any) -> Future[Any] | None:
    """Record ``X``'s features on the active run after ``fit`` (in the background).

    Returns the background job, or None if there was nothing to record.
    """
    from mlflow_debt import store

    run_id = store.active_run_id()
    if run_id is None:
        return None  # outside a run: never create one
    if not _is_dataframe(X):
        if X is not None and run_id not in _warned_unnamed and run_id not in _recorded:
            _warned_unnamed.add(run_id)
            warnings.warn(
                f"mlflow-debt: {type(estimator).__name__} was fit on {type(X).__name__} without "
                "column names, so its features were not recorded. Fit on a pandas DataFrame, or "
                "call mlflow_debt.log_features(X, names=[...]).",
                stacklevel=4,
            )
        return None
    key = tuple((str(c), str(d)) for c, d in zip(X.columns, X.dtypes))
    with _lock:
        if _recorded.get(run_id) == key:
            return None
        _recorded[run_id] = key
    import mlflow

    sample, pre = capture.snapshot(X, estimator)
    source = f"sklearn:{type(estimator).__name__}"
    return _submit(run_id, sample, pre, source, mlflow.get_tracking_uri())


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
    if _is_dataframe(X):
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
    return _write(run_id, records, "log_features")


def get_features(run_id: str) -> FeatureSet | None:
    """The features recorded on ``run_id`` (``None`` if it has none)."""
    from mlflow_debt import store

    flush()
    run = store.get_run(store.get_client(), run_id)
    return tags.decode(run.data.tags)
