"""``mlflow-debt report`` as JSON (a stable interface) and Markdown (a PR comment, a wiki page).

Pure: a :class:`~mlflow_debt.report.checks.DebtReport` in, text out. Both formats carry the same
findings; the HTML page is drawn by :mod:`mlflow_debt.report.html`, and
:mod:`mlflow_debt.report.render` picks one of the three. Neither page module imports the other.
"""

from __future__ import annotations

import html
from typing import Any

from mlflow_debt.output import dumps, md_code, md_table, md_text, plural, terminal_safe
from mlflow_debt.report.model import (
    FAIL,
    SKIPPED,
    CheckResult,
    DebtReport,
    Finding,
    Graph,
    ModelScore,
    PruneFacts,
    restore_command,
)

__all__ = ["dumps", "md_code", "md_text"]

#: Version of the JSON document; bumped only for incompatible changes (fields are only added).
JSON_SCHEMA = 1


def score_text(s: ModelScore) -> str:
    return f"{s.passed}/{s.applicable}"


def summary_line(report: DebtReport) -> str:
    """One line for the terminal: checks failed, findings, the worst model."""
    failed = [c.id for c in report.checks if c.status == FAIL]
    line = (
        f"{len(failed)} of {sum(1 for c in report.checks if c.status != SKIPPED)} checks failed, "
        f"{plural(len(report.findings), 'finding')}"
    )
    if failed:
        line += f" ({', '.join(failed)})"
    return line


# --- JSON -------------------------------------------------------------------------------------


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "check": f.check,
        "severity": f.severity,
        "subject": f.subject,
        "message": f.message,
        "models": list(f.models),
        "fix": f.fix,
        "detail": dict(f.detail),
    }


def _prune_json(p: PruneFacts) -> dict[str, Any]:
    return {
        "prune_id": p.prune_id,
        "started": p.started,
        "models": list(p.models),
        "deleted": p.count("deleted"),
        "failed": p.count("failed"),
        "restored": p.restored,
        "restore": restore_command(p.prune_id),
    }


def _graph_json(g: Graph) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "id": n.id,
                "kind": n.kind,
                "name": n.name,
                "degree": n.degree,
                **(
                    {"high_fan_out": n.high_fan_out, "changed": n.changed}
                    if n.kind == "feature"
                    else {"consumer_kind": n.consumer_kind}
                ),
            }
            for n in g.nodes
        ],
        "edges": [
            {"source": e.source, "target": e.target, "kind": e.kind, "changed": e.changed}
            for e in g.edges
        ],
        "omitted_features": g.omitted_features,
    }


def report_json(report: DebtReport) -> dict[str, Any]:
    """The report as a JSON-able dict (schema documented in the README)."""
    return {
        "schema": JSON_SCHEMA,
        "scope": report.scope.as_json(),
        "summary": {
            "checks": {
                status: sum(1 for c in report.checks if c.status == status)
                for status in ("pass", "fail", "skipped")
            },
            "findings": len(report.findings),
            "scores": [
                {
                    "model": s.model,
                    "passed": s.passed,
                    "applicable": s.applicable,
                    "failed": list(s.failed),
                }
                for s in report.scores
            ],
            "top": [finding_json(f) for f in report.top],
        },
        "checks": [
            {
                "id": c.id,
                "title": c.check.title,
                "status": c.status,
                "note": c.note,
                "findings": [finding_json(f) for f in c.findings],
            }
            for c in report.checks
        ],
        "graph": _graph_json(report.graph),
        "prunes": [_prune_json(p) for p in report.prunes],
    }


# --- Markdown ---------------------------------------------------------------------------------


def md_fix(f: Finding) -> str:
    """A finding's fix: a command as inline code, an action as text."""
    return md_code(f.fix) if f.fix_is_command else md_text(f.fix)


_BADGE = {"pass": "✅ pass", "fail": "❌ fail", "skipped": "➖ skipped"}
_SEVERITY = {"high": "🔴 high", "medium": "🟠 medium", "low": "🟡 low"}


def _mermaid_label(text: str) -> str:
    # Mermaid labels in quotes take HTML entities; quotes and brackets must not end the label,
    # and a label stays on its line (a newline and ``` could close the code fence).
    return (
        html.escape(terminal_safe(text), quote=True)
        .replace("[", "&#91;")
        .replace("]", "&#93;")
        .replace("`", "&#96;")
    )


def _mermaid(g: Graph) -> list[str]:
    out = ["```mermaid", "graph LR"]
    for n in g.nodes:
        label = _mermaid_label(n.name)
        if n.kind == "feature":
            mark = " ⚠" if n.changed else ""
            out.append(f'  {n.id}["{label}{mark}"]')
        else:
            out.append(f'  {n.id}(["{label}"])')
    for e in g.edges:
        if e.kind == "output":
            out.append(f"  {e.source} -. output .-> {e.target}")
        else:
            out.append(f"  {e.source} {'-. changed .->' if e.changed else '-->'} {e.target}")
    wide = [n.id for n in g.nodes if n.kind == "feature" and n.high_fan_out]
    changed = [n.id for n in g.nodes if n.kind == "feature" and n.changed]
    out.append("  classDef wide stroke-width:3px")
    out.append("  classDef changed fill:#fde2e1,stroke:#c0392b")
    if wide:
        out.append(f"  class {','.join(wide)} wide")
    if changed:
        out.append(f"  class {','.join(changed)} changed")
    out.append("```")
    return out


def _md_where(report: DebtReport) -> str:
    scope = report.scope
    where = [f"Tracking URI {md_code(scope.tracking_uri)}"]
    if scope.experiments:
        where.append("experiments " + ", ".join(md_text(e) for e in scope.experiments))
    if scope.models:
        where.append("models " + ", ".join(md_text(m) for m in scope.models))
    if scope.declared:
        where.append(f"declarations {md_code(scope.declared)}")
    if scope.generated_at:
        where.append(f"generated {md_text(scope.generated_at)}")
    return " · ".join(where)


def _md_check(c: CheckResult, report: DebtReport) -> list[str]:
    doc = c.check
    lines = [f"## {doc.title} (`{c.id}`) — {_BADGE[c.status]}", ""]
    if c.note:
        lines += [md_text(c.note[:1].upper() + c.note[1:]) + ".", ""]
    if c.findings:
        rows = [
            [_SEVERITY[f.severity], md_text(f.subject), md_text(f.message), md_fix(f)]
            for f in c.findings
        ]
        lines += md_table(["severity", "subject", "finding", "fix"], rows)
        lines.append("")
    if c.id == "prune-history" and report.prunes:
        rows = [
            [
                md_text(p.started),
                md_text(", ".join(p.models)),
                str(p.count("deleted")),
                str(p.restored),
                md_code(restore_command(p.prune_id)),
            ]
            for p in report.prunes
        ]
        lines += md_table(["started", "models", "deleted", "restored", "undo"], rows)
        lines.append("")
    lines += [f"<details><summary>About {c.id}</summary>", ""]
    lines += [
        f"**Detects:** {md_text(doc.detects)}",
        "",
        f"**Why it is debt:** {md_text(doc.why)}",
        "",
        f"**Pay it down:** {md_text(doc.fix)}",
        "",
        "</details>",
        "",
    ]
    return lines


def report_markdown(report: DebtReport) -> str:
    """The whole report as Markdown: summary, graph (Mermaid), one section per check."""
    lines = ["# ML technical debt report", ""]
    lines += [_md_where(report), "", f"**{md_text(summary_line(report))}**", ""]

    if report.top:
        lines += ["## Most urgent", ""]
        for i, f in enumerate(report.top, start=1):
            fix = f" Fix: {md_fix(f)}" if f.fix else ""
            lines.append(f"{i}. {_SEVERITY[f.severity]} **{f.check}**: {md_text(f.message)}{fix}")
        lines.append("")
    if report.scores:
        lines += ["## Scores", ""]
        rows = [
            [md_text(s.model), score_text(s), ", ".join(s.failed) or "—"] for s in report.scores
        ]
        lines += md_table(["model", "checks passed", "failing checks"], rows)
        lines.append("")

    lines += ["## Entanglement graph", ""]
    if report.graph.nodes:
        lines += _mermaid(report.graph)
        if report.graph.omitted_features:
            lines.append(f"\n{report.graph.omitted_features} more features not drawn.")
    else:
        lines.append("No run carries feature tags: nothing to draw.")
    lines.append("")

    for c in report.checks:
        lines += _md_check(c, report)
    return "\n".join(lines).rstrip() + "\n"
