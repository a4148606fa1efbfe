"""Intercepting scikit-learn estimators' fit-like methods, without changing what users see.

This module is imported inside every ``import mlflow`` (through the plugin), so it imports nothing
heavy and never raises: sklearn is patched only once it is imported, by whoever imports it.

How it works (the reasons are in docs/architecture.md, "Capture, step by step"):

* If ``sklearn.base`` is already imported, patch now; otherwise a one-shot ``sys.meta_path``
  finder waits for ``sklearn.base`` to execute, patches, and removes itself.
* Patching replaces each fit-like attribute (:data:`FIT_METHODS`) in the class ``__dict__`` of
  every ``BaseEstimator`` subclass that defines one by a :class:`FitDescriptor`, and hooks
  ``BaseEstimator.__init_subclass__`` so classes defined later are patched as they are created.
* The descriptor is not a function. Read from the class (``Est.fit``) it returns the *original*
  attribute, so signatures, ``__code__``, ``__wrapped__``, source files and sklearn's metadata
  routing see the user's own function. Read from an instance (``est.fit``) it returns a
  :class:`BoundFit` that records around the call and delegates everything else to the original
  bound method. Both reduce (pickle) to the original objects through stdlib callables, so a class
  that cloudpickle pickles by value carries only the user's function, and the pickle loads where
  mlflow-debt is not installed.
* MLflow's autologging (``safe_patch``, a vendored ``gorilla``) reads the attribute from the class
  and compares it with the raw ``__dict__`` entry; when the reader is gorilla the descriptor
  returns itself (callable, recording), so autolog wraps *it* and the two compose. Autolog's
  wrapper then sits in the class ``__dict__``; :func:`uninstall` leaves such foreign entries alone
  (our descriptor inside them passes straight through once uninstalled).
* Outermost-call logic and recording live in :mod:`mlflow_debt.capture.recorder`. A fit called
  directly from scikit-learn's own code (metrics' label binarizers, ``cross_val_score``'s clones,
  ``check_*``) is not the user's model: it is inner, never recorded, never warned about.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import operator
import sys
import threading
import warnings
from typing import Any

from mlflow_debt.capture import engines
from mlflow_debt.capture.common import DISABLE_ENV as DISABLE_ENV  # re-exported (old home)
from mlflow_debt.capture.common import disabled as disabled  # re-exported (old home)
from mlflow_debt.capture.common import spec_from_others as spec_from_others  # re-exported
from mlflow_debt.errors import MlflowDebtWarning as MlflowDebtWarning  # re-exported (old home)

#: The fit-like entry points: each is one outermost call; whatever it fits inside is inner.
FIT_METHODS = ("fit", "fit_transform", "fit_predict", "partial_fit", "fit_resample")
#: Not fits: a fitted transformer's output remembers where its columns come from (provenance).
TRANSFORM_METHODS = ("transform",)
#: The methods whose output is remembered (:mod:`mlflow_debt.capture.provenance`).
_OUTPUT_METHODS = ("fit_transform", "transform")
_WRAPPED = FIT_METHODS + TRANSFORM_METHODS
#: Callers in these packages are library code, not the user's training code.
_LIBRARY_PREFIXES = ("sklearn.", "imblearn.")
_GORILLA = "mlflow.utils.gorilla"

_lock = threading.RLock()
_patched: dict[tuple[type, str], FitDescriptor] = {}
_base_state: dict[str, Any] = {}
_finder: _SklearnBaseFinder | None = None
_active = False  # descriptors left in someone else's chain after uninstall() pass straight through


def _from_library(frame: Any) -> bool:
    """Whether the fit's caller (past MLflow's autolog wrappers and ours) is library code."""
    for _ in range(12):
        if frame is None:
            return False
        name = frame.f_globals.get("__name__", "")
        if not isinstance(name, str):
            return False
        if not name.startswith(("mlflow.", "mlflow_debt.")):
            return name.startswith(_LIBRARY_PREFIXES)
        frame = frame.f_back
    return False


_recorder_module: Any = None


def _recorder() -> Any:
    """:mod:`mlflow_debt.capture.recorder`, imported at the first fit-like call, not by
    ``import mlflow`` (it is most of the plugin's import time). Remembered only once its import
    is complete: a thread whose first fit starts while another thread imports it waits in the
    import statement (the module's import lock), never sees it half-initialised."""
    global _recorder_module
    module = _recorder_module
    if module is None:
        from mlflow_debt.capture import recorder as module

        _recorder_module = module
    return module


_provenance_module: Any = None


def _provenance() -> Any:
    """:mod:`mlflow_debt.capture.provenance`, imported at the first transformer output."""
    global _provenance_module
    module = _provenance_module
    if module is None:
        from mlflow_debt.capture import provenance as module

        _provenance_module = module
    return module


def _call(owner: Any, name: str, bound: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``bound(*args, **kwargs)`` as a fit-like call of ``owner``; record if outermost."""
    if not _active:
        return bound(*args, **kwargs)
    recorder = _recorder()
    if name in TRANSFORM_METHODS:  # not a fit: only its output is remembered, if the user's
        top = not getattr(recorder._local, "depth", 0) and not _from_library(sys._getframe(2))
        recorder.enter(inner=True)  # whatever it calls is inner
        try:
            result = bound(*args, **kwargs)
        finally:
            recorder.leave(False)
        if top and not disabled():
            _remember_output(owner, args, kwargs, result)
        return result
    outer = recorder.enter(inner=_from_library(sys._getframe(2)))
    try:
        result = bound(*args, **kwargs)
    finally:
        recorder.leave(outer)
    if outer and not disabled():
        _record(owner, name, args, kwargs)
        if name in _OUTPUT_METHODS:
            _remember_output(owner, args, kwargs, result)
    return result


def _remember_output(
    owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
) -> None:
    with contextlib.suppress(Exception):  # never fails the user's call
        X = args[0] if args else kwargs.get("X")
        if X is not None and result is not None:
            _provenance().record_output(owner, X, result)


def _record(estimator: Any, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    recorder = _recorder()
    try:
        X = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        recorder.record_fit(estimator, X, kind=kind, y=y)
    except Exception as exc:  # noqa: BLE001  never fail the user's fit
        with contextlib.suppress(Exception):
            recorder.warn_once(
                None,
                f"record:{type(exc).__name__}",
                f"mlflow-debt could not record the features of {type(estimator).__name__}."
                f"{kind}: {type(exc).__name__}: {exc}",
                stacklevel=4,
            )


class BoundFit:
    """``est.fit`` while capture is installed: records around the call, else the bound method.

    Attribute access, equality, hashing, ``repr`` and ``inspect.signature`` are the bound
    method's; pickling gives ``getattr(est, "fit")`` (no trace of mlflow-debt in the pickle).
    """

    __slots__ = ("_bound", "_name", "_owner")

    def __init__(self, bound: Any, owner: Any, name: str) -> None:
        self._bound = bound
        self._owner = owner
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._owner, self._name, self._bound, args, kwargs)

    def __getattr__(self, attr: str) -> Any:
        if attr in BoundFit.__slots__:
            raise AttributeError(attr)
        return getattr(self._bound, attr)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._bound)

    @property  # the bound method's docstring, as help(est.fit) shows without the plugin
    def __doc__(self) -> str | None:  # type: ignore[override]
        return getattr(self._bound, "__doc__", None)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BoundFit):
            other = other._bound
        return bool(self._bound == other)

    def __hash__(self) -> int:
        return hash(self._bound)

    def __repr__(self) -> str:
        return repr(self._bound)

    def __reduce__(self) -> tuple[Any, ...]:
        return (getattr, (self._owner, self._name))


class FitDescriptor:
    """What a patched class holds instead of its fit-like attribute (see the module docstring)."""

    __slots__ = ("_name", "_original")

    def __init__(self, original: Any, name: str) -> None:
        self._original = original
        self._name = name

    @property
    def original(self) -> Any:
        return self._original

    def __get__(self, obj: Any, cls: type | None = None) -> Any:
        original = self._original
        if obj is None:
            if sys._getframe(1).f_globals.get("__name__") == _GORILLA:
                return self  # MLflow autolog patching: it wraps us, so both keep working
            get = getattr(type(original), "__get__", None)
            return get(original, None, cls) if get is not None else original
        bound = type(original).__get__(original, obj, cls)  # AttributeError stays (available_if)
        if not _active:
            return bound
        return BoundFit(bound, obj, self._name)

    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """As autolog calls ``original(self, *args, **kwargs)``."""
        bound = type(self._original).__get__(self._original, obj, type(obj))
        return _call(obj, self._name, bound, args, kwargs)

    # update_wrapper (autolog) copies __module__, __name__, __qualname__, __doc__, __dict__ from
    # what it wraps: the user's own.
    def __getattr__(self, attr: str) -> Any:
        if attr in FitDescriptor.__slots__:
            raise AttributeError(attr)
        return getattr(self._original, attr)

    @property
    def __wrapped__(self) -> Any:
        return self._original

    @property
    def __module__(self) -> str:  # type: ignore[override]
        return str(getattr(self._original, "__module__", __name__))

    @property  # the user's docstring (update_wrapper copies it onto autolog's wrapper)
    def __doc__(self) -> str | None:  # type: ignore[override]
        return getattr(self._original, "__doc__", None)

    @property
    def __signature__(self) -> inspect.Signature:
        target = self._original
        if not callable(target):  # a descriptor such as sklearn's available_if: its function
            target = getattr(target, "fn", None) or getattr(target, "__wrapped__", target)
        return inspect.signature(target)

    def __eq__(self, other: object) -> bool:
        # gorilla (autolog) compares the class attribute with the raw one: equal to what we wrap
        if isinstance(other, FitDescriptor):
            return self is other
        return bool(other is self._original or other == self._original)

    def __hash__(self) -> int:
        return object.__hash__(self)

    def __reduce__(self) -> tuple[Any, ...]:
        # A class pickled by value (cloudpickle, __main__) carries only the user's function.
        return (operator.getitem, ([self._original], 0))


def _patchable(attr: Any) -> bool:
    if attr is None or isinstance(attr, (type, staticmethod, classmethod, property, FitDescriptor)):
        return False
    if inspect.isfunction(attr):
        return True
    # sklearn's available_if (Pipeline.fit_transform, fit_predict): a descriptor we can wrap
    return type(attr).__name__ == "_AvailableIfDescriptor" and hasattr(type(attr), "__get__")


def _wrap_class(cls: type) -> None:
    """Wrap the fit-like methods ``cls`` defines, and those of the mixins it inherits them from
    (sklearn's ``TransformerMixin.fit_transform``, ``ClusterMixin.fit_predict``, a user's mixin
    that is not itself an estimator): the attribute an instance finds is always ours."""
    for klass in cls.__mro__:
        if klass is object or (klass is not cls and _is_estimator_class(klass)):
            continue  # an estimator base class is wrapped on its own
        _wrap_own(klass)


def _is_estimator_class(klass: type) -> bool:
    base = _base_state.get("base")
    return base is not None and issubclass(klass, base)


def _wrap_own(cls: type) -> None:
    for name in _WRAPPED:
        attr = cls.__dict__.get(name)
        if not _patchable(attr):
            continue
        descriptor = FitDescriptor(attr, name)
        type.__setattr__(cls, name, descriptor)
        _patched[(cls, name)] = descriptor


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


def _hook_init_subclass(klass: type) -> None:
    """Patch each class made from ``klass`` on, *after* ``klass.__init_subclass__`` ran.

    After, because mixins post-process the class once ``super().__init_subclass__`` returned:
    sklearn's ``_SetOutputMixin`` replaces ``fit_transform`` by its output wrapper then; we wrap
    that wrapper, so what class access returns is exactly what it is without the plugin.
    """
    original = klass.__dict__.get("__init_subclass__")

    def __init_subclass__(cls: type, /, **kwargs: Any) -> None:
        if original is not None:
            original.__func__(cls, **kwargs)
        else:
            super(klass, cls).__init_subclass__(**kwargs)  # type: ignore[arg-type]
        if _active:
            with contextlib.suppress(Exception):  # a class we cannot wrap is not recorded
                _wrap_class(cls)

    klass.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]
    _base_state.setdefault("hooked", []).append((klass, original))


def _patch_base(base_module: Any) -> None:
    with _lock:
        if _base_state:
            return
        base = base_module.BaseEstimator
        _hook_init_subclass(base)
        _base_state["base"] = base
        set_output = sys.modules.get("sklearn.utils._set_output")
        mixin = getattr(set_output, "_SetOutputMixin", None)
        if isinstance(mixin, type) and "__init_subclass__" in mixin.__dict__:
            _hook_init_subclass(mixin)
        for cls in [base, *_subclasses(base)]:
            with contextlib.suppress(Exception):
                _wrap_class(cls)


class _SklearnBaseFinder:
    """Waits for ``sklearn.base`` to be imported, then patches it. One shot."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "sklearn.base":
            return None
        spec = spec_from_others(self, fullname, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module: Any) -> None:
            exec_module(module)
            _remove_finder()
            try:
                _patch_base(module)
            except Exception as exc:  # noqa: BLE001  never fail the user's import of sklearn
                with contextlib.suppress(Exception):
                    warnings.warn(
                        f"mlflow-debt could not hook scikit-learn: {exc}",
                        MlflowDebtWarning,
                        stacklevel=2,
                    )

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
    """Start recording features on outermost sklearn fits (idempotent, never raises)."""
    global _finder, _active
    try:
        engines.install()  # pyspark.ml, xgboost, lightgbm
        importlib.import_module("mlflow_debt.capture.versions").install()  # version tags
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
    except Exception as exc:  # noqa: BLE001  never fail the user's import of sklearn
        with contextlib.suppress(Exception):
            warnings.warn(
                f"mlflow-debt could not install its hook: {exc}", MlflowDebtWarning, stacklevel=2
            )


def uninstall() -> None:
    """Undo :func:`install`: every patched attribute and ``__init_subclass__`` is restored.

    An attribute someone else replaced since (MLflow autolog's wrapper) is left as it is; the
    descriptor it wraps passes straight through from now on.
    """
    global _active
    engines.uninstall()
    importlib.import_module("mlflow_debt.capture.versions").uninstall()
    with _lock:
        _active = False
        _remove_finder()
        for (cls, name), descriptor in list(_patched.items()):
            if cls.__dict__.get(name) is descriptor:
                type.__setattr__(cls, name, descriptor.original)
        _patched.clear()
        for klass, original in reversed(_base_state.get("hooked", [])):
            if original is not None:
                klass.__init_subclass__ = original
            else:
                del klass.__init_subclass__
        _base_state.clear()
        if "mlflow_debt.capture.recorder" in sys.modules:
            _recorder().uninstall_log_model_hook()


def installed() -> bool:
    """Whether the hook is active (sklearn patched, or waiting for sklearn's import)."""
    return bool(_base_state) or _finder is not None
