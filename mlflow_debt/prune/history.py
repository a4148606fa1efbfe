"""The prune audit's data and its pure rules: records, states, resolution, restore selection.

Pure (no I/O): :mod:`mlflow_debt.prune.audit` writes and reads these to and from the tracking
server and hands the rules below what it read.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

#: The experiment that holds the prune history (one run per prune).
AUDIT_EXPERIMENT: Final = "mlflow-debt"
PLAN_ARTIFACT: Final = "prune/plan.json"
RESULT_ARTIFACT: Final = "prune/result.json"
AUDIT_SCHEMA: Final = 1
#: Tags on audit runs (each prune is one run of :data:`AUDIT_EXPERIMENT`).
OP_TAG: Final = "mlflow_debt.op"
STATE_TAG: Final = "mlflow_debt.state"
#: ``mlflow_debt.restored.<i>`` = the version record ``i`` was restored as.
RESTORED_TAG: Final = "mlflow_debt.restored."
#: Who started a prune: "cli" (``mlflow-debt prune``) or "serve" (the enforcement service).
TRIGGER_TAG: Final = "mlflow_debt.trigger"
#: ``mlflow_debt.restoring.<i>`` = the model's highest live version when restoring record ``i``
#: began: written *before* registering, so a restore that stopped half-way is found again.
RESTORING_TAG: Final = "mlflow_debt.restoring."

#: Where a prune's records live (audit schema 2): JSON split over run tags, so they are in the
#: tracking store itself and readable for as long as it exists, whatever happens to artifacts.
#: ``mlflow_debt.plan.0000`` ... hold the plan (written before the first delete), and
#: ``mlflow_debt.plan.parts`` (written last) says how many parts it has; ``mlflow_debt.result.*``
#: the same for the outcome (each record's state and detail), written after the last delete.
PLAN_TAG: Final = "mlflow_debt.plan."
RESULT_TAG: Final = "mlflow_debt.result."
PARTS: Final = "parts"
#: Set when the audit run is created: a run with it keeps its records in tags.
SCHEMA_TAG: Final = "mlflow_debt.audit_schema"
TAG_SCHEMA: Final = 2
#: Characters per tag part (MLflow keeps tag values up to 8,000 characters).
TAG_CHUNK: Final = 7_000

#: A record's state in the audit.
RecordState = Literal["planned", "deleted", "vanished", "skipped", "failed", "reinstated", "denied"]
PLANNED: Final = "planned"  # recorded, delete not (yet) attempted or its outcome unknown (crash)
DELETED: Final = "deleted"  # deleted by this prune
VANISHED: Final = "vanished"  # already gone when this prune came to delete it: not deleted by it
SKIPPED: Final = "skipped"  # not deleted: protected or kept on re-check, or after a failure
FAILED: Final = "failed"  # the delete call failed
#: deleted, then registered again at once: an alias moved onto it while its delete was in flight
REINSTATED: Final = "reinstated"
#: not deleted: the tracking server refused this version to this user (HTTP 403, e.g. MLflow
#: 3.17's per-version permissions with an explicit deny); the others went ahead
DENIED: Final = "denied"

_STATES: Final = (PLANNED, DELETED, VANISHED, SKIPPED, FAILED, REINSTATED, DENIED)

#: A prune run's state (tag :data:`STATE_TAG`): ``deleting`` until its result is written.
PruneState = Literal["deleting", "done", "failed"]
DELETING: Final = "deleting"


@dataclass
class Record:
    """Everything needed to re-register a deleted version, plus why and what happened."""

    name: str
    version: int
    source: str
    run_id: str | None
    model_id: str | None
    tags: dict[str, str]
    description: str | None
    aliases: list[str]
    stage: str | None
    metric: str
    value: float | None
    reason: str
    state: RecordState = PLANNED
    detail: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Record:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.version)


@dataclass
class ApplyResult:
    """What a prune did: its id (None when nothing was left to delete) and every record."""

    prune_id: str | None
    records: list[Record] = field(default_factory=list)
    error: str | None = None

    def by_state(self, state: RecordState) -> list[Record]:
        return [r for r in self.records if r.state == state]


@dataclass
class LoadedPrune:
    """One prune as read from the audit: its records, from ``result.json`` when ``final``."""

    prune_id: str
    tags: dict[str, str]
    records: list[Record]
    final: bool
    started: str = ""

    @property
    def crashed(self) -> bool:
        """It never wrote its result: it stopped (or is still running) mid-way."""
        return not self.final


@dataclass(frozen=True)
class UnreadablePrune:
    """A prune whose records cannot be read: it is listed as such, never as "nothing pruned"."""

    prune_id: str
    started: str
    why: str


@dataclass
class AuditEntry:
    """One record of one prune operation, with its resolved state."""

    prune_id: str
    index: int
    record: Record
    restored_as: int | None = None
    #: When the prune started (ISO 8601, UTC), from its record.
    started: str = ""
    #: The prune stopped before recording its outcome (state ``deleting``, no result).
    crashed: bool = False
    #: A restore of this record began when the model's highest live version was this.
    restoring_floor: int | None = None


@dataclass
class Restored:
    entry: AuditEntry
    new_version: int | None  # None for a dry run, or when denied
    #: Why the tracking server refused to register it to this user (HTTP 403); None otherwise.
    denied: str | None = None


@dataclass
class AuditHistory:
    """The prune history as read: every readable record, and the prunes that could not be read."""

    entries: list[AuditEntry] = field(default_factory=list)
    unreadable: list[UnreadablePrune] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Records in run tags


def encode_parts(prefix: str, payload: Mapping[str, Any]) -> dict[str, str]:
    """``payload`` as JSON split over tags ``<prefix>0000`` ..., and ``<prefix>parts`` = count."""
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    chunks = [text[i : i + TAG_CHUNK] for i in range(0, len(text), TAG_CHUNK)] or [""]
    tags = {f"{prefix}{i:04d}": chunk for i, chunk in enumerate(chunks)}
    tags[f"{prefix}{PARTS}"] = str(len(chunks))
    return tags


def decode_parts(prefix: str, tags: Mapping[str, str]) -> dict[str, Any] | None:
    """What :func:`encode_parts` wrote; None when it was never (completely) written.

    Raises ValueError when parts are missing or the JSON is damaged.
    """
    count = tags.get(f"{prefix}{PARTS}")
    if count is None:
        return None
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"tag {prefix}{PARTS} is {count!r}, not a count of parts")
    missing = [i for i in range(int(count)) if f"{prefix}{i:04d}" not in tags]
    if missing:
        raise ValueError(f"{len(missing)} of its {count} tags {prefix}* are missing")
    text = "".join(tags[f"{prefix}{i:04d}"] for i in range(int(count)))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"tags {prefix}* do not hold valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"tags {prefix}* do not hold a JSON object")
    return data


def records_of(data: Mapping[str, Any]) -> list[Record]:
    """The records of a plan as stored; ValueError when they are malformed."""
    raw = data.get("records")
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise ValueError("its plan holds no list of records")
    try:
        return [Record.from_dict(r) for r in raw]
    except TypeError as exc:
        raise ValueError(f"a record is malformed ({exc})") from None


def apply_outcome(records: Sequence[Record], data: Mapping[str, Any]) -> None:
    """Set, in place, each record's state and detail from a stored outcome (``states``)."""
    states = data.get("states")
    if not isinstance(states, list) or len(states) != len(records):
        raise ValueError("its result does not match its plan")
    for rec, item in zip(records, states, strict=True):
        if not (isinstance(item, list) and len(item) == 2 and item[0] in _STATES):
            raise ValueError("its result is malformed")
        rec.state, rec.detail = str(item[0]), str(item[1])  # type: ignore[assignment]


# --------------------------------------------------------------------------------------------
# Rules

_STOPPED = "the prune stopped before recording its outcome"


def resolve_by_later(later: RecordState | None) -> tuple[RecordState, str] | None:
    """A crashed prune's ``planned`` record, from a later prune's record of the same version.

    None: no later record decides it; whether the version still exists does
    (:func:`resolve_by_existence`).
    """
    if later == DELETED:
        return SKIPPED, f"not deleted: a later prune deleted it ({_STOPPED})"
    if later in (SKIPPED, FAILED, REINSTATED, DENIED):
        return SKIPPED, f"not deleted: still there when a later prune came ({_STOPPED})"
    if later == VANISHED:
        return DELETED, f"gone before a later prune came ({_STOPPED})"
    return None


def resolve_by_existence(exists: bool) -> tuple[RecordState, str]:
    """A crashed prune's ``planned`` record that no later prune decides."""
    return (SKIPPED, f"still exists ({_STOPPED})") if exists else (DELETED, f"gone ({_STOPPED})")


def resolve_crashed(prunes: Sequence[LoadedPrune], exists: Callable[[Record], bool]) -> None:
    """Resolve, in place, the ``planned`` records of prunes that never wrote their result.

    Newest prune first: a later prune's record of the same version says whether it was still
    there then (so this one did not delete it); only without one does ``exists`` (is the version
    live now?) decide.

    A ``failed`` record (the delete call raised) is resolved the same way, in every prune: a
    delete whose answer was lost (a 503 after MLflow deleted the version) did delete it, and
    must stay on record so that ``restore`` can bring the version back.
    """
    later: dict[tuple[str, int], RecordState] = {}
    for prune in reversed(prunes):
        for rec in prune.records:
            if not prune.final and rec.state == PLANNED:
                rec.state, rec.detail = resolve_by_later(later.get(rec.key)) or (
                    resolve_by_existence(exists(rec))
                )
            elif rec.state == FAILED:
                resolved = resolve_failed(later.get(rec.key), functools.partial(exists, rec))
                if resolved is not None:
                    rec.state, rec.detail = resolved
            later[rec.key] = rec.state


def resolve_failed(
    later: RecordState | None, exists: Callable[[], bool]
) -> tuple[RecordState, str] | None:
    """A ``failed`` record: None while the version is still there (the delete really failed);
    ``deleted`` when it is gone and no later prune deleted it (the delete took effect, its
    answer was lost)."""
    lost = "the delete call failed, but the version is gone: the delete took effect"
    if later == VANISHED:
        return DELETED, lost
    if later is not None or exists():
        return None
    return DELETED, lost


def count_once(entries: Sequence[AuditEntry]) -> None:
    """Make each deleted version count once, in place, across prunes that raced.

    Two prunes at the same moment can both see a version go (MLflow's delete has no
    compare-and-set) and both record it as deleted. The record that was restored wins, else the
    oldest; the others become ``vanished`` (not deleted by that prune).
    """
    by_key: dict[tuple[str, int], list[AuditEntry]] = {}
    for e in entries:
        if e.record.state == DELETED:
            by_key.setdefault(e.record.key, []).append(e)
    for same in by_key.values():
        if len(same) < 2:
            continue
        keep = next((e for e in same if e.restored_as is not None), same[0])
        for e in same:
            if e is not keep:
                e.record.state = VANISHED
                e.record.detail = (
                    f"also recorded as deleted by prune {keep.prune_id}; counted there"
                )


def entries_of(prunes: Iterable[LoadedPrune]) -> list[AuditEntry]:
    """Every record of ``prunes`` as an entry, with what restore wrote back on the prune's run."""
    entries: list[AuditEntry] = []
    for p in prunes:
        for i, rec in enumerate(p.records):
            entries.append(
                AuditEntry(
                    p.prune_id,
                    i,
                    rec,
                    _int_tag(p.tags.get(f"{RESTORED_TAG}{i}")),
                    p.started,
                    crashed=p.crashed,
                    restoring_floor=_int_tag(p.tags.get(f"{RESTORING_TAG}{i}")),
                )
            )
    return entries


def _int_tag(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def moved_aliases(before: Mapping[str, int], after: Mapping[str, int], deleted: int) -> list[str]:
    """The aliases that went with the version ``deleted``, from the model's aliases around it.

    MLflow deletes a version's aliases with it. One that existed before the delete (on another
    version: a protected one is never deleted) and is gone after was moved onto the deleted
    version while its delete was in flight; one pointing at the deleted version after the delete
    is dangling (a store that checks the version before, and writes the alias after, the delete).
    """
    gone = {a for a in before if a not in after}
    dangling = {a for a, v in after.items() if v == deleted}
    return sorted(gone | dangling)


def select_restore(
    entries: Iterable[AuditEntry], models: Sequence[str] = (), versions: Sequence[int] = ()
) -> tuple[list[AuditEntry], list[AuditEntry]]:
    """(to restore, already restored) among the deleted records matching the selection.

    A version counts once: a later record of the same version wins, and a version restored by
    any record is not restored again. Both lists are sorted by model, then version.
    """
    chosen: dict[tuple[str, int], AuditEntry] = {}
    done: dict[tuple[str, int], AuditEntry] = {}
    for e in entries:
        r = e.record
        if r.state != DELETED:
            continue
        if (models and r.name not in models) or (versions and r.version not in versions):
            continue
        if e.restored_as is not None:
            done[r.key] = e
        chosen[r.key] = e
    todo = [e for key, e in chosen.items() if key not in done]
    return sorted(todo, key=_entry_key), sorted(done.values(), key=_entry_key)


def _entry_key(e: AuditEntry) -> tuple[str, int]:
    return e.record.key
