"""The MLflow UI in a real browser: feature tags on a run page, the registry after a prune.

Headless Debian Chromium (``/usr/bin/chromium``) driven by Playwright for Python; Playwright's own
browser download is never used. Without Chromium or Playwright the tests skip locally and fail
under ``CI=true`` (``.ci/run`` installs both). Screenshots land in the test's ``tmp_path``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt import tags
from mlflow_debt.cli import cli

from support.chromium import launch
from support.server import MlflowServer, reset_store

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[1]
#: Set to a path to refresh the README's screenshot from a test run.
SCREENSHOT_OUT = os.environ.get("MLFLOW_DEBT_SCREENSHOT_OUT")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with launch(tmp_path_factory.mktemp("chromium-profile"), 1400, 1000) as context:
        yield context


@pytest.fixture
def server(mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> MlflowServer:
    import mlflow

    reset_store(MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    mlflow.set_tracking_uri(mlflow_server.url)
    mlflow.set_registry_uri(mlflow_server.url)
    yield mlflow_server
    mlflow.set_tracking_uri("")
    mlflow.set_registry_uri("")


def train(*args: str) -> str:
    """One run of the example project's train.py, in-process, against the current tracking URI."""
    sys.path.insert(0, str(ROOT / "example_project"))
    try:
        import train as example
    finally:
        sys.path.remove(str(ROOT / "example_project"))
    return example.main(["--n-rows", "1500", *args])


def shot(page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=False)
    if SCREENSHOT_OUT and path.name == "run-page.png":
        Path(SCREENSHOT_OUT).write_bytes(path.read_bytes())


def test_run_page_shows_the_feature_tags(browser, server, tmp_path: Path) -> None:
    run_id = train("--model", "churn_model", "--no-register")
    client = MlflowClient(tracking_uri=server.url)
    run = client.get_run(run_id)
    features = tags.decode(run.data.tags)
    assert features is not None
    assert len(features.features) >= 3
    page = browser.new_page()
    page.goto(f"{server.url}/#/experiments/{run.info.experiment_id}/runs/{run_id}")
    page.get_by_text(tags.FEATURE_PREFIX + "000", exact=False).first.wait_for(timeout=60_000)
    shot(page, tmp_path / "run-page.png")
    body = page.inner_text("body")
    for i, record in enumerate(features.features):
        assert f"{tags.FEATURE_PREFIX}{i:03d}" in body
        assert record.name in body
    assert f"{tags.COUNT_KEY}" in body
    page.close()


def test_model_page_after_a_prune_lists_only_kept_versions(browser, server, tmp_path) -> None:
    accuracies = {}
    for alpha in ("0.01", "0.1", "1", "10"):
        run_id = train("--model", "churn_model", "--alpha", alpha)
        accuracies[run_id] = alpha
    runner = CliRunner()
    result = runner.invoke(cli, ["policy", "set", "churn_model", "--max-versions", "2"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["prune", "--yes", "--format", "json"])
    assert result.exit_code == 0, result.output
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    kept = sorted(int(v.version) for v in client.search_model_versions("name = 'churn_model'"))
    assert len(kept) == 2
    gone = sorted(set(range(1, 5)) - set(kept))

    page = browser.new_page()
    page.goto(f"{server.url}/#/models/churn_model")
    page.get_by_text(re.compile(r"^Version \d+$")).first.wait_for(timeout=60_000)
    shot(page, tmp_path / "model-page.png")
    shown = {int(m) for m in re.findall(r"\bVersion (\d+)\b", page.inner_text("body"))}
    assert shown == set(kept), (shown, kept, gone)
    body = page.inner_text("body")
    assert "mlflow_debt.max_versions" in body
    page.close()
