"""Rendering the consumers report and an impact query as text, JSON and Markdown.

The JSON shapes are a stable interface (``docs/consumers.md``): keys are only ever added.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlflow_debt.consumers.analysis import (
    KIND_LABEL,
    Consumer,
    FeatureUsage,
    Impact,
    Pair,
    Report,
)
from mlflow_debt.output import (
    dumps,
    md_code,
    md_table,
    md_text,
    plural,
    terminal_safe,
    text_table,
)

__all__ = ["dumps"]

NO_FEATURES = (
    "No runs with feature tags found{where}. Train with mlflow-debt installed to record them, "
    "or tag the runs you already have with `mlflow-debt backfill`."
)


def no_features_sentence(experiments: Sequence[str] = ()) -> str:
    where = f" in experiment(s) {', '.join(repr(e) for e in experiments)}" if experiments else ""
    return terminal_safe(NO_FEATURES.format(where=where))


# --- JSON -------------------------------------------------------------------------------------


def _definitions_json(u: FeatureUsage | None) -> list[dict[str, Any]]:
    return [
        {"fingerprint": d.fingerprint, "consumers": list(d.consumers)}
        for d in (u.definitions if u else ())
    ]


def _preprocessing_json(u: FeatureUsage) -> list[dict[str, Any]]:
    return [
        {
            "consumer": p.consumer,
            "before": p.before,
            "after": p.after,
            "before_run_id": p.before_run_id,
            "after_run_id": p.after_run_id,
        }
        for p in u.preprocessing
    ]


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
            "definitions": _definitions_json(u),
            "unknown_definition": list(u.unknown),
            "changed": u.changed,
            "preprocessing_changed": _preprocessing_json(u),
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
        "preprocessing_changed": [
            {"feature": u.name} | change
            for u in report.preprocessing_changed
            for change in _preprocessing_json(u)
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
        "definitions": _definitions_json(usage),
        "changed": bool(usage and usage.changed),
        "sentence": result.sentence,
        "suggestions": list(result.suggestions),
    }


# --- text -------------------------------------------------------------------------------------
# Every store string goes through terminal_safe (text_table does it for cells).


Cells = tuple[str, ...]
_t = terminal_safe


def _kind_label(c: Consumer) -> str:
    return KIND_LABEL.get(c.kind, c.kind)


def _version_text(c: Consumer) -> str:
    return f"v{c.latest_version}" if c.latest_version is not None else "-"


def _aliases_text(c: Consumer) -> str:
    return ", ".join(f"{a}=v{v}" for a, v in c.aliases.items()) or "-"


def _by_feature(pairs: Sequence[Pair]) -> dict[str, list[str]]:
    by_feature: dict[str, list[str]] = {}
    for p in pairs:
        by_feature.setdefault(p.feature, []).append(p.consumer)
    return by_feature


def _pairs_text(title: str, pairs: Sequence[Pair], declared: bool, empty: str) -> list[str]:
    if not declared:
        return [f"{title}: not checked (pass --declared FILE)"]
    lines = [f"{title} ({len(pairs)})"]
    if not pairs:
        return [*lines, f"  {empty}"]
    return lines + [f"  {_t(f)}: {_t(', '.join(names))}" for f, names in _by_feature(pairs).items()]


def report_text(report: Report) -> str:
    """The consumers report for a terminal."""
    n_f, n_c = len(report.features), len(report.consumers)
    lines = [
        f"Feature consumers: {plural(n_f, 'feature')}, {plural(n_c, 'consumer')}, "
        "most consumers first",
    ]
    if report.features:
        rows: list[Cells] = [("FEATURE", "CONSUMERS", "READ BY")]
        rows += [(u.name, str(len(u.consumers)), ", ".join(u.consumers)) for u in report.features]
        lines += text_table(rows)
    else:
        lines.append("  none")
    lines.append("")
    changed = report.changed
    lines.append(f"Changed definitions ({len(changed)})")
    if not changed:
        lines.append("  none: every consumer's latest run uses the same definition")
    for u in changed:
        lines.append(f"  {_t(u.name)}")
        defs: list[Cells] = []
        for i, d in enumerate(u.definitions):
            note = "  (newest)" if i == 0 else ""
            defs.append((d.fingerprint, ", ".join(d.consumers) + note))
        if u.unknown:
            defs.append(("? (unknown)", ", ".join(u.unknown)))
        lines += text_table(defs, indent="    ")
    lines.append("")
    pre = report.preprocessing_changed
    if pre:
        lines.append(f"Changed preprocessing, along one model's versions ({len(pre)})")
        rows_pre: list[Cells] = [("FEATURE", "CONSUMER", "BEFORE", "NOW")]
        rows_pre += [(u.name, p.consumer, p.before, p.after) for u in pre for p in u.preprocessing]
        lines += text_table(rows_pre)
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
                _kind_label(c),
                _version_text(c),
                _aliases_text(c),
                str(len(c.reads)),
                c.latest_run_id,
            )
        )
    lines += text_table(table)
    for f in report.missing:
        lines += ["", _t(f"Nobody reads {f!r}.")]
    return "\n".join(lines)


def impact_text(result: Impact) -> str:
    """An impact query for a terminal: the reviewer's sentence first."""
    lines = [_t(result.sentence)]
    if not result.consumers:
        if result.suggestions:
            lines.append(_t(f"Did you mean: {', '.join(result.suggestions)}?"))
        return "\n".join(lines)
    lines.append("")
    rows: list[Cells] = [("CONSUMER", "KIND", "CURRENT", "ALIASES", "DEFINITION", "LATEST RUN")]
    for ic in result.consumers:
        c = ic.consumer
        rows.append(
            (
                c.name,
                _kind_label(c),
                _version_text(c),
                _aliases_text(c),
                ic.fingerprint,
                c.latest_run_id,
            )
        )
    lines += text_table(rows)
    if result.usage is not None and result.usage.changed:
        parts = [f"{', '.join(d.consumers)} on {d.fingerprint}" for d in result.usage.definitions]
        lines += ["", _t("Definitions already differ: " + "; ".join(parts) + ".")]
    return "\n".join(lines)


# --- Markdown ---------------------------------------------------------------------------------
# Every store string goes through md_text (or md_code): no HTML, images, links or table breaks.


def _names_md(names: Sequence[str]) -> str:
    return ", ".join(md_text(n) for n in names)


def report_markdown(report: Report) -> str:
    """The consumers report as Markdown (a PR comment, a wiki page)."""
    lines = ["## Feature consumers", ""]
    if report.features:
        lines += md_table(
            ("Feature", "Consumers", "Read by"),
            [
                (md_text(u.name), str(len(u.consumers)), _names_md(u.consumers))
                for u in report.features
            ],
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
                rows.append(
                    (md_text(u.name), md_code(d.fingerprint) + newest, _names_md(d.consumers))
                )
            if u.unknown:
                rows.append((md_text(u.name), "unknown", _names_md(u.unknown)))
        lines += md_table(("Feature", "Definition", "Consumers"), rows)
    for title, pairs in (
        ("Undeclared consumers", report.undeclared),
        ("Stale declarations", report.stale),
    ):
        if not report.declared:
            lines += ["", f"## {title}", "", "Not checked (pass `--declared FILE`)."]
            continue
        lines += ["", f"## {title} ({len(pairs)})", ""]
        if pairs:
            lines += md_table(
                ("Feature", "Consumer"), [(md_text(p.feature), md_text(p.consumer)) for p in pairs]
            )
        else:
            lines.append("None.")
    lines += ["", "## Consumers", ""]
    lines += md_table(
        ("Consumer", "Kind", "Current", "Aliases", "Features", "Latest run"),
        [
            (
                md_text(c.name),
                _kind_label(c),
                _version_text(c),
                md_text(_aliases_text(c)),
                str(len(c.reads)),
                md_text(c.latest_run_id),
            )
            for c in report.consumers.values()
        ],
    )
    for f in report.missing:
        lines += ["", f"Nobody reads {md_code(f)}."]
    return "\n".join(lines)


def impact_markdown(result: Impact) -> str:
    """An impact query as Markdown."""
    lines = [f"## Impact of {md_code(result.feature)}", "", md_text(result.sentence)]
    if not result.consumers:
        if result.suggestions:
            lines += ["", "Did you mean: " + ", ".join(md_code(s) for s in result.suggestions)]
        return "\n".join(lines)
    lines.append("")
    lines += md_table(
        ("Consumer", "Kind", "Current", "Aliases", "Definition", "Latest run"),
        [
            (
                md_text(ic.consumer.name),
                _kind_label(ic.consumer),
                _version_text(ic.consumer),
                md_text(_aliases_text(ic.consumer)),
                md_text(ic.fingerprint),
                md_text(ic.consumer.latest_run_id),
            )
            for ic in result.consumers
        ],
    )
    return "\n".join(lines)


# --- one call per command ---------------------------------------------------------------------


def render_report(
    report: Report, fmt: str, declarations: str | None, experiments: Sequence[str] = ()
) -> tuple[str, str | None]:
    """``mlflow-debt consumers`` output: (standard output, a note for standard error or None)."""
    if report.empty:
        sentence = no_features_sentence(experiments)
        if fmt == "json":
            return dumps(report_json(report, declarations)), sentence
        return sentence, None
    if fmt == "json":
        return dumps(report_json(report, declarations)), None
    if fmt == "markdown":
        return report_markdown(report), None
    return report_text(report), None


def render_impact(
    result: Impact, fmt: str, empty: bool, experiments: Sequence[str] = ()
) -> tuple[str, str | None]:
    """``mlflow-debt impact`` output: (standard output, a note for standard error or None)."""
    if empty:
        sentence = no_features_sentence(experiments)
        if fmt == "json":
            return dumps(impact_json(result)), sentence
        return sentence, None
    if fmt == "json":
        return dumps(impact_json(result)), None
    if fmt == "markdown":
        return impact_markdown(result), None
    return impact_text(result), None
