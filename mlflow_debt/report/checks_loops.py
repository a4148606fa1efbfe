"""Hidden feedback loops: a model that reads, directly or through others, its own output.

Pure: no MLflow, no I/O. The graph is the one correction-cascade draws: an edge from a
producing model to every consumer of a feature that is its output (by name or declared under
``outputs:``). A cycle in it (a strongly connected component of two or more models, or a model
reading its own output) is a feedback loop.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from mlflow_debt.output import plural, shell_quote
from mlflow_debt.report.checks import producer_of, result
from mlflow_debt.report.model import HIGH, CheckResult, Facts, Finding

CHECK = "feedback-loop"

#: producer -> consumer -> the features carrying the producer's output to the consumer.
Edges = dict[str, dict[str, list[str]]]


def output_edges(facts: Facts) -> Edges:
    """The producer -> consumer graph of correction-cascade (self-edges included)."""
    outputs = facts.declarations.outputs if facts.declarations else {}
    names = sorted(facts.models)
    edges: Edges = {}
    for usage in facts.lineage.features:
        producer = producer_of(usage.name, names, outputs)
        if producer is None:
            continue
        for consumer in usage.consumers:
            edges.setdefault(producer, {}).setdefault(consumer, []).append(usage.name)
    return edges


def components(edges: Mapping[str, Mapping[str, Sequence[str]]]) -> list[list[str]]:
    """Strongly connected components (Tarjan's algorithm, iterative), each sorted."""
    nodes = sorted(set(edges) | {c for out in edges.values() for c in out})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = sorted(edges.get(node, {}))
            if i < len(succ):
                work.append((node, i + 1))
                nxt = succ[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                found.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def cycle(
    start: str, members: set[str], edges: Mapping[str, Mapping[str, Sequence[str]]]
) -> list[str]:
    """A shortest cycle through ``start`` inside ``members``: [start, ..., start]."""
    if start in edges.get(start, {}):
        return [start, start]
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for succ in sorted(edges.get(node, {})):
                if succ not in members:
                    continue
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [*reversed(path), start]
                if succ not in prev:
                    prev[succ] = node
                    nxt_frontier.append(succ)
        frontier = nxt_frontier
    return [start]


def check_feedback_loops(facts: Facts) -> CheckResult:
    report = facts.lineage
    if report.empty:
        return result(CHECK, [], set(), "", skipped="no run carries feature tags")
    edges = output_edges(facts)
    findings = []
    for comp in components(edges):
        members = set(comp)
        if len(comp) == 1 and comp[0] not in edges.get(comp[0], {}):
            continue
        path = cycle(comp[0], members, edges)
        hops = [
            f"{b} reads {', '.join(repr(f) for f in edges[a][b])} ({a}'s output)"
            for a, b in itertools.pairwise(path)
        ]
        loop = " → ".join(path)
        features = sorted({f for a in comp for b in comp for f in edges.get(a, {}).get(b, [])})
        findings.append(
            Finding(
                CHECK,
                HIGH,
                loop,
                f"{'; '.join(hops)}: {'its' if len(comp) == 1 else 'each one’s'} output "
                "feeds its own training data.",
                tuple(comp),
                "train on data the loop did not influence, or stop reading "
                + ", ".join(repr(f) for f in features)
                + f" (mlflow-debt impact {shell_quote(features[0])})",
                {"models": comp, "cycle": path, "features": features},
            )
        )
    applicable = {n for n in report.consumers if n in facts.models}
    n_edges = sum(len(out) for out in edges.values())
    return result(
        CHECK,
        findings,
        applicable,
        f"{plural(n_edges, 'producer → consumer edge')} among "
        f"{plural(len(applicable), 'registered model')} searched for cycles",
    )
