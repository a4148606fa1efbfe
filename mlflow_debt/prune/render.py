"""Text and JSON output of ``prune``, ``policy`` and ``restore``. Pure: data in, strings out.

Every string that comes from the tracking server (model names, metric names, details, sources)
goes through :func:`mlflow_debt.output.terminal_safe` in text output; JSON is left as it is
(``json.dumps`` escapes control characters itself). The JSON shapes are documented in
``docs/prune.md`` and are a stable interface: extended, never broken.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mlflow_debt.output import terminal_safe
from mlflow_debt.prune.history import (
    AUDIT_EXPERIMENT,
    DELETED,
    ApplyResult,
    AuditEntry,
    Restored,
    UnreadablePrune,
)
from mlflow_debt.prune.plan import DELETE, Policy, PrunePlan, summary_line


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as aligned columns (the last one unpadded)."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)), r[-1]]).rstrip()
        for r in rows
    ]


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


# --------------------------------------------------------------------------------------------
# prune


def plan_text(plan: PrunePlan) -> list[str]:
    """The plan as a table, one row per version, and the models left alone."""
    rows = [("MODEL", "VERSION", "METRIC", "VALUE", "DECISION", "REASON")]
    for name, mp in plan.models.items():
        for d in mp.decisions():
            rows.append(
                (
                    terminal_safe(name),
                    str(d.version),
                    terminal_safe(mp.policy.metric),
                    _value(d.value),
                    d.decision.upper() if d.decision == DELETE else d.decision,
                    terminal_safe(d.reason),
                )
            )
    lines = _table(rows) if len(rows) > 1 else []
    if plan.without_policy:
        names = [terminal_safe(n) for n in plan.without_policy]
        shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
        lines.append(f"No version limit (left alone): {shown}")
    return lines


def skipped_text(plan: PrunePlan) -> list[str]:
    """One line per model left alone because it cannot be read safely (for stderr)."""
    return [f'Skipped "{terminal_safe(n)}": {why}.' for n, why in plan.skipped.items()]


def _outcomes(
    result: ApplyResult | None,
) -> tuple[dict[str, list[int]], dict[str, list[dict[str, Any]]]]:
    deleted: dict[str, list[int]] = {}
    not_deleted: dict[str, list[dict[str, Any]]] = {}
    if result is not None:
        for rec in result.records:
            if rec.state == DELETED:
                deleted.setdefault(rec.name, []).append(rec.version)
            else:
                not_deleted.setdefault(rec.name, []).append(
                    {"version": rec.version, "state": rec.state, "detail": rec.detail}
                )
    return deleted, not_deleted


def prune_json(plan: PrunePlan, result: ApplyResult | None, *, applied: bool) -> str:
    """The ``prune --format json`` document."""
    deleted, not_deleted = _outcomes(result)
    models: dict[str, Any] = {}
    for name, mp in plan.models.items():
        entry = mp.as_dict()
        if result is not None:
            entry["delete"] = deleted.get(name, [])
            entry["not_deleted"] = not_deleted.get(name, [])
        models[name] = entry
    doc = {
        "applied": applied,
        "metric": plan.metric(),
        "models": models,
        "prune_id": result.prune_id if result is not None else None,
        "without_policy": plan.without_policy,
        "skipped": plan.skipped,
    }
    return json.dumps(doc, indent=2)


def not_deleted_text(result: ApplyResult | None) -> list[str]:
    """One line per planned deletion that did not happen (for stderr)."""
    _, not_deleted = _outcomes(result)
    return [
        f'Not deleted: "{terminal_safe(name)}" version {item["version"]} '
        f"({item['state']}: {terminal_safe(item['detail'])})"
        for name, items in not_deleted.items()
        for item in items
    ]


def prune_summary(plan: PrunePlan, result: ApplyResult | None, *, applied: bool) -> list[str]:
    """The summary line, and where the prune is recorded."""
    deleted, _ = _outcomes(result)
    n_deleted = sum(len(v) for v in deleted.values()) if result is not None else None
    lines = [summary_line(plan, applied=applied, deleted=n_deleted)]
    if result is not None and result.prune_id:
        lines.append(
            f"Recorded as prune {result.prune_id} (experiment {AUDIT_EXPERIMENT!r}); "
            f"undo with: mlflow-debt restore --prune-id {result.prune_id}"
        )
    return lines


# --------------------------------------------------------------------------------------------
# policy


def policy_set_line(model: str, policy: Policy, *, metric_given: bool) -> str:
    order = "lower is better" if policy.lower_is_better else "higher is better"
    return f'Set "{terminal_safe(model)}": keep {_plural(policy.max_versions, "version")}' + (
        f" by {terminal_safe(policy.metric)} ({order})." if metric_given else f" ({order})."
    )


def policy_unset_line(model: str) -> str:
    return f'Removed the version limit of "{terminal_safe(model)}".'


def shown_policies(
    policies: Mapping[str, Policy | None], *, show_all: bool, selected: bool
) -> dict[str, Policy | None]:
    """The policies ``policy show`` lists: models with a limit, or all with --all or --model."""
    return {n: p for n, p in policies.items() if p is not None or show_all or selected}


def policies_json(shown: Mapping[str, Policy | None]) -> str:
    doc = {
        "policies": {
            n: None
            if p is None
            else {
                "max_versions": p.max_versions,
                "metric": p.metric,
                "lower_is_better": p.lower_is_better,
            }
            for n, p in shown.items()
        }
    }
    return json.dumps(doc, indent=2)


def policies_text(shown: Mapping[str, Policy | None]) -> list[str]:
    if not shown:
        return [
            "No model has a version limit. "
            "Set one with: mlflow-debt policy set MODEL --max-versions N"
        ]
    rows = [("MODEL", "MAX_VERSIONS", "METRIC", "ORDER")]
    for n, p in shown.items():
        if p is None:
            rows.append((terminal_safe(n), "-", "-", "-"))
        else:
            order = "lower is better" if p.lower_is_better else "higher is better"
            rows.append((terminal_safe(n), str(p.max_versions), terminal_safe(p.metric), order))
    return _table(rows)


# --------------------------------------------------------------------------------------------
# restore


def restore_json(
    restored: Sequence[Restored], already: Sequence[AuditEntry], *, dry_run: bool
) -> str:
    doc = {
        "applied": not dry_run,
        "restored": [
            {
                "name": r.entry.record.name,
                "version": r.entry.record.version,
                "new_version": r.new_version,
                "prune_id": r.entry.prune_id,
            }
            for r in restored
            if r.denied is None
        ],
        "denied": [
            {
                "name": r.entry.record.name,
                "version": r.entry.record.version,
                "prune_id": r.entry.prune_id,
                "detail": r.denied,
            }
            for r in restored
            if r.denied is not None
        ],
        "already_restored": [
            {
                "name": e.record.name,
                "version": e.record.version,
                "new_version": e.restored_as,
                "prune_id": e.prune_id,
            }
            for e in already
        ],
    }
    return json.dumps(doc, indent=2)


def restore_text(
    restored: Sequence[Restored], already: Sequence[AuditEntry], *, dry_run: bool
) -> list[str]:
    lines = [
        f'"{terminal_safe(e.record.name)}" version {e.record.version} was already restored as '
        f"version {e.restored_as}."
        for e in already
    ]
    for r in restored:
        rec = r.entry.record
        name = terminal_safe(rec.name)
        if r.denied is not None:
            lines.append(
                f'Not restored "{name}" version {rec.version}: denied ({terminal_safe(r.denied)}).'
            )
        elif r.new_version is None:
            lines.append(
                f'Would restore "{name}" version {rec.version} from {terminal_safe(rec.source)}.'
            )
        else:
            lines.append(f'Restored "{name}" version {rec.version} as version {r.new_version}.')
    verb = "Would restore" if dry_run else "Restored"
    done = [r for r in restored if r.denied is None]
    denied = len(restored) - len(done)
    lines.append(
        f"{verb} {_plural(len(done), 'version')}"
        + (f"; {denied} denied by the tracking server." if denied else ".")
    )
    return lines


def history_json(entries: Sequence[AuditEntry], unreadable: Sequence[UnreadablePrune] = ()) -> str:
    doc = {
        "records": [
            {
                "prune_id": e.prune_id,
                "name": e.record.name,
                "version": e.record.version,
                "state": e.record.state,
                "metric": e.record.metric,
                "value": e.record.value,
                "source": e.record.source,
                "restored_as": e.restored_as,
            }
            for e in entries
        ],
        "unreadable": [
            {"prune_id": u.prune_id, "started": u.started or None, "why": u.why} for u in unreadable
        ],
    }
    return json.dumps(doc, indent=2)


def history_text(
    entries: Sequence[AuditEntry], unreadable: Sequence[UnreadablePrune] = ()
) -> list[str]:
    lost = [
        f"prune {u.prune_id} ({u.started or 'unknown date'}): records unreadable: "
        f"{terminal_safe(u.why)}"
        for u in unreadable
    ]
    if not entries:
        return lost or ["No prune has been recorded."]
    rows = [("PRUNE", "MODEL", "VERSION", "STATE", "RESTORED_AS")]
    for e in entries:
        rows.append(
            (
                e.prune_id,
                terminal_safe(e.record.name),
                str(e.record.version),
                e.record.state,
                "-" if e.restored_as is None else str(e.restored_as),
            )
        )
    return _table(rows) + lost
