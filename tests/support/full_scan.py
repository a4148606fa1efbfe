"""The reference for the live read: a plain full scan, written as simply as possible.

It reads *every* active run of the experiments (no filter, no ordering tricks), every LoggedModel,
every live version and every registered model, keeps the runs that carry feature tags (either
family), and hands them all to the pure analysis. The live read (``consumers/read.py``) must
give the same answers (``tests/consumers/test_live_read.py`` compares them on generated stores).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from mlflow_debt.consumers.analysis import Declarations, Report, RunRow, VersionRow, analyze

SCHEMA = "mlflow_debt.schema"
FEAST = "feast.feature_refs"


def _all(search: Any) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = search(token)
        out.extend(page)
        token = page.token
        if not token:
            return out


def full_scan(
    client: MlflowClient,
    experiment_names: Sequence[str] = (),
    declarations: Declarations | None = None,
    only_features: Sequence[str] = (),
) -> Report:
    exps = _all(lambda t: client.search_experiments(page_token=t))
    if experiment_names:
        exps = [e for e in exps if e.name in experiment_names]
    names = {e.experiment_id: e.name for e in exps}
    ids = list(names)

    models = _all(lambda t: client.search_logged_models(experiment_ids=ids, page_token=t))
    registered = {
        m.source_run_id
        for m in models
        if m.source_run_id
        and (m.tags or {}).get("mlflow.modelVersions", "").strip() not in ("", "[]")
    }
    described_by = {m.model_id: m for m in models if SCHEMA in (m.tags or {})}

    versions = []
    for v in _all(lambda t: client.search_model_versions(page_token=t)):
        # Versions read by search carry no model_id on some stores: the source names it.
        model_id = getattr(v, "model_id", None) or (
            v.source[len("models:/") :].rstrip("/")
            if (v.source or "").startswith("models:/m-")
            else None
        )
        versions.append(
            VersionRow(
                v.name,
                int(v.version),
                v.run_id or None,
                model_id if model_id in described_by else None,
            )
        )
    aliases = {
        rm.name: {a: int(n) for a, n in rm.aliases.items()}
        for rm in _all(lambda t: client.search_registered_models(page_token=t))
        if rm.aliases
    }

    rows = []
    for run in _all(
        lambda t: client.search_runs(ids, run_view_type=ViewType.ACTIVE_ONLY, page_token=t)
    ):
        if SCHEMA in run.data.tags or FEAST in run.data.tags:
            rows.append(
                RunRow(
                    run.info.run_id,
                    names[run.info.experiment_id],
                    run.info.start_time or 0,
                    run.data.tags,
                )
            )
    for v in versions:
        if v.model_id and v.model_id not in {r.model_id for r in rows}:
            m = described_by[v.model_id]
            rows.append(
                RunRow(
                    m.source_run_id or "",
                    names.get(m.experiment_id, m.experiment_id),
                    int(m.creation_timestamp or 0),
                    dict(m.tags),
                    model_id=m.model_id,
                )
            )
    described = {v.run_id for v in versions if v.model_id and v.run_id}
    return analyze(
        rows,
        versions,
        aliases,
        declarations=declarations,
        only_features=only_features,
        judge_absent=not experiment_names,
        registered_runs=registered | described,
    )
