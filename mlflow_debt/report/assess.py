"""The whole debt report from the checks' results: scores, the most urgent, the graph, the gate.

Pure: no MLflow, no I/O. :func:`assess` is the one call: facts in, a
:class:`~mlflow_debt.report.model.DebtReport` out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from mlflow_debt.consumers.analysis import MODEL, ConsumerKind
from mlflow_debt.report import checks as run
from mlflow_debt.report.checks_config import check_configuration
from mlflow_debt.report.checks_loops import check_feedback_loops
from mlflow_debt.report.model import (
    CHECK_IDS,
    FAIL,
    PASS,
    SKIPPED,
    CheckResult,
    DebtReport,
    Facts,
    Finding,
    Graph,
    GraphEdge,
    GraphNode,
    ModelScore,
    Thresholds,
)


def graph(facts: Facts, th: Thresholds, keep: set[str] | None = None) -> Graph:
    """Features and their consumers; cascades as producing model -> feature edges.

    ``keep``: only features read by these consumers (``--model``), with all their consumers.
    """
    report = facts.lineage
    usages = [u for u in report.features if keep is None or keep & set(u.consumers)]
    shown = usages[: th.graph_features]
    outputs = facts.declarations.outputs if facts.declarations else {}
    names = sorted(facts.models)
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    model_ids: dict[str, str] = {}
    degree: dict[str, int] = {}

    def model_node(name: str) -> str:
        if name not in model_ids:
            model_ids[name] = f"m{len(model_ids)}"
        return model_ids[name]

    for i, u in enumerate(shown):
        fid = f"f{i}"
        nodes.append(
            GraphNode(
                fid, "feature", u.name, len(u.consumers), len(u.consumers) >= th.fan_out, u.changed
            )
        )
        newest = u.definitions[0].consumers if u.changed else ()
        for consumer in u.consumers:
            degree[consumer] = degree.get(consumer, 0) + 1
            changed = u.changed and consumer not in newest and consumer not in u.unknown
            edges.append(GraphEdge(fid, model_node(consumer), "reads", changed))
        producer = run.producer_of(u.name, names, outputs)
        if producer is not None:
            edges.append(GraphEdge(model_node(producer), fid, "output"))
    for name, mid in model_ids.items():
        seen = report.consumers.get(name)
        kind: ConsumerKind = seen.kind if seen else MODEL
        nodes.append(GraphNode(mid, "model", name, degree.get(name, 0), consumer_kind=kind))
    return Graph(tuple(nodes), tuple(edges), len(usages) - len(shown))


def scores(checks: Sequence[CheckResult], models: Sequence[str]) -> tuple[ModelScore, ...]:
    out = []
    for name in models:
        applicable = [c for c in checks if c.status != SKIPPED and name in c.applicable]
        failed = tuple(c.id for c in applicable if name in c.failed_models)
        out.append(ModelScore(name, len(applicable) - len(failed), len(applicable), failed))
    # Worst first: lowest share passed, then most failures, then name.
    return tuple(
        sorted(
            out,
            key=lambda s: (
                s.passed / s.applicable if s.applicable else 1.0,
                -len(s.failed),
                s.model,
            ),
        )
    )


def _select(result: CheckResult, selected: set[str]) -> CheckResult:
    """``result`` restricted to findings about the selected models."""
    findings = tuple(f for f in result.findings if selected & set(f.models))
    status = result.status if result.status == SKIPPED else (FAIL if findings else PASS)
    return CheckResult(
        result.id,
        status,
        findings,
        result.note,
        result.applicable & selected,
        result.failed_models & selected,
    )


def most_urgent(findings: Sequence[Finding], n: int = 3) -> tuple[Finding, ...]:
    """The ``n`` most urgent findings, at most one per check while other checks have some."""
    ranked = sorted(findings, key=lambda f: f.rank)
    first: list[Finding] = []
    for f in ranked:
        if all(f.check != g.check for g in first):
            first.append(f)
    chosen = sorted(first, key=lambda f: f.rank)[:n]
    chosen += [f for f in ranked if f not in chosen][: n - len(chosen)]
    return tuple(sorted(chosen, key=lambda f: f.rank))


def assess(facts: Facts, th: Thresholds | None = None) -> DebtReport:
    """Run every check over ``facts``."""
    th = th or Thresholds()
    by_model = run.versions_by_model(facts)
    undeclared, stale = run.check_declarations(facts)
    results = [
        run.check_entanglement(facts, th),
        undeclared,
        stale,
        run.check_version_limit(facts, th, by_model),
        run.check_lineage_gaps(facts, by_model),
        run.check_reproducibility(facts, by_model),
        check_configuration(facts, th, by_model),
        run.check_underutilized(facts, th, by_model),
        run.check_cascades(facts),
        check_feedback_loops(facts),
        run.check_prunes(facts, th),
    ]
    assert [r.id for r in results] == list(CHECK_IDS)
    selected = set(facts.selected)
    if selected:
        results = [_select(r, selected) for r in results]
    models = sorted(selected or facts.models)
    top = most_urgent([f for r in results for f in r.findings])
    prunes = sorted(facts.prunes, key=lambda p: p.started, reverse=True)
    if selected:
        prunes = [p for p in prunes if selected & set(p.models)]
    keep = None
    if selected:
        keep = selected
    return DebtReport(
        checks=tuple(results),
        scores=scores(results, models),
        top=top,
        graph=graph(facts, th, keep),
        prunes=tuple(prunes[: th.recent_prunes]),
    )


def gate(report: DebtReport, checks: Collection[str]) -> str:
    """What ``--fail-on`` finds: ``"1 in entanglement, 2 in lineage-gap"``; empty: it passes."""
    hit = [(c.id, len(c.findings)) for c in report.checks if c.id in checks and c.findings]
    return ", ".join(f"{n} in {cid}" for cid, n in hit)
