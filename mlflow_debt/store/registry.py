"""The model registry: registered models, live versions, aliases."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from mlflow.tracking import MlflowClient

from mlflow_debt.errors import NotFoundError
from mlflow_debt.output import terminal_safe
from mlflow_debt.store.errors import mlflow_errors
from mlflow_debt.store.paging import MODELS_PAGE, VERSIONS_PAGE, paged, pmap, quote

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel


def iter_model_versions(
    client: MlflowClient, filter_string: str = "", page_size: int = VERSIONS_PAGE
) -> Iterator[ModelVersion]:
    """Every live model version matching ``filter_string``, page by page."""
    return paged(
        lambda token: client.search_model_versions(
            filter_string or None, max_results=page_size, page_token=token
        ),
        "Reading model versions",
    )


def versions_of(client: MlflowClient, name: str) -> list[ModelVersion]:
    """Every live version of the registered model ``name``."""
    return list(iter_model_versions(client, f"name = {quote(name)}"))


def iter_registered_models(client: MlflowClient) -> Iterator[RegisteredModel]:
    """Every registered model, page by page."""
    return paged(
        lambda token: client.search_registered_models(max_results=MODELS_PAGE, page_token=token),
        "Listing registered models",
    )


def registered_models(
    client: MlflowClient, names: Sequence[str] = (), workers: int = 1
) -> list[RegisteredModel]:
    """The named registered models (all of them when ``names`` is empty); unknown names fail."""
    if not names:
        return list(iter_registered_models(client))

    def get(name: str) -> RegisteredModel:
        try:
            with mlflow_errors(f'Reading registered model "{terminal_safe(name)}"'):
                return client.get_registered_model(name)
        except NotFoundError:
            raise NotFoundError(
                f'Registered model "{terminal_safe(name)}" does not exist'
            ) from None

    return pmap(get, list(dict.fromkeys(names)), workers)


def aliases(rm: RegisteredModel) -> dict[str, int]:
    """alias -> version of a registered model (the one way aliases are read).

    Versions read by ``search_model_versions`` carry no aliases; the registered model does
    (its ``aliases`` is a dict alias -> version, the version a string on some stores).
    """
    return {alias: int(version) for alias, version in (rm.aliases or {}).items()}


def aliases_by_version(rm: RegisteredModel) -> dict[int, list[str]]:
    """version -> its aliases, of a registered model."""
    out: dict[int, list[str]] = {}
    for alias, version in aliases(rm).items():
        out.setdefault(version, []).append(alias)
    return out


_MODEL_ID_SOURCE = re.compile(r"^models:/(m-[0-9a-f]+)/?$")


def model_id_of(mv: ModelVersion) -> str | None:
    """The LoggedModel behind a version: its ``model_id``, else parsed from ``models:/m-...``."""
    if getattr(mv, "model_id", None):
        return str(mv.model_id)
    m = _MODEL_ID_SOURCE.match(mv.source or "")
    return m.group(1) if m else None
