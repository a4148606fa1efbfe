"""Wrapping scikit-learn estimators' ``fit`` so the outermost fit inside a run records features.

This module is imported inside every ``import mlflow`` (through the plugin), so it imports nothing
heavy and never raises: sklearn is patched only once it is imported, by whoever imports it.

How it works, narrowly:

* If ``sklearn.base`` is already imported, patch now; otherwise a one-shot ``sys.meta_path``
  finder waits for ``sklearn.base`` to execute, patches, and removes itself.
* Patching wraps ``fit`` in the class ``__dict__`` of every ``BaseEstimator`` subclass that defines
  it, and hooks ``BaseEstimator.__init_subclass__`` so classes defined later (the rest of sklearn,
  xgboost/lightgbm's sklearn wrappers, the user's own estimators) are wrapped as they are created.
* The wrapper counts fit depth per thread. Inner fits (a Pipeline's steps, a search's candidates)
  pass straight through; when the outermost fit returns, its input is recorded on the active run.
* :func:`uninstall` restores every original ``fit`` and ``__init_subclass__``.

MLflow's own autologging patches the same methods with its internal ``safe_patch``; the two
compose (autolog wraps whatever ``fit`` it finds, ours included), and autolog's run is active
when our wrapper records.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

DISABLE_ENV = "MLFLOW_DEBT_DISABLE"
_MARK = "__mlflow_debt_original__"

_local = threading.local()
_lock = threading.RLock()
_patched: dict[type, Callable[..., Any]] = {}  # class -> its original fit
_base_state: dict[str, Any] = {}
_finder: _SklearnBaseFinder | None = None
_active = False  # wrappers left in someone else's chain after uninstall() pass straight through


class MlflowDebtWarning(UserWarning):
    """A problem mlflow-debt met while recording lineage; the user's code carried on."""


def disabled() -> bool:
    """Whether the user turned automatic capture off (``MLFLOW_DEBT_DISABLE=1``)."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _record(estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if disabled():
        return
    try:
        X = args[0] if args else kwargs.get("X")
        from mlflow_debt.capture.recorder import record_fit

        record_fit(estimator, X)
    except Exception as exc:  # never fail the user's fit
        warnings.warn(
            f"mlflow-debt could not record the features of {type(estimator).__name__}.fit: "
            f"{type(exc).__name__}: {exc}",
            MlflowDebtWarning,
            stacklevel=3,
        )


def _wrap(fit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fit)
    def fit_and_record(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _active:
            return fit(self, *args, **kwargs)
        depth = getattr(_local, "depth", 0)
        _local.depth = depth + 1
        try:
            result = fit(self, *args, **kwargs)
        finally:
            _local.depth = depth
        if depth == 0:
            _record(self, args, kwargs)
        return result

    setattr(fit_and_record, _MARK, fit)
    return fit_and_record


def _wrap_class(cls: type) -> None:
    fit = cls.__dict__.get("fit")
    if fit is None or hasattr(fit, _MARK) or not callable(fit) or isinstance(fit, type):
        return
    # staticmethod/classmethod/descriptors are left alone: only plain functions are wrapped.
    if not hasattr(fit, "__code__"):
        return
    _patched[cls] = fit
    cls.fit = _wrap(fit)  # type: ignore[attr-defined]


def _subclasses(root: type) -> list[type]:
    seen: set[type] = set()
    stack = [root]
    while stack:
        cls = stack.pop()
        sub: type
        for sub in type.__subclasses__(cls):
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    return list(seen)


def _patch_base(base_module: Any) -> None:
    with _lock:
        if _base_state:
            return
        base = base_module.BaseEstimator
        original = base.__dict__.get("__init_subclass__")

        def __init_subclass__(cls: type, **kwargs: Any) -> None:
            if original is not None:
                original.__func__(cls, **kwargs)
            else:
                super(base, cls).__init_subclass__(**kwargs)
            with contextlib.suppress(Exception):  # a class we cannot wrap is not recorded
                _wrap_class(cls)

        base.__init_subclass__ = classmethod(__init_subclass__)
        _base_state.update(base=base, original=original)
        for cls in [base, *_subclasses(base)]:
            _wrap_class(cls)


class _SklearnBaseFinder:
    """Waits for ``sklearn.base`` to be imported, then patches it. One shot."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "sklearn.base":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_patch(module: Any) -> None:
            exec_module(module)
            _remove_finder()
            try:
                _patch_base(module)
            except Exception as exc:
                warnings.warn(
                    f"mlflow-debt could not hook scikit-learn: {exc}",
                    MlflowDebtWarning,
                    stacklevel=2,
                )

        # The loader is this module's own instance: replacing its method patches only this import.
        loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def _remove_finder() -> None:
    global _finder
    with _lock:
        if _finder is not None and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
        _finder = None


def install() -> None:
    """Start recording features on outermost sklearn fits (idempotent, never raises)."""
    global _finder, _active
    try:
        from mlflow_debt.capture import engines  # pyspark.ml, xgboost, lightgbm

        engines.install()
        with _lock:
            _active = True
            if _base_state or _finder is not None:
                return
            base = sys.modules.get("sklearn.base")
            if base is not None and hasattr(base, "BaseEstimator"):
                _patch_base(base)
            else:
                _finder = _SklearnBaseFinder()
                sys.meta_path.insert(0, _finder)
    except Exception as exc:
        warnings.warn(
            f"mlflow-debt could not install its hook: {exc}", MlflowDebtWarning, stacklevel=2
        )


def uninstall() -> None:
    """Undo :func:`install`: every wrapped ``fit`` and ``__init_subclass__`` is restored."""
    global _active
    from mlflow_debt.capture import engines

    engines.uninstall()
    with _lock:
        _active = False
        _remove_finder()
        for cls, fit in list(_patched.items()):
            if getattr(cls.__dict__.get("fit"), _MARK, None) is fit:
                cls.fit = fit  # type: ignore[attr-defined]
        _patched.clear()
        if _base_state:
            base, original = _base_state["base"], _base_state["original"]
            if original is not None:
                base.__init_subclass__ = original
            else:
                del base.__init_subclass__
            _base_state.clear()


def installed() -> bool:
    """Whether the hook is active (sklearn patched, or waiting for sklearn's import)."""
    return bool(_base_state) or _finder is not None
