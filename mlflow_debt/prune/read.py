"""Reading what a prune needs: registered models, their live versions, and each version's metric.

Reads are O(pages), not O(versions): versions come from paged ``search_model_versions``, metric
values from ``search_logged_models`` (``model_id IN (...)``) and ``search_runs``
(``attributes.run_id IN (...)``) in batches, all through :mod:`mlflow_debt.store`. Against an
HTTP tracking server the batches run on a small thread pool; against a local SQLite store they
run sequentially, because SQLite serializes writers anyway.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlflow.entities import Metric
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from mlflow_debt import store
from mlflow_debt.errors import InputError
from mlflow_debt.output import terminal_safe
from mlflow_debt.prune import plan as retention
from mlflow_debt.prune.plan import Policy, PolicyError, PrunePlan, VersionInfo

#: ``progress(label, total)`` returns a context manager yielding ``advance(n)``.
ProgressFactory = Callable[[str, int], contextlib.AbstractContextManager[Callable[[int], None]]]


@contextlib.contextmanager
def no_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:  # noqa: ARG001  a ProgressFactory that shows nothing
    yield lambda _n: None


# --------------------------------------------------------------------------------------------
# Reading the registry

#: Why a model whose name holds both ' and " is skipped.
UNQUOTABLE = "its name holds both ' and \", which MLflow's search filter cannot express"


@dataclass
class Selection:
    """What to prune and the flags that override each model's own policy (None = not given)."""

    models: tuple[str, ...] = ()
    max_versions: int | None = None
    metric: str | None = None
    lower_is_better: bool | None = None
    prune_unranked: bool = False

    def policy_for(self, name: str, tags: Mapping[str, str]) -> Policy | None:
        try:
            return retention.policy_from_tags(
                name,
                tags,
                max_versions=self.max_versions,
                metric=self.metric,
                lower_is_better=self.lower_is_better,
                prune_unranked=self.prune_unranked,
            )
        except PolicyError as exc:
            raise InputError(terminal_safe(str(exc))) from None


@dataclass
class Snapshot:
    """Everything read from MLflow to plan a prune."""

    selection: Selection
    #: name -> registered model tags
    model_tags: dict[str, dict[str, str]]
    #: name -> {version: aliases}
    aliases: dict[str, dict[int, list[str]]]
    policies: dict[str, Policy | None]
    #: (name, version) -> the live version as read
    versions: dict[tuple[str, int], ModelVersion]
    #: (name, version) -> value of the model's metric (None: no value)
    metrics: dict[tuple[str, int], float | None]

    def infos(self) -> list[VersionInfo]:
        return [
            version_info(mv, self.aliases.get(name, {}).get(v, []))
            for (name, v), mv in self.versions.items()
        ]


def version_info(mv: ModelVersion, aliases: Iterable[str] = ()) -> VersionInfo:
    return VersionInfo(
        name=mv.name,
        version=int(mv.version),
        aliases=tuple(sorted(set(aliases) | set(mv.aliases or []))),
        tags=dict(mv.tags or {}),
        stage=mv.current_stage,
    )


def read_versions(
    client: MlflowClient, names: Sequence[str], *, all_models: bool, workers: int = 1
) -> dict[tuple[str, int], ModelVersion]:
    """Live versions of ``names``: one paged read of everything, or one paged read per model.

    With ``all_models`` and one worker a single paged scan is cheapest; with a pool (HTTP) and a
    known list of models, per-model reads run side by side.
    """
    wanted = set(names)
    out: dict[tuple[str, int], ModelVersion] = {}
    if all_models and (workers <= 1 or len(names) > 4 * workers * 8):
        for mv in store.iter_model_versions(client):
            if mv.name in wanted:
                out[(mv.name, int(mv.version))] = mv
        return out

    def one(name: str) -> list[ModelVersion]:
        return list(store.iter_model_versions(client, f"name = {store.quote(name)}"))

    for versions in store.pmap(one, list(names), workers):
        for mv in versions:
            out[(mv.name, int(mv.version))] = mv
    return out


def _latest(metrics: Iterable[Metric], key: str) -> float | None:
    """The latest value of ``key``."""
    return store.latest_values(m for m in metrics if m.key == key).get(key)


def read_metrics(  # noqa: C901  its closures share the owner maps of one batched read
    client: MlflowClient,
    versions: Mapping[tuple[str, int], ModelVersion],
    metric_of: Mapping[str, str],
    *,
    workers: int = 1,
    progress: ProgressFactory = no_progress,
    exp_ids: Sequence[str] | None = None,
) -> dict[tuple[str, int], float | None]:
    """Each version's value of its model's metric: the LoggedModel's, else the source run's.

    ``metric_of`` maps model name -> metric name; versions of other models are not looked up.
    One round of batched searches, side by side: LoggedModels (``model_id IN (...)``) for the
    versions that have one, runs (``attributes.run_id IN (...)``) for the others; then runs for
    the few versions whose LoggedModel lacks the metric.
    """
    keys = [k for k in versions if k[0] in metric_of]
    values: dict[tuple[str, int], float | None] = dict.fromkeys(keys)
    if not keys:
        return values
    exp_ids = list(exp_ids) if exp_ids is not None else store.experiment_ids(client)
    if not exp_ids:
        return values

    def search_logged_models(batch: Sequence[str]) -> dict[str, list[Metric]]:
        found = store.logged_models_by_ids(client, exp_ids, batch)
        return {lm.model_id: list(lm.metrics or []) for lm in found}

    def search_runs(batch: Sequence[str]) -> dict[str, dict[str, float]]:
        found = store.runs_by_ids(client, exp_ids, batch)
        return {run.info.run_id: run.data.metrics for run in found}

    by_model_id: dict[str, list[tuple[str, int]]] = {}
    by_run: dict[str, list[tuple[str, int]]] = {}
    for k in keys:
        mid = store.model_id_of(versions[k])
        if mid:
            by_model_id.setdefault(mid, []).append(k)
        elif versions[k].run_id:
            by_run.setdefault(str(versions[k].run_id), []).append(k)

    def tasks(kind: str, ids: list[str]) -> list[tuple[str, Sequence[str]]]:
        return [(kind, chunk) for chunk in store.chunks(ids, store.batch_size(len(ids), workers))]

    with progress(f"Reading metrics of {len(keys)} versions", len(keys)) as advance:

        def lookup(task: tuple[str, Sequence[str]]) -> tuple[str, dict[str, Any]]:
            kind, batch = task
            found: dict[str, Any] = (
                search_logged_models(batch) if kind == "model" else search_runs(batch)
            )
            owners = by_model_id if kind == "model" else by_run
            advance(sum(len(owners[i]) for i in batch))
            return kind, found

        def apply_found(kind: str, found: dict[str, Any], fallback: dict[str, list[Any]]) -> None:
            for oid, data in found.items():
                owners = by_model_id if kind == "model" else by_run
                for k in owners.get(oid, []):
                    if kind == "model":
                        values[k] = _latest(data, metric_of[k[0]])
                        run_id = versions[k].run_id
                        if values[k] is None and run_id:
                            fallback.setdefault(str(run_id), []).append(k)
                    elif values[k] is None:
                        value = data.get(metric_of[k[0]])
                        values[k] = None if value is None else float(value)

        todo = tasks("model", sorted(by_model_id)) + tasks("run", sorted(by_run))
        fallback: dict[str, list[tuple[str, int]]] = {}
        for kind, found in store.pmap(lookup, todo, workers):
            apply_found(kind, found, fallback)
        # LoggedModels without the metric: their source run may have it.
        if fallback:
            by_run = fallback
            for kind, found in store.pmap(lookup, tasks("run", sorted(by_run)), workers):
                apply_found(kind, found, {})
    return values


def load(
    client: MlflowClient,
    selection: Selection,
    *,
    workers: int | None = None,
    progress: ProgressFactory = no_progress,
) -> tuple[Snapshot, PrunePlan]:
    """Read what ``selection`` needs and plan it. Raises :class:`InputError` on bad input."""
    store.ensure_reachable(client)
    workers = workers or store.default_workers(client)
    if workers > 1:  # independent reads: side by side
        models, exp_ids = store.both(
            lambda: store.registered_models(client, selection.models, workers),
            lambda: store.experiment_ids(client),
        )
    else:
        models = store.registered_models(client, selection.models, workers)
        exp_ids = None
    # MLflow's search filter has no escape: a name holding both ' and " cannot be searched for,
    # so its versions cannot be re-read before deleting. Leave that model alone, say so.
    skipped = {rm.name: UNQUOTABLE for rm in models if not store.quotable(rm.name)}
    models = [rm for rm in models if rm.name not in skipped]
    model_tags = {rm.name: dict(rm.tags or {}) for rm in models}
    aliases = {rm.name: store.aliases_by_version(rm) for rm in models}
    policies = {rm.name: selection.policy_for(rm.name, model_tags[rm.name]) for rm in models}
    managed = [name for name, pol in policies.items() if pol is not None]
    if models and not managed and not skipped:
        raise InputError(
            "No version limit to enforce: pass --max-versions N, or give models their own "
            "with: mlflow-debt policy set MODEL --max-versions N"
        )
    versions = read_versions(client, managed, all_models=not selection.models, workers=workers)
    metric_of = {name: pol.metric for name, pol in policies.items() if pol is not None}
    metrics = read_metrics(
        client, versions, metric_of, workers=workers, progress=progress, exp_ids=exp_ids
    )

    error = retention.unlogged_metric(metric_of, versions, metrics)
    if error:
        raise InputError(terminal_safe(error))

    snapshot = Snapshot(selection, model_tags, aliases, policies, versions, metrics)
    plan = retention.plan(snapshot.infos(), metrics, policies, models=policies)
    plan.skipped = skipped
    return snapshot, plan
