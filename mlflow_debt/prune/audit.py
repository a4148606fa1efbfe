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
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlflow.entities import Metric
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_debt import store
from mlflow_debt.errors import NotFoundError
from mlflow_debt.prune.history import (
    AUDIT_EXPERIMENT,
    AUDIT_SCHEMA,
    DELETED,
    FAILED,
    OP_TAG,
    PLAN_ARTIFACT,
    PLANNED,
    RESTORED_TAG,
    RESULT_ARTIFACT,
    SKIPPED,
    STATE_TAG,
    VANISHED,
    ApplyResult,
    AuditEntry,
    Record,
    Restored,
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
        try:
            return str(
                client.create_experiment(
                    AUDIT_EXPERIMENT,
                    tags={"mlflow.note.content": "Prune history written by mlflow-debt."},
                )
            )
        except MlflowException as exc:
            if "already exists" not in str(exc.message).lower():
                raise
            exp = client.get_experiment_by_name(AUDIT_EXPERIMENT)
            if exp is None:
                raise
            return str(exp.experiment_id)


def begin(client: MlflowClient, records: Sequence[Record]) -> tuple[str, str]:
    """Record a prune before its first delete: a run (state ``deleting``) holding ``plan.json``.

    Returns the prune's id (its run id) and when it started.
    """
    exp_id = audit_experiment_id(client)
    assert exp_id is not None
    started = _now()
    with store.mlflow_errors("Writing the prune record"):
        run = client.create_run(
            exp_id,
            run_name=f"prune {started}",
            tags={OP_TAG: "prune", STATE_TAG: "deleting"},
        )
        prune_id = run.info.run_id
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
                for state in (DELETED, VANISHED, SKIPPED, FAILED)
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
    try:
        local = client.download_artifacts(run_id, path, dst_path=dst)
    except MlflowException as exc:
        if store.is_not_found(exc):
            return None
        raise
    except OSError:
        return None
    data: dict[str, Any] = json.loads(Path(local).read_text(encoding="utf-8"))
    return data


def _artifact_paths(client: MlflowClient, run_id: str) -> set[str]:
    return {f.path for f in client.list_artifacts(run_id, "prune")}


def read_audit(client: MlflowClient, prune_id: str | None = None) -> list[AuditEntry]:
    """Every recorded deletion (of one prune, or of all), oldest prune first.

    Records of a prune that never wrote its result (it crashed) are resolved now: a version that
    no longer exists counts as deleted, one that still does as not deleted.
    """
    store.ensure_reachable(client)
    exp_id = audit_experiment_id(client, create=False)
    if exp_id is None:
        if prune_id:
            raise NotFoundError(f'Prune "{prune_id}" does not exist (no prune has run yet)')
        return []
    runs: list[Any] = []
    with store.mlflow_errors("Reading the prune history"):
        if prune_id:
            try:
                run = client.get_run(prune_id)
            except MlflowException as exc:
                raise NotFoundError(f'Prune "{prune_id}" does not exist') from exc
            if run.info.experiment_id != exp_id or run.data.tags.get(OP_TAG) != "prune":
                raise NotFoundError(f'Run "{prune_id}" is not a prune of mlflow-debt')
        # All prunes, also for one: later prunes resolve a crashed prune's records.
        runs = list(
            store.iter_runs(
                client,
                [exp_id],
                f"tags.`{OP_TAG}` = 'prune'",
                page_size=store.RUNS_PAGE,
                order_by=["attributes.start_time ASC"],
                action="Reading the prune history",
            )
        )

    loaded: list[tuple[str, dict[str, str], list[Record], bool]] = []
    started: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp, store.mlflow_errors("Reading the prune history"):
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
            started[rid] = str(data.get("started", ""))
            loaded.append((rid, dict(run.data.tags), records, final))

        # A prune that stopped before writing its result left "planned" records. Resolve them
        # newest prune first: a later prune's record of the same version says whether it was
        # still there then (so this one did not delete it); only without one does the version's
        # existence now decide.
        later: dict[tuple[str, int], str] = {}
        for _rid, _tags, records, final in reversed(loaded):
            for rec in records:
                key = (rec.name, rec.version)
                if not final and rec.state == PLANNED:
                    rec.state, rec.detail = _resolve(client, rec, later.get(key))
                later[key] = rec.state

    entries: list[AuditEntry] = []
    for rid, tags, records, _final in loaded:
        if prune_id and rid != prune_id:
            continue
        for i, rec in enumerate(records):
            new = tags.get(f"{RESTORED_TAG}{i}")
            restored = int(new) if new and new.isdigit() else None
            entries.append(AuditEntry(rid, i, rec, restored, started.get(rid, "")))
    return entries


def _resolve(client: MlflowClient, rec: Record, later: str | None) -> tuple[str, str]:
    """The outcome of a record its prune never wrote down (it stopped first)."""
    stopped = "the prune stopped before recording its outcome"
    if later == DELETED:
        return SKIPPED, f"not deleted: a later prune deleted it ({stopped})"
    if later in (SKIPPED, FAILED):
        return SKIPPED, f"not deleted: still there when a later prune came ({stopped})"
    if later == VANISHED:
        return DELETED, f"gone before a later prune came ({stopped})"
    try:
        client.get_model_version(rec.name, str(rec.version))
    except MlflowException as exc:
        if store.is_not_found(exc):
            return DELETED, f"gone ({stopped})"
        raise
    return SKIPPED, f"still exists ({stopped})"


def restore(
    client: MlflowClient,
    *,
    models: Sequence[str] = (),
    versions: Sequence[int] = (),
    prune_id: str | None = None,
    dry_run: bool = False,
) -> tuple[list[Restored], list[AuditEntry]]:
    """Re-register deleted versions from the audit; returns (restored, already restored).

    Same source, run, tags and description; MLflow gives them new version numbers. Each restore
    is written back to the prune's run (tag ``mlflow_debt.restored.<i>``), so running the same
    restore twice does not register a version twice.
    """
    entries = read_audit(client, prune_id)
    chosen: dict[tuple[str, int], AuditEntry] = {}
    done: dict[tuple[str, int], AuditEntry] = {}
    for e in entries:
        r = e.record
        if r.state != DELETED:
            continue
        if models and r.name not in models:
            continue
        if versions and r.version not in versions:
            continue
        key = (r.name, r.version)
        if e.restored_as is not None:
            done[key] = e
        chosen[key] = e  # a later record of the same version wins
    for key in done:
        chosen.pop(key, None)
    if not chosen and not done:
        what = []
        if models:
            what.append("model " + ", ".join(f'"{m}"' for m in models))
        if versions:
            what.append("version " + ", ".join(str(v) for v in versions))
        if prune_id:
            what.append(f'prune "{prune_id}"')
        raise NotFoundError(
            "No pruned versions recorded" + (" for " + ", ".join(what) if what else "")
        )
    todo = sorted(chosen.values(), key=lambda e: (e.record.name, e.record.version))
    if dry_run:
        return [Restored(e, None) for e in todo], sorted(done.values(), key=_entry_key)

    restored: list[Restored] = []
    existing: set[str] = set()
    with store.default_tracking_uri(client):
        for e in todo:
            restored.append(_restore_one(client, e, existing))
    return restored, sorted(done.values(), key=_entry_key)


def _restore_one(client: MlflowClient, e: AuditEntry, existing: set[str]) -> Restored:
    r = e.record
    with store.mlflow_errors(f'Restoring "{r.name}" version {r.version}'):
        if r.name not in existing:
            try:
                client.get_registered_model(r.name)
            except MlflowException as exc:
                if not store.is_not_found(exc):
                    raise
                client.create_registered_model(r.name)  # the whole model was deleted since
            existing.add(r.name)
        mv = client.create_model_version(
            r.name,
            r.source,
            run_id=r.run_id,
            tags=r.tags,
            description=r.description,
            model_id=r.model_id,
            await_creation_for=0,
        )
        # Written back to the prune's run, so the same restore run twice does not duplicate.
        client.set_tag(e.prune_id, f"{RESTORED_TAG}{e.index}", str(mv.version))
    return Restored(e, int(mv.version))


def _entry_key(e: AuditEntry) -> tuple[str, int]:
    return (e.record.name, e.record.version)
