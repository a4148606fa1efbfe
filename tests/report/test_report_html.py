"""The debt report's HTML page (pure: facts in, HTML out, no store)."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

from mlflow_debt import tags
from mlflow_debt.consumers import analysis as lineage
from mlflow_debt.prune.plan import MAX_VERSIONS_TAG
from mlflow_debt.report.assess import assess as assess_facts
from mlflow_debt.report.html import report_html
from mlflow_debt.report.model import (
    CHECK_IDS,
    ConfigFacts,
    DebtReport,
    Facts,
    ModelFacts,
    PruneFacts,
    PruneRecord,
    Scope,
    VersionFacts,
)
from mlflow_debt.report.svg import crossings

from support.lineage import NEW_AGE, OLD_AGE, PLAN, SESSIONS, row, version

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="window.__xss=1">'
PRUNE_ID = "0f3c9a1e5b7d4c2a9e8f6b1d3c5a7e9f"


def team_facts() -> Facts:
    """A team's store with one of each debt: a changed feature, an undeclared and a stale
    consumer, a cascade, a lineage gap, missing signatures, a model over its limit, a prune
    that failed half-way, and two hostile feature names."""
    runs = [
        row("c1", {"user_age": OLD_AGE, "session_count": SESSIONS, "plan": PLAN}, "churn", 0),
        row(
            "c2",
            {"user_age": NEW_AGE, "session_count": SESSIONS, "plan": PLAN, SCRIPT: "num:+:m1"},
            "churn",
            50,
        ),
        row("l1", {"user_age": OLD_AGE, "churn_model_score": "num:+:m0.3", IMG: "x"}, "ltv", 10),
        row("f1", {"user_age": OLD_AGE, "session_count": SESSIONS}, "fraud", 11),
        row("f2", None, "fraud", 5),
        row("r1", {"session_count": SESSIONS}, "recsys", 13),
        row("x1", {"session_count": SESSIONS, "plan": PLAN}, "adhoc analysis", 14),
    ]
    versions = [
        version("churn_model", 1, "c1"),
        version("churn_model", 2, "c2"),
        version("ltv_model", 1, "l1"),
        version("fraud_model", 1, "f1"),
        version("fraud_model", 2, "f2"),
        version("recommender", 1, "r1"),
    ]
    declared = lineage.Declarations(
        {
            "user_age": ("churn_model", "ltv_model", "fraud_model"),
            "session_count": ("churn_model", "recommender", "gone_model"),
        },
        scope="listed",
        path="consumers.yaml",
    )
    report = lineage.analyze(
        runs, versions, {"churn_model": {"champion": 1, "challenger": 2}}, declared
    )
    features_of = {r.run_id: tuple(tags.decode(r.tags).names) for r in runs if r.tags}

    def vf(model: str, number: int, run_id: str, **kw: object) -> VersionFacts:
        base: dict[str, object] = {
            "run_id": run_id,
            "experiment": next(r.experiment for r in runs if r.run_id == run_id),
            "features": features_of.get(run_id),
            "git_commit": "abc123",
            "run_metrics": {"auc": 0.8},
            "signature": True,
            "artifact": True,
        }
        base.update(kw)
        return VersionFacts(model, number, **base)  # type: ignore[arg-type]

    return Facts(
        lineage=report,
        models={
            "churn_model": ModelFacts("churn_model", {MAX_VERSIONS_TAG: "1"}),
            "ltv_model": ModelFacts("ltv_model"),
            "fraud_model": ModelFacts("fraud_model"),
            "recommender": ModelFacts("recommender"),
        },
        versions=[
            vf("churn_model", 1, "c1", aliases=("champion",)),
            vf("churn_model", 2, "c2", aliases=("challenger",)),
            vf("churn_model", 3, "c2", run_metrics={"accuracy": 0.7}),
            vf("churn_model", 4, "c2", run_metrics={"accuracy": 0.6}),  # over the limit
            vf("ltv_model", 1, "l1", signature=False),
            vf("fraud_model", 1, "f1"),
            vf("fraud_model", 2, "f2", git_commit=None),
            vf("recommender", 1, "r1"),
        ],
        features_seen={"user_age": 4, "session_count": 5, "plan": 2, "legacy_zip": 7},
        prunes=[
            PruneFacts(
                PRUNE_ID,
                "2025-05-30T09:12:00+00:00",
                (
                    PruneRecord("recommender", 2, "deleted"),
                    PruneRecord("recommender", 3, "deleted", restored_as=4),
                    PruneRecord("recommender", 5, "failed"),
                ),
            )
        ],
        declarations=declared,
        # churn_model serves v1 and v2; v4 was trained with another C and nobody said why.
        config=ConfigFacts(
            {
                ("churn_model", 1): {"C": "1.0", "penalty": "l2"},
                ("churn_model", 2): {"C": "1.0", "penalty": "l2"},
                ("churn_model", 4): {"C": "0.1", "penalty": "l2"},
            }
        ),
    )


SCOPE = Scope(
    tracking_uri="sqlite:///srv/mlflow/<team>.db",
    generated_at="2025-06-02T08:30:00+00:00",
    experiments=("churn", "ltv", "fraud", "recsys", "adhoc analysis"),
    models=(),
    declared="consumers.yaml",
    runs_read=7,
    versions_read=6,
    registered_models=4,
)


def team_report() -> DebtReport:
    return dataclasses.replace(assess_facts(team_facts()), scope=SCOPE)


class _Nodes(HTMLParser):
    """Collects the graph's nodes and edges and every tag's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[tuple[set[str], str]] = []
        self.edges: list[tuple[set[str], str, str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        classes = set((a.get("class") or "").split())
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if tag == "g" and "node" in classes:
            self.nodes.append((classes, a.get("data-name") or ""))
        if tag == "path" and "edge" in classes:
            self.edges.append((classes, a.get("data-source") or "", a.get("data-target") or ""))


def parse(page: str) -> _Nodes:
    p = _Nodes()
    p.feed(page)
    p.close()
    return p


def test_one_svg_node_per_feature_and_model_of_the_graph():
    report = team_report()
    p = parse(report_html(report))
    drawn_features = sorted(n for c, n in p.nodes if "feature" in c)
    drawn_models = sorted(n for c, n in p.nodes if "model" in c)
    assert drawn_features == sorted(n.name for n in report.graph.nodes if n.kind == "feature")
    assert drawn_models == sorted(n.name for n in report.graph.nodes if n.kind == "model")
    assert set(drawn_features) == {
        "user_age",
        "session_count",
        "plan",
        "churn_model_score",
        SCRIPT,
        IMG,
    }
    assert set(drawn_models) == {
        "churn_model",
        "ltv_model",
        "fraud_model",
        "recommender",
        "adhoc analysis",
    }
    assert len(p.edges) == len(report.graph.edges)


def test_hostile_names_render_as_text_only():
    page = report_html(team_report())
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert re.search(r"<\s*script", page, re.IGNORECASE) is None
    assert "<img" not in page
    assert "onerror=" not in page.replace("onerror=&quot;", "")
    # The names survive (unescaped by the parser) in the node attributes and tooltips.
    p = parse(page)
    assert {n for _c, n in p.nodes} >= {SCRIPT, IMG}
    assert not any(tag in ("script", "img", "iframe", "object") for tag, _a in p.tags)
    assert not any(k.startswith("on") for _t, a in p.tags for k in a)


def test_no_external_urls_and_no_script():
    report = dataclasses.replace(
        team_report(),
        scope=dataclasses.replace(SCOPE, tracking_uri="https://mlflow.example.com/?a=1&b=<x>"),
    )
    page = report_html(report)
    p = parse(page)
    for _tag, attrs in p.tags:
        for key in ("src", "href", "xlink:href", "action", "data"):
            value = attrs.get(key)
            assert value is None or value.startswith("#"), (key, value)
    # url(...) only for in-page references (the cascade arrowhead).
    assert set(re.findall(r"url\(([^)]*)\)", page)) == {"#arrow-output"}
    assert "@import" not in page
    # The tracking URI is shown, escaped, as text: the only "http" on the page.
    assert "https://mlflow.example.com/?a=1&amp;b=&lt;x&gt;" in page
    assert page.count("http") == 1
    assert "<script" not in page


def test_each_check_is_a_section_in_order_with_its_status():
    report = team_report()
    page = report_html(report)
    sections = re.findall(r'<section class="check (pass|fail|skipped)" id="([a-z-]+)">', page)
    assert [i for _s, i in sections] == list(CHECK_IDS)
    assert dict((i, s) for s, i in sections) == {r.id: r.status for r in report.checks}
    assert page.count("<summary>About this check</summary>") == len(CHECK_IDS)
    # Every check fails in this store but feedback-loop (no cycle: test_report_sculley plants
    # one), so every other section has a findings table.
    failing = [r.id for r in report.checks if r.status == "fail"]
    assert failing == [c for c in CHECK_IDS if c != "feedback-loop"]
    assert page.count('<table class="findings">') == len(CHECK_IDS) - 1


def test_changed_feature_and_its_stale_edges_are_marked():
    report = team_report()
    p = parse(report_html(report))
    classes = {n: c for c, n in p.nodes}
    assert "changed" in classes["user_age"]
    assert "changed" not in classes["session_count"]
    assert "high-fan-out" in classes["user_age"]
    assert "high-fan-out" in classes["session_count"]
    assert "high-fan-out" not in classes["churn_model_score"]
    stale = {(s, t) for c, s, t in p.edges if "changed" in c}
    # churn_model trained on the newest user_age; the others are behind.
    assert stale == {("user_age", "ltv_model"), ("user_age", "fraud_model")}


def test_cascade_edge_from_the_producing_model_to_its_output_feature():
    p = parse(report_html(team_report()))
    outputs = [(s, t) for c, s, t in p.edges if "output" in c]
    assert outputs == [("churn_model", "churn_model_score")]
    classes = {n: c for c, n in p.nodes}
    assert "producer" in classes["churn_model"]
    assert "producer" not in classes["ltv_model"]
    assert "kind-experiment" in classes["adhoc analysis"]
    assert "other-consumer" in classes["adhoc analysis"]
    assert "kind-registered-model" in classes["churn_model"]


def test_summary_scores_top_findings_and_prunes():
    report = team_report()
    page = report_html(report)
    for s in report.scores:
        assert f"{s.passed}/{s.applicable} checks passed" in page
    churn = next(s for s in report.scores if s.model == "churn_model")
    card = re.search(r'<article class="score (\w+)" data-model="churn_model">(.*?)</article>', page)
    assert card is not None
    assert card.group(1) in ("fair", "bad")
    assert re.findall(r'class="chip" href="#([a-z-]+)"', card.group(2)) == list(churn.failed)
    urgent = re.search(r'<ol class="urgent">(.*?)</ol>', page, re.S)
    assert urgent is not None
    assert urgent.group(1).count('<li class="urgent-item">') == len(report.top) == 3
    assert "mlflow-debt impact user_age" in urgent.group(1)
    # The prune table: deleted and restored counts and the restore command with the full id.
    assert f"<code>mlflow-debt restore --prune-id {PRUNE_ID}</code>" in page
    row_html = re.search(r"<tbody><tr><td><code title=\"" + PRUNE_ID + r".*?</tr>", page)
    assert row_html is not None
    assert re.findall(r'<td class="num">(\d+)</td>', row_html.group(0)) == ["2", "1"]
    assert "2025-05-30 09:12 UTC" in row_html.group(0)
    # The scope line.
    assert "sqlite:///srv/mlflow/&lt;team&gt;.db" in page
    assert "7 runs · 6 live versions · 4 registered models" in page
    assert "+1 more</span>" in page  # five experiments, four shown


def test_fix_commands_are_code_and_prose_stays_text():
    page = report_html(team_report())
    assert "<code>mlflow-debt prune --model recommender</code>" in page
    # A cascade's fix is a sentence with a command in parentheses.
    assert (
        "evaluate ltv_model whenever churn_model changes "
        "(<code>mlflow-debt impact churn_model_score</code>)"
    ) in page


def test_empty_report_renders():
    empty = assess_facts(Facts(lineage.analyze([]), {}, [], {}))
    page = report_html(empty)
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    assert "<svg" not in page.split('<ul class="legend"')[0].split('id="graph"')[1]
    assert "No feature lineage to draw" in page
    assert "No registered models to score." in page
    assert "Nothing urgent" in page
    assert page.count('<section class="check skipped"') == len(CHECK_IDS)
    assert "Experiments</dt><dd>all" in page


def test_large_graph_grows_and_counts_omitted_features():
    long = "x" * 40
    runs = [
        row(f"r{i}", {f"feature_{j:03d}_{long}": "num:+:m1" for j in range(3 * i, 3 * i + 30)})
        for i in range(40)
    ]
    runs = [dataclasses.replace(r, experiment=f"e{i:02d}") for i, r in enumerate(runs)]
    report = assess_facts(Facts(lineage.analyze(runs), {}, [], {}))
    assert report.graph.omitted_features == 3 * 39 + 30 - 80
    page = report_html(report)
    p = parse(page)
    assert len([1 for c, _n in p.nodes if "feature" in c]) == 80
    models = [n for n in report.graph.nodes if n.kind == "model"]
    assert len([1 for c, _n in p.nodes if "model" in c]) == len(models) > 30
    height = int(re.search(r'<svg class="graph" viewBox="0 0 \d+ (\d+)"', page).group(1))
    assert height >= 80 * 30
    assert f"{report.graph.omitted_features} more features not drawn" in page
    # Long names are shortened on screen and kept whole in the tooltip and data-name.
    name = report.graph.nodes[0].name
    assert len(name) == 52
    label = re.search(f'data-name="{name}".*?<text class="label"[^>]*>([^<]*)</text>', page)
    assert label is not None
    assert label.group(1).endswith("…")
    assert name.startswith(label.group(1)[:-1])
    assert len(label.group(1)) <= 34


def test_barycentre_ordering_untangles_a_crossed_graph():
    # Features a, b, c each read by one model whose name sorts the other way round.
    runs = [
        row("1", {"a": "fp"}, "z_exp"),
        row("2", {"b": "fp"}, "y_exp"),
        row("3", {"c": "fp"}, "x_exp"),
    ]
    page = report_html(assess_facts(Facts(lineage.analyze(runs), {}, [], {})))
    ys = {
        name: float(y)
        for name, y in re.findall(
            r'data-name="([^"]+)" transform="translate\(\d+ ([\d.]+)\)"', page
        )
    }
    order = sorted(ys, key=lambda n: ys[n])
    feats = [n for n in order if len(n) == 1]
    models = [n for n in order if n.endswith("_exp")]
    pairs = {"a": "z_exp", "b": "y_exp", "c": "x_exp"}
    assert [pairs[f] for f in feats] == models


def test_crossings_counts_pairs_that_cross():
    assert crossings([]) == 0
    assert crossings([(0, 0), (1, 1)]) == 0
    assert crossings([(0, 1), (1, 0)]) == 1
    assert crossings([(0, 0), (0, 1), (1, 0)]) == 1  # a shared endpoint is not a crossing
    assert crossings([(0, 2), (1, 1), (2, 0)]) == 3
