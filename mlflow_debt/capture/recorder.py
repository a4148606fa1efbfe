"""Recording fits' features: attribution in the fit, profiling and the write in the background.

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
    fit to the active run. Profiling and the store write happen later, on a writer thread. With
    pandas' copy-on-write (pandas 3, or opted in) the snapshot is a view, which pandas shields
    from later in-place changes to ``X``; the writer copies the views it keeps (at once for a
    frame of 100,000 cells or more) and drops the others, so no user frame is kept alive.
``record_features(records, source, run_id=None, *, model=None) -> FeatureSet | None``
    For engines that profile on their own: already-made :class:`FeatureRecord`\\ s, attributed
    like a fit (``model`` is the fitted model object, so a later ``log_model`` of that object puts
    these features on its LoggedModel) and written before it returns (synchronously). Returns
    the recorded set, ``None`` outside a run.

Attribution (see docs/lineage.md)
---------------------------------
Every recorded fit of a run is kept, in order, with its estimator class, kind and thread. The
run's own ``mlflow_debt.*`` feature tags describe *one* of them: the fit of the model last logged
from the run (matched by identity: the object passed to any flavor's ``log_model``, or a search's
``best_estimator_``; else by the logged signature's input names), else an explicit
``log_features``, else the last fit of a *predictor* (a classifier or regressor, else anything fit
with ``y`` that predicts) on the main thread, else the last recorded fit. The others are listed in
``mlflow_debt.other_fits``. A logged model's features also go onto its LoggedModel's tags (same
schema).

Writing
-------
One daemon writer thread, started on demand, ends when it has had nothing to do for
:data:`LINGER_S` (so a sweep of one-fit runs starts one thread, not one per fit). It waits a
short debounce (:data:`DEBOUNCE_S`) so that a loop of fits costs one write, profiles only the fits
it writes, and writes only tags that changed. After each write it tidies (:func:`_tidy`): a
sample is kept only while a write may need it (its model is alive, it is logged, or the open run
may still choose it), views are copied, and a closed run that no ``log_model`` can reach is
forgotten, so a long process does not grow. At interpreter exit the wait for it is bounded
(:data:`EXIT_TIMEOUT_ENV`, 10 s by default), then one :class:`MlflowDebtWarning` says what was not
recorded. Fork safety: no store call is in flight across a ``fork()`` (the writer's store lock is
taken before it), and a forked child starts with no writer, no queue and no inherited
attribution; it writes synchronously (a ``multiprocessing`` child may exit through ``os._exit``).

Why one module of ~1,050 lines: the guard, the attribution, the writer with its tidying of
samples, the ``Model.log`` hook and the fork handlers share one lock and one process state that a
fork must reset together; split along the section comments below (the samples' bookkeeping,
``_copy`` to ``_tidy``, first) when one of them grows.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mlflow_debt import tags
from mlflow_debt.errors import MlflowDebtWarning
from mlflow_debt.tags import FeatureRecord, FeatureSet

#: Set (to this process's pid) while a thread of the process is inside an outermost fit-like
#: call, so that child processes made for that call (joblib's loky workers, a fork) never write.
OUTER_ENV = "MLFLOW_DEBT_OUTER_FIT"
#: Seconds the interpreter waits at exit for unwritten features (default 10).
EXIT_TIMEOUT_ENV = "MLFLOW_DEBT_EXIT_TIMEOUT"
DEFAULT_EXIT_TIMEOUT_S = 10.0
#: The writer waits this long after a fit for more fits of the same run (a loop costs one write).
DEBOUNCE_S = 0.5
#: While fits keep coming, the wait doubles up to this (flush() and exit never wait for it).
MAX_DELAY_S = 8.0
#: The compact list of the run's other fits.
OTHER_FITS_KEY = tags.OTHER_FITS_KEY
#: Longest ``other_fits`` value (MLflow truncates tag values at 8,000 characters).
OTHER_FITS_MAX = 6_000
#: Samples (rows x columns) the writer lets pile up before it is woken to drop the ones no write
#: can need and copy the shared ones it keeps (:func:`_tidy`): 32 MB of float64.
MAX_HELD_CELLS = 4_000_000
#: A sample shared with a frame at least this large (cells) wakes the writer to copy it at once,
#: so a large training frame is never kept alive for the debounce.
COPY_NOW_CELLS = 100_000
#: After its last write the writer waits this long for more work before it ends, so a sweep of
#: runs (one fit each) does not start a thread per fit.
LINGER_S = 1.0

_local = threading.local()
_lock = threading.RLock()  # guards the state below; never held across a store call
_io_lock = threading.Lock()  # held by whoever talks to the store on our behalf
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


# --- warnings -------------------------------------------------------------------------------

_warned: set[tuple[str, str]] = set()


def warn_once(run_id: str | None, cause: str, message: str, stacklevel: int = 2) -> None:
    """One :class:`MlflowDebtWarning` per run and cause; a filter set to error cannot escape."""
    with _lock:
        if (run_id or "", cause) in _warned:
            return
        _warned.add((run_id or "", cause))
    # "-W error" turns the warning into an exception: the user's code goes on regardless
    with contextlib.suppress(Exception):
        warnings.warn(message, MlflowDebtWarning, stacklevel=stacklevel + 1)


# --- what a run trained --------------------------------------------------------------------

_order = itertools.count(1)


@dataclass(eq=False)
class _Fit:
    order: int
    source: str
    kind: str
    thread: str
    main: bool
    score: int  # 3 explicit, 2 classifier/regressor, 1 supervised predictor, 0 other
    #: The columns' labels and dtypes as the input has them; ``None``: read them from the sample
    #: when first needed (not in the fit), and always before the sample is dropped.
    columns: tuple[tuple[Any, ...], tuple[Any, ...]] | None
    sample: Any = None
    view: bool = False  # the sample still shares the user's frame (copy-on-write, see snapshot)
    held: int = 0  # cells counted in _held_cells for this sample (the frame's, for a view)
    pre: dict[str, str] = field(default_factory=dict)
    records: list[FeatureRecord] | None = None
    model: weakref.ref[Any] | None = None
    refs: list[weakref.ref[Any]] = field(default_factory=list)
    #: Positions (in ``key``) of the columns the fitted model reads; ``None``: all of them.
    reads: list[int] | None = None
    #: Columns handed in but not read, when known beyond ``key`` (provenance: the transformers').
    unread: tuple[str, ...] | None = None

    _key: tuple[tuple[str, str], ...] | None = None

    def alive(self) -> bool:
        """Whether the fitted model (or a search's ``best_estimator_``) may still be logged."""
        if self.model is not None and self.model() is not None:
            return True
        return any(ref() is not None for ref in self.refs)

    def labels_and_dtypes(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        if self.columns is None:
            self.columns = _frame_columns(self.sample)
        return self.columns

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        """(name, dtype) of each column, as text."""
        if self._key is None:
            labels, dtypes = self.labels_and_dtypes()
            self._key = tuple(zip(map(str, labels), map(_dtype_name, dtypes)))
        return self._key


@dataclass(eq=False)
class _Run:
    tracking_uri: str | None
    fits: list[_Fit] = field(default_factory=list)
    logged: _Fit | None = None
    to_models: dict[str, _Fit] = field(default_factory=dict)  # model_id -> fit, unwritten
    written: dict[str, str] = field(default_factory=dict)


_runs: dict[str, _Run] = {}
_by_model: dict[int, tuple[str, _Fit]] = {}  # id(fitted model) -> (run_id, fit)
_dirty: dict[str, None] = {}
_writer: threading.Thread | None = None
_idle = threading.Event()
_idle.set()
_wake = threading.Event()  # flush() and exit: write now
_nudge = threading.Event()  # urgent work for the writer: a large view to copy, too much held
_views: list[_Fit] = []  # fits whose sample is a view of a large frame, to copy at once
_review: dict[str, None] = {}  # runs _tidy looks at until they are forgotten
_held_cells = 0  # cells held by all samples
_tidy_at = MAX_HELD_CELLS  # _held_cells past which a fit wakes the writer
_in_flight: list[str] = []  # the run the writer is writing now
_lingering = False  # the writer has written everything and waits for more work
_delay = DEBOUNCE_S
_last_write = 0.0
_forked_child = False
_atexit_registered = False


def is_dataframe(X: Any) -> bool:
    """A pandas or polars DataFrame (polars is never imported for other input)."""
    from mlflow_debt.capture import profile

    return profile.is_frame(X)


def _labels(columns: Any) -> list[Any]:
    tolist = getattr(columns, "tolist", None)  # a pandas Index: far faster than iterating it
    return list(tolist() if callable(tolist) else columns)


def positional_names(columns: Any) -> bool:
    """Whether column labels are positions (a ``RangeIndex`` or all integers), not names."""
    if type(columns).__name__ == "RangeIndex":
        return True
    dtype = getattr(columns, "dtype", None)  # a pandas Index's dtype answers without a scan
    if type(dtype).__name__ == "StringDtype":
        return False
    kind = getattr(dtype, "kind", None) if type(dtype).__module__.startswith("numpy") else None
    if kind is not None and kind != "O":
        return kind in "iub" and len(columns) > 0
    labels = _labels(columns)
    return bool(labels) and all(
        isinstance(c, int) or (type(c).__module__ == "numpy" and "int" in type(c).__name__)
        for c in labels
    )


def _frame_columns(X: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The labels and dtypes of a pandas or polars frame's columns."""
    dtypes = X.dtypes
    listed = dtypes.tolist() if hasattr(dtypes, "tolist") else dtypes
    return tuple(_labels(X.columns)), tuple(listed)


_dtype_names: dict[Any, str] = {}


def _dtype_name(dtype: Any) -> str:
    """``str(dtype)``, remembered for NumPy's dtypes (it costs microseconds each time)."""
    name = _dtype_names.get(dtype) if type(dtype).__module__.startswith("numpy") else None
    if name is None:
        name = str(dtype)
        if type(dtype).__module__.startswith("numpy") and len(_dtype_names) < 256:
            _dtype_names[dtype] = name
    return name


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


def _forget_model(key: int, fit: _Fit) -> None:
    with _lock:
        if _by_model.get(key, (None, None))[1] is fit:
            del _by_model[key]


def _forgetter(key: int, fit: _Fit) -> Any:
    def forget(_ref: weakref.ref[Any]) -> None:
        _forget_model(key, fit)

    return forget


def _remember_model(run_id: str, fit: _Fit, model: Any) -> None:
    objs = [model]
    best = getattr(model, "best_estimator_", None)  # a search: its refit model is logged too
    if best is not None:
        objs.append(best)
    for i, obj in enumerate(objs):
        try:
            key = id(obj)
            ref = weakref.ref(obj, _forgetter(key, fit))
        except TypeError:
            continue
        if i == 0:
            fit.model = ref
        else:  # the weak reference (and its callback) lives as long as the fit's record
            fit.refs.append(ref)
        _by_model[key] = (run_id, fit)


def _add(run_id: str, fit: _Fit, model: Any, tracking_uri: str | None) -> bool:
    """Attribute ``fit`` to ``run_id``; True if the writer should tidy the samples now."""
    global _held_cells
    with _lock:
        run = _runs.get(run_id)
        if run is None:
            run = _runs[run_id] = _Run(tracking_uri)
        previous = _by_model.get(id(model)) if model is not None else None
        if (
            previous is not None
            and previous[0] == run_id
            and previous[1].labels_and_dtypes() == fit.labels_and_dtypes()
        ):
            # the same model again on the same columns (partial_fit loops, re-fits): one entry
            old = previous[1]
            _drop_sample(old)
            old.order, old.sample, old.view, old.held, old.pre, old.records = (
                fit.order,
                fit.sample,
                fit.view,
                fit.held,
                fit.pre,
                fit.records,
            )
            old.kind = fit.kind
            old.reads, old.unread = fit.reads, fit.unread
            run.fits.remove(old)
            run.fits.append(old)
            fit = old
        else:
            run.fits.append(fit)
            if model is not None:
                _remember_model(run_id, fit, model)
        urgent = False
        if run_id != _OUTSIDE:
            _review[run_id] = None
        if fit.sample is not None:
            _held_cells += fit.held
            if fit.view and fit.held >= COPY_NOW_CELLS:
                _views.append(fit)
                urgent = True
            urgent = urgent or _held_cells > _tidy_at
    _install_log_model_hook()
    return urgent


def _cells(sample: Any) -> int:
    try:
        rows, cols = sample.shape
        return int(rows) * int(cols)
    except Exception:  # noqa: BLE001  an odd sample counts as one cell
        return 1


def _drop_sample(fit: _Fit) -> None:
    """Forget ``fit``'s sample (its names and dtypes are kept). Called under ``_lock``."""
    global _held_cells
    if fit.sample is not None:
        _ = fit.key  # made while the sample can still tell it
    _held_cells -= fit.held
    fit.sample, fit.view, fit.held = None, False, 0


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
        not _forked_child
        and _held_cells < 4 * MAX_HELD_CELLS
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


#: Fits made outside any run, kept (while their model lives) for a later log_model in a run.
_OUTSIDE = ""
MAX_OUTSIDE_FITS = 4


def _remember_outside_run(estimator: Any, X: Any, kind: str, y: Any, traced: Any = None) -> None:
    import mlflow

    from mlflow_debt.capture import profile

    with _lock:
        bucket = _runs.get(_OUTSIDE)
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


# --- choosing and writing -------------------------------------------------------------------


def _choose(run: _Run) -> _Fit | None:
    if run.logged is not None:
        return run.logged
    if not run.fits:
        return None
    main = [f for f in run.fits if f.main] or run.fits
    return max(main, key=lambda f: (f.score, f.order))


def _records(fit: _Fit) -> list[FeatureRecord]:
    """The features of ``fit``: the columns its model reads (``fit.reads``), profiled."""
    if fit.records is None:
        if fit.sample is not None:
            from mlflow_debt.capture import profile

            fit.records = profile.describe_sample(fit.sample, fit.pre, columns=fit.reads)
        else:
            keep = set(range(len(fit.key)) if fit.reads is None else fit.reads)
            fit.records = [
                FeatureRecord(n, d, tags.UNKNOWN) for i, (n, d) in enumerate(fit.key) if i in keep
            ]
        with _lock:
            _drop_sample(fit)
    return fit.records


def _unread(fit: _Fit) -> list[str]:
    """The columns handed to ``fit`` (or to the transformers before it) that it did not read."""
    out = list(fit.unread or ())
    if fit.reads is not None:
        keep, seen = set(fit.reads), set(out)
        out.extend(n for i, (n, _) in enumerate(fit.key) if i not in keep and n not in seen)
    return out


def _encode(fit: _Fit) -> dict[str, str]:
    """The tags of ``fit``'s features (with ``mlflow_debt.unread`` when it left columns unread)."""
    return tags.encode(_records(fit), fit.source, unread=_unread(fit))


def _names_digest(fit: _Fit) -> str:
    return tags.digest(FeatureRecord(n, d, "") for n, d in fit.key)[:8]


def other_fits_value(fits: list[_Fit], primary: _Fit) -> str:
    """``#order kind source n_features columns-digest thread [xN]``, ``;``-separated, in order."""
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...], str], list[_Fit]] = {}
    for f in fits:
        if f is not primary:
            groups.setdefault((f.source, f.kind, f.key, f.thread), []).append(f)
    items = []
    for (source, kind, key, thread), same in groups.items():
        first = same[0]
        times = f" x{len(same)}" if len(same) > 1 else ""
        items.append(
            (
                first.order,
                f"#{first.order} {kind} {source} {len(key)}f "
                f"{_names_digest(first)} {thread}{times}",
            )
        )
    items.sort()
    out: list[str] = []
    size = 0
    for i, (_, text) in enumerate(items):
        if size + len(text) + 2 > OTHER_FITS_MAX:
            out.append(f"+{len(items) - i} more")
            break
        out.append(text)
        size += len(text) + 2
    return "; ".join(out)


def _write_run(run_id: str) -> None:
    """Bring ``run_id``'s tags (and its logged models') up to date with what it trained."""
    from mlflow_debt import store

    with _lock:
        run = _runs.get(run_id)
        if run is None:
            return
        primary = _choose(run)
        fits = list(run.fits)
        to_models = dict(run.to_models)
        run.to_models.clear()
        written = dict(run.written)
    wanted: dict[str, str] = {}
    if primary is not None:
        wanted = _encode(primary)
        if len(fits) > 1:
            wanted[OTHER_FITS_KEY] = other_fits_value(fits, primary)
    changed = {k: v for k, v in wanted.items() if written.get(k) != v}
    model_tags = {mid: _encode(f) for mid, f in to_models.items()}
    if not changed and not model_tags:
        return
    try:
        with _io_lock:
            client = store.get_client(run.tracking_uri)
            if changed:
                store.set_run_tags(client, run_id, changed)
            for model_id, encoded in model_tags.items():
                store.set_logged_model_tags(client, model_id, encoded)
    except BaseException:
        with _lock:  # try again on the next write
            for mid, f in to_models.items():
                run.to_models.setdefault(mid, f)
        raise
    with _lock:
        run.written.update(changed)


def _schedule(run_id: str, *, urgent: bool = False) -> None:
    """Have ``run_id`` written; ``urgent``: wake the writer now to tidy the samples."""
    global _writer
    if _forked_child:
        try:
            _write_run(run_id)
        except Exception as exc:  # noqa: BLE001  never surfaces in the user's code: one warning
            _warn_write_failed(run_id, exc)
        with contextlib.suppress(Exception):
            _tidy()
        return
    with _lock:
        _dirty[run_id] = None
        _idle.clear()
        if _writer is None or not _writer.is_alive():
            _register_atexit()
            _writer = threading.Thread(target=_writer_loop, name="mlflow-debt-writer", daemon=True)
            _writer.start()
        elif urgent or _lingering:  # else the writer's debounce will see this fit anyway
            _nudge.set()


def _warn_write_failed(run_id: str, exc: BaseException) -> None:
    warn_once(
        run_id,
        "write",
        f"mlflow-debt could not record the features of run {run_id}: {type(exc).__name__}: {exc}",
    )


def _copy(fit: _Fit) -> None:
    """Replace ``fit``'s view by a private copy (the copy is made outside the lock)."""
    global _held_cells
    with _lock:
        sample = fit.sample if fit.view else None
    if sample is None:
        return
    from mlflow_debt.capture import profile

    copy = profile.materialize(sample)
    with _lock:
        if fit.sample is sample:  # not replaced (a re-fit) or dropped meanwhile
            _held_cells += _cells(copy) - fit.held
            fit.sample, fit.view, fit.held = copy, False, _cells(copy)


def _still_choosable(run: _Run) -> set[int]:
    """ids of the fits :func:`_choose` may still pick while the run is open: no later fit of the
    same thread kind (main or not) scores as high. Called under ``_lock``."""
    best: dict[bool, int] = {}
    out = set()
    for f in reversed(run.fits):
        later = best.get(f.main, -1)
        if f.score > later:
            out.add(id(f))
            best[f.main] = f.score
    return out


def _needed(run: _Run, fit: _Fit, choosable: set[int]) -> bool:
    """Whether a write may still need ``fit``'s sample: its model is alive (it may be logged),
    it is logged and unwritten, or the run may still choose it. Called under ``_lock``."""
    return (
        id(fit) in choosable
        or fit.alive()
        or fit is run.logged
        or any(f is fit for f in run.to_models.values())
    )


def _copy_large_views() -> None:
    while True:
        with _lock:
            if not _views:
                return
            fit = _views.pop(0)
        _copy(fit)


def _tidy_run(run_id: str, is_open: bool) -> None:
    with _lock:
        run = _runs.get(run_id)
        if run is None:
            _review.pop(run_id, None)
            return
        is_open = is_open or run_id in _dirty  # closed but not yet written: still open here
        choosable = _still_choosable(run) if is_open else set()
        holding = [f for f in run.fits if f.sample is not None]
        drop = [f for f in holding if not _needed(run, f, choosable)]
    for fit in drop:
        with contextlib.suppress(Exception):  # a race with a re-fit: _drop_sample makes it
            _ = fit.key  # outside the lock: pandas work
    with _lock:
        choosable = _still_choosable(run) if is_open else set()
        for fit in drop:
            if not _needed(run, fit, choosable):
                _drop_sample(fit)
    for fit in holding:
        _copy(fit)  # a view kept for later: no longer the user's frame
    with _lock:
        reachable = run.to_models or run_id in _dirty or any(f.alive() for f in run.fits)
        if not is_open and not reachable and _runs.get(run_id) is run:
            del _runs[run_id]  # a closed run no later log_model can reach
            _review.pop(run_id, None)


def _tidy() -> None:
    """Bound what samples hold (the writer's work; pandas work outside the lock): copy the views
    of large frames at once; drop the samples no write can need, keeping their names and dtypes;
    copy the views kept; forget the closed runs that no later ``log_model`` can reach."""
    global _tidy_at
    _copy_large_views()
    from mlflow_debt import store

    open_ids = store.open_run_ids()
    with _lock:
        review = list(_review)
    for run_id in review:
        _tidy_run(run_id, open_ids is None or run_id in open_ids)
    with _lock:  # what live models keep is not reviewed again on every fit
        _tidy_at = max(MAX_HELD_CELLS, _held_cells + MAX_HELD_CELLS // 2)


def _settle(delay: float) -> None:
    """Wait ``delay`` (the debounce) for more fits, copying their samples as they come;
    flush() and exit end the wait at once."""
    deadline = time.monotonic() + delay
    while True:
        _nudge.clear()
        _tidy()
        remaining = deadline - time.monotonic()
        if remaining <= 0 or _wake.is_set():
            return
        _nudge.wait(remaining)


def _writer_loop() -> None:
    """Write what fits left to write; end when there has been nothing to do for
    :data:`LINGER_S`: the thread never outlives its work by more."""
    global _writer, _delay, _last_write, _lingering
    while True:
        if time.monotonic() - _last_write > MAX_DELAY_S:
            _delay = DEBOUNCE_S  # a quiet spell: the next fit is written soon
        _settle(_delay)  # let a loop of fits settle
        _delay = min(_delay * 2, MAX_DELAY_S)  # a long loop of fits: fewer and fewer writes
        with _lock:
            run_ids = list(_dirty)
            _dirty.clear()
        for run_id in run_ids:
            _in_flight[:] = [run_id]
            try:
                _write_run(run_id)
            except Exception as exc:  # noqa: BLE001  never surfaces in the user's code: one warning
                _warn_write_failed(run_id, exc)
            finally:
                _in_flight.clear()
        _last_write = time.monotonic()
        _tidy()
        with _lock:
            if _dirty:
                continue
            _idle.set()
            _nudge.clear()
            _lingering = True
        more = _nudge.wait(LINGER_S)
        with _lock:
            _lingering = False
            if not more and not _dirty:
                _writer = None
                return
        # more work came (a new fit): back to the debounce


def flush(timeout: float | None = 60.0) -> bool:
    """Wait until features captured in the background are written; True if all were."""
    if _idle.is_set():
        return True
    _wake.set()
    _nudge.set()
    try:
        return _idle.wait(timeout)
    finally:
        with _lock:
            if _idle.is_set() or not _dirty:
                _wake.clear()


def _exit_timeout() -> float:
    try:
        return max(float(os.environ.get(EXIT_TIMEOUT_ENV, DEFAULT_EXIT_TIMEOUT_S)), 0.0)
    except ValueError:
        return DEFAULT_EXIT_TIMEOUT_S


def _at_exit() -> None:
    if _forked_child or _idle.is_set():
        return
    timeout = _exit_timeout()
    start = time.monotonic()
    if flush(timeout):
        return
    with _lock:
        runs = sorted(
            set(_dirty) | set(_in_flight) | {r for r, run in _runs.items() if run.to_models}
        )
    pending = ", ".join(runs) or "the run being written"
    warn_once(
        None,
        "exit",
        f"mlflow-debt gave up after {time.monotonic() - start:.0f} s at exit waiting for the "
        f"tracking server; the features of {pending} may not be recorded "
        f"(set {EXIT_TIMEOUT_ENV} to wait longer).",
    )


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_at_exit)
        _atexit_registered = True


# --- logged models --------------------------------------------------------------------------

_log_hook: dict[str, Any] = {}


def _logged_fit(
    args: tuple[Any, ...], kwargs: dict[str, Any], info: Any
) -> tuple[str, _Fit] | None:
    """The (run id, fit) that a ``log_model`` call logs: by the model's identity, else by the
    logged signature's input names in the run. Called under ``_lock``."""
    found: tuple[str, _Fit] | None = None
    for value in itertools.chain(kwargs.values(), args):
        hit = _by_model.get(id(value))
        if hit is not None:
            found = hit
            break
    if found is None:  # no identity: the logged signature's input names
        run_id = getattr(info, "run_id", None)
        names = _signature_names(info)
        run = _runs.get(run_id or "")
        if run is None or not names:
            return None
        same = [f for f in run.fits if [n for n, _ in f.key] == names]
        if not same:
            return None
        found = (run_id or "", same[-1])
    return found


def _on_model_logged(args: tuple[Any, ...], kwargs: dict[str, Any], info: Any) -> None:
    model_id = getattr(info, "model_id", None)
    if not model_id:
        return
    with _lock:
        found = _logged_fit(args, kwargs, info)
        if found is None:
            return
        run_id, fit = found
        if run_id == _OUTSIDE:  # fit before the run: it becomes the run's (logged) fit
            target = getattr(info, "run_id", None)
            if not target:
                return
            outside = _runs[_OUTSIDE]
            if fit in outside.fits:
                outside.fits.remove(fit)
            run = _runs.get(target)
            if run is None:  # the store of this log_model, not of the fit's moment
                import mlflow

                run = _runs[target] = _Run(mlflow.get_tracking_uri())
            run.fits.append(fit)
            _review[target] = None
            for key, (rid, f) in list(_by_model.items()):
                if f is fit and rid == _OUTSIDE:
                    _by_model[key] = (target, fit)
            run_id = target
        run = _runs.get(run_id)
        if run is None:  # forgotten (closed, nothing alive) while this object lived elsewhere
            import mlflow

            run = _runs[run_id] = _Run(mlflow.get_tracking_uri(), fits=[fit])
            _review[run_id] = None
        run.logged = fit
        run.to_models[model_id] = fit
    _schedule(run_id)


def _signature_names(info: Any) -> list[str]:
    try:
        names = info.signature.inputs.input_names()
    except Exception:  # noqa: BLE001  the user's model info: capture never fails log_model
        return []
    return [str(n) for n in names]


def _install_log_model_hook() -> None:
    """Wrap ``mlflow.models.Model.log`` (what every flavor's ``log_model`` and autolog call)."""
    if _log_hook:
        return
    try:
        from mlflow.models import Model
    except Exception:  # noqa: BLE001  a broken MLflow install must not break the user's code
        return
    with _lock:
        if _log_hook:
            return
        original = Model.__dict__.get("log")
        if not isinstance(original, classmethod):
            return
        func = original.__func__

        def log(cls: Any, *args: Any, **kwargs: Any) -> Any:
            info = func(cls, *args, **kwargs)
            with contextlib.suppress(Exception):  # never fails the user's log_model
                _on_model_logged(args, kwargs, info)
            return info

        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            with contextlib.suppress(Exception):
                setattr(log, attr, getattr(func, attr))
        log.__wrapped__ = func  # type: ignore[attr-defined]
        wrapped = classmethod(log)
        Model.log = wrapped  # type: ignore[method-assign]
        _log_hook.update(cls=Model, original=original, wrapped=wrapped)


def uninstall_log_model_hook() -> None:
    with _lock:
        if _log_hook and _log_hook["cls"].__dict__.get("log") is _log_hook["wrapped"]:
            _log_hook["cls"].log = _log_hook["original"]
        _log_hook.clear()


# --- fork safety ----------------------------------------------------------------------------

_fork_held: list[threading.Lock] = []


def _before_fork() -> None:
    # No store call in flight across the fork (a child would inherit a connection mid-use);
    # bounded, so a hung server cannot stop the user's fork.
    if _io_lock.acquire(timeout=5.0):
        _fork_held.append(_io_lock)


def _after_fork_in_parent() -> None:
    while _fork_held:
        _fork_held.pop().release()


def _after_fork_in_child() -> None:
    global _lock, _io_lock, _writer, _forked_child, _outer_count, _idle, _wake, _nudge
    global _held_cells
    _fork_held.clear()
    _lock = threading.RLock()
    _io_lock = threading.Lock()
    _writer = None
    _forked_child = True
    _outer_count = 0
    _dirty.clear()
    _runs.clear()
    _by_model.clear()
    _idle = threading.Event()
    _idle.set()
    _wake = threading.Event()
    _nudge = threading.Event()
    _views.clear()
    _review.clear()
    _held_cells = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
