"""Rendering the consumers report and impact queries (pure, no store)."""

from __future__ import annotations

import json

from mlflow_debt import tags
from mlflow_debt.consumers import render
from mlflow_debt.consumers.analysis import Declarations, RunRow, analyze, impact

from support.lineage import NEW_AGE, OLD_AGE, row, version


def _report(**kwargs):
    runs = [
        row("a", {"odd | name": "fp1", "user_age": OLD_AGE}, "exp a", start=0),
        row("b", {"odd | name": "fp1", "user_age": NEW_AGE}, "exp b", start=1),
        RunRow("f", "feast exp", 2, {tags.FEAST_KEY: "user_age"}),
    ]
    return analyze(runs, [version("m", 1, "b")], aliases={"m": {"prod": 1}}, **kwargs)


def test_markdown_escapes_cells_and_marks_unknown_definitions():
    md = render.report_markdown(_report())
    assert "| odd \\| name | 2 | exp a, m |" in md
    assert "| user_age | unknown | feast exp |" in md
    assert "## Undeclared consumers\n\nNot checked (pass `--declared FILE`)." in md
    assert "| m | registered model | v1 | prod=v1 | 2 |" in md


def test_text_names_unknown_definitions_and_missing_features():
    report = _report(only_features=["user_age", "nope"])
    text = render.report_text(report)
    assert "? (unknown)" in text
    assert "feast exp" in text
    assert text.rstrip().endswith("Nobody reads 'nope'.")


def test_json_round_trips_and_keeps_unicode():
    runs = [row("r", {"größe": "fp"}, "exp")]
    data = json.loads(render.dumps(render.report_json(analyze(runs), "d.yaml")))
    assert data["features"]["größe"]["consumers"] == ["exp"]
    assert data["declarations"] == "d.yaml"
    assert "größe" in render.dumps(render.report_json(analyze(runs)))


def test_json_of_declaration_checks():
    report = _report(declarations=Declarations({"user_age": ("m", "gone")}, scope="listed"))
    data = render.report_json(report)
    assert data["undeclared"] == [
        {"feature": "user_age", "consumer": "exp a"},
        {"feature": "user_age", "consumer": "feast exp"},
    ]
    assert data["stale"] == [{"feature": "user_age", "consumer": "gone"}]


def test_impact_renderings_for_nobody():
    result = impact(_report(), "user_ag")
    assert render.impact_text(result).splitlines() == [
        "Nobody reads 'user_ag': editing it invalidates no recorded consumer.",
        "Did you mean: user_age?",
    ]
    assert "Did you mean: `user_age`" in render.impact_markdown(result)
    assert render.impact_json(result)["suggestions"] == ["user_age"]


def test_no_features_sentence_names_experiments():
    assert render.no_features_sentence(["a", "b"]).startswith(
        "No runs with feature tags found in experiment(s) 'a', 'b'."
    )
    assert "mlflow-debt backfill" in render.no_features_sentence()
