"""Features on every model version: version tags copied from the version's source.

A registered version reads its features from its LoggedModel (``models:/m-...``), else from its
source run (docs/lineage.md). This module puts those feature tags on the version itself (same
schema, :mod:`mlflow_debt.tags`), plus ``mlflow_debt.features_from`` naming where they came
from, so the registry's version page shows them and every reader of the schema can read them.

Three writers share :func:`mlflow_debt.capture.version_tags.plan` (pure: what to write on a
version, given its tags and its source's):

* the training process (this module's hook): ``log_model(..., registered_model_name=...)``,
  ``mlflow.register_model(...)`` and ``MlflowClient.create_model_version(...)`` all go through
  ``MlflowClient._create_model_version`` (MLflow 3.1 to 3.17): the one seam they share, the only
  one that sees all three (``log_model`` and ``register_model`` bypass the public
  ``create_model_version``), and one that prompts do not cross. It is wrapped once
  ``mlflow.tracking.client`` is imported (guarded: without it, the public
  ``create_model_version`` is wrapped, and only that path is covered). When the source already
  carries feature tags, they go into the create call itself (one write: the version is created
  with them). When they are not written yet (``log_model`` registers inside ``Model.log``,
  before capture tags the LoggedModel), the version waits: the recorder calls
  :func:`on_features_written` after each write of a run's or LoggedModel's feature tags, and
  the waiting versions of that source are tagged then (on the writer thread);
* ``mlflow-debt serve`` on ``model_version.created`` (``version_tags.tag_version``);
* ``mlflow-debt backfill`` (:mod:`mlflow_debt.capture.backfill`).

Ownership: only feature keys (``mlflow_debt.schema``, ``n_features``, ``digest``, ``source``,
``f.*``) and ``features_from`` are written. A version whose feature tags have no
``features_from`` was tagged by hand and is never touched; a key the version already has when
we first tag it is left as it is; a version tagged from its LoggedModel is never rewritten from
its run. Capture never fails the user's call: a failure is one :class:`MlflowDebtWarning`.

This module is imported inside every ``import mlflow`` (the hook installs it), so it imports
nothing of mlflow-debt at module level; the rule and the writes load at the first registration.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

#: Versions created in this process that wait for their source's features (oldest dropped).
MAX_PENDING = 1_000
CLIENT_MODULE = "mlflow.tracking.client"


# --- the training process: the hook on version creation --------------------------------------


class _Pending:
    """A version created here whose source's features are not written yet."""

    __slots__ = ("client", "model_id", "name", "run_id", "version")

    def __init__(
        self, client: Any, name: str, version: str, model_id: str | None, run_id: str | None
    ) -> None:
        self.client, self.name, self.version = client, name, version
        self.model_id, self.run_id = model_id, run_id


_lock = threading.Lock()
_pending: OrderedDict[tuple[str, str, str], _Pending] = OrderedDict()
_hook: dict[str, Any] = {}
_warned: set[str] = set()
_finder: _ClientFinder | None = None


def _warn(cause: str, message: str) -> None:
    with _lock:
        if cause in _warned:
            return
        _warned.add(cause)
    with contextlib.suppress(Exception):  # a filter set to "error" never reaches the user
        from mlflow_debt.errors import MlflowDebtWarning

        warnings.warn(message, MlflowDebtWarning, stacklevel=4)


def _active() -> bool:
    from mlflow_debt.capture.common import disabled

    return bool(_hook) and not disabled()


def _before_create(client: Any, arguments: dict[str, Any]) -> tuple[str | None, str | None, str]:
    """Put the source's features (if written already) into the create call's ``tags``.

    Returns (model id, run id, source they came from or "")."""
    from mlflow_debt import tags
    from mlflow_debt.capture.version_tags import model_id_of, plan, source_features

    given = arguments.get("tags") or {}
    model_id = model_id_of(arguments.get("model_id"), arguments.get("source"))
    run_id = arguments.get("run_id") or None
    if tags.has_features(given):
        return model_id, run_id, "given"
    found = source_features(client, model_id, run_id)
    if found is None:
        return model_id, run_id, ""
    write = plan(dict(given), *found)
    if write.set:
        arguments["tags"] = {**write.set, **dict(given)}  # the user's own keys win
    return model_id, run_id, found[1]


def _after_create(client: Any, mv: Any, model_id: str | None, run_id: str | None) -> None:
    """Wait for features this process will write on the version's source."""
    recorder = sys.modules.get("mlflow_debt.capture.recorder")
    if recorder is None:
        return  # nothing fit here: nothing will be written later
    recorder.add_write_listener(on_features_written)
    from mlflow_debt.capture.version_tags import model_id_of

    run_id = run_id or getattr(mv, "run_id", None) or None
    model_id = model_id or model_id_of(getattr(mv, "model_id", None), getattr(mv, "source", ""))
    if not model_id and not run_id:
        return
    key = (str(getattr(client, "tracking_uri", "")), str(mv.name), str(mv.version))
    with _lock:
        _pending[key] = _Pending(client, str(mv.name), str(mv.version), model_id, run_id)
        while len(_pending) > MAX_PENDING:
            _pending.popitem(last=False)


def on_features_written(run_id: str, model_id: str | None, written: Mapping[str, str]) -> None:
    """The recorder wrote ``written`` (feature tags) on run ``run_id`` or its LoggedModel
    ``model_id``: tag the versions created here that wait for them. Never raises."""
    try:
        with _lock:
            if model_id:
                due = [(k, p) for k, p in _pending.items() if p.model_id == model_id]
                for k, _ in due:  # a LoggedModel's features are final for its versions
                    del _pending[k]
            else:
                due = [(k, p) for k, p in _pending.items() if p.run_id == run_id]
        if not due:
            return
        from mlflow_debt.capture.version_tags import feature_tags, source_uri

        source = source_uri(model_id, None if model_id else run_id)
        for _, p in due:
            source_tags: Mapping[str, str] = written
            if not feature_tags(written):  # only the changed keys were passed: read them
                from mlflow_debt import store

                read = (
                    store.logged_model_tags(p.client, model_id)
                    if model_id
                    else (store.run_tags(p.client, run_id), None)
                )
                source_tags = (read[0] if read else None) or {}
            _tag_pending(p, source_tags, source)
    except Exception as exc:  # noqa: BLE001  capture never fails the user's code: one warning
        _warn("write", f"mlflow-debt could not tag a model version with its features: {exc}")


def _tag_pending(p: _Pending, source_tags: Mapping[str, str], source: str) -> None:
    from mlflow_debt import store
    from mlflow_debt.capture.version_tags import apply, plan

    mv = store.get_model_version(p.client, p.name, p.version)
    if mv is None:
        return
    write = plan(dict(mv.tags or {}), source_tags, source)
    if write:
        apply(p.client, p.name, p.version, write)


def _wrap(original: Any) -> Any:
    try:
        signature = inspect.signature(original)
    except (TypeError, ValueError):
        return None

    def create_model_version(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _active():
            return original(self, *args, **kwargs)
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return original(self, *args, **kwargs)  # the user's own error, from MLflow
        found: tuple[str | None, str | None, str] = (None, None, "")
        try:
            found = _before_create(self, bound.arguments)
        except Exception as exc:  # noqa: BLE001  capture never fails the user's register call
            _warn("read", f"mlflow-debt could not read a model version's features: {exc}")
        mv = original(*bound.args, **bound.kwargs)
        if found[2] not in ("given",) and not found[2].startswith("models:/"):
            with contextlib.suppress(Exception):
                _after_create(self, mv, found[0], found[1])
        return mv

    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        with contextlib.suppress(Exception):
            setattr(create_model_version, attr, getattr(original, attr))
    create_model_version.__wrapped__ = original  # type: ignore[attr-defined]
    create_model_version.__signature__ = signature  # type: ignore[attr-defined]
    return create_model_version


def _patch(module: Any) -> None:
    client_cls = getattr(module, "MlflowClient", None)
    if client_cls is None:
        return
    with _lock:
        if _hook:
            return
        for name in ("_create_model_version", "create_model_version"):
            original = client_cls.__dict__.get(name)
            if original is None or not callable(original):
                continue
            wrapped = _wrap(original)
            if wrapped is None:
                continue
            setattr(client_cls, name, wrapped)
            _hook.update(cls=client_cls, name=name, original=original, wrapped=wrapped)
            return


class _ClientFinder:
    """Waits for ``mlflow.tracking.client`` to be imported, patches it, then leaves.

    The plugin is installed while ``import mlflow`` runs, often in the middle of that very
    module's execution (it is in ``sys.modules`` without ``MlflowClient`` yet): then the next
    import anyone makes, once the class exists, patches it.
    """

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != CLIENT_MODULE:
            loading = sys.modules.get(CLIENT_MODULE)
            if loading is not None and hasattr(loading, "MlflowClient"):
                _remove_finder()
                with contextlib.suppress(Exception):
                    _patch(loading)
            return None
        from mlflow_debt.capture.common import spec_from_others

        spec = spec_from_others(self, fullname, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module: Any) -> None:
            exec_module(module)
            _remove_finder()
            with contextlib.suppress(Exception):
                _patch(module)

        spec.loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def _remove_finder() -> None:
    global _finder
    with _lock:
        if _finder is not None and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
        _finder = None


def install() -> None:
    """Tag versions as they are created (idempotent, never raises)."""
    global _finder
    try:
        module = sys.modules.get(CLIENT_MODULE)
        if module is not None and hasattr(module, "MlflowClient"):
            _patch(module)
            return
        with _lock:
            if _hook or _finder is not None:
                return
            _finder = _ClientFinder()
            sys.meta_path.insert(0, _finder)
    except Exception as exc:  # noqa: BLE001  # pragma: no cover - never fails import mlflow
        _warn("install", f"mlflow-debt could not hook model version creation: {exc}")


def uninstall() -> None:
    """Undo :func:`install`; versions waiting for features are forgotten."""
    _remove_finder()
    with _lock:
        if _hook and _hook["cls"].__dict__.get(_hook["name"]) is _hook["wrapped"]:
            setattr(_hook["cls"], _hook["name"], _hook["original"])
        _hook.clear()
        _pending.clear()


def installed() -> bool:
    return bool(_hook) or _finder is not None


def pending() -> int:
    """Versions created here that still wait for their source's features."""
    with _lock:
        return len(_pending)
