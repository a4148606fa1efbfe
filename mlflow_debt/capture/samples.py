"""What runs trained, and the samples their writes may still need (the recorder's state).

One record per outermost fit (:class:`_Fit`: estimator class, entry point, thread, score, a weak
reference to the fitted model and, until it is profiled or no write can need it, a sample of
``X``) and one per run (:class:`_Run`: its fits in order, the logged fit, the LoggedModels still
to tag, the tags already written). All of it is guarded by :data:`_lock`, which is never held
across a store call or a pandas computation that can wait.

A sample is kept only while a write may need it (:func:`_needed`: its model is alive, it is
logged and unwritten, or the open run may still choose it). With pandas' copy-on-write the fit
keeps a *view* of the user's frame; the writer copies the views it keeps (:func:`_tidy`; a view of
a frame of :data:`COPY_NOW_CELLS` or more at once) and drops the others, so no user frame is kept
alive, and forgets a closed run that no ``log_model`` can reach, so a long process does not grow.

The writer (:mod:`mlflow_debt.capture.writer`) resets this state in a forked child
(:func:`_reset_after_fork`).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from mlflow_debt import tags
from mlflow_debt.capture import attribution
from mlflow_debt.tags import FeatureRecord

#: Samples (rows x columns) the writer lets pile up before it is woken to drop the ones no write
#: can need and copy the shared ones it keeps (:func:`_tidy`): 32 MB of float64.
MAX_HELD_CELLS = 4_000_000
#: A sample shared with a frame at least this large (cells) wakes the writer to copy it at once,
#: so a large training frame is never kept alive for the debounce.
COPY_NOW_CELLS = 100_000
#: Fits made outside any run, kept (while their model lives) for a later log_model in a run.
_OUTSIDE = ""
MAX_OUTSIDE_FITS = 4

_lock = threading.RLock()  # guards the state below; never held across a store call
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
_dirty: dict[str, None] = {}  # runs with fits not yet written (the writer's queue)
_in_flight: dict[str, int] = {}  # runs being written now (by how many threads)
_views: list[_Fit] = []  # fits whose sample is a view of a large frame, to copy at once
_review: dict[str, None] = {}  # runs _tidy looks at until they are forgotten
_held_cells = 0  # cells held by all samples
_tidy_at = MAX_HELD_CELLS  # _held_cells past which a fit wakes the writer


def held_cells() -> int:
    """Cells held by all samples now."""
    return _held_cells


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


def encode(fit: _Fit) -> dict[str, str]:
    """The tags of ``fit``'s features (with ``mlflow_debt.unread`` when it left columns unread)."""
    return tags.encode(_records(fit), fit.source, unread=_unread(fit))


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
    """ids of the fits the run may still choose while it is open. Called under ``_lock``."""
    return attribution.still_choosable(run.fits)


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


def _unwritten(run_id: str) -> bool:
    """Whether ``run_id`` waits to be written or is being written. Called under ``_lock``."""
    return run_id in _dirty or run_id in _in_flight


def _tidy_run(run_id: str, is_open: bool) -> None:
    with _lock:
        run = _runs.get(run_id)
        if run is None:
            _review.pop(run_id, None)
            return
        is_open = is_open or _unwritten(run_id)  # closed but not yet written: still open here
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
        reachable = run.to_models or _unwritten(run_id) or any(f.alive() for f in run.fits)
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


def _reset_after_fork() -> None:
    """A forked child starts with a fresh lock and no inherited attribution."""
    global _lock, _held_cells
    _lock = threading.RLock()
    _dirty.clear()
    _in_flight.clear()
    _runs.clear()
    _by_model.clear()
    _views.clear()
    _review.clear()
    _held_cells = 0
