"""What a model version's feature tags should be: the rule every writer shares, and the write.

:func:`plan` is pure (given a version's tags and its source's, what to set and remove);
:func:`tag_version` reads a version and its source and applies the plan (``serve``);
``backfill`` and the training process's hook (:mod:`mlflow_debt.capture.versions`) use
:func:`plan` and :func:`apply` with sources they already hold. See that module for the rules of
ownership.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlflow_debt import tags

FROM_KEY = tags.FEATURES_FROM_KEY
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
