"""LoggedModels (MLflow 3): paged and batched reads and tags; none on an MLflow without them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from mlflow.tracking import MlflowClient

from mlflow_debt.store.errors import mlflow_errors
from mlflow_debt.store.paging import ID_BATCH, LOGGED_MODELS_PAGE, chunks, in_filter, paged

if TYPE_CHECKING:
    from mlflow.entities import LoggedModel


def iter_logged_models(
    client: MlflowClient,
    experiment_ids: Sequence[str],
    filter_string: str | None = None,
    page_size: int = LOGGED_MODELS_PAGE,
) -> Iterator[LoggedModel]:
    """Every LoggedModel of ``experiment_ids``, page by page (none on an MLflow without them)."""
    search = getattr(client, "search_logged_models", None)
    if search is None or not experiment_ids:
        return iter(())
    ids = list(experiment_ids)
    return paged(
        lambda token: search(
            experiment_ids=ids,
            filter_string=filter_string,
            max_results=page_size,
            page_token=token,
        ),
        "Reading logged models",
    )


def logged_models_by_ids(
    client: MlflowClient, experiment_ids: Sequence[str], model_ids: Iterable[str]
) -> list[LoggedModel]:
    """The LoggedModels ``model_ids``: batched ``model_id IN (...)`` searches."""
    ids = sorted(set(model_ids))
    found: list[LoggedModel] = []
    for batch in chunks(ids, ID_BATCH):
        found.extend(
            iter_logged_models(
                client, experiment_ids, in_filter("model_id", batch), page_size=len(batch)
            )
        )
    return found


def set_logged_model_tags(client: MlflowClient, model_id: str, tags: dict[str, str]) -> None:
    """Write ``tags`` on the LoggedModel ``model_id`` (one call)."""
    if not tags:
        return
    with mlflow_errors(f"Tagging logged model {model_id!r}"):
        client.set_logged_model_tags(model_id, tags)
