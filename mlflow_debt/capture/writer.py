"""Writing runs' and LoggedModels' feature tags: when the run ends, and in the background before.

Two ways a run's features reach the store, both through :func:`_write_run` (which profiles only
the fits it writes and writes only the tags that changed, serialised by :data:`_write_lock`):

* **Synchronously, when it is complete** (:func:`complete`): at the end of the run (MLflow's
  ``MlflowClient.set_terminated``, which ``mlflow.end_run()`` and a ``with mlflow.start_run()``
  block's exit call; see :mod:`mlflow_debt.capture.seams`), at the end of a ``log_model`` for its
  LoggedModel, and at interpreter exit for what is left (a ``mlflow run`` child that never ends
  its run). The write runs on a short-lived thread that the caller waits for, at most
  :data:`EXIT_TIMEOUT_ENV` seconds (10 by default); then one :class:`MlflowDebtWarning` says what
  may be missing, and the write goes on in the background. A failed write is one warning, never an
  exception in the caller. When no thread can be started (interpreter shutdown on Python 3.12+),
  or the caller is already writing (a write listener that ends a run), it writes inline.
* **In the background, while the run is open** (what can still change): one daemon writer thread,
  started on demand, waits a short debounce (:data:`DEBOUNCE_S`, doubling to :data:`MAX_DELAY_S`
  while fits keep coming) so that a loop of fits costs one write, writes, tidies the samples
  (:func:`mlflow_debt.capture.samples._tidy`), and ends when it has had nothing to do for
  :data:`LINGER_S` (a sweep of one-fit runs starts one thread, not one per fit). :func:`flush`
  wakes it and waits.

Listeners (:func:`add_write_listener`) are called after each successful write of a run's or a
LoggedModel's feature tags, on the writing thread.

Fork safety: no store call is in flight across a ``fork()`` (:data:`_io_lock` is taken before
it, bounded at 5 s), and a forked child starts with fresh locks, no writer, no queue and no
inherited attribution; it writes each fit synchronously (a ``multiprocessing`` child may exit
through ``os._exit``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable

from mlflow_debt.capture import attribution, samples
from mlflow_debt.errors import MlflowDebtWarning

#: Seconds a run's end (and the interpreter's exit) waits for its features to be written.
EXIT_TIMEOUT_ENV = "MLFLOW_DEBT_EXIT_TIMEOUT"
DEFAULT_EXIT_TIMEOUT_S = 10.0
#: The writer waits this long after a fit for more fits of the same run (a loop costs one write).
DEBOUNCE_S = 0.5
#: While fits keep coming, the wait doubles up to this (flush(), a run's end and exit never wait).
MAX_DELAY_S = 8.0
#: After its last write the writer waits this long for more work before it ends, so a sweep of
#: runs (one fit each) does not start a thread per fit.
LINGER_S = 1.0

#: ``fn(run_id, model_id, tags)`` after each successful write (see :func:`add_write_listener`).
WriteListener = Callable[[str | None, str | None, dict[str, str]], None]

_local = threading.local()  # .writing: this thread is inside _write_run (re-entry is inline)
_io_lock = threading.Lock()  # held by whoever talks to the store on our behalf
_write_lock = threading.RLock()  # one write at a time: a later write sees the later state
_writer: threading.Thread | None = None
_idle = threading.Event()
_idle.set()
_wake = threading.Event()  # flush(): write now
_nudge = threading.Event()  # urgent work for the writer: a large view to copy, too much held
_lingering = False  # the writer has written everything and waits for more work
_delay = DEBOUNCE_S
_last_write = 0.0
_forked_child = False
_atexit_registered = False
_listeners: list[WriteListener] = []


# --- warnings -------------------------------------------------------------------------------

_warned: set[tuple[str, str]] = set()
_warn_lock = threading.Lock()


def warn_once(run_id: str | None, cause: str, message: str, stacklevel: int = 2) -> None:
    """One :class:`MlflowDebtWarning` per run and cause; a filter set to error cannot escape."""
    with _warn_lock:
        if (run_id or "", cause) in _warned:
            return
        _warned.add((run_id or "", cause))
    # "-W error" turns the warning into an exception: the user's code goes on regardless
    with contextlib.suppress(Exception):
        warnings.warn(message, MlflowDebtWarning, stacklevel=stacklevel + 1)


def _warn_write_failed(run_id: str, exc: BaseException) -> None:
    warn_once(
        run_id,
        "write",
        f"mlflow-debt could not record the features of run {run_id}: {type(exc).__name__}: {exc}",
    )


# --- listeners ------------------------------------------------------------------------------


def add_write_listener(fn: WriteListener) -> None:
    """Call ``fn(run_id, model_id, tags)`` after each successful write of feature tags.

    A run's write: ``(run_id, None, tags)`` with the run's complete ``mlflow_debt.*`` feature
    tags; a LoggedModel's: ``(source run_id, model_id, tags)``. Called on the writing thread
    (which may be the writer, a run's end or a ``log_model``), one write at a time; an exception
    from ``fn`` is one warning, never the writer's failure. Adding the same ``fn`` twice is one.
    """
    if fn not in _listeners:
        _listeners.append(fn)


def remove_write_listener(fn: WriteListener) -> None:
    with contextlib.suppress(ValueError):
        _listeners.remove(fn)


def _notify(run_id: str, model_id: str | None, written: dict[str, str]) -> None:
    for fn in list(_listeners):
        try:
            fn(run_id, model_id, dict(written))
        except Exception as exc:  # noqa: BLE001  a listener never fails a write
            name = getattr(fn, "__qualname__", repr(fn))
            warn_once(
                None, f"listener:{name}", f"mlflow-debt: write listener {name} failed: {exc!r}"
            )


# --- one write ------------------------------------------------------------------------------


def _claim(run_ids: Iterable[str], *, from_queue: bool) -> list[str]:
    """Mark ``run_ids`` as being written (taken off the queue if ``from_queue``), so that tidying
    never drops what the write needs. Called under ``samples._lock``."""
    claimed = []
    for run_id in run_ids:
        if from_queue:
            samples._dirty.pop(run_id, None)
        samples._in_flight[run_id] = samples._in_flight.get(run_id, 0) + 1
        claimed.append(run_id)
    return claimed


def _release(run_id: str) -> None:
    with samples._lock:
        left = samples._in_flight.get(run_id, 1) - 1
        if left > 0:
            samples._in_flight[run_id] = left
        else:
            samples._in_flight.pop(run_id, None)


def _write_run(run_id: str) -> None:
    """Bring ``run_id``'s tags (and its logged models') up to date with what it trained."""
    with samples._lock:
        _claim([run_id], from_queue=False)
    _write_claimed(run_id)


def _write_claimed(run_id: str) -> None:
    try:
        with _write_lock:
            _local.writing = getattr(_local, "writing", 0) + 1
            try:
                for model_id, written in _write_tags(run_id):
                    _notify(run_id, model_id, written)
            finally:
                _local.writing -= 1
    finally:
        _release(run_id)


def _write_tags(run_id: str) -> list[tuple[str | None, dict[str, str]]]:
    """The write itself (under ``_write_lock``); returns what was written, for the listeners."""
    from mlflow_debt import store

    with samples._lock:
        run = samples._runs.get(run_id)
        if run is None:
            return []
        primary = attribution.choose(run.fits, run.logged)
        fits = list(run.fits)
        to_models = dict(run.to_models)
        run.to_models.clear()
        written = dict(run.written)
    wanted: dict[str, str] = {}
    if primary is not None:
        wanted = samples.encode(primary)
        if len(fits) > 1:
            wanted[attribution.OTHER_FITS_KEY] = attribution.other_fits_value(fits, primary)
    changed = {k: v for k, v in wanted.items() if written.get(k) != v}
    model_tags = {mid: samples.encode(f) for mid, f in to_models.items()}
    if not changed and not model_tags:
        return []
    try:
        with _io_lock:
            client = store.get_client(run.tracking_uri)
            if changed:
                store.set_run_tags(client, run_id, changed)
            for model_id, encoded in model_tags.items():
                store.set_logged_model_tags(client, model_id, encoded)
    except BaseException:
        with samples._lock:  # try again on the next write
            for mid, f in to_models.items():
                run.to_models.setdefault(mid, f)
        raise
    with samples._lock:
        run.written.update(changed)
    done: list[tuple[str | None, dict[str, str]]] = [(None, wanted)] if changed else []
    return done + list(model_tags.items())


# --- synchronous: a run's end, a log_model, the interpreter's exit ---------------------------


def _exit_timeout() -> float:
    try:
        return max(float(os.environ.get(EXIT_TIMEOUT_ENV, DEFAULT_EXIT_TIMEOUT_S)), 0.0)
    except ValueError:
        return DEFAULT_EXIT_TIMEOUT_S


def _pending() -> list[str]:
    """Runs with something unwritten. Called under ``samples._lock``."""
    runs = set(samples._dirty) | set(samples._in_flight)
    runs |= {r for r, run in samples._runs.items() if run.to_models}
    return sorted(runs)


def needs_write(run_id: str) -> bool:
    """Whether ``run_id`` has fits or LoggedModels not yet written (cheap; no lock needed for
    the common "nothing recorded" answer)."""
    if run_id not in samples._runs:
        return False
    with samples._lock:
        run = samples._runs.get(run_id)
        return run is not None and (samples._unwritten(run_id) or bool(run.to_models))


def complete(
    run_ids: Iterable[str] | None = None,
    *,
    timeout: float | None = None,
    moment: str = "at the end of the run",
    closed: bool = True,
) -> bool:
    """Write the features of ``run_ids`` now (``None``: every run with something unwritten),
    waiting at most ``timeout`` (default :data:`EXIT_TIMEOUT_ENV`). ``closed``: the runs ended,
    so their samples are tidied after the write. True if everything was written; otherwise one
    warning says why (a failure, or the time it gave up after ``moment``) and False."""
    with samples._lock:
        ids = _pending() if run_ids is None else [r for r in run_ids if needs_write(r)]
        ids = _claim(ids, from_queue=True)
    if not ids:
        return True
    limit = _exit_timeout() if timeout is None else timeout
    start = time.monotonic()
    failures: list[tuple[str, BaseException]] = []
    done = threading.Event()
    waiting = [True]

    def work() -> None:
        try:
            for run_id in ids:
                try:
                    _write_claimed(run_id)
                except Exception as exc:  # noqa: BLE001  never surfaces in the user's code
                    failures.append((run_id, exc))
        finally:
            with samples._lock:
                late = not waiting[0]
                done.set()
            if late:  # the caller gave up waiting: nobody else reports these
                for failed, err in failures:
                    _warn_write_failed(failed, err)
        if closed:
            _tidy_closed(ids)

    if getattr(_local, "writing", 0):  # a listener ending a run: we hold the write lock
        work()
    else:
        try:
            threading.Thread(target=work, name="mlflow-debt-complete", daemon=True).start()
        except RuntimeError:  # interpreter shutdown (Python 3.12+ starts no thread then)
            work()
    done.wait(limit)
    with samples._lock:
        waiting[0] = False
        finished = done.is_set()
    if finished:
        for run_id, exc in failures:
            _warn_write_failed(run_id, exc)
        return not failures
    warn_once(
        None if run_ids is None else ids[0],
        "gave-up",
        f"mlflow-debt gave up after {time.monotonic() - start:.0f} s {moment} waiting for the "
        f"tracking server; the features of {', '.join(ids)} may not be recorded "
        f"(set {EXIT_TIMEOUT_ENV} to wait longer).",
    )
    return False


def _tidy_closed(run_ids: list[str]) -> None:
    """After a run's end: drop what its closed runs no longer need, forget what nothing reaches."""
    from mlflow_debt import store

    with contextlib.suppress(Exception):  # tidying never fails the user's end_run
        open_ids = store.open_run_ids()
        for run_id in run_ids:
            samples._tidy_run(run_id, open_ids is None or run_id in open_ids)


def _at_exit() -> None:
    if _forked_child:
        return
    with samples._lock:
        if not _pending():
            return
    complete(None, moment="at exit", closed=False)


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_at_exit)
        _atexit_registered = True


# --- in the background: what can still change inside an open run ---------------------------


def _schedule(run_id: str, *, urgent: bool = False) -> None:
    """Have ``run_id`` written; ``urgent``: wake the writer now to tidy the samples."""
    global _writer
    if _forked_child:
        try:
            _write_run(run_id)
        except Exception as exc:  # noqa: BLE001  never surfaces in the user's code: one warning
            _warn_write_failed(run_id, exc)
        with contextlib.suppress(Exception):
            samples._tidy()
        return
    with samples._lock:
        samples._dirty[run_id] = None
        _idle.clear()
        if _writer is None or not _writer.is_alive():
            _register_atexit()
            _writer = threading.Thread(target=_writer_loop, name="mlflow-debt-writer", daemon=True)
            _writer.start()
        elif urgent or _lingering:  # else the writer's debounce will see this fit anyway
            _nudge.set()


def _settle(delay: float) -> None:
    """Wait ``delay`` (the debounce) for more fits, copying their samples as they come;
    flush() ends the wait at once, and so does a queue emptied by runs' ends."""
    deadline = time.monotonic() + delay
    while True:
        _nudge.clear()
        samples._tidy()
        remaining = deadline - time.monotonic()
        if remaining <= 0 or _wake.is_set() or not samples._dirty:
            return
        _nudge.wait(remaining)


_warmed: set[str | None] = set()


def _warm_stores() -> None:
    """Open the store of each queued run now, during the debounce: the first store of a process
    imports MLflow's store modules and checks the database (seconds on a busy machine), which a
    run's end or the exit (a ``mlflow run`` child that never touched the store) would wait for."""
    from mlflow_debt import store

    with samples._lock:
        uris = {samples._runs[r].tracking_uri for r in samples._dirty if r in samples._runs}
    for uri in uris - _warmed:
        _warmed.add(uri)
        with contextlib.suppress(Exception):  # the write reports a broken store, not this
            store.get_client(uri)


def _writer_loop() -> None:
    """Write what fits left to write; end when there has been nothing to do for
    :data:`LINGER_S`: the thread never outlives its work by more."""
    global _writer, _delay, _last_write, _lingering
    _warm_stores()
    while True:
        if time.monotonic() - _last_write > MAX_DELAY_S:
            _delay = DEBOUNCE_S  # a quiet spell: the next fit is written soon
        _settle(_delay)  # let a loop of fits settle
        with samples._lock:
            run_ids = _claim(list(samples._dirty), from_queue=True)
        if run_ids:
            _delay = min(_delay * 2, MAX_DELAY_S)  # a long loop of fits: fewer and fewer writes
        for run_id in run_ids:
            try:
                _write_claimed(run_id)
            except Exception as exc:  # noqa: BLE001  never surfaces in the user's code: one warning
                _warn_write_failed(run_id, exc)
        if run_ids:
            _last_write = time.monotonic()
        samples._tidy()
        with samples._lock:
            if samples._dirty:
                continue
            _idle.set()
            _nudge.clear()
            _lingering = True
        more = _nudge.wait(LINGER_S)
        with samples._lock:
            _lingering = False
            if not more and not samples._dirty:
                _writer = None
                return
        # more work came (a new fit): back to the debounce


def flush(timeout: float | None = 60.0) -> bool:
    """Wait until features captured in the background are written; True if all were."""
    if _idle.is_set():
        return True
    if threading.current_thread() is _writer or bool(getattr(_local, "writing", 0)):
        return False  # the writer (a listener) waiting for itself would never return
    _wake.set()
    _nudge.set()
    try:
        return _idle.wait(timeout)
    finally:
        with samples._lock:
            if _idle.is_set() or not samples._dirty:
                _wake.clear()


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
    global _io_lock, _write_lock, _writer, _forked_child, _idle, _wake, _nudge, _local
    global _warn_lock
    _fork_held.clear()
    _io_lock = threading.Lock()
    _write_lock = threading.RLock()
    _warn_lock = threading.Lock()
    _local = threading.local()
    _writer = None
    _forked_child = True
    _idle = threading.Event()
    _idle.set()
    _wake = threading.Event()
    _nudge = threading.Event()
    samples._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
