"""Tags on registry objects: a model version's and a registered model's, and the one-object reads
that version tagging needs (a version, a LoggedModel's tags, a run's tags).

MLflow writes registry tags one key per call (``set_model_version_tag``,
``set_registered_model_tag``); there is no batch call. So the writers here take a dict and make
one call per key; callers keep the number of keys small and write only what changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from mlflow.tracking import MlflowClient

from mlflow_debt.errors import NotFoundError
from mlflow_debt.output import terminal_safe
from mlflow_debt.store.errors import is_not_found, mlflow_errors

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion


def _label(name: str, version: int | str) -> str:
    return f'"{terminal_safe(name)}" version {version}'


def get_model_version(client: MlflowClient, name: str, version: int | str) -> ModelVersion | None:
    """One model version (with its tags); None when it does not exist (deleted since)."""
    try:
        with mlflow_errors(f"Reading {_label(name, version)}"):
            return client.get_model_version(name, str(version))
    except NotFoundError:
        return None


def logged_model_tags(
    client: MlflowClient, model_id: str
) -> tuple[dict[str, str], str | None] | None:
    """(tags, source run id) of the LoggedModel ``model_id``; None when it does not exist (or
    MLflow has no LoggedModels)."""
    get = getattr(client, "get_logged_model", None)
    if get is None:
        return None
    try:
        with mlflow_errors(f"Reading logged model {model_id!r}"):
            model = get(model_id)
            return dict(model.tags or {}), (model.source_run_id or None)
    except NotFoundError:
        return None


def run_tags(client: MlflowClient, run_id: str) -> dict[str, str] | None:
    """The tags of the run ``run_id``; None when it does not exist."""
    try:
        with mlflow_errors(f"Reading run {run_id!r}"):
            return dict(client.get_run(run_id).data.tags)
    except NotFoundError:
        return None


def set_model_version_tags(
    client: MlflowClient, name: str, version: int | str, tags: Mapping[str, str]
) -> int:
    """Write ``tags`` on a model version (one call per key: MLflow has no batch); how many."""
    with mlflow_errors(f"Tagging {_label(name, version)}"):
        for key, value in tags.items():
            client.set_model_version_tag(name, str(version), key, value)
    return len(tags)


def delete_model_version_tags(
    client: MlflowClient, name: str, version: int | str, keys: Iterable[str]
) -> int:
    """Remove ``keys`` from a model version (a key already gone is fine); how many."""
    n = 0
    with mlflow_errors(f"Untagging {_label(name, version)}"):
        for key in keys:
            try:
                client.delete_model_version_tag(name, str(version), key)
            except Exception as exc:
                if not is_not_found(exc):
                    raise
            n += 1
    return n


def set_registered_model_tag(client: MlflowClient, name: str, key: str, value: str) -> None:
    with mlflow_errors(f'Tagging registered model "{terminal_safe(name)}"'):
        client.set_registered_model_tag(name, key, value)


def delete_registered_model_tag(client: MlflowClient, name: str, key: str) -> None:
    with mlflow_errors(f'Untagging registered model "{terminal_safe(name)}"'):
        try:
            client.delete_registered_model_tag(name, key)
        except Exception as exc:
            if not is_not_found(exc):
                raise
