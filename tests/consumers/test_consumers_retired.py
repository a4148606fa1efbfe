"""Pruned versions' runs are retired, not phantom consumers; re-sampling is no new definition."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

import mlflow_debt
from mlflow_debt.cli import cli
from mlflow_debt.consumers import analysis as lineage
from mlflow_debt.consumers.analysis import RunRow, VersionRow
from mlflow_debt.tags import FeatureRecord, encode


def _train(df: pd.DataFrame, model: str | None, experiment_id: str) -> str:
    y = (df["user_age"] > 38).astype(int)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        est = LogisticRegression().fit(df, y)
        mlflow.sklearn.log_model(est, name="model", registered_model_name=model)
    mlflow_debt.flush()
    return run.info.run_id


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"user_age": rng.normal(38, 11, 300), "tenure": rng.exponential(9, 300)})


@pytest.mark.slow  # log_model infers requirements in a subprocess
def test_a_deleted_versions_run_is_not_a_consumer(client) -> None:
    team = client.create_experiment("churn-team")
    _train(_frame(0), "churn_model", team)
    _train(_frame(1), "churn_model", team)
    client.delete_model_version("churn_model", "1")  # what a prune does
    # logged, never registered: a consumer named after its experiment
    _train(_frame(2), None, client.create_experiment("adhoc"))

    result = CliRunner().invoke(cli, ["consumers", "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["features"]["user_age"]["consumers"] == ["adhoc", "churn_model"]
    assert "churn-team" not in json.dumps(payload)


def _row(run_id: str, fp: str, start: int) -> RunRow:
    return RunRow(run_id, "exp", start, encode([FeatureRecord("x", "float64", fp)], "t"))


def test_fingerprints_one_bucket_apart_are_one_definition() -> None:
    runs = [_row("a", "num:+:m1.6:s1.2:na0", 1), _row("b", "num:+:m1.7:s1.2:na0", 2)]
    versions = [VersionRow("m1", 1, "a"), VersionRow("m2", 1, "b")]
    report = lineage.analyze(runs, versions)
    (usage,) = report.features
    assert not usage.changed
    assert usage.definitions[0].consumers == ("m1", "m2")


def test_a_rescale_is_a_changed_definition_even_with_tolerance() -> None:
    runs = [_row("a", "num:+:m1.6:s1.2:na0", 1), _row("b", "num:+:m2.7:s2.3:na0", 2)]
    versions = [VersionRow("m1", 1, "a"), VersionRow("m2", 1, "b")]
    (usage,) = lineage.analyze(runs, versions).features
    assert usage.changed
    assert [d.consumers for d in usage.definitions] == [("m2",), ("m1",)]  # newest first


def test_retired_runs_belong_to_nobody_in_the_pure_analysis() -> None:
    runs = [_row("old", "num:+:m1.6:s1.2:na0", 1), _row("new", "num:+:m1.6:s1.2:na0", 2)]
    report = lineage.analyze(runs, [VersionRow("m", 2, "new")], registered_runs={"old", "new"})
    assert set(report.consumers) == {"m"}
