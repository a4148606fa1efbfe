"""One enforcement: ``mlflow-debt prune --model NAME --yes``, for a model that has a policy;
and the service's two other writes: a new version's feature tags, the findings tags.

The ONLY module of the service that calls prune code (``prune.read``, ``apply``, ``audit``,
``history`` and ``plan``): the same load, re-plan, re-check before each delete, audit record (tagged
``mlflow_debt.trigger=serve``) and ``restore`` as the command.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from mlflow_debt import store
from mlflow_debt.capture import version_tags
from mlflow_debt.errors import InputError, NotFoundError
from mlflow_debt.prune import apply, audit, history, read
from mlflow_debt.prune import plan as retention
from mlflow_debt.report import publish
from mlflow_debt.report import read as report_read

TRIGGER = "serve"

#: Outcome statuses.
ENFORCED = "enforced"  # planned (and applied when it deleted anything)
NO_POLICY = "no_policy"  # the model has no mlflow_debt.max_versions: never touched
MISSING = "missing"  # the model does not exist (deleted since, or MLflow's test event)
INVALID = "invalid"  # its policy cannot be applied (malformed tag, metric nowhere): not retried


@dataclass
class Outcome:
    model: str
    status: str
    deleted: int = 0
    skipped: int = 0
    vanished: int = 0
    prune_id: str | None = None
    detail: str = ""


def enforce(client: MlflowClient, name: str, *, workers: int | None = None) -> Outcome:
    """Enforce ``name``'s own policy. Server failures raise :class:`ServerError` (retry later).

    The model's tags are read first: without a policy nothing else is read or written.
    """
    try:
        rm = store.registered_models(client, [name])[0]
    except NotFoundError:
        return Outcome(name, MISSING, detail="no such registered model")
    try:
        policy = retention.policy_from_tags(name, dict(rm.tags or {}))
    except retention.PolicyError as exc:
        return Outcome(name, INVALID, detail=str(exc))
    if policy is None:
        return Outcome(name, NO_POLICY)
    try:
        snapshot, plan = read.load(client, read.Selection(models=(name,)), workers=workers)
    except NotFoundError:
        return Outcome(name, MISSING, detail="deleted while reading it")
    except InputError as exc:  # the policy was removed since, or its metric is logged nowhere
        if "No version limit" in str(exc):
            return Outcome(name, NO_POLICY)
        return Outcome(name, INVALID, detail=str(exc))
    if not plan.deletions:
        return Outcome(name, ENFORCED)
    result = apply.apply(client, snapshot, plan, workers=workers, trigger=TRIGGER)
    return Outcome(
        name,
        ENFORCED,
        deleted=len(result.by_state(history.DELETED)),
        skipped=len(result.by_state(history.SKIPPED)),
        vanished=len(result.by_state(history.VANISHED)),
        prune_id=result.prune_id,
    )


def tag_version(client: MlflowClient, name: str, version: str) -> version_tags.Tagged:
    """Give a newly registered version its source's feature tags (idempotent; never a tag
    someone set by hand)."""
    return version_tags.tag_version(client, name, version)


def annotate(client: MlflowClient, model: str | None) -> publish.Published:
    """Write the report's findings about ``model`` (None: every model) onto the registry.

    The report reads the whole store (entanglement is about every consumer); only ``model``'s
    and its versions' ``mlflow_debt.findings`` tags are written when one is given.
    """
    models = () if model is None else (model,)
    try:
        report = report_read.build(client, (), models)
        return publish.publish(client, report, models)
    except NotFoundError:  # the model was deleted since the event
        return publish.Published(0, 0, 0)


def models_with_policy(client: MlflowClient) -> list[str]:
    """Every registered model that has a version limit of its own (malformed ones included:
    :func:`enforce` reports them)."""
    return sorted(
        rm.name
        for rm in store.registered_models(client)
        if str((rm.tags or {}).get(retention.MAX_VERSIONS_TAG, "")).strip()
    )


def reachable(client: MlflowClient) -> None:
    """Fail fast (one line, :class:`ServerError`) when the tracking server cannot be reached."""
    store.ensure_reachable(client)


def deleted_records(client: MlflowClient, model: str) -> list[tuple[int, str]]:
    """(version, prune id) of every deletion of ``model`` in the audit, crashed prunes resolved
    (``restore --list``'s view): what tests and ``/status`` consumers check the service by."""
    return [
        (e.record.version, e.prune_id)
        for e in audit.read_audit(client)
        if e.record.name == model and e.record.state == history.DELETED
    ]


def trigger_of(client: MlflowClient, prune_id: str) -> str | None:
    """Who started the prune ``prune_id`` ("serve", "cli"; None for records older than the tag)."""
    tags: dict[str, str] = client.get_run(prune_id).data.tags
    return tags.get(history.TRIGGER_TAG)


def restorable(client: MlflowClient, model: str) -> list[int]:
    """The versions ``mlflow-debt restore --model MODEL`` would re-register (a dry run)."""
    restored, _ = audit.restore(client, models=[model], dry_run=True)
    return sorted(r.entry.record.version for r in restored)
