"""Recording fits' features: attribution in the fit; the write when the run ends (or before).

Interface for the engines (the sklearn hook, Spark, native xgboost/lightgbm)
-----------------------------------------------------------------------------
``outermost_call(kind)``
    A context manager around a fit-like call (``kind`` names it: ``"fit"``, ``"partial_fit"``,
    ``"xgboost.train"``, ...). It yields ``True`` only for the *outermost* fit-like call of this
    thread in this process, and ``False`` for a call made inside another one (a Pipeline's steps,
    a search's candidates), for a call in a joblib worker thread while another thread of this
    process is inside an outermost call, and for every call in a process that inherited the
    marker of a capturing parent (loky workers, a fork made during a fit: :data:`OUTER_ENV`
    names the pid of the process inside an outermost call; a child process sees another pid).
    Only a ``True`` call records. Cheap (a thread-local counter); never raises.
``record_fit(estimator, X, *, kind="fit", y=None)``
    What the sklearn hook calls after an outermost call returned: takes a snapshot of ``X`` (at
    most 10,000 evenly strided rows and the fitted pipeline's preprocessing) and attributes the
    fit to the active run. Profiling and the store write happen later: when the run ends, or
    before on the background writer. With pandas' copy-on-write (pandas 3, or opted in) the
    snapshot is a view, which pandas shields from later in-place changes to ``X``; the writer
    copies the views it keeps (at once for a frame of 100,000 cells or more) and drops the others,
    so no user frame is kept alive.
``record_features(records, source, run_id=None, *, model=None) -> FeatureSet | None``
    For engines that profile on their own: already-made :class:`FeatureRecord`\\ s, attributed
    like a fit (``model`` is the fitted model object, so a later ``log_model`` of that object puts
    these features on its LoggedModel) and written before it returns (synchronously). Returns
    the recorded set, ``None`` outside a run.
``flush(timeout=60.0) -> bool``
    Wait for the background writer (what open runs recorded so far).
``add_write_listener(fn)``
    ``fn(run_id: str | None, model_id: str | None, tags: dict[str, str])`` is called after each
    successful write of a run's feature tags (``model_id`` None; ``tags`` the run's complete
    ``mlflow_debt.*`` feature tags) or of a LoggedModel's (its source run, its id, its tags), on
    the writing thread (the background writer, or the thread ending the run or logging the
    model, through a short-lived helper thread), one write at a time. An exception from ``fn`` is
    swallowed with one warning. ``remove_write_listener(fn)`` undoes it.

When the features are written
-----------------------------
When the run ends: ``mlflow.end_run()``, a ``with mlflow.start_run()`` block's exit, autolog's
end of its run, or ``MlflowClient.set_terminated`` write the run's features *before* MLflow marks
it finished, and a ``log_model`` writes its LoggedModel's (and the run's) before it returns
(:mod:`~mlflow_debt.capture.seams`), synchronously and bounded by ``MLFLOW_DEBT_EXIT_TIMEOUT``.
While the run is open the background writer writes what may still change; a run nobody ends (a
``mlflow run`` child under ``MLFLOW_RUN_ID``) is written at interpreter exit, bounded the same
way (:mod:`~mlflow_debt.capture.writer`). A failure is one warning, never an exception.

The modules
-----------
* this one: the outermost-call guard and what a fit records (the fit's snapshot, its score);
* :mod:`~mlflow_debt.capture.attribution`: the rule choosing the fit a run's tags describe (pure);
* :mod:`~mlflow_debt.capture.samples`: what runs trained and the samples a write may still need;
* :mod:`~mlflow_debt.capture.writer`: the writes, the writer thread, exit and fork handlers;
* :mod:`~mlflow_debt.capture.seams`: the wrapped ``Model.log`` and ``set_terminated``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

from mlflow_debt import tags
from mlflow_debt.capture import samples, seams, writer
from mlflow_debt.capture.samples import (
    _OUTSIDE,
    MAX_HELD_CELLS,
    MAX_OUTSIDE_FITS,
    _cells,
    _drop_sample,
    _Fit,
    _frame_columns,
    _order,
    is_dataframe,
    positional_names,
)
from mlflow_debt.capture.writer import (
    EXIT_TIMEOUT_ENV,
    _schedule,
    _write_run,
    add_write_listener,
    flush,
    remove_write_listener,
    warn_once,
)
from mlflow_debt.tags import FeatureRecord, FeatureSet

__all__ = [
    "EXIT_TIMEOUT_ENV",
    "OUTER_ENV",
    "add_write_listener",
    "enter",
    "flush",
    "is_dataframe",
    "leave",
    "log_explicit",
    "outermost_call",
    "positional_names",
    "record_features",
    "record_fit",
    "remove_write_listener",
    "uninstall_log_model_hook",
    "warn_once",
]

#: Set (to this process's pid) while a thread of the process is inside an outermost fit-like
#: call, so that child processes made for that call (joblib's loky workers, a fork) never write.
OUTER_ENV = "MLFLOW_DEBT_OUTER_FIT"

_local = threading.local()
_lock = threading.RLock()  # guards the guard's counter below
_outer_count = 0  # threads of this process inside an outermost call
_saved_env: str | None = None


# --- the outermost-call guard ---------------------------------------------------------------


def _inherited() -> bool:
    marker = os.environ.get(OUTER_ENV)
    return bool(marker) and marker != str(os.getpid())


def _is_pool_thread() -> bool:
    """A worker thread of a ``multiprocessing.pool.ThreadPool`` (joblib's threading backend)."""
    t = threading.current_thread()
    return type(t).__module__ == "multiprocessing.dummy" or type(t).__name__ == "DummyProcess"


def enter(*, inner: bool = False) -> bool:
    """Start a fit-like call; True if it is the outermost one (see :func:`outermost_call`).

    ``inner=True`` forces the call (and everything inside it) to be inner, e.g. a fit made by a
    library function. Every :func:`enter` must be paired with :func:`leave` (with its result).
    """
    global _outer_count, _saved_env
    depth = getattr(_local, "depth", 0)
    _local.depth = depth + 1
    if depth or inner:
        return False
    try:
        if _inherited() or (_outer_count and _is_pool_thread()):
            return False
        with _lock:
            _outer_count += 1
            if _outer_count == 1:
                _saved_env = os.environ.get(OUTER_ENV)
                os.environ[OUTER_ENV] = str(os.getpid())
    except Exception:  # noqa: BLE001  the guard never fails the user's fit
        return False
    return True


def leave(outer: bool) -> None:
    """End a call started with :func:`enter`."""
    global _outer_count
    _local.depth = max(getattr(_local, "depth", 1) - 1, 0)
    if not outer:
        return
    try:
        with _lock:
            _outer_count = max(_outer_count - 1, 0)
            if _outer_count == 0:
                if _saved_env is None:
                    os.environ.pop(OUTER_ENV, None)
                else:
                    os.environ[OUTER_ENV] = _saved_env
    except Exception:  # noqa: BLE001  the guard never fails the user's fit
        pass


@contextlib.contextmanager
def outermost_call(kind: str) -> Iterator[bool]:
    """Around a fit-like call: yields True only for the outermost one (module docstring)."""
    del kind  # part of the interface: engines name what they guard
    outer = enter()
    try:
        yield outer
    finally:
        leave(outer)


def _guard_after_fork_in_child() -> None:
    global _lock, _outer_count
    _lock = threading.RLock()
    _outer_count = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_guard_after_fork_in_child)


# --- what a fit records ---------------------------------------------------------------------


def _score(estimator: Any, y_given: bool) -> int:
    try:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(estimator) or is_regressor(estimator):
            return 2
        from sklearn.utils import get_tags

        kind = get_tags(estimator).estimator_type
    except Exception:  # noqa: BLE001  the user's estimator: capture never fails the fit
        kind = None
    if y_given and kind not in ("outlier_detector", "clusterer") and hasattr(estimator, "predict"):
        return 1
    return 0


def _thread_label() -> tuple[str, bool]:
    t = threading.current_thread()
    main = t is threading.main_thread()
    return ("main" if main else t.name), main


def _run_id_here() -> str | None:
    from mlflow_debt import store

    run_id = store.active_run_id()
    if run_id is None and threading.current_thread() is not threading.main_thread():
        run_id = store.main_thread_run_id()
    return run_id


def _add(run_id: str, fit: _Fit, model: Any, tracking_uri: str | None) -> bool:
    """Attribute ``fit`` to ``run_id`` (:func:`samples._add`) and make sure the run's end and
    ``log_model`` are seen; True if the writer should tidy the samples now."""
    urgent = samples._add(run_id, fit, model, tracking_uri)
    seams.install()
    return urgent


def record_fit(estimator: Any, X: Any, *, kind: str = "fit", y: Any = None) -> None:
    """Attribute an outermost fit on ``X`` to the active run (profiling happens later)."""
    run_id = _run_id_here()
    traced = _traced(estimator, X)
    if run_id is None:
        # Outside a run nothing is written (never create one), but a model fit now and logged
        # later inside a run ("fit, then start_run and log_model") still gets its features.
        if traced is not None or (is_dataframe(X) and not positional_names(X.columns)):
            _remember_outside_run(estimator, X, kind, y, traced)
        return
    name = type(estimator).__name__
    if traced is not None:  # the output of a recorded transformer: its source columns
        _record_traced(run_id, estimator, traced, kind, y)
        return
    if not is_dataframe(X):
        if X is not None:
            warn_once(
                run_id,
                "unnamed",
                f"mlflow-debt: {name}.{kind} got a {type(X).__name__} without column names, so "
                "its features were not recorded. Fit on a pandas DataFrame with named columns, "
                "or call mlflow_debt.log_features(X, names=[...]).",
                stacklevel=5,
            )
        return
    if positional_names(X.columns):
        warn_once(
            run_id,
            "positional",
            f"mlflow-debt: {name}.{kind} got a DataFrame whose columns are positions (0, 1, ...), "
            "not names, so its features were not recorded (unrelated models would seem to share "
            "feature 0). Name the columns (pd.DataFrame(X, columns=[...])) or call "
            "mlflow_debt.log_features(X, names=[...]).",
            stacklevel=5,
        )
        return
    import mlflow

    from mlflow_debt.capture import profile

    # With pandas' copy-on-write the fit keeps a view of X's rows, copied later by the writer
    # or dropped (see _tidy), unless the writer is far behind; a forked child has no writer.
    view = (
        not writer._forked_child
        and samples.held_cells() < 4 * MAX_HELD_CELLS
        and type(X).__module__.startswith("pandas")
        and profile.copy_on_write()
    )
    sample, pre, reads = profile.snapshot_reads(X, estimator, copy=not view)
    rows, cols = X.shape
    thread, main = _thread_label()
    fit = _Fit(
        next(_order),
        f"sklearn:{name}",
        kind,
        thread,
        main,
        _score(estimator, y is not None),
        # pandas: read from the sample, later (off the fit); polars: its own dtype names
        None if type(X).__module__.startswith("pandas") else _frame_columns(X),
    )
    fit.sample, fit.view, fit.pre = sample, view, pre
    fit.reads = None if reads is None or len(reads) == cols else reads
    fit.held = rows * cols if view else min(rows, profile.MAX_ROWS) * cols
    urgent = _add(run_id, fit, estimator, mlflow.get_tracking_uri())
    _schedule(run_id, urgent=urgent)


def _traced(estimator: Any, X: Any) -> Any:
    """``X``'s provenance (:mod:`.provenance`) when it is a recorded transformer's output."""
    from mlflow_debt.capture import provenance

    try:
        return provenance.trace(estimator, X)
    except Exception:  # noqa: BLE001  capture never fails the user's fit: recorded as it is
        return None


def _traced_fit(estimator: Any, traced: Any, kind: str, y: Any) -> _Fit:
    """A fit on a transformer's output, as a fit on its source columns (sample shared)."""
    origin = traced.origin
    thread, main = _thread_label()
    fit = _Fit(
        next(_order),
        f"sklearn:{type(estimator).__name__}",
        kind,
        thread,
        main,
        _score(estimator, y is not None),
        (tuple(origin.names), tuple(origin.dtypes)),
    )
    fit.sample, fit.view, fit.pre = origin.sample, origin.view, dict(traced.pre)
    fit.reads = None if len(traced.read) == len(origin.names) else list(traced.read)
    fit.unread = tuple(traced.unread)
    fit.held = _cells(origin.sample)
    return fit


def _record_traced(run_id: str, estimator: Any, traced: Any, kind: str, y: Any) -> None:
    import mlflow

    fit = _traced_fit(estimator, traced, kind, y)
    urgent = _add(run_id, fit, estimator, mlflow.get_tracking_uri())
    _schedule(run_id, urgent=urgent)


def _remember_outside_run(estimator: Any, X: Any, kind: str, y: Any, traced: Any = None) -> None:
    import mlflow

    from mlflow_debt.capture import profile

    with samples._lock:
        bucket = samples._runs.get(_OUTSIDE)
        if bucket is not None:  # only models still alive, and only the last few
            kept = [f for f in bucket.fits if f.alive()][-(MAX_OUTSIDE_FITS - 1) :]
            for f in bucket.fits:
                if f not in kept:
                    _drop_sample(f)
            bucket.fits = kept
    if traced is not None:
        fit = _traced_fit(estimator, traced, kind, y)
        if fit.view:  # kept for a later run: not the user's frame
            fit.sample, fit.view = profile.materialize(fit.sample), False
        _add(_OUTSIDE, fit, estimator, mlflow.get_tracking_uri())
        return
    columns = _frame_columns(X)
    sample, pre, reads = profile.snapshot_reads(X, estimator)
    thread, main = _thread_label()
    fit = _Fit(
        next(_order),
        f"sklearn:{type(estimator).__name__}",
        kind,
        thread,
        main,
        _score(estimator, y is not None),
        columns,
    )
    fit.sample, fit.pre, fit.held = sample, pre, _cells(sample)
    fit.reads = None if reads is None or len(reads) == len(columns[0]) else reads
    _add(_OUTSIDE, fit, estimator, mlflow.get_tracking_uri())


def record_features(
    records: list[FeatureRecord],
    source: str,
    run_id: str | None = None,
    *,
    model: object | None = None,
) -> FeatureSet | None:
    """Attribute already-profiled features to ``run_id`` (else the active run) and write them.

    ``model`` is the fitted model object: a later ``log_model`` of it puts these features on its
    LoggedModel. Written before this returns. ``None`` outside a run.
    """
    run_id = run_id or _run_id_here()
    if run_id is None:
        return None
    return _explicit(run_id, records, source, model=model, score=2)


def _explicit(
    run_id: str, records: list[FeatureRecord], source: str, *, model: object | None, score: int
) -> FeatureSet:
    import mlflow

    thread, main = _thread_label()
    columns = (tuple(r.name for r in records), tuple(r.dtype for r in records))
    fit = _Fit(next(_order), source, "record", thread, main, score, columns)
    fit.records = list(records)
    _add(run_id, fit, model, mlflow.get_tracking_uri())
    _write_run(run_id)
    encoded = tags.encode(records, source)
    return FeatureSet(tuple(records), source, encoded[tags.DIGEST_KEY])


def log_explicit(run_id: str, records: list[FeatureRecord]) -> FeatureSet:
    """What :func:`mlflow_debt.log_features` records: it wins over automatic fits of the run."""
    return _explicit(run_id, records, "log_features", model=None, score=3)


def uninstall_log_model_hook() -> None:
    """Restore ``Model.log`` and ``MlflowClient.set_terminated`` (capture's ``uninstall()``)."""
    seams.uninstall()
