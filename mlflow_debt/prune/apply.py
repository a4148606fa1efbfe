"""Applying a plan: re-plan on fresh data, record every deletion in the audit, then delete.

Deletes (MLflow only offers them one version at a time) run on a small thread pool against an
HTTP tracking server, sequentially against a local store. The audit is written by
:mod:`mlflow_debt.prune.audit` before the first delete and after the last.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from mlflow.entities.model_registry import RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_debt import store
from mlflow_debt.errors import ServerError
from mlflow_debt.output import plural, terminal_safe
from mlflow_debt.prune import audit
from mlflow_debt.prune import plan as retention
from mlflow_debt.prune.history import (
    AUDIT_EXPERIMENT,
    DELETED,
    DENIED,
    FAILED,
    PLANNED,
    REINSTATED,
    SKIPPED,
    VANISHED,
    ApplyResult,
    Record,
    moved_aliases,
)
from mlflow_debt.prune.plan import PrunePlan
from mlflow_debt.prune.read import (
    ProgressFactory,
    Snapshot,
    no_progress,
    read_versions,
    version_info,
)


def _recheck(
    snapshot: Snapshot, client: MlflowClient, plan: PrunePlan, workers: int
) -> tuple[PrunePlan, set[tuple[str, int]], dict[str, dict[str, int]]]:
    """Re-plan the models about to lose versions from a fresh read of their versions and tags.

    Only deletions both plans agree on go ahead. Versions registered since the first read are
    left out of the re-plan (their metric is unknown), which can only make it keep more. Returns
    the fresh plan, the versions still live, and each model's aliases (alias -> version).
    """
    names = [n for n, mp in plan.models.items() if mp.delete]
    if not names:
        return plan, set(snapshot.versions), {}
    models = store.registered_models(client, names, workers)
    versions = read_versions(client, names, all_models=False, workers=workers)
    infos = []
    for (name, v), mv in versions.items():
        if (name, v) in snapshot.versions:
            infos.append(version_info(mv, _aliases_of_name(models, name).get(v, [])))
    policies = {
        rm.name: snapshot.selection.policy_for(rm.name, dict(rm.tags or {})) for rm in models
    }
    # A policy whose metric changed needs metrics we did not read: keep everything of that model.
    for name, pol in list(policies.items()):
        old = snapshot.policies.get(name)
        if pol is not None and (old is None or pol.metric != old.metric):
            policies[name] = None
    aliases = {rm.name: store.aliases(rm) for rm in models}
    fresh = retention.plan(infos, snapshot.metrics, policies, models=names)
    return fresh, set(versions), aliases


class _AliasWatch:
    """The aliases of the models being pruned as last read, shared by the delete threads."""

    def __init__(self, known: dict[str, dict[str, int]]) -> None:
        self._known = known
        self._lock = threading.Lock()

    def after_delete(self, client: MlflowClient, name: str, version: int) -> list[str]:
        """Re-read ``name``'s aliases after deleting ``version``: those that moved onto it."""
        rm = client.get_registered_model(name)
        now = store.aliases(rm)
        with self._lock:
            before = self._known.get(name, {})
            self._known[name] = now
        return moved_aliases(before, now, version)


def _reinstate_if_aliased(
    client: MlflowClient, prune_id: str, index: int, rec: Record, watch: _AliasWatch
) -> None:
    """Close the window between the re-check and the delete.

    An alias moved onto the version while its delete was in flight is deleted with it by MLflow:
    re-read the model's aliases after the delete and, if one went that way, register the
    version again at once with those aliases, recorded as ``reinstated``.
    """
    try:
        moved = watch.after_delete(client, rec.name, rec.version)
    except MlflowException as exc:
        rec.detail = f"aliases not re-read after the delete: {store.one_line(exc.message)}"
        return
    if not moved:
        return
    try:
        new = audit.reinstate(client, prune_id, index, rec, moved)
    except MlflowException as exc:
        # Still deleted, still restorable: say what to do.
        rec.detail = (
            f"alias {', '.join(moved)} moved onto it while it was being deleted; registering it "
            f"again failed ({store.one_line(exc.message)}): run mlflow-debt restore"
        )
        return
    rec.state = REINSTATED
    rec.detail = (
        f"alias {', '.join(moved)} moved onto it while it was being deleted: registered again "
        f"at once as version {new}, with the alias"
    )


def _aliases_of_name(models: Sequence[RegisteredModel], name: str) -> dict[int, list[str]]:
    for rm in models:
        if rm.name == name:
            return store.aliases_by_version(rm)
    return {}


def apply(  # noqa: C901  one guarded sequence: record, delete, re-read, finish
    client: MlflowClient,
    snapshot: Snapshot,
    plan: PrunePlan,
    *,
    workers: int | None = None,
    progress: ProgressFactory = no_progress,
    trigger: str = "cli",
) -> ApplyResult:
    """Delete what ``plan`` says: re-plan on fresh data, record every deletion, then delete.

    For each version, right before deleting it, re-read it: a version that gained an alias, the
    keep tag or a protected stage is skipped; one that is gone is "vanished", not an error. On the
    first failed delete no new deletes start; the result says which versions were deleted, and
    :class:`ServerError` is raised after the audit is complete. Re-running converges.
    ``trigger`` is written on the audit run (``history.TRIGGER_TAG``).
    """
    workers = workers or store.default_workers(client)
    fresh, live, aliases = _recheck(snapshot, client, plan, workers)
    fresh_deletes = {(d.name, d.version) for d in fresh.deletions}
    records: list[Record] = []
    for d in plan.deletions:
        mv = snapshot.versions[(d.name, d.version)]
        rec = audit.record_of(mv, d, plan.models[d.name].policy.metric)
        if (d.name, d.version) not in live:
            rec.state, rec.detail = VANISHED, "already gone"
        elif (d.name, d.version) not in fresh_deletes:
            rec.state, rec.detail = (
                SKIPPED,
                "kept on re-check (versions, tags or policy changed)",
            )
        records.append(rec)
    todo = [r for r in records if r.state == PLANNED]
    if not todo:
        return ApplyResult(prune_id=None, records=records)

    # Record first: the full records are in the tracking server before anything is deleted.
    prune_id, started = audit.begin(client, records, trigger)

    stop = threading.Event()
    errors: list[str] = []
    watch = _AliasWatch(aliases)
    index = {id(r): i for i, r in enumerate(records)}

    def delete_one(rec: Record) -> None:
        if stop.is_set():
            rec.state, rec.detail = SKIPPED, "not attempted after an earlier failure"
            return
        try:
            # MLflow drops aliases on delete, so re-check right before deleting.
            try:
                mv = client.get_model_version(rec.name, str(rec.version))
            except MlflowException as exc:
                if not store.is_not_found(exc):
                    raise
                rec.state, rec.detail = VANISHED, "already gone"
                return
            why = retention.protection(version_info(mv))
            if why:
                rec.state, rec.detail = SKIPPED, f"protected on re-check: {why}"
                return
            client.delete_model_version(rec.name, str(rec.version))
            rec.state = DELETED
            _reinstate_if_aliased(client, prune_id, index[id(rec)], rec, watch)
        except MlflowException as exc:
            if store.is_denied(exc):
                # Refused to us for this version only: leave it, go on with the others.
                rec.state, rec.detail = DENIED, f"permission denied: {store.one_line(exc.message)}"
                return
            if store.is_not_found(exc):
                # It existed a moment ago: most likely our own delete, retried by MLflow's
                # client after a lost response (or a concurrent prune). Record it as deleted so
                # it stays restorable; restore registers a version only once.
                rec.state, rec.detail = (
                    DELETED,
                    "gone when deleted (retried call or another prune)",
                )
                return
            rec.state, rec.detail = FAILED, store.one_line(exc.message)
            errors.append(f'deleting "{rec.name}" version {rec.version}: {rec.detail}')
            stop.set()
        except Exception as exc:  # noqa: BLE001  network/DB errors: record, stop, report after the audit
            rec.state, rec.detail = FAILED, store.one_line(f"{type(exc).__name__}: {exc}")
            errors.append(f'deleting "{rec.name}" version {rec.version}: {rec.detail}')
            stop.set()

    with progress(f"Deleting {plural(len(todo), 'version')}", len(todo)) as advance:

        def task(rec: Record) -> None:
            delete_one(rec)
            advance(1)

        store.pmap(task, todo, workers)

    result = ApplyResult(prune_id=prune_id, records=records)
    deleted = len(result.by_state(DELETED))
    audit.finish(client, prune_id, started, records, failed=bool(errors))
    if errors:
        result.error = errors[0]
        raise ServerError(
            f"Prune stopped {terminal_safe(errors[0])}. Deleted {deleted} of "
            f"{plural(len(todo), 'version')}, all recorded in run {prune_id} of experiment "
            f"{AUDIT_EXPERIMENT!r}; re-run to finish."
        )
    return result
