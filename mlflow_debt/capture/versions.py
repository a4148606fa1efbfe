"""Features on every model version: version tags copied from the version's source.

A registered version reads its features from its LoggedModel (``models:/m-...``), else from its
source run (docs/lineage.md). This module puts those feature tags on the version itself (same
schema, :mod:`mlflow_debt.tags`), plus ``mlflow_debt.features_from`` naming where they came
from, so the registry's version page shows them and every reader of the schema can read them.

Three writers share :func:`plan` (pure: what to write on a version, given its tags and its
source's):

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
* ``mlflow-debt serve`` on ``model_version.created`` (:func:`tag_version`);
* ``mlflow-debt backfill`` (:mod:`mlflow_debt.capture.backfill`).

Ownership: only feature keys (``mlflow_debt.schema``, ``n_features``, ``digest``, ``source``,
``f.*``) and ``features_from`` are written. A version whose feature tags have no
``features_from`` was tagged by hand and is never touched; a key the version already has when
we first tag it is left as it is; a version tagged from its LoggedModel is never rewritten from
its run. Capture never fails the user's call: a failure is one :class:`MlflowDebtWarning`.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlflow_debt import tags

FROM_KEY = tags.FEATURES_FROM_KEY
#: Versions created in this process that wait for their source's features (oldest dropped).
MAX_PENDING = 1_000
CLIENT_MODULE = "mlflow.tracking.client"
_MODEL_SOURCE = re.compile(r"^models:/(m-[0-9a-f]+)/?$")


# --- the pure rule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionWrite:
    """What to write on one version: keys to set and keys to remove."""

    set: dict[str, str] = field(default_factory=dict)
    delete: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set or self.delete)


def source_uri(model_id: str | None, run_id: str | None) -> str:
    """``models:/ID`` for a LoggedModel source, else ``runs:/ID``."""
    return f"models:/{model_id}" if model_id else f"runs:/{run_id}"


def _rank(source: str) -> int:
    return 2 if source.startswith("models:/") else 1 if source.startswith("runs:/") else 0


def feature_tags(source_tags: Mapping[str, str]) -> dict[str, str]:
    """The feature-set tags among a run's or LoggedModel's tags (mlflow-debt's own schema)."""
    if tags.SCHEMA_KEY not in source_tags:
        return {}
    return {k: str(v) for k, v in source_tags.items() if tags.is_feature_tag(k)}


def plan(current: Mapping[str, str], source_tags: Mapping[str, str], source: str) -> VersionWrite:
    """What to write on a version with tags ``current`` whose features are ``source_tags``
    (a run's or a LoggedModel's tags), copied from ``source`` (``models:/...``/``runs:/...``).

    Nothing when the source has no features, when the version's features were set by hand (no
    ``features_from``), or when they came from a better source (a LoggedModel beats a run).
    Otherwise only what differs; a key present before our first write is left alone.
    """
    wanted = feature_tags(source_tags)
    if not wanted:
        return VersionWrite()
    wanted[FROM_KEY] = source
    present = [k for k in current if tags.is_feature_tag(k)]
    owned = FROM_KEY in current
    if present and not owned:
        return VersionWrite()  # the user's own feature tags
    if owned and _rank(str(current[FROM_KEY])) > _rank(source):
        return VersionWrite()
    to_set = {
        k: v for k, v in wanted.items() if current.get(k) != v and (owned or k not in current)
    }
    to_delete = tuple(sorted(k for k in present if k not in wanted)) if owned else ()
    return VersionWrite(to_set, to_delete)


def model_id_of(model_id: str | None, source: str | None) -> str | None:
    """The LoggedModel behind a version: ``model_id``, else parsed from ``models:/m-...``."""
    if model_id:
        return str(model_id)
    m = _MODEL_SOURCE.match(str(source or ""))
    return m.group(1) if m else None


# --- reading a source and tagging one version (serve, backfill, the hook) ---------------------


def source_features(
    client: Any, model_id: str | None, run_id: str | None
) -> tuple[dict[str, str], str] | None:
    """(feature tags, source uri) of a version's source: its LoggedModel's, else its run's."""
    from mlflow_debt import store

    if model_id:
        lm = store.logged_model_tags(client, model_id)
        if lm is not None and feature_tags(lm[0]):
            return feature_tags(lm[0]), source_uri(model_id, None)
        if not run_id and lm is not None:
            run_id = lm[1]
    if run_id:
        run = store.run_tags(client, run_id)
        if run is not None and feature_tags(run):
            return feature_tags(run), source_uri(None, run_id)
    return None


@dataclass(frozen=True)
class Tagged:
    """What :func:`tag_version` did: ``status`` is tagged, already, nothing (the source has no
    features) or missing (the version is gone); ``written`` counts keys set and removed."""

    status: str
    written: int = 0
    source: str | None = None


def tag_version(client: Any, name: str, version: int | str) -> Tagged:
    """Bring one version's feature tags up to date with its source (serve's writer)."""
    from mlflow_debt import store

    mv = store.get_model_version(client, name, version)
    if mv is None:
        return Tagged("missing")
    current = dict(mv.tags or {})
    if tags.has_features(current) and (
        FROM_KEY not in current or _rank(str(current[FROM_KEY])) == 2
    ):
        return Tagged("already")  # tagged by hand, or from its LoggedModel: nothing better
    model_id = model_id_of(getattr(mv, "model_id", None), mv.source)
    found = source_features(client, model_id, mv.run_id)
    if found is None:
        return Tagged("already" if tags.has_features(current) else "nothing")
    write = plan(current, *found)
    if not write:
        return Tagged("already", source=found[1])
    return Tagged("tagged", apply(client, name, version, write), found[1])


def apply(client: Any, name: str, version: int | str, write: VersionWrite) -> int:
    """Make ``write`` on the version; the number of calls (MLflow writes one key per call)."""
    from mlflow_debt import store

    n = store.set_model_version_tags(client, name, version, write.set)
    if write.delete:
        n += store.delete_model_version_tags(client, name, version, write.delete)
    return n


# --- the training process: the hook on version creation --------------------------------------


@dataclass
class _Pending:
    client: Any
    name: str
    version: str
    model_id: str | None
    run_id: str | None


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
    from mlflow_debt.capture.hook import disabled

    return bool(_hook) and not disabled()


def _before_create(client: Any, arguments: dict[str, Any]) -> tuple[str | None, str | None, str]:
    """Put the source's features (if written already) into the create call's ``tags``.

    Returns (model id, run id, source they came from or "")."""
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
        from mlflow_debt.capture.hook import spec_from_others

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
