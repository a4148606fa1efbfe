"""The prune audit trail: record, read, resolve, restore.

The audit trail lives in the tracking server itself: each prune is a run in the experiment
:data:`AUDIT_EXPERIMENT`, holding the full record of every version it is about to delete as the
JSON artifact ``prune/plan.json`` (written *before* the first delete) and the outcome per version
as ``prune/result.json`` (written after the last). A prune that crashed in between leaves only
``plan.json``; readers resolve its records by asking whether the version still exists.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlflow.entities import Metric
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_debt import store
from mlflow_debt.errors import NotFoundError, ServerError
from mlflow_debt.output import terminal_safe
from mlflow_debt.prune.history import (
    AUDIT_EXPERIMENT,
    AUDIT_SCHEMA,
    DELETED,
    DELETING,
    DENIED,
    FAILED,
    OP_TAG,
    PLAN_ARTIFACT,
    REINSTATED,
    RESTORED_TAG,
    RESTORING_TAG,
    RESULT_ARTIFACT,
    SKIPPED,
    STATE_TAG,
    TRIGGER_TAG,
    VANISHED,
    ApplyResult,
    AuditEntry,
    LoadedPrune,
    Record,
    Restored,
    count_once,
    entries_of,
    resolve_crashed,
    select_restore,
)
from mlflow_debt.prune.plan import Decision


def record_of(mv: ModelVersion, decision: Decision, metric: str) -> Record:
    """The audit record of a version about to be deleted (state ``planned``)."""
    return Record(
        name=mv.name,
        version=int(mv.version),
        source=str(mv.source or ""),
        run_id=mv.run_id or None,
        model_id=store.model_id_of(mv),
        tags=dict(mv.tags or {}),
        description=mv.description or None,
        aliases=list(mv.aliases or []),
        stage=mv.current_stage,
        metric=metric,
        value=decision.value,
        reason=decision.reason,
    )


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def audit_experiment_id(client: MlflowClient, create: bool = True) -> str | None:
    """The id of the audit experiment, created on first use (concurrent creators are fine)."""
    with store.mlflow_errors(f'Reading experiment "{AUDIT_EXPERIMENT}"'):
        exp = client.get_experiment_by_name(AUDIT_EXPERIMENT)
        if exp is not None:
            if exp.lifecycle_stage == "deleted" and create:
                # Someone deleted the history; new records still need a live experiment.
                client.restore_experiment(exp.experiment_id)
            return str(exp.experiment_id)
        if not create:
            return None

        def find() -> str | None:
            found = client.get_experiment_by_name(AUDIT_EXPERIMENT)
            return None if found is None else str(found.experiment_id)

        try:
            return str(
                store.create_once(
                    lambda: client.create_experiment(
                        AUDIT_EXPERIMENT,
                        tags={"mlflow.note.content": "Prune history written by mlflow-debt."},
                    ),
                    find,
                )
            )
        except MlflowException as exc:
            if store.error_code(exc) != "RESOURCE_ALREADY_EXISTS":
                raise
            exp = client.get_experiment_by_name(AUDIT_EXPERIMENT)
            if exp is None:
                raise
            return str(exp.experiment_id)


def begin(client: MlflowClient, records: Sequence[Record], trigger: str = "cli") -> tuple[str, str]:
    """Record a prune before its first delete: a run (state ``deleting``) holding ``plan.json``.

    ``trigger`` (who started it: ``cli`` or ``serve``) is the run's ``TRIGGER_TAG``. Returns the
    prune's id (its run id) and when it started.
    """
    exp_id = audit_experiment_id(client)
    assert exp_id is not None
    started = _now()
    with store.mlflow_errors("Writing the prune record"):
        prune_id = _create_prune_run(client, exp_id, started, trigger)
        client.log_dict(
            prune_id,
            {
                "schema": AUDIT_SCHEMA,
                "prune_id": prune_id,
                "started": started,
                "records": [asdict(r) for r in records],
            },
            PLAN_ARTIFACT,
        )
    return prune_id, started


#: A key of this prune's own on its run, so a create whose answer was lost is found, not repeated.
KEY_TAG = "mlflow_debt.prune_key"


def _create_prune_run(client: MlflowClient, exp_id: str, started: str, trigger: str) -> str:
    """The prune's run, created once (see :func:`store.create_once`); its id."""
    key = uuid.uuid4().hex
    tags = {OP_TAG: "prune", STATE_TAG: DELETING, TRIGGER_TAG: trigger, KEY_TAG: key}

    def mine() -> list[str]:
        runs = client.search_runs(
            [exp_id], f"tags.`{KEY_TAG}` = '{key}'", order_by=["attributes.start_time ASC"]
        )
        return [r.info.run_id for r in runs]

    run_id = store.create_once(
        lambda: str(client.create_run(exp_id, run_name=f"prune {started}", tags=tags).info.run_id),
        lambda: next(iter(mine()), None),
    )
    # A client that retried the create itself (MLflow < 3.18) may have made it twice: the
    # others are empty copies of this one, made a moment ago.
    for other in mine():
        if other != run_id:
            client.delete_run(other)
    return str(run_id)


def finish(
    client: MlflowClient, prune_id: str, started: str, records: Sequence[Record], *, failed: bool
) -> None:
    """Record the outcome of every record (``result.json``, counts) and close the prune's run."""
    result = ApplyResult(prune_id=prune_id, records=list(records))
    with store.mlflow_errors(f"Writing the prune result (run {prune_id})"):
        client.log_dict(
            prune_id,
            {
                "schema": AUDIT_SCHEMA,
                "prune_id": prune_id,
                "started": started,
                "finished": _now(),
                "records": [asdict(r) for r in records],
            },
            RESULT_ARTIFACT,
        )
        client.log_batch(
            prune_id,
            metrics=[
                Metric(f"versions_{state}", len(result.by_state(state)), 0, 0)
                for state in (DELETED, VANISHED, SKIPPED, FAILED, REINSTATED, DENIED)
            ],
            synchronous=True,
        )
        client.set_tag(prune_id, STATE_TAG, "failed" if failed else "done")
        # Over HTTP, set_terminated prints "View run ... at: URL" on stdout, which would corrupt
        # --format json; our own summary names the run.
        with contextlib.redirect_stdout(io.StringIO()):
            client.set_terminated(prune_id, "FAILED" if failed else "FINISHED")


# --------------------------------------------------------------------------------------------
# Reading the audit trail and restoring


def _download_json(client: MlflowClient, run_id: str, path: str, dst: str) -> dict[str, Any] | None:
    """The JSON artifact ``path`` of ``run_id``; None only when MLflow says it does not exist."""
    try:
        local = client.download_artifacts(run_id, path, dst_path=dst)
    except MlflowException as exc:
        if store.is_not_found(exc):
            return None
        raise
    except FileNotFoundError:
        return None
    data: dict[str, Any] = json.loads(Path(local).read_text(encoding="utf-8"))
    return data


def _artifact_paths(client: MlflowClient, run_id: str) -> set[str]:
    return {f.path for f in client.list_artifacts(run_id, "prune")}


def _check_prune_id(client: MlflowClient, prune_id: str, exp_id: str) -> None:
    """``prune_id`` names a prune; only MLflow's NOT_FOUND codes mean it does not exist."""
    shown = terminal_safe(prune_id)
    try:
        with store.mlflow_errors(f'Reading prune "{shown}"'):
            run = client.get_run(prune_id)
    except NotFoundError:
        raise NotFoundError(f'Prune "{shown}" does not exist') from None
    if run.info.experiment_id != exp_id or run.data.tags.get(OP_TAG) != "prune":
        raise NotFoundError(f'Run "{shown}" is not a prune of mlflow-debt')


def read_audit(client: MlflowClient, prune_id: str | None = None) -> list[AuditEntry]:
    """Every recorded deletion (of one prune, or of all), oldest prune first.

    Records of a prune that never wrote its result (it crashed) are resolved now: a version that
    no longer exists counts as deleted, one that still does as not deleted. A version that
    several prunes recorded as deleted (they raced) counts once. A server error while reading
    is a :class:`ServerError` (exit 3), never "does not exist".
    """
    store.ensure_reachable(client)
    exp_id = audit_experiment_id(client, create=False)
    if exp_id is None:
        if prune_id:
            raise NotFoundError(
                f'Prune "{terminal_safe(prune_id)}" does not exist (no prune has run yet)'
            )
        return []
    if prune_id:
        _check_prune_id(client, prune_id, exp_id)
    # All prunes, also for one: later prunes resolve a crashed prune's records.
    runs = store.iter_runs(
        client,
        [exp_id],
        f"tags.`{OP_TAG}` = 'prune'",
        page_size=store.RUNS_PAGE,
        order_by=["attributes.start_time ASC"],
        action="Reading the prune history",
    )
    loaded: list[LoadedPrune] = []
    # MLflow 3.1 resolves artifact downloads through the *default* tracking store: point it here.
    with (
        tempfile.TemporaryDirectory() as tmp,
        store.mlflow_errors("Reading the prune history"),
        store.default_tracking_uri(client),
    ):
        for run in runs:
            rid = run.info.run_id
            paths = _artifact_paths(client, rid)
            data = None
            final = RESULT_ARTIFACT in paths
            if final:
                data = _download_json(client, rid, RESULT_ARTIFACT, f"{tmp}/{rid}")
            if data is None and PLAN_ARTIFACT in paths:
                data = _download_json(client, rid, PLAN_ARTIFACT, f"{tmp}/{rid}")
                final = False
            if data is None:
                continue
            records = [Record.from_dict(raw) for raw in data.get("records", [])]
            started = str(data.get("started", ""))
            loaded.append(LoadedPrune(rid, dict(run.data.tags), records, final, started))
        resolve_crashed(loaded, lambda rec: _exists(client, rec))
    entries = entries_of(loaded)
    count_once(entries)
    return [e for e in entries if not prune_id or e.prune_id == prune_id]


def _exists(client: MlflowClient, rec: Record) -> bool:
    try:
        client.get_model_version(rec.name, str(rec.version))
    except MlflowException as exc:
        if store.is_not_found(exc):
            return False
        raise
    return True


def restore(
    client: MlflowClient,
    *,
    models: Sequence[str] = (),
    versions: Sequence[int] = (),
    prune_id: str | None = None,
    dry_run: bool = False,
) -> tuple[list[Restored], list[AuditEntry]]:
    """Re-register deleted versions from the audit; returns (restored, already restored).

    Same source, run, tags and description; MLflow gives them new version numbers. Idempotent:
    the intent is written to the prune's run before registering (tag
    ``mlflow_debt.restoring.<i>``), the outcome after (``mlflow_debt.restored.<i>``); a restore
    that stopped in between (a lost response, a failed write-back, a killed process) finds the
    version it registered by its source and run instead of registering another.
    """
    entries = read_audit(client, prune_id)
    todo, done = select_restore(entries, models, versions)
    if not todo and not done:
        what = []
        if models:
            what.append("model " + ", ".join(f'"{terminal_safe(m)}"' for m in models))
        if versions:
            what.append("version " + ", ".join(str(v) for v in versions))
        if prune_id:
            what.append(f'prune "{terminal_safe(prune_id)}"')
        raise NotFoundError(
            "No pruned versions recorded" + (" for " + ", ".join(what) if what else "")
        )
    if dry_run:
        return [Restored(e, None) for e in todo], done

    claimed = {(e.record.name, e.restored_as) for e in entries if e.restored_as is not None}
    restored: list[Restored] = []
    existing: set[str] = set()
    with store.default_tracking_uri(client):
        for e in todo:
            try:
                new = _restore_one(client, e, existing, claimed)
            except ServerError as exc:
                if not store.is_denied(exc.__cause__ or exc):
                    raise
                # Refused to us for this one (HTTP 403): say so, restore the others.
                restored.append(Restored(e, None, denied=str(exc)))
                continue
            claimed.add((e.record.name, new))
            restored.append(Restored(e, new))
    return restored, done


def reinstate(
    client: MlflowClient, prune_id: str, index: int, rec: Record, aliases: Sequence[str]
) -> int:
    """Register the just-deleted ``rec`` again, point ``aliases`` at it, record it on the prune."""
    with store.default_tracking_uri(client):
        new = store.create_once(
            lambda: int(
                client.create_model_version(
                    rec.name,
                    rec.source,
                    run_id=rec.run_id,
                    tags=rec.tags,
                    description=rec.description,
                    model_id=rec.model_id,
                    await_creation_for=0,
                ).version
            ),
            lambda: next(iter(_copies(client, rec, rec.version, set())), None),
        )
    for alias in aliases:
        client.set_registered_model_alias(rec.name, alias, str(new))
    client.set_tag(prune_id, f"{RESTORED_TAG}{index}", str(new))
    return new


def _registered_model(client: MlflowClient, name: str) -> object | None:
    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if store.is_not_found(exc):
            return None
        raise


def _copies(
    client: MlflowClient, r: Record, floor: int, claimed: set[tuple[str, int]]
) -> list[int]:
    """Live versions registered from ``r`` since ``floor`` that no other record claims."""
    return sorted(
        int(mv.version)
        for mv in store.versions_of(client, r.name)
        if int(mv.version) > floor
        and (r.name, int(mv.version)) not in claimed
        and str(mv.source or "") == r.source
        and (mv.run_id or None) == r.run_id
    )


def _restore_one(
    client: MlflowClient, e: AuditEntry, existing: set[str], claimed: set[tuple[str, int]]
) -> int:
    """Register ``e``'s version again, once, and write the new number back to its prune."""
    r = e.record
    with store.mlflow_errors(f'Restoring "{terminal_safe(r.name)}" version {r.version}'):
        if r.name not in existing:
            try:
                client.get_registered_model(r.name)
            except MlflowException as exc:
                if not store.is_not_found(exc):
                    raise
                # The whole model was deleted since.
                store.create_once(
                    lambda: client.create_registered_model(r.name),
                    lambda: _registered_model(client, r.name),
                )
            existing.add(r.name)
        floor = e.restoring_floor
        copies = _copies(client, r, floor, claimed) if floor is not None else []
        if floor is None:
            # The intent first: a restore stopped after registering finds its copy by it.
            floor = max((int(mv.version) for mv in store.versions_of(client, r.name)), default=0)
            client.set_tag(e.prune_id, f"{RESTORING_TAG}{e.index}", str(floor))
        if not copies:
            # The call may take effect with its answer lost: look before registering again.
            store.create_once(
                lambda: client.create_model_version(
                    r.name,
                    r.source,
                    run_id=r.run_id,
                    tags=r.tags,
                    description=r.description,
                    model_id=r.model_id,
                    await_creation_for=0,
                ),
                lambda: next(iter(_copies(client, r, floor, claimed)), None),
            )
            # MLflow's client retries a create whose response was lost: it may have registered
            # the version twice. Keep the first copy, remove the others (ours, just made).
            copies = _copies(client, r, floor, claimed)
            if not copies:
                raise ServerError(
                    f'Restoring "{terminal_safe(r.name)}" version {r.version}: the new version '
                    "is not in the registry after registering it"
                )
            for extra in copies[1:]:
                client.delete_model_version(r.name, str(extra))
        new = copies[0]
        # Written back to the prune's run, so the same restore run twice does not duplicate.
        client.set_tag(e.prune_id, f"{RESTORED_TAG}{e.index}", str(new))
    return new
