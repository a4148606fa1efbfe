"""Newest-first reads that stop early, and the look-ups the live read of the lineage needs.

``consumers``, ``impact`` and ``report`` need each consumer's *newest* feature-tagged run, not
every run: :func:`run_pages_newest_first` reads runs by start time, newest first, in pages that
start small and grow (:data:`FIRST_PAGE` ... :data:`LAST_PAGE`), and the caller stops reading as
soon as it knows its answer. :func:`registered_sources` tells which of some runs were ever
registered as a model version (their LoggedModel's ``mlflow.modelVersions`` tag), by a batched
``source_run_id IN (...)`` search of the LoggedModels, instead of reading every LoggedModel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from mlflow_debt.errors import InputError
from mlflow_debt.store.errors import mlflow_errors
from mlflow_debt.store.logged_models import iter_logged_models
from mlflow_debt.store.paging import ID_BATCH, chunks, in_filter

if TYPE_CHECKING:
    from mlflow.entities import LoggedModel, Run

#: The first page of a newest-first read: the answer is usually on it.
FIRST_PAGE = 2
#: Pages grow 4x up to this size (an answer far down the history costs few calls).
LAST_PAGE = 2_000
#: Newest first; the run id breaks ties the same way everywhere (the analysis compares
#: ``(start_time, run_id)``), though callers do not rely on MLflow's tie order.
NEWEST_FIRST = ("attributes.start_time DESC", "attributes.run_id DESC")
#: The tag MLflow writes on a LoggedModel when it is registered as a model version.
MODEL_VERSIONS_TAG = "mlflow.modelVersions"


def run_pages_newest_first(
    client: MlflowClient,
    experiment_ids: Sequence[str],
    filter_string: str,
    *,
    first_page: int = FIRST_PAGE,
    last_page: int = LAST_PAGE,
    action: str = "Reading the newest runs",
) -> Iterator[list[Run]]:
    """Pages of the active runs of ``experiment_ids`` matching ``filter_string``, newest first.

    A generator: the caller stops iterating once it has its answer, and nothing more is read.
    ``tags.`KEY` IS NULL`` clauses, which MLflow's filter grammar lacks before 3.2 or so, are
    applied here instead when the server refuses them (the same runs, in the same order; a page
    may then hold fewer than asked for).
    """
    if not experiment_ids:
        return
    ids = list(experiment_ids)
    size = first_page
    token: str | None = None
    absent: list[str] = []
    sent = filter_string
    if _IS_NULL["supported"] is False:
        sent, absent = without_is_null(filter_string)
    while True:
        try:
            with mlflow_errors(action):
                page = client.search_runs(
                    ids,
                    filter_string=sent,
                    run_view_type=ViewType.ACTIVE_ONLY,
                    max_results=size,
                    order_by=list(NEWEST_FIRST),
                    page_token=token,
                )
        except InputError:
            stripped, keys = without_is_null(sent)
            if not keys or token is not None:
                raise
            _IS_NULL["supported"] = False
            sent, absent = stripped, keys
            continue
        runs = list(page)
        if absent:
            runs = [r for r in runs if not any(k in r.data.tags for k in absent)]
        yield runs
        token = page.token
        if not token or len(page) < size:
            return
        # MLflow's page tokens hold an offset: a new size continues where the last page ended.
        size = min(size * 4, last_page)


#: Whether the server's filter grammar takes ``IS NULL`` (None: not known yet).
_IS_NULL: dict[str, bool | None] = {"supported": None}
_IS_NULL_CLAUSE = re.compile(r"\s+AND\s+tags\.`([^`]+)`\s+IS\s+NULL\b", re.IGNORECASE)


def is_null_supported() -> bool | None:
    """Whether the server's filter grammar took ``IS NULL`` (None: not tried yet)."""
    return _IS_NULL["supported"]


def refused_is_null() -> None:
    """Remember that the server refused ``IS NULL`` (MLflow 3.1)."""
    _IS_NULL["supported"] = False


def without_is_null(filter_string: str) -> tuple[str, list[str]]:
    """``filter_string`` without its ``AND tags.`KEY` IS NULL`` clauses, and their keys."""
    keys = _IS_NULL_CLAUSE.findall(filter_string)
    return _IS_NULL_CLAUSE.sub("", filter_string), keys


def was_registered(model: LoggedModel) -> bool:
    """Whether a LoggedModel was ever registered as a model version (MLflow records it)."""
    return (model.tags or {}).get(MODEL_VERSIONS_TAG, "").strip() not in {"", "[]"}


def registered_sources(
    client: MlflowClient, experiment_ids: Sequence[str], run_ids: Iterable[str]
) -> set[str]:
    """Which of ``run_ids`` are the source run of a LoggedModel (of ``experiment_ids``) that
    was ever registered: batched ``source_run_id IN (...)`` searches."""
    ids = sorted(set(run_ids))
    found: set[str] = set()
    if not ids or not experiment_ids:
        return found
    for batch in chunks(ids, ID_BATCH):
        for model in iter_logged_models(client, experiment_ids, in_filter("source_run_id", batch)):
            if model.source_run_id and was_registered(model):
                found.add(model.source_run_id)
    return found
