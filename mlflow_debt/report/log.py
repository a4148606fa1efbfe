"""``mlflow-debt report --log``: the report recorded as a run, so MLflow charts the debt over time.

Each report becomes one run of the ``mlflow-debt`` experiment (the prune audit's experiment,
created by the same helper, :func:`mlflow_debt.prune.audit.audit_experiment_id`): one metric
per check (its findings), one per registered model (checks passed), the overall figures, and the
HTML and JSON reports as artifacts. Runs are named ``debt-report 2026-12-06 04:10`` and tagged
``mlflow_debt.op = report``: readers of training runs skip them (they carry no feature tags, and
``backfill`` and the prune audit skip every run with an ``mlflow_debt.op`` tag).

:func:`metrics` is pure (what is logged); :func:`log_report` writes it.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from mlflow_debt import store
from mlflow_debt.output import dumps
from mlflow_debt.prune import audit
from mlflow_debt.prune.history import OP_TAG
from mlflow_debt.report.html import report_html
from mlflow_debt.report.model import FAIL, PASS, SEVERITIES, SKIPPED, DebtReport
from mlflow_debt.report.text import report_json, summary_line

#: ``mlflow_debt.op`` of a report run (prunes are ``prune``).
REPORT_OP = "report"
#: The run's artifacts.
HTML_ARTIFACT = "report.html"
JSON_ARTIFACT = "report.json"
#: Metric key prefixes: MLflow's run charts group metrics into sections by the part before "/".
FINDINGS = "findings/"
PASSED = "checks_passed/"
OVERALL = "overall/"
#: MLflow's UI shows an experiment of this kind with its runs table and run charts (without it,
#: 3.x may infer a GenAI experiment and open on a traces overview).
KIND_TAG = "mlflow.experimentKind"
KIND = "custom_model_development"

# MLflow metric keys: at most 250 characters of letters, digits, _ - . space / and :.
_BAD_KEY_CHARS = re.compile(r"[^\w.\- :]")
_KEY_LIMIT = 250
# log_batch takes at most 1000 metrics per call.
_METRICS_PER_BATCH = 1000


@dataclass(frozen=True)
class LoggedReport:
    run_id: str
    experiment_id: str
    run_name: str
    metrics: int
    #: The run's page in MLflow's UI ("" for a local store).
    url: str = ""


def run_name(report: DebtReport) -> str:
    """``debt-report 2026-12-06 04:10`` (UTC, from the report's own time)."""
    try:
        when = datetime.fromisoformat(report.scope.generated_at)
    except ValueError:
        when = datetime.now(timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return f"debt-report {when:%Y-%m-%d %H:%M}"


def _model_key(model: str, taken: set[str]) -> str:
    """A metric key for ``model``: characters MLflow refuses (and "/") become ``_``, and so do
    the dots of a name that is all dots (a key must not read as a relative path)."""
    safe = _BAD_KEY_CHARS.sub("_", model)
    if posixpath.normpath(PASSED + safe) != PASSED + safe:  # "." or "..": MLflow refuses paths
        safe = safe.replace(".", "_")
    base = (PASSED + safe)[:_KEY_LIMIT]
    key, n = base, 1
    while key in taken:  # two names that differ only in refused characters
        n += 1
        suffix = f"_{n}"
        key = base[: _KEY_LIMIT - len(suffix)] + suffix
    taken.add(key)
    return key


def metrics(report: DebtReport) -> dict[str, float]:
    """What ``--log`` records: ``findings/<check>`` for each check that ran (a skipped check
    is not logged, so a chart never shows it as clean), ``checks_passed/<model>`` for each
    scored model, and the ``overall/`` figures. Pure."""
    out: dict[str, float] = {}
    for c in report.checks:
        if c.status != SKIPPED:
            out[FINDINGS + c.id] = float(len(c.findings))
    taken: set[str] = set()
    for s in report.scores:
        out[_model_key(s.model, taken)] = float(s.passed)
    findings = report.findings
    statuses = [c.status for c in report.checks]
    out[OVERALL + "findings"] = float(len(findings))
    for severity in SEVERITIES:
        out[OVERALL + f"findings_{severity}"] = float(
            sum(1 for f in findings if f.severity == severity)
        )
    out[OVERALL + "checks_failed"] = float(statuses.count(FAIL))
    out[OVERALL + "checks_passed"] = float(statuses.count(PASS))
    out[OVERALL + "checks_skipped"] = float(statuses.count(SKIPPED))
    out[OVERALL + "models"] = float(len(report.scores))
    out[OVERALL + "models_passing_all"] = float(
        sum(1 for s in report.scores if s.applicable and not s.failed)
    )
    return out


def _params(report: DebtReport) -> list[Param]:
    """The report's scope, so runs of different scopes can be told apart (and filtered)."""
    scope = report.scope
    values = {
        "experiments": ", ".join(scope.experiments) or "all",
        "models": ", ".join(scope.models) or "all",
        "declared": scope.declared or "none",
    }
    # MLflow params hold at most 6000 characters.
    return [Param(k, v[:6000]) for k, v in values.items()]


def log_report(client: MlflowClient, report: DebtReport) -> LoggedReport:
    """Record ``report`` as a finished run of the ``mlflow-debt`` experiment."""
    exp_id = audit.audit_experiment_id(client)
    assert exp_id is not None
    name = run_name(report)
    values = metrics(report)
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    with store.mlflow_errors("Logging the report as a run"):
        if KIND_TAG not in (client.get_experiment(exp_id).tags or {}):
            client.set_experiment_tag(exp_id, KIND_TAG, KIND)
        run = client.create_run(
            exp_id,
            run_name=name,
            tags={OP_TAG: REPORT_OP, "mlflow.note.content": summary_line(report)},
        )
        run_id = run.info.run_id
        try:
            batch = [Metric(k, v, now, 0) for k, v in values.items()]
            client.log_batch(run_id, params=_params(report), synchronous=True)
            for i in range(0, len(batch), _METRICS_PER_BATCH):
                client.log_batch(
                    run_id, metrics=batch[i : i + _METRICS_PER_BATCH], synchronous=True
                )
            client.log_text(run_id, report_html(report), HTML_ARTIFACT)
            client.log_text(run_id, dumps(report_json(report)) + "\n", JSON_ARTIFACT)
        except BaseException:
            # A half-logged report stays visible as FAILED, never as a finished one.
            with contextlib.suppress(Exception):  # the original error is the one to report
                client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED")
    return LoggedReport(run_id, exp_id, name, len(values), _ui_url(client, exp_id, run_id))


def _ui_url(client: MlflowClient, exp_id: str, run_id: str) -> str:
    """The run's page in MLflow's UI when the store is a server (else "": no UI to point at)."""
    uri = store.tracking_uri_of(client)
    if not uri.startswith(("http://", "https://")):
        return ""
    return f"{uri.rstrip('/')}/#/experiments/{exp_id}/runs/{run_id}"
