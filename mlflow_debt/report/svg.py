"""The entanglement graph of the debt report as inline SVG: layout and drawing. Pure.

A bipartite layout: features in the left column, consumers in the right, each column ordered
by the barycentre heuristic with adjacent transpositions to cut edge crossings
(:func:`crossings` counts them). Cascades (a model's output read as a feature) are drawn as
curves back from the producing model. Every store string goes through
:func:`~mlflow_debt.output.html_escape`, in text and attributes alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mlflow_debt.consumers.analysis import KIND_LABEL as _KIND_LABEL
from mlflow_debt.output import html_escape as _e
from mlflow_debt.output import plural
from mlflow_debt.report.model import Graph, GraphEdge, GraphNode


def _plural(n: int, word: str) -> str:
    return plural(n, word, grouped=True)


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


def legend() -> str:
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
