"""The HTML debt report in a real browser: it draws, fits 1280 px, runs nothing, fetches nothing.

Headless Debian Chromium driven by Playwright, launched as in ``test_browser.py``: without
Chromium or Playwright the tests skip locally and fail under ``CI=true``. Screenshots land in
the test's ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report_html import IMG, SCRIPT, team_report

from mlflow_debt.consumers import analysis as lineage
from mlflow_debt.report import model as rmodel
from mlflow_debt.report.assess import assess as assess_facts
from mlflow_debt.report.html import report_html
from mlflow_debt.report.model import DebtReport, Facts, ModelFacts

from support.chromium import launch
from support.lineage import row, version

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WIDTH = 1280


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with launch(tmp_path_factory.mktemp("chromium-profile"), WIDTH, 900) as context:
        yield context


class Opened:
    """A report opened from a file, with what the page logged and fetched."""

    def __init__(self, browser: Any, report: DebtReport, path: Path) -> None:
        path.write_text(report_html(report), encoding="utf-8")
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_load_state("load")

    def scroll_width(self) -> int:
        return int(self.page.evaluate("document.documentElement.scrollWidth"))


@pytest.fixture
def opened(browser: Any, tmp_path: Path) -> Iterator[Opened]:
    o = Opened(browser, team_report(), tmp_path / "report.html")
    try:
        yield o
    finally:
        o.page.close()


def test_report_draws_its_graph_and_fetches_nothing(opened: Opened, tmp_path: Path) -> None:
    page = opened.page
    report = team_report()
    svg = page.locator("svg.graph")
    assert svg.is_visible()
    box = svg.bounding_box()
    assert box is not None
    assert box["width"] > 600
    assert box["height"] > 150
    n_features = sum(1 for n in report.graph.nodes if n.kind == "feature")
    n_models = sum(1 for n in report.graph.nodes if n.kind == "model")
    assert page.locator("svg.graph g.node.feature").count() == n_features == 6
    assert page.locator("svg.graph g.node.model").count() == n_models == 5
    # Every node is drawn inside the svg's box and has a non-empty box of its own.
    for i in range(n_features + n_models):
        nb = page.locator("svg.graph g.node").nth(i).bounding_box()
        assert nb is not None
        assert nb["width"] > 100
        assert nb["height"] > 10
        assert box["x"] <= nb["x"]
        assert nb["x"] + nb["width"] <= box["x"] + box["width"] + 1
    assert page.locator("svg.graph path.edge.output").count() == 1
    assert page.locator("svg.graph path.edge.reads.changed").count() == 2
    assert opened.errors == []
    assert opened.requests == [opened.url]
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)


def test_report_fits_1280_px_and_shows_every_check(opened: Opened) -> None:
    page = opened.page
    assert page.viewport_size["width"] == WIDTH
    assert opened.scroll_width() <= WIDTH
    for check_id in rmodel.CHECK_IDS:
        section = page.locator(f"section#{check_id}")
        assert section.count() == 1
        assert section.locator("h3").inner_text() == rmodel.CHECK_BY_ID[check_id].title
    # The chips of a score card jump to the failing check's section.
    chip = page.locator("article.score a.chip").first
    target = chip.get_attribute("href")
    chip.click()
    assert page.evaluate("location.hash") == target
    # "About this check" opens.
    about = page.locator("section#entanglement details.about")
    assert not about.locator("dd").first.is_visible()
    about.locator("summary").click()
    assert about.locator("dd").first.is_visible()


def test_hostile_names_show_as_text_and_never_run(opened: Opened) -> None:
    page = opened.page
    text = page.inner_text("body")
    assert SCRIPT in text  # in a finding's message and as a graph label
    assert '<img src=x onerror="window.__xs' in text  # its graph label, shortened
    names = page.evaluate("[...document.querySelectorAll('g.node')].map(g => g.dataset.name)")
    assert SCRIPT in names
    assert IMG in names
    titles = page.evaluate(
        "[...document.querySelectorAll('g.node.feature > title')].map(t => t.textContent)"
    )
    assert any(t.startswith(IMG + ":") for t in titles)
    assert page.evaluate("window.__xss") is None
    assert page.locator("script").count() == 0
    assert page.locator("img").count() == 0
    assert opened.errors == []


def test_long_unbroken_names_do_not_overflow(browser: Any, tmp_path: Path) -> None:
    feature = "f" * 180
    model = "model_" + "m" * 150
    runs = [
        row("r", {feature: "num:+:m1", "x": "fp"}, "exp", 0),
        row("s", {feature: "num:+:m9"}, "e" * 120, 1),
    ]
    facts = Facts(
        lineage.analyze(runs, [version(model, 1, "r")]),
        {model: ModelFacts(model)},
        [rmodel.VersionFacts(model, 1, "r", features=(feature, "x"))],
        {feature: 2, "y" * 200: 1},
    )
    report = assess_facts(facts)
    assert report.findings  # long names end up in tables too
    o = Opened(browser, report, tmp_path / "long.html")
    try:
        assert o.scroll_width() <= WIDTH
        o.page.emulate_media(media="print")
        o.page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
        assert o.scroll_width() <= 794
        assert o.errors == []
        o.page.screenshot(path=str(tmp_path / "long.png"), full_page=True)
    finally:
        o.page.close()


def test_empty_report_renders_in_the_browser(browser: Any, tmp_path: Path) -> None:
    report = assess_facts(Facts(lineage.analyze([]), {}, [], {}))
    o = Opened(browser, report, tmp_path / "empty.html")
    try:
        assert o.page.locator("svg.graph").count() == 0
        assert "No feature lineage to draw" in o.page.inner_text("#graph")
        assert o.scroll_width() <= WIDTH
        assert o.errors == []
    finally:
        o.page.close()


def test_cli_report_of_a_real_store_in_the_browser(
    browser: Any, tracking_uri: str, client: Any, tmp_path: Path
) -> None:
    """``mlflow-debt report`` on the example team's store, opened as a file."""
    import json

    from click.testing import CliRunner

    from mlflow_debt.cli import cli

    from support.lineage import SESSIONS, make_run, register, team_scenario, write_declarations

    team_scenario(client)
    features = {SCRIPT: SESSIONS, IMG: SESSIONS, "churn_model_score": "x"}
    hostile = make_run(client, "ads", features, start=100)  # ads_ranker's latest run
    register(client, "ads_ranker", hostile)
    out = tmp_path / "report.html"
    args = ["report", "--tracking-uri", tracking_uri, "--declared", write_declarations(tmp_path)]
    result = CliRunner().invoke(cli, [*args, "--output", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(CliRunner().invoke(cli, [*args, "--format", "json"]).stdout)
    nodes = doc["graph"]["nodes"]
    assert {n["name"] for n in nodes} >= {"user_age", SCRIPT, IMG, "churn_model", "ads_ranker"}

    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(out.resolve().as_uri())
        svg = page.locator("svg.graph")
        box = svg.bounding_box()
        assert svg.is_visible()
        assert box is not None
        assert box["width"] > 0
        assert box["height"] > 0
        assert page.locator("svg.graph g.node").count() == len(nodes)
        drawn = page.evaluate("[...document.querySelectorAll('g.node')].map(g => g.dataset.name)")
        assert sorted(drawn) == sorted(n["name"] for n in nodes)
        # churn_model_score is churn_model's output: a cascade edge into ads_ranker's feature.
        assert page.locator("svg.graph path.edge.output").count() == 1
        assert page.locator("svg.graph g.node.feature.changed").count() == 1  # user_age
        assert int(page.evaluate("document.documentElement.scrollWidth")) <= WIDTH
        assert SCRIPT in page.inner_text("body")
        assert page.evaluate("window.__xss") is None
        assert errors == []
        page.screenshot(path=str(tmp_path / "cli-report.png"), full_page=True)
    finally:
        page.close()


# --- what a reader sees: the rendered text, generated content included ------------------------

#: The text a CSS rule generates before an element, as Chromium renders it.
BEFORE = "el => getComputedStyle(el, '::before').content"


def test_passing_checks_and_all_pass_cards_show_a_check_mark(browser: Any, tmp_path: Path) -> None:
    """report.css once doubled its backslashes: the page showed ``\\2713\\00a0``, not "✓"."""
    model = "churn_model"
    facts = Facts(
        lineage.analyze([row("r", {"user_age": "num:+:m1"}, "exp", 0)], [version(model, 1, "r")]),
        {model: ModelFacts(model)},
        [
            rmodel.VersionFacts(
                model,
                1,
                "r",
                features=("user_age",),
                git_commit="abc",
                run_metrics={"acc": 0.9},
                signature=True,
                artifact=True,
            )
        ],
        {"user_age": 1},
    )
    o = Opened(browser, assess_facts(facts), tmp_path / "clean.html")
    try:
        page = o.page
        ok = page.locator("section.check p.ok").first
        assert ok.inner_text() == "No findings."
        assert ok.evaluate(BEFORE) == '"✓\u00a0"'
        card = page.locator("article.score p.all-pass")
        assert card.inner_text() == "No failing check"
        assert card.evaluate(BEFORE) == '"✓\u00a0"'
        # Every generated text on the page is free of CSS escapes shown as text.
        generated = page.evaluate(
            "[...document.querySelectorAll('*')].map(e => getComputedStyle(e, '::before').content)"
            ".filter(c => c !== 'none' && c !== 'normal')"
        )
        assert generated
        assert not [c for c in generated if "\\" in c]
    finally:
        o.page.close()


@pytest.mark.usefixtures("tracking_uri")
def test_the_header_counts_runs_and_logged_models_apart(browser: Any, tmp_path: Path) -> None:
    """The header once read "18 runs" on a store of 10 runs: LoggedModels counted as runs."""
    import json

    import mlflow
    import pandas as pd
    from click.testing import CliRunner
    from sklearn.linear_model import LogisticRegression

    import mlflow_debt
    from mlflow_debt.cli import cli

    X = pd.DataFrame({"user_age": [20.0, 30.0, 40.0, 50.0], "plan": [0.0, 1.0, 0.0, 1.0]})
    mlflow.set_experiment("churn")
    with mlflow.start_run():
        model = LogisticRegression().fit(X, [0, 0, 1, 1])
        mlflow.sklearn.log_model(model, name="model", registered_model_name="churn_model")
    mlflow_debt.flush()  # one run, one LoggedModel, both carrying the features
    doc = json.loads(CliRunner().invoke(cli, ["report", "--format", "json"]).stdout)
    assert doc["scope"]["runs_read"] == 1
    assert doc["scope"]["logged_models_read"] == 1
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--output", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    page = browser.new_page()
    try:
        page.goto(out.resolve().as_uri())
        read = page.locator("dl.scope > div", has_text="Read").locator("dd").inner_text()
        assert read == "1 run · 1 logged model · 1 live version · 1 registered model"
    finally:
        page.close()
