"""The MLflow UI in a real browser: a model version's page shows its features and findings.

A version registered by the example project's ``train.py`` (``log_model(...,
registered_model_name=...)``) carries its features as version tags; after
``report --annotate`` it carries its findings too. Both are read from the rendered page's text,
in full (keys and values), not only found in the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from test_browser import browser, server, train  # noqa: F401  (fixtures)

import mlflow_debt
from mlflow_debt import tags
from mlflow_debt.cli import cli

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.browser]


def test_version_page_shows_features_and_findings(browser, server, tmp_path: Path) -> None:  # noqa: F811
    train("--model", "churn_model")
    train("--model", "ltv_model", "--user-age-unit", "months")  # user_age in another unit
    assert mlflow_debt.flush()
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    mv = client.get_model_version("churn_model", "1")
    features = tags.decode(dict(mv.tags))
    assert features is not None
    assert features.complete
    assert mv.tags[tags.FEATURES_FROM_KEY].startswith("models:/m-")
    result = CliRunner().invoke(
        cli, ["report", "--tracking-uri", server.url, "--format", "json", "--annotate"]
    )
    assert result.exit_code in (0, 1), result.output
    findings = client.get_model_version("churn_model", "1").tags[tags.FINDINGS_KEY]
    assert "entangled: user_age" in findings

    page = browser.new_page()
    page.goto(f"{server.url}/#/models/churn_model/versions/1")
    page.get_by_text(tags.FEATURE_PREFIX + "000", exact=False).first.wait_for(timeout=60_000)
    page.screenshot(path=str(tmp_path / "version-page.png"), full_page=True)
    body = page.inner_text("body")
    assert "No tags found" not in body
    for key, value in mv.tags.items():
        if key.startswith(tags.PREFIX):
            assert key in body, key
            assert value in body, (key, value)  # in full: names and fingerprints not cut
    assert tags.FINDINGS_KEY in body
    assert findings in body
