"""The debt report as one self-contained HTML page.

Pure: a :class:`~mlflow_debt.report.checks.DebtReport` in, a string out; no MLflow, no I/O. The page
needs nothing but itself: CSS is inline, the entanglement graph is inline SVG, there is no
script and no URL (a report is mailed, attached to tickets and opened offline).

Everything that comes from the store (feature and model names, messages, fixes, notes, the
tracking URI, prune ids) goes through :func:`_e`, in text, ``<title>`` and attributes alike:
a feature may be called ``<script>…``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlflow_debt.output import plural
from mlflow_debt.report.checks import (
    CHECKS,
    FAIL,
    HIGH,
    PASS,
    SEVERITIES,
    SKIPPED,
    Check,
    CheckResult,
    DebtReport,
    Finding,
    Graph,
    GraphEdge,
    GraphNode,
    ModelScore,
    PruneFacts,
)
from mlflow_debt.report.text import restore_command

TITLE = "ML technical debt report"

_KIND_LABEL = {
    "registered_model": "registered model",
    "consumer_tag": "consumer tag",
    "experiment": "experiment",
}
_STATUS_LABEL = {PASS: "pass", FAIL: "fail", SKIPPED: "skipped"}


def _e(value: object) -> str:
    """``value`` as HTML text or attribute value (store strings are untrusted)."""
    return html.escape(str(value), quote=True)


def _plural(n: int, word: str) -> str:
    return plural(n, word, grouped=True)


def _when(value: object) -> str:
    """An ISO timestamp as ``2025-06-02 09:30 UTC``; anything else unchanged."""
    text = str(value or "")
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    zone = t.strftime("%Z")
    if zone in ("UTC+00:00", "+00:00"):
        zone = "UTC"
    return t.strftime("%Y-%m-%d %H:%M") + (f" {zone}" if zone else "")


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return int(value)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Page


def report_html(report: DebtReport) -> str:
    """``report`` as one self-contained HTML5 document."""
    scope: Mapping[str, Any] = report.scope or {}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light">',
        '<meta name="generator" content="mlflow-debt">',
        f"<title>{_e(TITLE)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        _header(scope),
        '<main class="wrap">',
        _summary(report),
        _graph_section(report.graph),
        '<h2 class="part" id="checks">Checks</h2>',
        *(_check_section(r, report) for r in report.checks),
        "</main>",
        _footer(),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _header(scope: Mapping[str, Any]) -> str:
    items: list[tuple[str, str]] = []
    uri = scope.get("tracking_uri")
    if uri:
        items.append(("Tracking URI", f"<code>{_e(uri)}</code>"))
    experiments = list(scope.get("experiments") or ())
    if experiments:
        items.append(("Experiments", _names(experiments, 4)))
    else:
        items.append(("Experiments", "all"))
    models = list(scope.get("models") or ())
    if models:
        items.append(("Models", _names(models, 4)))
    declared = scope.get("declared")
    items.append(
        ("Declarations", f"<code>{_e(declared)}</code>" if declared else "none (--declared FILE)")
    )
    read = []
    for key, word in (
        ("runs_read", "run"),
        ("versions_read", "live version"),
        ("registered_models", "registered model"),
    ):
        n = _int(scope.get(key))
        if n is not None:
            read.append(_e(_plural(n, word)))
    if read:
        items.append(("Read", " · ".join(read)))
    generated = scope.get("generated_at")
    if generated:
        items.append(
            ("Generated", f'<time datetime="{_e(generated)}">{_e(_when(generated))}</time>')
        )
    scope_html = "".join(f"<div><dt>{_e(k)}</dt><dd>{v}</dd></div>" for k, v in items)
    return (
        '<header class="page-head"><div class="wrap">'
        '<p class="eyebrow">mlflow-debt</p>'
        f"<h1>{_e(TITLE)}</h1>"
        f'<dl class="scope">{scope_html}</dl>'
        "</div></header>"
    )


def _names(names: Sequence[object], show: int) -> str:
    """The first ``show`` names, and how many more (all of them in the tooltip)."""
    shown = ", ".join(_e(n) for n in names[:show])
    rest = len(names) - show
    if rest <= 0:
        return shown
    every = _e(", ".join(str(n) for n in names))
    return f'{shown} <span class="more" title="{every}">+{rest} more</span>'


def _footer() -> str:
    return (
        '<footer class="page-foot"><div class="wrap">'
        "Generated by <strong>mlflow-debt report</strong>. Check ids are stable: JSON output and "
        "<code>--fail-on</code> use them.</div></footer>"
    )


# --------------------------------------------------------------------------------------------
# Summary


def _summary(report: DebtReport) -> str:
    return (
        '<section id="summary" aria-label="Summary">'
        f"{_kpis(report)}"
        '<div class="split">'
        f"{_urgent(report.top)}"
        f"{_glance(report.checks)}"
        "</div>"
        f"{_scores(report.scores)}"
        "</section>"
    )


def _kpis(report: DebtReport) -> str:
    findings = report.findings
    by_sev = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    sev = " · ".join(
        f'<span class="sev-text {s}">{by_sev[s]} {s}</span>' for s in SEVERITIES if by_sev[s]
    )
    statuses = [c.status for c in report.checks]
    failing = statuses.count(FAIL)
    checks_sub = f"{statuses.count(PASS)} pass · {statuses.count(SKIPPED)} skipped"
    clean = sum(1 for s in report.scores if s.applicable and not s.failed)
    features = [n for n in report.graph.nodes if n.kind == "feature"]
    wide = sum(1 for n in features if n.high_fan_out)
    changed = sum(1 for n in features if n.changed)
    n_features = len(features) + report.graph.omitted_features
    tiles = [
        (
            "Findings",
            f"{len(findings):,}",
            sev or "nothing to pay down",
            "bad" if by_sev[HIGH] else "",
        ),
        (
            "Checks failing",
            f"{failing} of {len(statuses)}",
            checks_sub,
            "bad" if failing else "good",
        ),
        (
            "Models",
            f"{len(report.scores):,}",
            f"{clean} pass every check" if report.scores else "none registered",
            "",
        ),
        ("Features read", f"{n_features:,}", f"{wide} high fan-out · {changed} changed", ""),
    ]
    cells = "".join(
        f'<div class="kpi {tone}"><div class="kpi-label">{_e(label)}</div>'
        f'<div class="kpi-value">{_e(value)}</div><div class="kpi-sub">{sub}</div></div>'
        for label, value, sub, tone in tiles
    )
    return f'<div class="kpis">{cells}</div>'


def _sev_badge(severity: str) -> str:
    return f'<span class="sev {_e(severity)}">{_e(severity)}</span>'


def _status_badge(status: str) -> str:
    return f'<span class="status {_e(status)}">{_e(_STATUS_LABEL.get(status, status))}</span>'


def _urgent(top: Sequence[Finding]) -> str:
    if not top:
        body = '<p class="empty">Nothing urgent: no check found any debt.</p>'
    else:
        items = []
        for f in top:
            items.append(
                '<li class="urgent-item">'
                f'<div class="urgent-head">{_sev_badge(f.severity)}'
                f'<a class="check-link" href="#{_e(f.check)}">{_e(_title_of(f.check))}</a>'
                f'<span class="subject">{_e(f.subject)}</span></div>'
                f'<p class="message">{_e(f.message)}</p>'
                + (
                    f'<div class="fix"><span class="fix-label">Fix</span>{_fix(f.fix)}</div>'
                    if f.fix
                    else ""
                )
                + "</li>"
            )
        body = f'<ol class="urgent">{"".join(items)}</ol>'
    return f'<div class="card urgent-card"><h2>Most urgent</h2>{body}</div>'


def _glance(results: Sequence[CheckResult]) -> str:
    rows = []
    for r in results:
        check = _check_of(r.id)
        count = len(r.findings)
        what = (
            _plural(count, "finding")
            if r.status == FAIL
            else ("no findings" if r.status == PASS else "skipped")
        )
        rows.append(
            f'<li class="glance-row {_e(r.status)}"><span class="dot" aria-hidden="true"></span>'
            f'<a href="#{_e(r.id)}">{_e(check.title if check else r.id)}</a>'
            f'<span class="glance-count">{_e(what)}</span></li>'
        )
    return (
        '<nav class="card glance" aria-label="Checks"><h2>Checks</h2>'
        f"<ul>{''.join(rows)}</ul></nav>"
    )


def _share_class(s: ModelScore) -> str:
    if not s.applicable:
        return "na"
    share = s.passed / s.applicable
    if share >= 1:
        return "good"
    return "fair" if share >= 0.7 else "bad"


def _scores(scores: Sequence[ModelScore]) -> str:
    if not scores:
        return (
            '<div class="scores-block"><h2>Model scores</h2>'
            '<p class="empty">No registered models to score.</p></div>'
        )
    cards = []
    for s in scores:
        tone = _share_class(s)
        pct = round(100 * s.passed / s.applicable) if s.applicable else 0
        chips = "".join(
            f'<a class="chip" href="#{_e(c)}" title="{_e(_title_of(c))}">{_e(c)}</a>'
            for c in s.failed
        )
        if s.applicable:
            line = f"{s.passed}/{s.applicable} checks passed"
        else:
            line = "no applicable checks"
        cards.append(
            f'<article class="score {tone}" data-model="{_e(s.model)}">'
            f'<h3 title="{_e(s.model)}">{_e(s.model)}</h3>'
            f'<div class="score-line"><span class="score-num">{_e(line)}</span></div>'
            f'<div class="bar" role="img" aria-label="{pct}% of applicable checks passed">'
            f'<span style="width:{pct}%"></span></div>'
            + (
                f'<div class="chips">{chips}</div>'
                if chips
                else '<p class="all-pass">No failing check</p>'
                if s.applicable
                else ""
            )
            + "</article>"
        )
    return (
        '<div class="scores-block"><h2>Model scores</h2>'
        '<p class="hint">Applicable checks each registered model passes, worst first.</p>'
        f'<div class="scores">{"".join(cards)}</div></div>'
    )


def _check_of(check_id: str) -> Check | None:
    return next((c for c in CHECKS if c.id == check_id), None)


def _title_of(check_id: str) -> str:
    check = _check_of(check_id)
    return check.title if check else check_id


_COMMAND = re.compile(r"mlflow-debt [^;()]*?(?=\s*(?:[;()]|\s{2}|$))")


def _fix(text: str) -> str:
    """A fix: the ``mlflow-debt …`` commands in it as ``<code>``, the rest as text."""
    out = []
    last = 0
    for m in _COMMAND.finditer(text):
        out.append(_e(text[last : m.start()]))
        out.append(f"<code>{_e(m.group(0))}</code>")
        last = m.end()
    out.append(_e(text[last:]))
    return f'<span class="fix-text">{"".join(out)}</span>'


# --------------------------------------------------------------------------------------------
# Check sections


def _check_section(result: CheckResult, report: DebtReport) -> str:
    check = _check_of(result.id)
    title = check.title if check else result.id
    count = len(result.findings)
    if result.status == SKIPPED:
        body = f'<p class="note skipped-note">Skipped: {_e(result.note or "not applicable")}.</p>'
    else:
        note = f'<p class="note">{_e(result.note)}</p>' if result.note else ""
        body = note + (_findings_table(result.findings) if count else _no_findings())
    if result.id == "prune-history":
        body += _prunes(report.prunes)
    about = ""
    if check:
        about = (
            '<details class="about"><summary>About this check</summary><dl>'
            f"<dt>Detects</dt><dd>{_e(check.detects)}</dd>"
            f"<dt>Why it is debt</dt><dd>{_e(check.why)}</dd>"
            f"<dt>How to pay it down</dt><dd>{_e(check.fix)}</dd>"
            "</dl></details>"
        )
    counter = f'<span class="count">{_e(_plural(count, "finding"))}</span>' if count else ""
    return (
        f'<section class="check {_e(result.status)}" id="{_e(result.id)}">'
        '<div class="check-head">'
        f"<h3>{_e(title)}</h3>{_status_badge(result.status)}{counter}"
        f'<code class="check-id">{_e(result.id)}</code>'
        "</div>"
        f"{body}{about}</section>"
    )


def _no_findings() -> str:
    return '<p class="ok">No findings.</p>'


def _findings_table(findings: Iterable[Finding]) -> str:
    rows = "".join(
        f'<tr class="finding {_e(f.severity)}">'
        f"<td>{_sev_badge(f.severity)}</td>"
        f'<td class="subject-cell">{_e(f.subject)}</td>'
        f"<td>{_e(f.message)}</td>"
        f"<td>{_fix(f.fix) if f.fix else ''}</td></tr>"
        for f in findings
    )
    return (
        '<div class="table-wrap"><table class="findings">'
        '<colgroup><col class="c-sev"><col class="c-subject"><col class="c-message">'
        '<col class="c-fix"></colgroup>'
        "<thead><tr><th>Severity</th><th>Subject</th><th>Finding</th><th>Fix</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def _prunes(prunes: Sequence[PruneFacts]) -> str:
    if not prunes:
        return ""
    rows = []
    for p in prunes:
        command = restore_command(p.prune_id)
        rows.append(
            "<tr>"
            f'<td><code title="{_e(p.prune_id)}">{_e(p.prune_id[:8])}</code></td>'
            f"<td>{_e(_when(p.started) or 'unknown')}</td>"
            f'<td class="subject-cell">{", ".join(_e(m) for m in p.models)}</td>'
            f'<td class="num">{p.count("deleted")}</td>'
            f'<td class="num">{p.restored}</td>'
            f"<td><code>{_e(command)}</code></td></tr>"
        )
    return (
        '<h4 class="sub">Recent prunes</h4>'
        '<div class="table-wrap"><table class="prunes">'
        '<colgroup><col class="c-id"><col class="c-when"><col class="c-models">'
        '<col class="c-n"><col class="c-n"><col class="c-restore"></colgroup>'
        "<thead><tr><th>Prune</th><th>Started</th><th>Models</th>"
        '<th class="num">Deleted</th><th class="num">Restored</th><th>Undo</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


# --------------------------------------------------------------------------------------------
# Entanglement graph (inline SVG)

WIDTH = 1040
TOP = 40  # room for the column headings
ROW = 32  # vertical space per node in the fuller column
NODE_H = 24
FEATURE_X, FEATURE_W = 24, 290
MODEL_W = 260
MODEL_X = WIDTH - 24 - MODEL_W
CHAR_W = 7.3  # a 12px monospace character, for truncating labels
BOW = 26  # how far a cascade curve bows below its straight path


@dataclass(frozen=True)
class _Layout:
    features: list[GraphNode]
    models: list[GraphNode]
    y: dict[str, float]
    height: int


def _neighbours(graph: Graph) -> dict[str, list[str]]:
    adj: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    for e in graph.edges:
        if e.source in adj and e.target in adj:
            adj[e.source].append(e.target)
            adj[e.target].append(e.source)
    return adj


def _by_barycentre(
    order: list[str], adj: Mapping[str, list[str]], pos: Mapping[str, float]
) -> list[str]:
    """``order`` sorted by the mean position of each node's neighbours (stable)."""
    n = len(order)

    def key(item: tuple[int, str]) -> tuple[float, int]:
        i, node = item
        others = [pos[o] for o in adj[node] if o in pos]
        return (sum(others) / len(others) if others else (i + 0.5) / n, i)

    return [node for _i, node in sorted(enumerate(order), key=key)]


def _fractions(order: Sequence[str]) -> dict[str, float]:
    n = len(order)
    return {node: (i + 0.5) / n for i, node in enumerate(order)}


def crossings(pairs: Iterable[tuple[int, int]]) -> int:
    """Edge crossings of a two-column drawing; ``pairs`` are (left row, right row)."""
    ordered = sorted(pairs)
    size = max((r for _l, r in ordered), default=-1) + 2
    tree = [0] * (size + 1)
    total = 0
    for seen, (_left, right) in enumerate(ordered):
        # Edges already placed (left row <= this one's) that end strictly lower on the right.
        i, below = right + 1, 0
        while i > 0:
            below += tree[i]
            i -= i & -i
        total += seen - below
        i = right + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return total


def _transpose(order: list[str], adj: Mapping[str, list[str]], other: Sequence[str]) -> list[str]:
    """``order`` with neighbours swapped while a swap removes crossings (the other column fixed).

    Only the edges of the two swapped nodes can change their crossings, so each test is local.
    """
    pos = {node: i for i, node in enumerate(other)}
    order = list(order)
    rows = {n: [pos[o] for o in adj[n] if o in pos] for n in order}
    for _ in range(6):
        swapped = False
        for i in range(len(order) - 1):
            pu, pv = rows[order[i]], rows[order[i + 1]]
            kept = sum(1 for a in pu for b in pv if a > b)
            if kept and sum(1 for a in pu for b in pv if a < b) < kept:
                order[i], order[i + 1] = order[i + 1], order[i]
                swapped = True
        if not swapped:
            break
    return order


def _order(graph: Graph) -> tuple[list[GraphNode], list[GraphNode]]:
    """Features and models ordered to cross few edges: barycentre passes, then local swaps."""
    by_id = {n.id: n for n in graph.nodes}
    adj = _neighbours(graph)
    f_order = [n.id for n in graph.nodes if n.kind == "feature"]  # most consumers first
    m_order = sorted(
        (n.id for n in graph.nodes if n.kind != "feature"), key=lambda i: by_id[i].name
    )

    def count(fo: list[str], mo: list[str]) -> int:
        fi = {n: i for i, n in enumerate(fo)}
        mi = {n: i for i, n in enumerate(mo)}
        pairs = []
        for e in graph.edges:
            if e.source in fi and e.target in mi:
                pairs.append((fi[e.source], mi[e.target]))
            elif e.target in fi and e.source in mi:
                pairs.append((fi[e.target], mi[e.source]))
        return crossings(pairs)

    m_order = _by_barycentre(m_order, adj, _fractions(f_order))
    best = (count(f_order, m_order), f_order, m_order)
    for _ in range(4):
        if best[0] == 0:
            break
        f_order = _by_barycentre(f_order, adj, _fractions(m_order))
        m_order = _by_barycentre(m_order, adj, _fractions(f_order))
        c = count(f_order, m_order)
        if c < best[0]:
            best = (c, f_order, m_order)
    f_order, m_order = best[1], best[2]
    for _ in range(3):
        if best[0] == 0:
            break
        f_order = _transpose(f_order, adj, m_order)
        m_order = _transpose(m_order, adj, f_order)
        c = count(f_order, m_order)
        if c >= best[0]:
            break
        best = (c, f_order, m_order)
    return [by_id[i] for i in best[1]], [by_id[i] for i in best[2]]


def _layout(graph: Graph) -> _Layout:
    features, models = _order(graph)
    rows = max(len(features), len(models), 1)
    span = rows * ROW
    y: dict[str, float] = {}
    for column in (features, models):
        if not column:
            continue
        # The shorter column spreads out (up to twice the spacing) and is centred.
        step = min(span / len(column), ROW * 2.0)
        offset = TOP + (span - step * len(column)) / 2
        for i, node in enumerate(column):
            y[node.id] = round(offset + step * (i + 0.5), 1)
    return _Layout(features, models, y, TOP + span + 16)


def _truncate(name: str, width: float) -> str:
    n = max(4, int(width / CHAR_W))
    return name if len(name) <= n else name[: n - 1] + "…"


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _graph_section(graph: Graph) -> str:
    head = (
        '<h2>Feature entanglement</h2><p class="hint">Which consumers read which features. '
        "Hover a node or an edge for details.</p>"
    )
    if not graph.nodes:
        return (
            f'<section class="graph-block" id="graph">{head}'
            '<p class="empty">No feature lineage to draw: no run read carries feature tags.</p>'
            "</section>"
        )
    omitted = ""
    if graph.omitted_features:
        omitted = (
            f'<p class="omitted">{_e(_plural(graph.omitted_features, "more feature"))} not drawn '
            "(the graph shows the features with the most consumers).</p>"
        )
    return (
        f'<section class="graph-block" id="graph">{head}'
        f'<div class="graph-frame">{graph_svg(graph)}</div>{omitted}{_legend()}</section>'
    )


def graph_svg(graph: Graph) -> str:
    """The bipartite graph: features left, consumers right, cascades as arrows back."""
    lay = _layout(graph)
    names = {n.id: n.name for n in graph.nodes}
    x1 = FEATURE_X + FEATURE_W
    x2 = MODEL_X
    dx = (x2 - x1) * 0.45

    def reads(e: GraphEdge) -> str:
        ya, yb = lay.y[e.source], lay.y[e.target]
        d = (
            f"M{x1} {_num(ya)} C{_num(x1 + dx)} {_num(ya)} {_num(x2 - dx)} {_num(yb)} "
            f"{x2} {_num(yb)}"
        )
        cls = "edge reads changed" if e.changed else "edge reads"
        tip = f"{names[e.source]} → {names[e.target]}"
        if e.changed:
            tip += " (trained on an older definition)"
        return (
            f'<path class="{cls}" d="{d}" data-source="{_e(names[e.source])}" '
            f'data-target="{_e(names[e.target])}"><title>{_e(tip)}</title></path>'
        )

    def output(e: GraphEdge) -> str:
        ym, yf = lay.y[e.source], lay.y[e.target]
        end = x1 + 3  # the arrow's tip touches the feature's edge
        d = (
            f"M{x2} {_num(ym)} C{_num(x2 - dx)} {_num(ym + BOW)} {_num(end + dx)} {_num(yf + BOW)} "
            f"{end} {_num(yf)}"
        )
        tip = f"{names[e.target]} is the output of {names[e.source]} (correction cascade)"
        return (
            f'<path class="edge output" d="{d}" marker-end="url(#arrow-output)" '
            f'data-source="{_e(names[e.source])}" data-target="{_e(names[e.target])}">'
            f"<title>{_e(tip)}</title></path>"
        )

    edges = [e for e in graph.edges if e.source in lay.y and e.target in lay.y]
    plain = [reads(e) for e in edges if e.kind == "reads" and not e.changed]
    changed = [reads(e) for e in edges if e.kind == "reads" and e.changed]
    cascades = [output(e) for e in edges if e.kind == "output"]
    produces = {e.source for e in edges if e.kind == "output"}

    nodes = [_feature_node(n, lay.y[n.id]) for n in lay.features]
    nodes += [_model_node(n, lay.y[n.id], n.id in produces) for n in lay.models]
    n_f, n_m = len(lay.features), len(lay.models)
    return (
        f'<svg class="graph" viewBox="0 0 {WIDTH} {lay.height}" '
        f'width="{WIDTH}" height="{lay.height}" role="img" '
        f'aria-label="{_e(_plural(n_f, "feature"))} and {_e(_plural(n_m, "consumer"))}">'
        "<defs>"
        '<marker id="arrow-output" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto">'
        '<path d="M0 0 L10 5 L0 10 z" class="arrowhead"/></marker>'
        "</defs>"
        f'<text class="col-head" x="{FEATURE_X}" y="18">FEATURES ({n_f})</text>'
        f'<text class="col-head" x="{MODEL_X}" y="18">CONSUMERS ({n_m})</text>'
        f'<g class="edges">{"".join(plain + changed + cascades)}</g>'
        f'<g class="nodes">{"".join(nodes)}</g>'
        "</svg>"
    )


def _feature_node(n: GraphNode, y: float) -> str:
    classes = ["node", "feature"]
    if n.high_fan_out:
        classes.append("high-fan-out")
    if n.changed:
        classes.append("changed")
    facts = [_plural(n.degree, "consumer")]
    if n.high_fan_out:
        facts.append("high fan-out")
    if n.changed:
        facts.append("definition differs between its consumers")
    tip = f"{n.name}: read by {', '.join(facts)}"
    badge_w = 30
    label_x = 26 if n.changed else 12
    label = _truncate(n.name, FEATURE_W - label_x - badge_w - 12)
    marker = ""
    if n.changed:
        # A warning triangle: the consumers disagree on what this feature is.
        marker = (
            '<path class="warn-marker" d="M9 -6 L15 5 L3 5 z"/>'
            '<text class="warn-bang" x="9" y="3.6">!</text>'
        )
    bx = FEATURE_W - badge_w - 5
    return (
        f'<g class="{" ".join(classes)}" data-name="{_e(n.name)}" '
        f'transform="translate({FEATURE_X} {_num(y)})">'
        f"<title>{_e(tip)}</title>"
        f'<rect class="pill" x="0" y="{-NODE_H / 2:g}" width="{FEATURE_W}" '
        f'height="{NODE_H}" rx="6"/>'
        f"{marker}"
        f'<text class="label" x="{label_x}" y="4">{_e(label)}</text>'
        f'<rect class="degree" x="{bx}" y="-8" width="{badge_w}" height="16" rx="8"/>'
        f'<text class="degree-text" x="{bx + badge_w / 2:g}" y="4">{n.degree}</text>'
        "</g>"
    )


def _model_node(n: GraphNode, y: float, producer: bool) -> str:
    kind = n.consumer_kind or "registered_model"
    classes = ["node", "model", "kind-" + re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")]
    if kind != "registered_model":
        classes.append("other-consumer")
    if producer:
        classes.append("producer")
    what = _KIND_LABEL.get(kind, kind.replace("_", " "))
    tip = f"{n.name}: {what}, reads {_plural(n.degree, 'feature')} drawn here"
    if producer:
        tip += "; its output is another model's feature"
    label = _truncate(n.name, MODEL_W - 24)
    return (
        f'<g class="{" ".join(classes)}" data-name="{_e(n.name)}" '
        f'transform="translate({MODEL_X} {_num(y)})">'
        f"<title>{_e(tip)}</title>"
        f'<rect class="pill" x="0" y="{-NODE_H / 2:g}" width="{MODEL_W}" height="{NODE_H}" rx="6"/>'
        f'<text class="label" x="12" y="4">{_e(label)}</text>'
        "</g>"
    )


def _legend() -> str:
    def swatch(inner: str, w: int = 34) -> str:
        return (
            f'<svg class="swatch" width="{w}" height="16" '
            f'viewBox="0 0 {w} 16" aria-hidden="true">{inner}</svg>'
        )

    items = [
        (swatch('<rect class="sw-feature" x="1" y="2" width="32" height="12" rx="4"/>'), "Feature"),
        (
            swatch('<rect class="sw-wide" x="1" y="2" width="32" height="12" rx="4"/>'),
            "High fan-out feature (badge: consumers)",
        ),
        (
            swatch(
                '<rect class="sw-changed" x="1" y="2" width="32" height="12" rx="4"/>'
                '<path class="warn-marker" d="M9 4 L14 13 L4 13 z"/>'
            ),
            "Definition changed under some consumers",
        ),
        (
            swatch('<rect class="sw-model" x="1" y="2" width="32" height="12" rx="4"/>'),
            "Registered model",
        ),
        (
            swatch('<rect class="sw-other" x="1" y="2" width="32" height="12" rx="4"/>'),
            "Other consumer (experiment, tag)",
        ),
        (swatch('<path class="sw-reads" d="M1 8 H33"/>'), "Reads"),
        (swatch('<path class="sw-stale" d="M1 8 H33"/>'), "Reads an older definition"),
        (
            swatch(
                '<path class="sw-output" d="M33 8 H6"/>'
                '<path class="arrowhead" d="M1 8 L8 4 L8 12 z"/>'
            ),
            "Model output read as a feature (cascade)",
        ),
    ]
    cells = "".join(f"<li>{sw}<span>{_e(text)}</span></li>" for sw, text in items)
    return f'<ul class="legend" aria-label="Legend">{cells}</ul>'


# --------------------------------------------------------------------------------------------
# Style

_CSS = """
:root {
  --ink: #1b2330; --muted: #5b6676; --faint: #8a94a3; --line: #e3e7ee; --soft: #f4f6f9;
  --bg: #f7f8fa; --card: #ffffff; --accent: #3b5bdb; --accent-soft: #e7ecfd;
  --pass: #1f7a3f; --pass-soft: #dff3e6; --fail: #b42318; --fail-soft: #fde6e3;
  --warn: #b45309; --warn-line: #d97706; --warn-soft: #fdf0d8; --low: #475467; --low-soft: #e9edf3;
  --skip: #6b7280; --skip-soft: #eef0f3; --cascade: #7048e8; --cascade-soft: #efeafe;
  --mono: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono",
    "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue",
    "Noto Sans", "Liberation Sans", Arial, sans-serif;
  font-variant-numeric: tabular-nums;
}
.wrap { max-width: 1160px; margin: 0 auto; padding: 0 32px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code { font-family: var(--mono); font-size: 0.86em; background: var(--soft);
  border: 1px solid var(--line); border-radius: 4px; padding: 0.05em 0.35em;
  overflow-wrap: anywhere; }
h1, h2, h3, h4 { line-height: 1.25; margin: 0; }
h2 { font-size: 18px; font-weight: 650; letter-spacing: -0.01em; }
.hint { color: var(--muted); margin: 2px 0 14px; font-size: 14px; }
.empty { color: var(--muted); margin: 8px 0 0; font-style: italic; }

.page-head { background: var(--card); border-bottom: 1px solid var(--line); padding: 28px 0 22px; }
.eyebrow { margin: 0 0 4px; color: var(--accent); font-weight: 700; font-size: 12px;
  letter-spacing: 0.08em; text-transform: uppercase; }
h1 { font-size: 28px; font-weight: 700; letter-spacing: -0.02em; }
.scope { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 14px 0 0; font-size: 13.5px; }
.scope div { min-width: 0; max-width: 100%; }
.scope dt { color: var(--faint); font-size: 11px; text-transform: uppercase;
  letter-spacing: 0.06em; font-weight: 600; }
.scope dd { margin: 1px 0 0; overflow-wrap: anywhere; }
.more { color: var(--muted); border-bottom: 1px dotted var(--faint); cursor: help; }

main.wrap { padding-top: 24px; padding-bottom: 40px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 20px; box-shadow: 0 1px 2px rgba(16, 24, 40, 0.04); min-width: 0; }

.kpis { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 14px; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 18px; border-top: 3px solid var(--line); }
.kpi.bad { border-top-color: var(--fail); }
.kpi.good { border-top-color: var(--pass); }
.kpi-label { color: var(--muted); font-size: 12px; font-weight: 600; text-transform: uppercase;
  letter-spacing: 0.05em; }
.kpi-value { font-size: 26px; font-weight: 700; letter-spacing: -0.02em; margin-top: 2px; }
.kpi-sub { color: var(--muted); font-size: 13px; }
.sev-text.high { color: var(--fail); font-weight: 600; }
.sev-text.medium { color: var(--warn); font-weight: 600; }
.sev-text.low { color: var(--low); }

.split { display: grid; grid-template-columns: minmax(0, 1.9fr) minmax(0, 1fr); gap: 14px;
  margin-top: 14px; }
.split h2 { margin-bottom: 10px; }
.urgent { list-style: none; margin: 0; padding: 0; counter-reset: urgent; }
.urgent-item { padding: 12px 0 12px 34px; border-top: 1px solid var(--line); position: relative;
  counter-increment: urgent; }
.urgent-item:first-child { border-top: 0; padding-top: 2px; }
.urgent-item::before { content: counter(urgent); position: absolute; left: 0; top: 12px;
  width: 22px; height: 22px; border-radius: 50%; background: var(--soft); color: var(--muted);
  font-size: 12px; font-weight: 700; text-align: center; line-height: 22px; }
.urgent-item:first-child::before { top: 2px; }
.urgent-head { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px; }
.check-link { font-weight: 600; font-size: 14px; }
.subject { color: var(--muted); font-family: var(--mono); font-size: 12.5px;
  overflow-wrap: anywhere; }
.message { margin: 4px 0 6px; overflow-wrap: anywhere; }
.fix { display: flex; gap: 8px; align-items: baseline; font-size: 13.5px; color: var(--muted); }
.fix-label { font-size: 11px; font-weight: 700; text-transform: uppercase; letter-spacing: 0.05em;
  color: var(--pass); flex: none; }
.fix-text { overflow-wrap: anywhere; }

.glance ul { list-style: none; margin: 0; padding: 0; }
.glance-row { display: flex; align-items: center; gap: 10px; padding: 6px 0;
  border-top: 1px solid var(--line); font-size: 14px; }
.glance-row:first-child { border-top: 0; }
.glance-row a { flex: 1; min-width: 0; color: var(--ink); }
.glance-count { color: var(--muted); font-size: 13px; white-space: nowrap; }
.glance-row.fail .glance-count { color: var(--fail); font-weight: 600; }
.dot { width: 9px; height: 9px; border-radius: 50%; flex: none; background: var(--skip-soft);
  border: 1.5px solid var(--skip); }
.glance-row.pass .dot { background: var(--pass); border-color: var(--pass); }
.glance-row.fail .dot { background: var(--fail); border-color: var(--fail); }

.sev, .status { display: inline-block; font-size: 11px; font-weight: 700; text-transform: uppercase;
  letter-spacing: 0.05em; border-radius: 999px; padding: 1px 9px; line-height: 18px;
  white-space: nowrap; }
.sev.high { background: var(--fail-soft); color: var(--fail); }
.sev.medium { background: var(--warn-soft); color: var(--warn); }
.sev.low { background: var(--low-soft); color: var(--low); }
.status.pass { background: var(--pass-soft); color: var(--pass); }
.status.fail { background: var(--fail-soft); color: var(--fail); }
.status.skipped { background: var(--skip-soft); color: var(--skip); }

.scores-block { margin-top: 28px; }
.scores { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; }
.score { background: var(--card); border: 1px solid var(--line); border-left: 4px solid var(--skip);
  border-radius: 10px; padding: 12px 16px; min-width: 0; }
.score h3 { font-family: var(--mono); font-size: 14px; font-weight: 600; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.score-line { font-size: 13.5px; color: var(--muted); margin: 2px 0 8px; }
.bar { height: 6px; border-radius: 3px; background: var(--soft); overflow: hidden; }
.bar span { display: block; height: 100%; background: var(--skip); }
.score.good { border-left-color: var(--pass); }
.score.good .bar span { background: var(--pass); }
.score.fair { border-left-color: var(--warn-line); }
.score.fair .bar span { background: var(--warn-line); }
.score.bad { border-left-color: var(--fail); }
.score.bad .bar span { background: var(--fail); }
.score.good .score-num { color: var(--pass); font-weight: 600; }
.score.bad .score-num { color: var(--fail); font-weight: 600; }
.score.fair .score-num { color: var(--warn); font-weight: 600; }
.chips { display: flex; flex-wrap: wrap; gap: 5px; margin-top: 10px; }
.all-pass { margin: 10px 0 0; color: var(--pass); font-size: 13px; }
.all-pass::before { content: "\\2713\\00a0"; }
.chip { font-family: var(--mono); font-size: 11.5px; color: var(--fail);
  background: var(--fail-soft); border-radius: 5px; padding: 1px 7px; }

.graph-block { margin-top: 32px; background: var(--card); border: 1px solid var(--line);
  border-radius: 10px; padding: 20px 22px; }
.graph-frame { overflow: hidden; }
svg.graph { display: block; max-width: 100%; height: auto; margin: 0 auto; }
svg.graph .col-head { font: 700 11px/1 -apple-system, "Segoe UI", "Liberation Sans", Arial,
  sans-serif; letter-spacing: 0.08em; fill: var(--faint); }
svg.graph .edge { fill: none; stroke-width: 1.4; }
svg.graph .edge.reads { stroke: #b7c0cf; }
svg.graph .edge.reads.changed { stroke: var(--warn-line); stroke-dasharray: 5 4;
  stroke-width: 1.8; }
svg.graph .edge.output { stroke: var(--cascade); stroke-width: 2; }
svg.graph .edge:hover { stroke-width: 3; }
svg.graph .arrowhead, .legend .arrowhead { fill: var(--cascade); }
svg.graph .label { font: 12px var(--mono); fill: var(--ink); }
svg.graph .pill { stroke-width: 1.2; }
svg.graph .feature .pill { fill: #f3f5f8; stroke: #c9d0db; }
svg.graph .feature.high-fan-out .pill { fill: var(--accent-soft); stroke: var(--accent);
  stroke-width: 1.6; }
svg.graph .feature.high-fan-out .label { font-weight: 700; fill: #243b9e; }
svg.graph .feature.changed .pill { fill: var(--warn-soft); stroke: var(--warn-line);
  stroke-width: 1.6; }
svg.graph .degree { fill: #ffffff; stroke: #c9d0db; }
svg.graph .degree-text { font: 700 11px var(--mono); fill: var(--muted); text-anchor: middle; }
svg.graph .high-fan-out .degree { fill: var(--accent); stroke: var(--accent); }
svg.graph .high-fan-out .degree-text { fill: #ffffff; }
.warn-marker { fill: var(--warn-line); }
svg.graph .warn-bang { font: 700 8px sans-serif; fill: #ffffff; text-anchor: middle; }
svg.graph .model .pill { fill: #2f3b52; stroke: #2f3b52; }
svg.graph .model .label { fill: #ffffff; font-weight: 600; }
svg.graph .model.other-consumer .pill { fill: #ffffff; stroke: #5b6676; stroke-dasharray: 4 3; }
svg.graph .model.other-consumer .label { fill: var(--ink); font-weight: 400; }
svg.graph .model.producer .pill { stroke: var(--cascade); stroke-width: 2.4; }
svg.graph .node:hover .pill { filter: brightness(0.96); stroke-width: 2.4; }
.omitted { color: var(--muted); font-size: 13.5px; margin: 10px 0 0; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 8px 22px; margin: 16px 0 0;
  padding: 12px 0 0; border-top: 1px solid var(--line); font-size: 13px; color: var(--muted); }
.legend li { display: flex; align-items: center; gap: 8px; }
.swatch { flex: none; }
.sw-feature { fill: #f3f5f8; stroke: #c9d0db; }
.sw-wide { fill: var(--accent-soft); stroke: var(--accent); stroke-width: 1.5; }
.sw-changed { fill: var(--warn-soft); stroke: var(--warn-line); stroke-width: 1.5; }
.sw-model { fill: #2f3b52; }
.sw-other { fill: #ffffff; stroke: #5b6676; stroke-dasharray: 4 3; }
.sw-reads { stroke: #b7c0cf; stroke-width: 2; fill: none; }
.sw-stale { stroke: var(--warn-line); stroke-width: 2; stroke-dasharray: 5 4; fill: none; }
.sw-output { stroke: var(--cascade); stroke-width: 2; fill: none; }

h2.part { margin: 36px 0 12px; font-size: 22px; }
.check { background: var(--card); border: 1px solid var(--line); border-left: 4px solid var(--skip);
  border-radius: 10px; padding: 16px 20px; margin-top: 14px; scroll-margin-top: 16px; }
.check.fail { border-left-color: var(--fail); }
.check.pass { border-left-color: var(--pass); }
.check-head { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 12px; }
.check-head h3 { font-size: 17px; font-weight: 650; }
.count { color: var(--muted); font-size: 13.5px; }
.check-id { margin-left: auto; color: var(--muted); }
.note { color: var(--muted); margin: 6px 0 0; font-size: 14px; overflow-wrap: anywhere; }
.ok { color: var(--pass); margin: 8px 0 0; font-weight: 600; font-size: 14px; }
.ok::before { content: "\\2713\\00a0"; }
.table-wrap { margin-top: 12px; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; font-size: 13.5px; }
th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em;
  color: var(--faint); font-weight: 700; padding: 6px 10px; border-bottom: 1px solid var(--line); }
td { padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: top;
  overflow-wrap: anywhere; }
tbody tr:last-child td { border-bottom: 0; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
.subject-cell { font-family: var(--mono); font-size: 12.5px; }
.num { text-align: right; }
col.c-sev { width: 96px; } col.c-subject { width: 19%; } col.c-fix { width: 31%; }
col.c-id { width: 100px; } col.c-when { width: 180px; } col.c-n { width: 84px; }
col.c-restore { width: 40%; }
h4.sub { margin: 18px 0 0; font-size: 14px; font-weight: 650; }
.about { margin-top: 12px; font-size: 14px; }
.about summary { cursor: pointer; color: var(--muted); font-weight: 600; font-size: 13.5px; }
.about dl { margin: 8px 0 0; padding: 10px 14px; background: var(--soft); border-radius: 8px; }
.about dt { font-weight: 650; font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em;
  color: var(--muted); margin-top: 6px; }
.about dt:first-child { margin-top: 0; }
.about dd { margin: 2px 0 0; }

.page-foot { border-top: 1px solid var(--line); color: var(--faint); font-size: 13px;
  padding: 18px 0 28px; background: var(--card); }

@media (max-width: 860px) {
  .kpis { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .split { grid-template-columns: minmax(0, 1fr); }
}
@media print {
  @page { margin: 14mm; }
  body { background: #ffffff; font-size: 12px; }
  .wrap { max-width: none; padding: 0; }
  .page-head { border: 0; padding-top: 0; }
  .card, .kpi, .score, .check, .graph-block { box-shadow: none; break-inside: avoid; }
  .graph-block { break-inside: auto; }
  a { color: inherit; }
  tr { break-inside: avoid; }
  .page-foot { background: none; }
}
"""
