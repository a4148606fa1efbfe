"""Capture for training engines other than scikit-learn: pyspark.ml, native xgboost and lightgbm.

Imported inside every ``import mlflow`` (the sklearn hook installs it), so it imports nothing
heavy and never raises. Each engine is patched only once its module has been imported, by
whoever imports it:

=================  ======================  ===================================================
engine             patched when imported   what is wrapped
=================  ======================  ===================================================
pyspark.ml         ``pyspark.ml.base``     ``Estimator.fit`` (:mod:`.spark`)
xgboost            ``xgboost``             ``xgboost.train`` (:mod:`.native`)
lightgbm           ``lightgbm``            ``lightgbm.train`` (:mod:`.native`)
=================  ======================  ===================================================

If the module is already imported when :func:`install` runs, it is patched at once; otherwise a
one-shot ``sys.meta_path`` finder waits for it (as the sklearn hook does for ``sklearn.base``).
:func:`uninstall` restores every original. A wrapper still sitting inside someone else's chain
after that (``mlflow.pyspark.ml.autolog()`` wraps whatever ``fit`` it finds, ours included)
passes straight through.

Two helpers are the engines' only contact with the recorder: :func:`outermost` (is this the
outermost fit-like call, so the one that records?) and :func:`record` (write the records).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from mlflow_debt.capture.common import disabled, spec_from_others
from mlflow_debt.errors import MlflowDebtWarning

_lock = threading.RLock()
_local = threading.local()
#: Outermost engine fits in progress in this process, any thread (see :func:`outermost`).
_outer_in_progress = 0
_active = False
_finder: _EngineFinder | None = None
#: module name -> (patch, unpatch); the patch takes the freshly executed module.
_ENGINES: dict[str, tuple[str, str]] = {
    "pyspark.ml.base": ("mlflow_debt.capture.spark", "pyspark"),
    "xgboost": ("mlflow_debt.capture.native", "xgboost"),
    "lightgbm": ("mlflow_debt.capture.native", "lightgbm"),
}
_patched: set[str] = set()
_warned: set[tuple[str, str]] = set()


def active() -> bool:
    """Whether capture is on (installed and not disabled by ``MLFLOW_DEBT_DISABLE``)."""
    if not _active:
        return False
    return not disabled()


def _in_sklearn_fit() -> bool:
    # The recorder counts the sklearn hook's fit depth per thread; an engine call inside a user's
    # sklearn estimator's fit is that estimator's business.
    recorder = sys.modules.get("mlflow_debt.capture.recorder")
    local = getattr(recorder, "_local", None)
    return bool(getattr(local, "depth", 0))


def _in_worker_of_outer_fit() -> bool:
    # pyspark's CrossValidator, TrainValidationSplit and OneVsRest fit their candidates in a
    # multiprocessing ThreadPool: a fit there while an outermost fit runs is one of its inner fits.
    if _outer_in_progress == 0:
        return False
    dummy = sys.modules.get("multiprocessing.dummy")
    process = getattr(dummy, "DummyProcess", None)
    return process is not None and isinstance(threading.current_thread(), process)


def outermost(kind: str) -> contextlib.AbstractContextManager[bool]:
    """Enter one fit-like call; yields True only for the outermost one.

    Inner: a call inside another engine fit or a scikit-learn fit on the same thread, or a call
    in a pool worker thread while an outermost fit is in progress (a tuner's candidates). The
    recorder's ``outermost_call`` is that guard, shared with the sklearn hook, where it exists;
    :func:`_own_outermost` stands in for it otherwise.
    """
    from mlflow_debt.capture import recorder

    shared: Callable[[str], AbstractContextManager[bool]] | None = getattr(
        recorder, "outermost_call", None
    )
    if shared is not None:
        return shared(kind)
    return _own_outermost(kind)


@contextlib.contextmanager
def _own_outermost(kind: str) -> Iterator[bool]:  # noqa: ARG001  recorder.outermost_call's signature
    global _outer_in_progress
    depth = getattr(_local, "depth", 0)
    outer = depth == 0 and not _in_sklearn_fit() and not _in_worker_of_outer_fit()
    _local.depth = depth + 1
    if outer:
        with _lock:
            _outer_in_progress += 1
    try:
        yield outer
    finally:
        _local.depth = depth
        if outer:
            with _lock:
                _outer_in_progress -= 1


def warn_once(run_id: str, cause: str, message: str) -> None:
    """One :class:`MlflowDebtWarning` per run per cause; a warning filter set to ``error``
    cannot make it escape (the caller is the user's fit)."""
    from mlflow_debt.capture import recorder

    shared = getattr(recorder, "warn_once", None)
    if shared is not None:
        shared(run_id, cause, message, stacklevel=4)
        return
    with _lock:
        if (run_id, cause) in _warned:
            return
        _warned.add((run_id, cause))
    with contextlib.suppress(Exception):
        warnings.warn(message, MlflowDebtWarning, stacklevel=4)


def record(records: list[Any], source: str, model: Any = None) -> Any:
    """Write ``records`` to the active run (and, where the recorder supports it, to ``model``)."""
    from mlflow_debt.capture import recorder

    write: Callable[..., Any] = recorder.record_features
    try:
        import inspect

        if "model" in inspect.signature(write).parameters:
            return write(records, source, model=model)
    except (TypeError, ValueError):
        pass
    return write(records, source)


def safely(kind: str, fn: Callable[..., Any], *args: Any) -> None:
    """Run a recording step; any failure is one warning, never the user's exception."""
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001  capture never fails the user's code
        with contextlib.suppress(Exception):
            from mlflow_debt import store

            run_id = store.active_run_id() or ""
            # The first line only: a Py4J error's text goes on with the whole Java stack.
            text = next((line for line in str(exc).splitlines() if line.strip()), "")[:300]
            warn_once(
                run_id,
                f"{kind}:error",
                f"mlflow-debt could not record the features of a {kind} model: "
                f"{type(exc).__name__}: {text}",
            )


def _patch(name: str, module: Any) -> None:
    import importlib

    impl_name, engine = _ENGINES[name]
    with _lock:
        if name in _patched:
            return
        try:
            importlib.import_module(impl_name).patch(engine, module)
            _patched.add(name)
        except Exception as exc:  # noqa: BLE001  capture never fails the user's code
            with contextlib.suppress(Exception):
                warnings.warn(
                    f"mlflow-debt could not hook {engine}: {exc}", MlflowDebtWarning, stacklevel=2
                )


class _EngineFinder:
    """Waits for the engines' modules to be imported, patches each once, then leaves."""

    def __init__(self, names: set[str]) -> None:
        self.waiting = set(names)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.waiting:
            return None
        spec = spec_from_others(self, fullname, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module: Any) -> None:
            exec_module(module)
            with _lock:
                self.waiting.discard(fullname)
                if not self.waiting:
                    _remove_finder()
            if _active:
                _patch(fullname, module)

        # The loader is this module's own instance: replacing its method patches only this import.
        spec.loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def _remove_finder() -> None:
    global _finder
    with _lock:
        if _finder is not None and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
        _finder = None


def install() -> None:
    """Patch the engines already imported; wait for the others (idempotent, never raises)."""
    global _active, _finder
    try:
        with _lock:
            _active = True
            waiting = set()
            for name in _ENGINES:
                module = sys.modules.get(name)
                if name in _patched:
                    continue
                if module is not None and getattr(module, "__spec__", None) is not None:
                    _patch(name, module)
                else:
                    waiting.add(name)
            if waiting and _finder is None:
                _finder = _EngineFinder(waiting)
                sys.meta_path.insert(0, _finder)
    except Exception as exc:  # noqa: BLE001  capture never fails the user's code  # pragma: no cover - defensive
        with contextlib.suppress(Exception):
            warnings.warn(
                f"mlflow-debt could not hook its engines: {exc}", MlflowDebtWarning, stacklevel=2
            )


def uninstall() -> None:
    """Undo :func:`install`: every engine's original functions are back."""
    import importlib

    global _active
    with _lock:
        _active = False
        _remove_finder()
        for name in list(_patched):
            impl_name, engine = _ENGINES[name]
            with contextlib.suppress(Exception):
                importlib.import_module(impl_name).unpatch(engine)
            _patched.discard(name)


def installed() -> bool:
    """Whether engine capture is on (patched, or waiting for an engine's import)."""
    return _active and (bool(_patched) or _finder is not None)
