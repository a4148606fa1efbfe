"""The parameters behind configuration-debt: the live versions' source runs' parameters.

A read of its own, after :func:`mlflow_debt.report.read.read_facts` (which it does not change):

* the selected live versions' source runs, batched ``search_runs(attributes.run_id IN (...))``
  (deleted runs included), for their parameters and notes (``mlflow.note.content``);
* the versions' descriptions, only for models whose serving (aliased) version is not the newest:
  one ``search_model_versions(name = ...)`` per such model.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from mlflow_debt import store
from mlflow_debt.report.model import ConfigFacts, Facts, VersionFacts, VersionKey

NOTE_TAG = "mlflow.note.content"


def _serving_behind(versions: Sequence[VersionFacts]) -> set[str]:
    """Models with an aliased version older than their newest live version."""
    newest: dict[str, int] = {}
    for v in versions:
        newest[v.model] = max(newest.get(v.model, 0), v.version)
    return {v.model for v in versions if v.aliases and v.version < newest[v.model]}


def read_config(client: MlflowClient, facts: Facts) -> ConfigFacts:
    """Parameters and notes of the live versions (of ``facts.selected``, or all)."""
    scoped = set(facts.selected) or set(facts.models)
    versions = [v for v in facts.versions if v.model in scoped and v.run_found and v.run_id]
    by_run: dict[str, list[VersionKey]] = {}
    for v in versions:
        by_run.setdefault(str(v.run_id), []).append((v.model, v.version))
    params: dict[VersionKey, dict[str, str]] = {}
    notes: dict[VersionKey, str] = {}
    if by_run:
        runs = store.runs_by_ids(
            client,
            store.experiment_ids(client),
            by_run,
            view_type=ViewType.ALL,
            action="Reading the source runs' parameters",
        )
        for run in runs:
            for key in by_run.get(run.info.run_id, []):
                if run.data.params:
                    params[key] = dict(run.data.params)
                note = run.data.tags.get(NOTE_TAG)
                if note:
                    notes[key] = note
    for name in sorted(_serving_behind(versions)):
        for mv in store.versions_of(client, name):
            if mv.description:
                key = (name, int(mv.version))
                notes[key] = f"{mv.description}\n{notes.get(key, '')}".strip()
    return ConfigFacts(params, notes)
