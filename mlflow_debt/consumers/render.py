"""Rendering the consumers report and an impact query as text, JSON and Markdown.

The JSON shapes are a stable interface (``docs/consumers.md``): keys are only ever added.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mlflow_debt.consumers.analysis import EXPERIMENT, MODEL, TAG, Consumer, Impact, Report

NO_FEATURES = (
    "No runs with feature tags found{where}. Train with mlflow-debt installed to record them, "
    "or tag the runs you already have with `mlflow-debt backfill`."
)

_KIND_LABEL = {MODEL: "registered model", TAG: "consumer tag", EXPERIMENT: "experiment"}


def no_features_sentence(experiments: Sequence[str] = ()) -> str:
    where = f" in experiment(s) {', '.join(repr(e) for e in experiments)}" if experiments else ""
    return NO_FEATURES.format(where=where)


# --- JSON -------------------------------------------------------------------------------------


def _consumer_json(c: Consumer) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "latest_run_id": c.latest_run_id,
        "latest_model_id": c.latest_model_id,
        "latest_start_time": c.latest_start_time,
        "latest_version": c.latest_version,
        "aliases": dict(c.aliases),
        "features": sorted(c.reads),
        "incomplete_runs": c.incomplete_runs,
    }


def report_json(report: Report, declarations: str | None = None) -> dict[str, Any]:
    """The consumers report as JSON-ready data."""
    features = {}
    for u in report.features:
        features[u.name] = {
            "consumers": list(u.consumers),
            "definitions": [
                {"fingerprint": d.fingerprint, "consumers": list(d.consumers)}
                for d in u.definitions
            ],
            "unknown_definition": list(u.unknown),
            "changed": u.changed,
        }
    return {
        "features": features,
        "changed": [
            {
                "feature": u.name,
                "definitions": features[u.name]["definitions"],
                "unknown_definition": list(u.unknown),
            }
            for u in report.changed
        ],
        "undeclared": [{"feature": p.feature, "consumer": p.consumer} for p in report.undeclared],
        "stale": [{"feature": p.feature, "consumer": p.consumer} for p in report.stale],
        "missing": list(report.missing),
        "consumers": {name: _consumer_json(c) for name, c in report.consumers.items()},
        "declarations": declarations,
        "runs_read": report.runs_read,
    }


def impact_json(result: Impact) -> dict[str, Any]:
    """An impact query as JSON-ready data."""
    usage = result.usage
    return {
        "feature": result.feature,
        "consumers": [
            {"name": ic.consumer.name, "fingerprint": ic.fingerprint} | _consumer_json(ic.consumer)
            for ic in result.consumers
        ],
        "definitions": [
            {"fingerprint": d.fingerprint, "consumers": list(d.consumers)}
            for d in (usage.definitions if usage else ())
        ],
        "changed": bool(usage and usage.changed),
        "sentence": result.sentence,
        "suggestions": list(result.suggestions),
    }


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


# --- text -------------------------------------------------------------------------------------


Cells = tuple[str, ...]


def _table(rows: Sequence[Cells], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        (indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))).rstrip()
        for r in rows
    ]


def _version_text(c: Consumer) -> str:
    return f"v{c.latest_version}" if c.latest_version is not None else "-"


def _aliases_text(c: Consumer) -> str:
    return ", ".join(f"{a}=v{v}" for a, v in c.aliases.items()) or "-"


def _pairs_text(title: str, pairs: Sequence[Any], declared: bool, empty: str) -> list[str]:
    if not declared:
        return [f"{title}: not checked (pass --declared FILE)"]
    lines = [f"{title} ({len(pairs)})"]
    if not pairs:
        return [*lines, f"  {empty}"]
    by_feature: dict[str, list[str]] = {}
    for p in pairs:
        by_feature.setdefault(p.feature, []).append(p.consumer)
    return lines + [f"  {f}: {', '.join(names)}" for f, names in by_feature.items()]


def report_text(report: Report) -> str:
    """The consumers report for a terminal."""
    n_f, n_c = len(report.features), len(report.consumers)
    lines = [
        f"Feature consumers: {n_f} feature(s), {n_c} consumer(s), most consumers first",
    ]
    if report.features:
        rows: list[Cells] = [("FEATURE", "CONSUMERS", "READ BY")]
        rows += [(u.name, str(len(u.consumers)), ", ".join(u.consumers)) for u in report.features]
        lines += _table(rows)
    else:
        lines.append("  none")
    lines.append("")
    changed = report.changed
    lines.append(f"Changed definitions ({len(changed)})")
    if not changed:
        lines.append("  none: every consumer's latest run uses the same definition")
    for u in changed:
        lines.append(f"  {u.name}")
        defs: list[Cells] = []
        for i, d in enumerate(u.definitions):
            note = "  (newest)" if i == 0 else ""
            defs.append((d.fingerprint, ", ".join(d.consumers) + note))
        if u.unknown:
            defs.append(("? (unknown)", ", ".join(u.unknown)))
        lines += _table(defs, indent="    ")
    lines.append("")
    lines += _pairs_text(
        "Undeclared consumers", report.undeclared, report.declared, "none: all declared"
    )
    lines.append("")
    lines += _pairs_text(
        "Stale declarations", report.stale, report.declared, "none: every declared consumer reads"
    )
    lines.append("")
    lines.append("Consumers")
    table: list[Cells] = [("CONSUMER", "KIND", "CURRENT", "ALIASES", "FEATURES", "LATEST RUN")]
    for c in report.consumers.values():
        table.append(
            (
                c.name,
                _KIND_LABEL.get(c.kind, c.kind),
                _version_text(c),
                _aliases_text(c),
                str(len(c.reads)),
                c.latest_run_id,
            )
        )
    lines += _table(table)
    for f in report.missing:
        lines += ["", f"Nobody reads {f!r}."]
    return "\n".join(lines)


def impact_text(result: Impact) -> str:
    """An impact query for a terminal: the reviewer's sentence first."""
    lines = [result.sentence]
    if not result.consumers:
        if result.suggestions:
            lines.append(f"Did you mean: {', '.join(result.suggestions)}?")
        return "\n".join(lines)
    lines.append("")
    rows: list[Cells] = [("CONSUMER", "KIND", "CURRENT", "ALIASES", "DEFINITION", "LATEST RUN")]
    for ic in result.consumers:
        c = ic.consumer
        rows.append(
            (
                c.name,
                _KIND_LABEL.get(c.kind, c.kind),
                _version_text(c),
                _aliases_text(c),
                ic.fingerprint,
                c.latest_run_id,
            )
        )
    lines += _table(rows)
    if result.usage is not None and result.usage.changed:
        parts = [f"{', '.join(d.consumers)} on {d.fingerprint}" for d in result.usage.definitions]
        lines += ["", "Definitions already differ: " + "; ".join(parts) + "."]
    return "\n".join(lines)


# --- Markdown ---------------------------------------------------------------------------------


def _md(text: str) -> str:
    """A table cell: pipes and newlines would break the row."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(header: Cells, rows: Sequence[Cells]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    return out


def report_markdown(report: Report) -> str:
    """The consumers report as Markdown (a PR comment, a wiki page)."""
    lines = ["## Feature consumers", ""]
    if report.features:
        lines += _md_table(
            ("Feature", "Consumers", "Read by"),
            [(u.name, str(len(u.consumers)), ", ".join(u.consumers)) for u in report.features],
        )
    else:
        lines.append("None.")
    lines += ["", f"## Changed definitions ({len(report.changed)})", ""]
    if not report.changed:
        lines.append("None.")
    else:
        rows: list[Cells] = []
        for u in report.changed:
            for i, d in enumerate(u.definitions):
                newest = " (newest)" if i == 0 else ""
                rows.append((u.name, f"`{d.fingerprint}`{newest}", ", ".join(d.consumers)))
            if u.unknown:
                rows.append((u.name, "unknown", ", ".join(u.unknown)))
        lines += _md_table(("Feature", "Definition", "Consumers"), rows)
    for title, pairs in (
        ("Undeclared consumers", report.undeclared),
        ("Stale declarations", report.stale),
    ):
        if not report.declared:
            lines += ["", f"## {title}", "", "Not checked (pass `--declared FILE`)."]
            continue
        lines += ["", f"## {title} ({len(pairs)})", ""]
        if pairs:
            lines += _md_table(("Feature", "Consumer"), [(p.feature, p.consumer) for p in pairs])
        else:
            lines.append("None.")
    lines += ["", "## Consumers", ""]
    lines += _md_table(
        ("Consumer", "Kind", "Current", "Aliases", "Features", "Latest run"),
        [
            (
                c.name,
                _KIND_LABEL.get(c.kind, c.kind),
                _version_text(c),
                _aliases_text(c),
                str(len(c.reads)),
                c.latest_run_id,
            )
            for c in report.consumers.values()
        ],
    )
    for f in report.missing:
        lines += ["", f"Nobody reads `{_md(f)}`."]
    return "\n".join(lines)


def impact_markdown(result: Impact) -> str:
    """An impact query as Markdown."""
    lines = [f"## Impact of `{_md(result.feature)}`", "", _md(result.sentence)]
    if not result.consumers:
        if result.suggestions:
            lines += ["", "Did you mean: " + ", ".join(f"`{s}`" for s in result.suggestions)]
        return "\n".join(lines)
    lines.append("")
    lines += _md_table(
        ("Consumer", "Kind", "Current", "Aliases", "Definition", "Latest run"),
        [
            (
                ic.consumer.name,
                _KIND_LABEL.get(ic.consumer.kind, ic.consumer.kind),
                _version_text(ic.consumer),
                _aliases_text(ic.consumer),
                ic.fingerprint,
                ic.consumer.latest_run_id,
            )
            for ic in result.consumers
        ],
    )
    return "\n".join(lines)
