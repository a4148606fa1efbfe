"""The MLflow reads behind ``consumers`` and ``impact``: feature-tagged runs, versions, aliases.

Three kinds of paged read, never one call per run:

* the runs that carry feature tags — one filtered ``search_runs`` per tag family (mlflow-debt's own,
  then Feast's; MLflow's filter has no OR), streamed page by page into :func:`lineage.analyze`,
  which keeps only each consumer's latest run;
* every live model version (``search_model_versions``), for version -> source run;
* every registered model (``search_registered_models``), for its aliases (versions read by search
  carry none);
* the LoggedModels of the experiments (``search_logged_models``), whose ``mlflow.modelVersions``
  tag says which runs were ever registered: those without a live version are retired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from mlflow_debt import store, tags
from mlflow_debt.consumers.analysis import Declarations, Report, RunRow, VersionRow, analyze

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

#: Runs per ``search_runs`` page (see :data:`mlflow_debt.store.STREAM_RUNS_PAGE`).
RUNS_PAGE = store.STREAM_RUNS_PAGE


def iter_feature_runs(
    client: MlflowClient,
    experiment_ids: dict[str, str],
    page_size: int = RUNS_PAGE,
    tap: Callable[[Any], None] | None = None,
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


def read_versions(client: MlflowClient) -> list[VersionRow]:
    """Every live model version with its source run."""
    return [
        VersionRow(v.name, int(v.version), v.run_id or None)
        for v in store.iter_model_versions(client)
    ]


def read_aliases(client: MlflowClient) -> dict[str, dict[str, int]]:
    """model -> alias -> version, for every registered model that has aliases."""
    return {rm.name: store.aliases(rm) for rm in store.iter_registered_models(client) if rm.aliases}


MODEL_VERSIONS_TAG = "mlflow.modelVersions"


def was_registered(model: Any) -> bool:
    """Whether a LoggedModel was ever registered as a model version (MLflow records it)."""
    return (model.tags or {}).get(MODEL_VERSIONS_TAG, "").strip() not in {"", "[]"}


def read_registered_runs(client: MlflowClient, experiment_ids: Sequence[str]) -> set[str]:
    """Source runs of the LoggedModels that were ever registered as a model version."""
    return {
        model.source_run_id
        for model in store.iter_logged_models(client, list(experiment_ids))
        if model.source_run_id and was_registered(model)
    }


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
    versions = read_versions(client)
    aliases = read_aliases(client)
    return analyze(
        iter_feature_runs(client, experiment_ids, page_size=page_size),
        versions,
        aliases,
        declarations=declarations,
        only_features=only_features,
        # Reading a subset of experiments, a declared consumer we did not see may live elsewhere.
        judge_absent=not experiment_names,
        registered_runs=read_registered_runs(client, list(experiment_ids)),
    )
