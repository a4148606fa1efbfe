"""Write the report's findings onto the registry (``report --annotate``, ``serve``).

The one shell of :mod:`mlflow_debt.report.annotate`: reads the registered models and their live
versions (with their tags), asks the pure module what to change, and writes it through
:mod:`mlflow_debt.store`. Only the ``mlflow_debt.findings`` key is ever set or removed:
descriptions, aliases and every other tag stay as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlflow_debt import store
from mlflow_debt.report import annotate
from mlflow_debt.report.model import DebtReport

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

#: ``serve``'s setting: ``0``/``false``/``no``/``off`` turns its annotations off (as
#: ``--no-annotate`` does; the command-line flag wins).
ANNOTATE_ENV = "MLFLOW_DEBT_ANNOTATE"


@dataclass(frozen=True)
class Published:
    """Findings tags written and removed (models and versions together)."""

    written: int
    removed: int
    targets: int


def publish(client: MlflowClient, report: DebtReport, models: Sequence[str] = ()) -> Published:
    """Make every registered model (only ``models`` when given) and its live versions carry the
    findings of ``report`` that concern them, and nothing stale."""
    key = annotate.KEY
    rms = store.registered_models(client, list(models))
    names = [rm.name for rm in rms]
    current: dict[annotate.Target, str] = {}
    live: dict[str, list[int]] = {name: [] for name in names}
    for rm in rms:
        if key in (rm.tags or {}):
            current[(rm.name, None)] = str(rm.tags[key])
    if models:
        versions = [mv for name in names for mv in store.versions_of(client, name)]
    else:
        versions = list(store.iter_model_versions(client))
    for mv in versions:
        if mv.name not in live:
            continue
        live[mv.name].append(int(mv.version))
        if key in (mv.tags or {}):
            current[(mv.name, int(mv.version))] = str(mv.tags[key])
    wanted = annotate.per_target(report.findings, live)
    todo = annotate.plan(wanted, current, set(names))
    for (name, version), text in todo.set.items():
        if version is None:
            store.set_registered_model_tag(client, name, key, text)
        else:
            store.set_model_version_tags(client, name, version, {key: text})
    for name, version in todo.remove:
        if version is None:
            store.delete_registered_model_tag(client, name, key)
        else:
            store.delete_model_version_tags(client, name, version, [key])
    return Published(len(todo.set), len(todo.remove), len(wanted))
