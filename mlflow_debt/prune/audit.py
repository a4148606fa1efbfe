"""The prune audit trail: record, read, resolve, restore.

The audit trail lives in the tracking store itself: each prune is a run in the experiment
:data:`AUDIT_EXPERIMENT` (:func:`audit_experiment` creates or finds it), holding the full record
of every version it is about to delete as JSON split over run tags (``mlflow_debt.plan.*``,
written *before* the first delete) and the outcome per version (``mlflow_debt.result.*``, written
after the last). Tags live in the store's own database, so the records are readable for as long
as the store exists, wherever artifacts go. A prune that crashed in between leaves only the plan;
readers resolve its records by asking whether the version still exists.

Prunes recorded before (audit schema 1) kept their records as the artifacts ``prune/plan.json``
and ``prune/result.json``; they are still read where those artifacts exist, and a prune whose
records cannot be read is listed as such (:class:`UnreadablePrune`), never skipped.
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

from mlflow.entities import Metric, Run, RunTag
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_debt import store
from mlflow_debt.errors import NotFoundError, ServerError
from mlflow_debt.output import terminal_safe
from mlflow_debt.prune.history import (
    AUDIT_EXPERIMENT,
    DELETED,
    DELETING,
    DENIED,
    FAILED,
    OP_TAG,
    PLAN_ARTIFACT,
    PLAN_TAG,
    REINSTATED,
    RESTORED_TAG,
    RESTORING_TAG,
    RESULT_ARTIFACT,
    RESULT_TAG,
    SCHEMA_TAG,
    SKIPPED,
    STATE_TAG,
    TAG_SCHEMA,
    TRIGGER_TAG,
    VANISHED,
    ApplyResult,
    AuditEntry,
    AuditHistory,
    LoadedPrune,
    Record,
    Restored,
    UnreadablePrune,
    apply_outcome,
    count_once,
    decode_parts,
    encode_parts,
    entries_of,
    records_of,
    resolve_crashed,
    select_restore,
)
from mlflow_debt.prune.plan import Decision
from mlflow_debt.redact import redact


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


#: The folder beside a SQLite store that holds the audit experiment's artifacts.
ARTIFACTS_DIR = "mlflow-debt-artifacts"


def audit_artifact_location(tracking_uri: str) -> str | None:
    """Where a new audit experiment keeps its artifacts: with the store's own data.

    For a SQLite store, the folder :data:`ARTIFACTS_DIR` beside the database file (MLflow's
    default would be ``./mlruns`` in whatever directory the command ran from). Otherwise None:
    the store's own default (a server's ``--default-artifact-root``, a file store's folder).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not tracking_uri.lower().startswith("sqlite:"):
        return None
    try:
        database = make_url(tracking_uri).database
    except (ArgumentError, ValueError):
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return (Path(database).resolve().parent / ARTIFACTS_DIR).as_uri()


def audit_experiment(client: MlflowClient, create: bool = True) -> str | None:
    """The id of the ``mlflow-debt`` experiment, created on first use (None: absent and not
    ``create``). Concurrent creators are fine; a deleted one is restored when ``create``.

    The one place that creates it: prune's records and anything else mlflow-debt logs (``report
    --log``) go there. Created with :func:`audit_artifact_location`.
    """
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
                        artifact_location=audit_artifact_location(str(client.tracking_uri)),
                        tags={"mlflow.note.content": "Prune history written by mlflow-debt."},
                    ),
                    find,
                )
            )
        except MlflowException:
            # Another process created it first: RESOURCE_ALREADY_EXISTS, or on MLflow 3.1's SQL
            # store an integrity error; either way it exists now.
            exp = client.get_experiment_by_name(AUDIT_EXPERIMENT)
            if exp is None:
                raise
            return str(exp.experiment_id)


#: The former name.
audit_experiment_id = audit_experiment

#: Tags per ``log_batch`` call (MLflow accepts 100).
_BATCH = 90


def write_record(client: MlflowClient, run_id: str, prefix: str, payload: dict[str, Any]) -> None:
    """``payload`` as the tags ``<prefix>*`` of the prune's run (:func:`history.encode_parts`)."""
    _write_tags(client, run_id, encode_parts(prefix, payload))


def _write_tags(client: MlflowClient, run_id: str, tags: dict[str, str]) -> None:
    """Write ``tags`` in batches; the ``...parts`` tag, which makes them count, goes last."""
    items = [RunTag(k, v) for k, v in tags.items() if not k.endswith(".parts")]
    last = [RunTag(k, v) for k, v in tags.items() if k.endswith(".parts")]
    for i in range(0, len(items), _BATCH):
        client.log_batch(run_id, tags=items[i : i + _BATCH], synchronous=True)
    client.log_batch(run_id, tags=last, synchronous=True)


def begin(client: MlflowClient, records: Sequence[Record], trigger: str = "cli") -> tuple[str, str]:
    """Record a prune before its first delete: a run (state ``deleting``) holding ``plan.json``.

    ``trigger`` (who started it: ``cli`` or ``serve``) is the run's ``TRIGGER_TAG``. Returns the
    prune's id (its run id) and when it started.
    """
    exp_id = audit_experiment(client)
    assert exp_id is not None
    started = _now()
    with store.mlflow_errors("Writing the prune record"):
        prune_id = _create_prune_run(client, exp_id, started, trigger)
        plan = {"schema": TAG_SCHEMA, "started": started, "records": [asdict(r) for r in records]}
        write_record(client, prune_id, PLAN_TAG, plan)
    return prune_id, started


#: A key of this prune's own on its run, so a create whose answer was lost is found, not repeated.
KEY_TAG = "mlflow_debt.prune_key"


def _create_prune_run(client: MlflowClient, exp_id: str, started: str, trigger: str) -> str:
    """The prune's run, created once (see :func:`store.create_once`); its id."""
    key = uuid.uuid4().hex
    tags = {
        OP_TAG: "prune",
        STATE_TAG: DELETING,
        TRIGGER_TAG: trigger,
        SCHEMA_TAG: str(TAG_SCHEMA),
        KEY_TAG: key,
    }

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
    outcome = {
        "schema": TAG_SCHEMA,
        "started": started,
        "finished": _now(),
        "states": [[r.state, r.detail] for r in records],
    }
    with store.mlflow_errors(f"Writing the prune result (run {prune_id})"):
        write_record(client, prune_id, RESULT_TAG, outcome)
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
    """Every readable recorded deletion (:func:`read_history`'s entries)."""
    return read_history(client, prune_id).entries


def read_history(client: MlflowClient, prune_id: str | None = None) -> AuditHistory:
    """Every recorded deletion (of one prune, or of all), oldest prune first, and the prunes
    whose records cannot be read.

    Records of a prune that never wrote its result (it crashed) are resolved now: a version that
    no longer exists counts as deleted, one that still does as not deleted. A version that
    several prunes recorded as deleted (they raced) counts once. A server error while reading
    is a :class:`ServerError` (exit 3), never "does not exist".
    """
    store.ensure_reachable(client)
    exp_id = audit_experiment(client, create=False)
    if exp_id is None:
        if prune_id:
            raise NotFoundError(
                f'Prune "{terminal_safe(prune_id)}" does not exist (no prune has run yet)'
            )
        return AuditHistory()
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
    unreadable: list[UnreadablePrune] = []
    # MLflow 3.1 resolves artifact downloads through the *default* tracking store: point it here.
    with (
        tempfile.TemporaryDirectory() as tmp,
        store.mlflow_errors("Reading the prune history"),
        store.default_tracking_uri(client),
    ):
        for run in runs:
            tags = dict(run.data.tags)
            try:
                prune = _load(client, run, tags, f"{tmp}/{run.info.run_id}")
            except _Unreadable as exc:
                started = _started_of(run.info.start_time)
                unreadable.append(UnreadablePrune(run.info.run_id, started, str(exc)))
                continue
            if prune is not None:
                loaded.append(prune)
        resolve_crashed(loaded, lambda rec: _exists(client, rec))
    entries = entries_of(loaded)
    count_once(entries)
    return AuditHistory(
        [e for e in entries if not prune_id or e.prune_id == prune_id],
        [u for u in unreadable if not prune_id or u.prune_id == prune_id],
    )


class UnreadableRecords(ServerError):
    """Some prune's records cannot be read (exit 3): what was pruned there is unknown."""

    def __init__(self, prunes: Sequence[UnreadablePrune]) -> None:
        first = prunes[0]
        more = f" (and {len(prunes) - 1} more prunes)" if len(prunes) > 1 else ""
        super().__init__(
            f"The records of prune {first.prune_id} ({first.started or 'unknown date'}) cannot "
            f"be read: {first.why}{more}; mlflow-debt restore --list lists them"
        )
        self.prunes = list(prunes)


class _Unreadable(Exception):
    """A prune's records cannot be read (the message says why)."""


def _started_of(start_time: int | None) -> str:
    if not start_time:
        return ""
    when = _dt.datetime.fromtimestamp(start_time / 1000, _dt.timezone.utc)
    return when.isoformat(timespec="seconds")


def _load(client: MlflowClient, run: Run, tags: dict[str, str], dst: str) -> LoadedPrune | None:
    """One prune's records: from its tags (schema 2), else from its artifacts (schema 1).

    None for a prune that recorded nothing (it stopped before writing its plan, so before its
    first delete). Raises :class:`_Unreadable` when the records exist but cannot be read.
    """
    rid = run.info.run_id
    if SCHEMA_TAG in tags:
        try:
            plan = decode_parts(PLAN_TAG, tags)
            if plan is None:
                return None
            records = records_of(plan)
            result = decode_parts(RESULT_TAG, tags)
            if result is not None:
                apply_outcome(records, result)
        except ValueError as exc:
            raise _Unreadable(str(exc)) from None
        return LoadedPrune(rid, tags, records, result is not None, str(plan.get("started", "")))
    # Audit schema 1: the records are artifacts wherever the experiment put them.
    where = terminal_safe(redact(str(run.info.artifact_uri)))
    try:
        paths = _artifact_paths(client, rid)
        data = None
        final = RESULT_ARTIFACT in paths
        if final:
            data = _download_json(client, rid, RESULT_ARTIFACT, dst)
        if data is None and PLAN_ARTIFACT in paths:
            data = _download_json(client, rid, PLAN_ARTIFACT, dst)
            final = False
        if data is None:
            raise _Unreadable(f"its record {PLAN_ARTIFACT} is missing from {where}")
        records = records_of(data)
    except MlflowException as exc:
        if not store.is_not_found(exc):
            raise  # a server error is exit 3 for the whole read, as any other read
        raise _Unreadable(f"{where}: {store.one_line(exc.message)}") from None
    except (PermissionError, FileNotFoundError, NotADirectoryError, ValueError) as exc:
        raise _Unreadable(f"{where}: {store.one_line(f'{type(exc).__name__}: {exc}')}") from None
    return LoadedPrune(rid, tags, records, final, str(data.get("started", "")))


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
    history: AuditHistory | None = None,
) -> tuple[list[Restored], list[AuditEntry]]:
    """Re-register deleted versions from the audit; returns (restored, already restored).

    Same source, run, tags and description; MLflow gives them new version numbers. Idempotent:
    the intent is written to the prune's run before registering (tag
    ``mlflow_debt.restoring.<i>``), the outcome after (``mlflow_debt.restored.<i>``); a restore
    that stopped in between (a lost response, a failed write-back, a killed process) finds the
    version it registered by its source and run instead of registering another.

    ``history`` is what :func:`read_history` returned (read now when None). When nothing matches
    and some prune's records could not be read, :class:`UnreadableRecords` (exit 3) names them:
    the versions asked for may be among them.
    """
    if history is None:
        history = read_history(client, prune_id)
    entries = history.entries
    todo, done = select_restore(entries, models, versions)
    if not todo and not done and history.unreadable:
        raise UnreadableRecords(history.unreadable)
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
