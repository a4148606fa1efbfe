"""The history window (``--since``): a feature computed only before it is not today's debt."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mlflow_debt.cli import cli
from mlflow_debt.errors import InputError
from mlflow_debt.report.read import since_ms

from support.lineage import OLD_AGE, SESSIONS, T0, make_run
from support.report import assess, clean_version, findings

DAY = 86_400_000


def _legacy_store(client, newest_day: int = 10) -> None:
    make_run(
        client,
        "churn",
        {"user_age": OLD_AGE, "legacy_score": SESSIONS},
        start=0,
        extra_tags={"mlflow_debt.consumer": "churn_model"},
    )
    clean_version(client, "churn_model", ["user_age"], experiment="churn", start=newest_day * DAY)


def test_a_feature_computed_only_before_the_window_is_not_reported(client):
    _legacy_store(client)
    assert [f.subject for f in findings(assess(client), "underutilized-feature")] == [
        "legacy_score"
    ]
    assert findings(assess(client, since=T0 + DAY), "underutilized-feature") == []
    assert [f.subject for f in findings(assess(client, since=T0), "underutilized-feature")] == [
        "legacy_score"
    ]


def test_the_default_window_is_the_90_days_before_the_newest_run(client, tracking_uri):
    _legacy_store(client, newest_day=120)  # legacy_score: 120 days before the newest run
    result = CliRunner().invoke(cli, ["report", "--format", "json", "--tracking-uri", tracking_uri])
    assert result.exit_code == 0, result.output
    assert '"legacy_score"' not in result.stdout
    every = CliRunner().invoke(
        cli, ["report", "--format", "json", "--since", "all", "--tracking-uri", tracking_uri]
    )
    assert every.exit_code == 0, every.output
    assert '"legacy_score"' in every.stdout
    wider = CliRunner().invoke(
        cli, ["report", "--format", "json", "--since", "121d", "--tracking-uri", tracking_uri]
    )
    assert '"legacy_score"' in wider.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all", None),
        ("ALL", None),
        ("90", 1_000 * DAY - 90 * DAY),
        ("90d", 1_000 * DAY - 90 * DAY),
        ("12w", 1_000 * DAY - 84 * DAY),
        ("48h", 1_000 * DAY - 2 * DAY),
        ("0", 1_000 * DAY),
        ("1970-01-11", 10 * DAY),
        (None, 1_000 * DAY - 90 * DAY),
    ],
)
def test_since_values(text, expected):
    assert since_ms(text, now_ms=1_000 * DAY) == expected


@pytest.mark.parametrize("text", ["", "soon", "-3d", "3x", "nan", "2026-13-01", "1e9"])
def test_a_bad_since_is_one_line_and_exit_2(text, tracking_uri):
    with pytest.raises(InputError, match="--since"):
        since_ms(text, now_ms=0)
    result = CliRunner().invoke(cli, ["report", "--since", text, "--tracking-uri", tracking_uri])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --since")
    assert result.stderr.count("\n") == 1
