"""Experiments and runs: paged and batched reads, run tags, and the fluent run of the training
process (the one non-public read: MLflow's run stacks, guarded)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.entities import Metric, RunTag, ViewType
from mlflow.tracking import MlflowClient

from mlflow_debt.errors import InputError, NotFoundError
from mlflow_debt.store.errors import mlflow_errors
from mlflow_debt.store.paging import EXPERIMENTS_PAGE, ID_BATCH, RUNS_PAGE, chunks, in_filter, paged

if TYPE_CHECKING:
    from mlflow.entities import Experiment, Run


def get_run(client: MlflowClient, run_id: str) -> Run:
    """The run ``run_id``; an unknown id is a :class:`NotFoundError` naming it."""
    try:
        with mlflow_errors(f"Reading run {run_id!r}"):
            return client.get_run(run_id)
    except InputError:  # NotFoundError included: MLflow answers either for a malformed id
        raise NotFoundError(f"Run {run_id!r} does not exist") from None


def iter_experiments(
    client: MlflowClient, view_type: int = ViewType.ACTIVE_ONLY
) -> Iterator[Experiment]:
    """Every experiment (active ones by default; ``ViewType.ALL`` for deleted ones too)."""
    return paged(
        lambda token: client.search_experiments(
            view_type=view_type, max_results=EXPERIMENTS_PAGE, page_token=token
        ),
        "Listing experiments",
    )


def experiments(client: MlflowClient, names: Iterable[str] = ()) -> list[Experiment]:
    """The named experiments (all active ones when ``names`` is empty); unknown names fail."""
    names = list(names)
    if not names:
        return list(iter_experiments(client))
    result = []
    for name in names:
        with mlflow_errors("Listing experiments"):
            exp = client.get_experiment_by_name(name)
        if exp is None:
            raise NotFoundError(f"Experiment {name!r} does not exist")
        result.append(exp)
    return result


def experiment_names(client: MlflowClient) -> dict[str, str]:
    """id -> name of every experiment, deleted ones included (a version's run may live in one)."""
    return {e.experiment_id: e.name for e in iter_experiments(client, ViewType.ALL)}


def experiment_ids(client: MlflowClient) -> list[str]:
    """Every experiment id, deleted ones included."""
    return list(experiment_names(client))


def iter_runs(
    client: MlflowClient,
    experiment_ids: Sequence[str],
    filter_string: str = "",
    page_size: int = RUNS_PAGE,
    *,
    order_by: Sequence[str] | None = None,
    view_type: int = ViewType.ACTIVE_ONLY,
    action: str = "Reading runs",
) -> Iterator[Run]:
    """Every run of ``experiment_ids`` matching ``filter_string`` (active ones), page by page.

    ``AND tags.`KEY` IS NULL`` clauses that the server's filter grammar refuses (MLflow 3.1) are
    applied here instead (:func:`mlflow_debt.store.newest.without_is_null`).
    """
    if not experiment_ids:
        return iter(())
    ids = list(experiment_ids)

    def pages(flt: str) -> Iterator[Run]:
        return paged(
            lambda token: client.search_runs(
                ids,
                filter_string=flt,
                run_view_type=view_type,
                max_results=page_size,
                order_by=list(order_by) if order_by else None,
                page_token=token,
            ),
            action,
        )

    from mlflow_debt.store import newest

    stripped, absent = newest.without_is_null(filter_string)
    if not absent:
        return pages(filter_string)
    if newest.is_null_supported() is False:
        return (r for r in pages(stripped) if not any(k in r.data.tags for k in absent))

    def trying() -> Iterator[Run]:
        it = pages(filter_string)
        try:
            first = next(it, None)
        except InputError:
            newest.refused_is_null()
            yield from (r for r in pages(stripped) if not any(k in r.data.tags for k in absent))
            return
        if first is not None:
            yield first
            yield from it

    return trying()


def runs_by_ids(
    client: MlflowClient,
    experiment_ids: Sequence[str],
    run_ids: Iterable[str],
    *,
    view_type: int = ViewType.ACTIVE_ONLY,
    action: str = "Reading runs",
) -> list[Run]:
    """The runs ``run_ids`` of ``experiment_ids``: batched ``attributes.run_id IN (...)`` searches.

    Pass at most :data:`ID_BATCH` ids for one search (callers running batches side by side
    chunk with :func:`chunks`); more are split here.
    """
    ids = sorted(set(run_ids))
    found: list[Run] = []
    if not ids or not experiment_ids:
        return found
    for batch in chunks(ids, ID_BATCH):
        found.extend(
            iter_runs(
                client,
                experiment_ids,
                in_filter("attributes.run_id", batch),
                page_size=len(batch),
                view_type=view_type,
                action=action,
            )
        )
    return found


def latest_values(metrics: Iterable[Metric]) -> dict[str, float]:
    """key -> latest value (MLflow's rule: highest step, then newest, then largest)."""
    best: dict[str, tuple[int, int, float]] = {}
    for m in metrics:
        cand = (int(m.step or 0), int(m.timestamp or 0), float(m.value))
        if m.key not in best or cand > best[m.key]:
            best[m.key] = cand
    return {k: v[2] for k, v in best.items()}


# --------------------------------------------------------------------------------------------
# Writes


def set_run_tags(client: MlflowClient, run_id: str, tags: dict[str, str]) -> None:
    """Write ``tags`` on ``run_id`` in as few calls as MLflow allows (it splits batches itself)."""
    if not tags:
        return
    with mlflow_errors(f"Tagging run {run_id!r}"):
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()], synchronous=True)


def main_thread_run_id() -> str | None:
    """The fluent run active on the main thread, for a fit made in another thread.

    MLflow keeps the active run per thread, so ``mlflow.active_run()`` is None in a thread started
    inside ``with mlflow.start_run():``. MLflow has no public call for the main thread's run; this
    reads the fluent run stack (the one non-public read in this module), guarded: None if MLflow
    changes it.
    """
    stacks = _run_stacks()
    stack = (stacks or {}).get(threading.main_thread().ident or 0) or []
    return stack[-1].info.run_id if stack else None


def _run_stacks() -> dict[int, Any] | None:
    """Each thread's fluent run stack (the one non-public read in this module), None if MLflow
    changed it."""
    try:
        from mlflow.tracking import fluent

        return dict(fluent._active_run_stack.get_all_thread_values())
    except Exception:  # noqa: BLE001  MLflow's private run stack: any change means unknown
        return None


def open_run_ids() -> set[str] | None:
    """The fluent runs active in any thread of this process, and ``MLFLOW_RUN_ID``'s; None if
    unknown (the same guarded read of MLflow's run stack as :func:`main_thread_run_id`)."""
    stacks = _run_stacks()
    if stacks is None:
        return None
    try:
        ids = {str(r.info.run_id) for stack in stacks.values() for r in (stack or [])}
    except Exception:  # noqa: BLE001  MLflow's private run objects: any change means unknown
        return None
    from mlflow.environment_variables import MLFLOW_RUN_ID

    if MLFLOW_RUN_ID.get():
        ids.add(str(MLFLOW_RUN_ID.get()))
    return ids


def active_run_id() -> str | None:
    """The run training code is logging to: the active fluent run, else ``MLFLOW_RUN_ID``.

    Under ``mlflow run`` the parent process creates the run and the child resumes it through
    ``MLFLOW_RUN_ID``; a script that never calls ``start_run`` still trains "in" that run.
    """
    run = mlflow.active_run()
    if run is not None:
        return str(run.info.run_id)
    from mlflow.environment_variables import MLFLOW_RUN_ID

    return MLFLOW_RUN_ID.get() or None
