"""`mlflow-debt features` and `mlflow-debt backfill` through click's CliRunner on a real store."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.data.pandas_dataset import from_pandas
from sklearn.linear_model import LogisticRegression

import mlflow_debt
from mlflow_debt import tags
from mlflow_debt.cli import cli

pytestmark = pytest.mark.backends  # store tests also run against the servers


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {"user_age": rng.normal(38, 11, 200), "plan, tier": rng.choice(["a", "b"], 200)}
    )


@pytest.mark.usefixtures("tracking_uri")
def test_features_text_lists_features_in_training_order(runner, frame) -> None:
    with mlflow.start_run(run_name="churn") as run:
        mlflow_debt.log_features(frame)
    result = runner.invoke(cli, ["features", run.info.run_id])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"Run {run.info.run_id} (churn): 2 features")
    assert "user_age" in lines[2]
    assert "plan, tier" in lines[3]


@pytest.mark.usefixtures("tracking_uri")
def test_features_json_schema(runner, frame) -> None:
    with mlflow.start_run() as run:
        mlflow_debt.log_features(frame)
    result = runner.invoke(cli, ["features", run.info.run_id, "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["run_id"] == run.info.run_id
    assert [f["name"] for f in payload["features"]] == ["user_age", "plan, tier"]
    assert set(payload["features"][0]) == {"name", "dtype", "fingerprint"}
    assert payload["features"][0]["fingerprint"].startswith("num:")
    assert payload["n_features"] == 2
    assert payload["complete"] is True


@pytest.mark.usefixtures("tracking_uri")
def test_features_of_an_untagged_run_suggests_backfill(runner) -> None:
    with mlflow.start_run() as run:
        pass
    result = runner.invoke(cli, ["features", run.info.run_id])
    assert result.exit_code == 0
    assert "no feature tags" in result.output
    assert "mlflow-debt backfill" in result.output
    as_json = runner.invoke(cli, ["features", run.info.run_id, "--format", "json"])
    assert json.loads(as_json.output)["features"] == []


@pytest.mark.usefixtures("tracking_uri")
def test_unknown_run_is_exit_2_with_one_line(runner) -> None:
    result = runner.invoke(cli, ["features", "0123456789abcdef0123456789abcdef"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: Run '0123456789abcdef0123456789abcdef' does not exist"
    ]
    assert "Traceback" not in result.output


def test_unreachable_server_is_exit_3_and_never_prints_the_password(runner, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = runner.invoke(
        cli, ["features", "abc", "--tracking-uri", "http://alice:s3cret@127.0.0.1:9"]
    )
    assert result.exit_code == 3
    assert "s3cret" not in result.output
    assert "cannot reach the MLflow tracking server" in result.output
    assert len(result.output.strip().splitlines()) == 1


def _autolog_run(frame: pd.DataFrame) -> str:
    """An old-style run: a training dataset input, no mlflow-debt tags."""
    with mlflow.start_run() as run:
        mlflow.log_input(from_pandas(frame), context="train")
    return run.info.run_id


def _signature_run(frame: pd.DataFrame) -> str:
    """An old-style run whose only trace of its inputs is a logged model's signature."""
    y = (frame["user_age"] > 38).astype(int)
    with mlflow.start_run() as run:
        model = LogisticRegression().fit(frame[["user_age"]].to_numpy(), y)
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=mlflow.models.infer_signature(frame[["user_age"]], y),
        )
    return run.info.run_id


@pytest.mark.slow  # autolog's log_model infers requirements in a subprocess
def test_backfill_tags_from_datasets_and_signatures_and_is_idempotent(
    runner, client, frame, monkeypatch
) -> None:
    monkeypatch.setenv("MLFLOW_DEBT_DISABLE", "1")  # runs "from before the plugin"
    from_dataset = _autolog_run(frame)
    from_signature = _signature_run(frame)
    with mlflow.start_run() as bare:
        mlflow.log_param("p", 1)
    monkeypatch.delenv("MLFLOW_DEBT_DISABLE")

    result = runner.invoke(cli, ["backfill"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Tagged 2 run(s) (1 from dataset inputs, 1 from model")
    assert "could not tag 1 run(s)" in result.output

    ds = tags.decode(client.get_run(from_dataset).data.tags)
    assert ds is not None
    assert ds.names == ["user_age", "plan, tier"]
    assert ds.source == "backfill:dataset"
    assert {f.fingerprint for f in ds.features} == {tags.UNKNOWN}
    sig = tags.decode(client.get_run(from_signature).data.tags)
    assert sig is not None
    assert sig.names == ["user_age"]
    assert sig.source == "backfill:signature"
    assert sig.features[0].dtype == "double"
    assert tags.decode(client.get_run(bare.info.run_id).data.tags) is None

    again = runner.invoke(cli, ["backfill", "--format", "json"])
    payload = json.loads(again.output)
    assert payload["tagged"] == 0
    assert payload["already_tagged"] == 2
    assert payload["untaggable"] == [bare.info.run_id]


def test_backfill_dry_run_writes_nothing(runner, client, frame, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_DEBT_DISABLE", "1")
    run_id = _autolog_run(frame)
    result = runner.invoke(cli, ["backfill", "--dry-run"])
    assert result.exit_code == 0
    assert result.output.startswith("Would tag 1 run(s)")
    assert tags.decode(client.get_run(run_id).data.tags) is None


def test_backfill_never_overwrites_captured_features(runner, client, frame) -> None:
    with mlflow.start_run() as run:
        mlflow.log_input(from_pandas(frame[["user_age"]]), context="train")
        mlflow_debt.log_features(frame)  # the real thing: both columns, with fingerprints
    runner.invoke(cli, ["backfill"])
    fs = tags.decode(client.get_run(run.info.run_id).data.tags)
    assert fs is not None
    assert fs.source == "log_features"
    assert len(fs.names) == 2


def test_backfill_neither_tags_nor_counts_the_prune_audit_run(runner, client, frame) -> None:
    from mlflow_debt.prune.history import OP_TAG

    from support.prune import make_model

    with mlflow.start_run():
        mlflow_debt.log_features(frame)
    make_model(client, "churn", [0.5, 0.7])  # two bare runs: "could not tag 2"
    assert runner.invoke(cli, ["prune", "--max-versions", "1", "--yes"]).exit_code == 0
    (audit_run,) = client.search_runs([client.get_experiment_by_name("mlflow-debt").experiment_id])
    assert OP_TAG in audit_run.data.tags

    result = runner.invoke(cli, ["backfill", "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert audit_run.info.run_id not in payload["untaggable"]
    assert len(payload["untaggable"]) == 2
    assert "mlflow_debt.digest" not in client.get_run(audit_run.info.run_id).data.tags
    text = runner.invoke(cli, ["backfill"]).output
    assert "could not tag 2 run(s)" in text, text


@pytest.mark.usefixtures("tracking_uri")
def test_backfill_of_an_unknown_experiment_is_exit_2(runner) -> None:
    result = runner.invoke(cli, ["backfill", "--experiment", "nope"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: Experiment 'nope' does not exist"
