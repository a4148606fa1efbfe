"""Recording a fit's features: a snapshot in the fit, profiling and the write in the background.

``record_fit`` is what the sklearn hook calls after an outermost fit. The fit only pays for a
snapshot (a strided copy of at most 10,000 rows and the pipeline's preprocessing); profiling and
the write to MLflow run on one background thread. Its work is always finished before the process
exits (concurrent.futures joins its workers at exit), so ``mlflow run`` and scripts lose nothing;
a process that wants to read the tags back at once calls :func:`flush`.

``record_features`` is the entry point for engines that profile on their own (Spark, native
xgboost/lightgbm): already-made :class:`FeatureRecord`s, written like a fit's.
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any

from mlflow_debt import tags
from mlflow_debt.capture import profile as capture
from mlflow_debt.tags import FeatureRecord, FeatureSet

# run_id -> (names, dtypes) this process recorded there: a second fit on the same columns in the
# same run (cross-validation loops, re-fits) writes nothing more.
_recorded: dict[str, tuple[tuple[str, str], ...]] = {}
_warned_unnamed: set[str] = set()
_lock = threading.Lock()


def _is_dataframe(X: Any) -> bool:
    return capture.is_frame(X)


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


def record_features(
    records: list[FeatureRecord], source: str, run_id: str | None = None
) -> FeatureSet | None:
    """Write already-profiled features to ``run_id`` (else the active run); None outside a run."""
    from mlflow_debt import store

    run_id = run_id or store.active_run_id()
    if run_id is None:
        return None
    return _write(run_id, records, source)
