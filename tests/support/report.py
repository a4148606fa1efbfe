"""Factories for debt-report tests: model versions that pass every check, and ways to plant debt.

A *clean* version has a source run with feature tags, a code version, a metric and a model
artifact (an ``MLmodel`` with a signature); each keyword switches one of those off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from mlflow_debt.consumers.analysis import Declarations
from mlflow_debt.report import model as rmodel
from mlflow_debt.report import read as report_io
from mlflow_debt.report.model import DebtReport, Thresholds

from support.lineage import make_run, register

GIT = "mlflow.source.git.commit"
COMMIT = "0f3c2a9d5b7e41c2a8f6d0e9b1c3a5e7f9d1b3c5"

MLMODEL_SIGNED = """\
flavors:
  python_function: {loader_module: mlflow.sklearn, python_version: 3.11.0}
signature:
  inputs: '[{"type": "double", "name": "user_age", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
"""
MLMODEL_UNSIGNED = """\
flavors:
  python_function: {loader_module: mlflow.sklearn, python_version: 3.11.0}
"""

FP = "num:+:m1.0:s1.0:na0"


def clean_version(
    client: MlflowClient,
    model: str,
    features: Sequence[str] | Mapping[str, str] | None = ("user_age",),
    *,
    experiment: str = "training",
    start: int = 0,
    commit: str | None = COMMIT,
    metrics: Mapping[str, float] | None = None,
    signature: bool = True,
    artifact: bool = True,
    aliases: Sequence[str] = (),
    extra_tags: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """Register a new version of ``model`` that passes every per-version check; (version, run)."""
    fps = (
        None
        if features is None
        else dict(features)
        if isinstance(features, Mapping)
        else dict.fromkeys(features, FP)
    )
    run_tags = {**({GIT: commit} if commit else {}), **(extra_tags or {})}
    run_id = make_run(client, experiment, fps, start=start, extra_tags=run_tags)
    values = {"accuracy": 0.9} if metrics is None else metrics
    if values:
        client.log_batch(
            run_id, metrics=[Metric(k, v, 0, 0) for k, v in values.items()], synchronous=True
        )
    if artifact:
        client.log_text(run_id, MLMODEL_SIGNED if signature else MLMODEL_UNSIGNED, "model/MLmodel")
    return register(client, model, run_id, aliases), run_id


def assess(
    client: MlflowClient,
    *,
    models: Sequence[str] = (),
    experiments: Sequence[str] = (),
    declarations: Declarations | None = None,
    since: int | None = None,
    **thresholds: int | float,
) -> DebtReport:
    # The fixtures' runs start at a fixed time in 2023 (support.lineage.T0): the whole history,
    # unless a test is about the --since window.
    return report_io.build(
        client,
        experiments,
        models,
        declarations,
        Thresholds(**thresholds),  # type: ignore[arg-type]
        since=since,
    )


def findings(report: DebtReport, check: str) -> list[rmodel.Finding]:
    return list(report.result(check).findings)


def subjects(report: DebtReport, check: str) -> list[str]:
    return [f.subject for f in report.result(check).findings]
