"""The ``report --log`` run in MLflow's own UI, in a real Chromium: metrics, charts, artifacts.

A real ``mlflow server`` (the session's, emptied first) and headless Debian Chromium driven by
Playwright, as in ``tests/test_browser.py``. Screenshots land in the test's ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.prune.history import AUDIT_EXPERIMENT

from support.chromium import launch
from support.lineage import team_scenario
from support.server import MlflowServer, reset_store

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.browser]

WAIT = 60_000


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with launch(tmp_path_factory.mktemp("chromium-profile"), 1400, 1000) as context:
        yield context


@pytest.fixture
def logged(mlflow_server: MlflowServer) -> tuple[MlflowServer, str, str]:
    """The example team's store with two reports logged: (server, experiment id, newest run)."""
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    reset_store(client)
    team_scenario(client)
    for _ in range(2):
        result = CliRunner().invoke(
            cli, ["report", "--tracking-uri", mlflow_server.url, "--log", "--format", "json"]
        )
        assert result.exit_code == 0, result.output
    exp = client.get_experiment_by_name(AUDIT_EXPERIMENT)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])
    assert len(runs) == 2
    return mlflow_server, exp.experiment_id, runs[0].info.run_id


def test_the_report_run_shows_its_metrics_charts_and_report_page(
    browser: Any, logged: tuple[MlflowServer, str, str], tmp_path: Path
) -> None:
    server, exp_id, run_id = logged
    run_url = f"{server.url}/#/experiments/{exp_id}/runs/{run_id}"
    page = browser.new_page()
    try:
        # The overview: the readable name, the summary as description, the metrics table.
        page.goto(run_url)
        page.get_by_text("findings/entanglement", exact=True).wait_for(timeout=WAIT)
        body = page.inner_text("body")
        assert "debt-report 20" in body
        assert "checks failed" in body  # the note: the summary line
        for key in ("checks_passed/churn_model", "overall/findings", "findings/reproducibility"):
            assert key in body, key
        page.screenshot(path=str(tmp_path / "run.png"), full_page=True)

        # Model metrics: one chart section per prefix, a chart per metric.
        page.goto(run_url + "/model-metrics")
        page.get_by_text("checks_passed", exact=True).first.wait_for(timeout=WAIT)
        text = page.inner_text("body")
        for section in ("checks_passed", "findings", "overall"):
            assert section in text, section
        page.get_by_text("churn_model", exact=True).first.wait_for(timeout=WAIT)
        charts = page.locator("canvas, svg.main-svg")
        charts.first.wait_for(timeout=WAIT)
        assert charts.count() >= 5
        page.screenshot(path=str(tmp_path / "charts.png"), full_page=True)

        # Artifacts: report.html and report.json, and the page previews.
        page.goto(run_url + "/artifacts")
        page.get_by_text("report.html", exact=True).first.wait_for(timeout=WAIT)
        assert page.get_by_text("report.json", exact=True).count() >= 1
        page.get_by_text("report.html", exact=True).first.click()
        frame = page.frame_locator("iframe").first
        frame.get_by_text("ML technical debt report").first.wait_for(timeout=WAIT)
        page.screenshot(path=str(tmp_path / "artifact.png"), full_page=True)
    finally:
        page.close()


def test_the_experiment_lists_the_report_runs_by_name(
    browser: Any, logged: tuple[MlflowServer, str, str], tmp_path: Path
) -> None:
    server, exp_id, _run_id = logged
    page = browser.new_page()
    try:
        page.goto(f"{server.url}/#/experiments/{exp_id}/runs")
        page.get_by_text("debt-report 20", exact=False).first.wait_for(timeout=WAIT)
        assert page.get_by_text("debt-report 20", exact=False).count() >= 2
        page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)
    finally:
        page.close()
