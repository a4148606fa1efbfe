"""The prune audit's data and its pure rules: records, states, entries. Pure (no I/O).

:mod:`mlflow_debt.prune.audit` writes and reads these to and from the tracking server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The experiment that holds the prune history (one run per prune).
AUDIT_EXPERIMENT = "mlflow-debt"
PLAN_ARTIFACT = "prune/plan.json"
RESULT_ARTIFACT = "prune/result.json"
AUDIT_SCHEMA = 1
#: Tags on audit runs.
OP_TAG = "mlflow_debt.op"
STATE_TAG = "mlflow_debt.state"
RESTORED_TAG = "mlflow_debt.restored."

#: Record states in the audit.
PLANNED = "planned"  # recorded, delete not (yet) attempted or its outcome unknown (crash)
DELETED = "deleted"  # deleted by this prune
VANISHED = "vanished"  # already gone when this prune came to delete it: not deleted by it
SKIPPED = "skipped"  # not deleted: protected or kept on re-check, or after an earlier failure
FAILED = "failed"  # the delete call failed


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
    state: str = PLANNED
    detail: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Record:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class ApplyResult:
    prune_id: str | None
    records: list[Record] = field(default_factory=list)
    error: str | None = None

    def by_state(self, state: str) -> list[Record]:
        return [r for r in self.records if r.state == state]


@dataclass
class AuditEntry:
    """One record of one prune operation, with its resolved state."""

    prune_id: str
    index: int
    record: Record
    restored_as: int | None = None
    #: When the prune started (ISO 8601, UTC), from its record.
    started: str = ""


@dataclass
class Restored:
    entry: AuditEntry
    new_version: int | None  # None for a dry run
