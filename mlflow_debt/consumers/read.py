"""The MLflow reads behind ``consumers`` and ``impact``: feature-tagged runs, versions, aliases.

Three kinds of paged read, never one call per run:

* the runs that carry feature tags — one filtered ``search_runs`` per tag family (mlflow-debt's own,
  then Feast's; MLflow's filter has no OR), streamed page by page into :func:`lineage.analyze`,
  which keeps only each consumer's latest run;
* every live model version (``search_model_versions``), for version -> source run;
* every registered model (``search_registered_models``), for its aliases (versions read by search
  carry none);
* the LoggedModels of the experiments (``search_logged_models``), whose ``mlflow.modelVersions``
  tag says which runs were ever registered: those without a live version are retired; and whose
  own ``mlflow_debt.*`` tags, when capture wrote them, describe the versions registered from
  them (:func:`read_logged_models`): a version reads its LoggedModel's features when it has them,
  else its source run's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_debt import store, tags
from mlflow_debt.consumers.analysis import Declarations, Report, RunRow, VersionRow, analyze

if TYPE_CHECKING:
    from mlflow.entities import LoggedModel, Run
    from mlflow.tracking import MlflowClient

#: Runs per ``search_runs`` page (see :data:`mlflow_debt.store.STREAM_RUNS_PAGE`).
RUNS_PAGE = store.STREAM_RUNS_PAGE


def iter_feature_runs(
    client: MlflowClient,
    experiment_ids: dict[str, str],
    page_size: int = RUNS_PAGE,
    tap: Callable[[Run], None] | None = None,
) -> Iterator[RunRow]:
    """Every active run of the experiments (id -> name) that carries feature tags, once each.

    ``tap`` sees each MLflow ``Run`` as it streams by (the debt report reads more of a run than
    :class:`RunRow` keeps, without a second pass).
    """
    ids = list(experiment_ids)
    own, feast = tags.presence_filters()
    for run in store.iter_runs(client, ids, own, page_size=page_size):
        if tap is not None:
            tap(run)
        yield _row(run, experiment_ids)
    for run in store.iter_runs(client, ids, feast, page_size=page_size):
        if tags.SCHEMA_KEY not in run.data.tags:  # else the first query already read it
            if tap is not None:
                tap(run)
            yield _row(run, experiment_ids)


def _row(run: object, experiment_ids: dict[str, str]) -> RunRow:
    info = run.info  # type: ignore[attr-defined]
    return RunRow(
        run_id=info.run_id,
        experiment=experiment_ids.get(info.experiment_id, info.experiment_id),
        start_time=info.start_time or 0,
        tags=run.data.tags,  # type: ignore[attr-defined]
    )


def model_id_of(mv: Any) -> str | None:
    """The LoggedModel behind a version: its ``model_id``, else parsed from ``models:/m-...``."""
    return store.model_id_of(mv)


def read_versions(
    client: MlflowClient,
    described: Iterable[str] | None = None,
    versions: Iterable[Any] | None = None,
) -> list[VersionRow]:
    """Every live model version with its source run (``versions``: already read ones).

    ``described`` are the LoggedModels that carry feature tags of their own: a version of one of
    them gets its ``model_id`` (it is described by the model, not by the run).
    """
    with_features = set(described or ())
    rows = []
    for v in store.iter_model_versions(client) if versions is None else versions:
        model_id = model_id_of(v)
        rows.append(
            VersionRow(
                v.name,
                int(v.version),
                v.run_id or None,
                model_id if model_id in with_features else None,
            )
        )
    return rows


def read_aliases(client: MlflowClient) -> dict[str, dict[str, int]]:
    """model -> alias -> version, for every registered model that has aliases."""
    return {rm.name: store.aliases(rm) for rm in store.iter_registered_models(client) if rm.aliases}


MODEL_VERSIONS_TAG = "mlflow.modelVersions"


def was_registered(model: LoggedModel) -> bool:
    """Whether a LoggedModel was ever registered as a model version (MLflow records it)."""
    return (model.tags or {}).get(MODEL_VERSIONS_TAG, "").strip() not in {"", "[]"}


def read_registered_runs(client: MlflowClient, experiment_ids: Sequence[str]) -> set[str]:
    """Source runs of the LoggedModels that were ever registered as a model version."""
    return read_logged_models(client, experiment_ids).registered_runs


@dataclass
class LoggedModels:
    """What one pass over the LoggedModels of some experiments tells the lineage."""

    #: Source runs of the LoggedModels that were ever registered as a model version.
    registered_runs: set[str] = field(default_factory=set)
    #: model_id -> the LoggedModel, for those that carry feature tags of their own.
    with_features: dict[str, Any] = field(default_factory=dict)


def read_logged_models(client: MlflowClient, experiment_ids: Sequence[str]) -> LoggedModels:
    """One paged pass: ever-registered source runs, and the LoggedModels carrying features."""
    out = LoggedModels()
    for model in store.iter_logged_models(client, list(experiment_ids)):
        if model.source_run_id and was_registered(model):
            out.registered_runs.add(model.source_run_id)
        if tags.SCHEMA_KEY in (model.tags or {}):
            out.with_features[model.model_id] = model
    return out


def model_rows(
    models: Mapping[str, Any], versions: Iterable[VersionRow], experiment_ids: Mapping[str, str]
) -> Iterator[RunRow]:
    """A row for each LoggedModel with features that a live version is described by."""
    wanted = {v.model_id for v in versions if v.model_id}
    for model_id in sorted(wanted):
        model = models.get(model_id)
        if model is None:
            continue
        yield RunRow(
            run_id=model.source_run_id or "",
            experiment=experiment_ids.get(model.experiment_id, model.experiment_id),
            start_time=int(model.creation_timestamp or 0),
            tags=dict(model.tags or {}),
            model_id=model_id,
        )


def described_runs(versions: Iterable[VersionRow]) -> set[str]:
    """Source runs of versions described by their LoggedModel: registered, so never a consumer
    of their own (their models are)."""
    return {v.run_id for v in versions if v.model_id and v.run_id}


def build_report(
    client: MlflowClient,
    experiment_names: Sequence[str] = (),
    declarations: Declarations | None = None,
    only_features: Sequence[str] = (),
    page_size: int = RUNS_PAGE,
) -> Report:
    """Read the store and analyse it: the one core call behind ``consumers`` and ``impact``."""
    exps = store.experiments(client, experiment_names)
    experiment_ids = {e.experiment_id: e.name for e in exps}
    logged = read_logged_models(client, list(experiment_ids))
    versions = read_versions(client, logged.with_features)
    aliases = read_aliases(client)
    return analyze(
        itertools.chain(
            iter_feature_runs(client, experiment_ids, page_size=page_size),
            model_rows(logged.with_features, versions, experiment_ids),
        ),
        versions,
        aliases,
        declarations=declarations,
        only_features=only_features,
        # Reading a subset of experiments, a declared consumer we did not see may live elsewhere.
        judge_absent=not experiment_names,
        registered_runs=logged.registered_runs | described_runs(versions),
    )
