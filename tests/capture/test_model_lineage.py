"""Versions read their LoggedModel's features first: two versions registered from one run differ.

MLflow 3 lets a run log several models; capture writes the ``mlflow_debt.*`` schema onto each
LoggedModel (its tags). ``consumers``, ``impact``, ``report`` and ``backfill`` read a version's
features from its LoggedModel when it has them, else from its source run.
"""

from __future__ import annotations

import json

import mlflow
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt import tags
from mlflow_debt.cli import cli
from mlflow_debt.report import read as report_read

from support.lineage import OLD_AGE, SESSIONS, feature_tags, make_run

pytestmark = pytest.mark.backends  # store tests also run against the servers

NEG_BALANCE = "num:-:mn2.1:s1.9:na0"
PLAN = "cat:k3:h5d41ab:na0"


def logged_model(
    client: MlflowClient, run_id: str, name: str, features: dict[str, str] | None
) -> str:
    """A LoggedModel from ``run_id`` carrying ``features`` as tags (what capture writes)."""
    run = client.get_run(run_id)
    model = client.create_logged_model(
        run.info.experiment_id,
        name=name,
        source_run_id=run_id,
        tags=feature_tags(features, "sklearn:Pipeline") if features is not None else None,
    )
    client.finalize_logged_model(model.model_id, "READY")
    return model.model_id


def register(client: MlflowClient, name: str, run_id: str, model_id: str) -> int:
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    mv = client.create_model_version(
        name, source=f"models:/{model_id}", run_id=run_id, model_id=model_id
    )
    return int(mv.version)


def one_run_two_models(client: MlflowClient) -> dict[str, str]:
    """One training run that logged two models on different columns, each registered.

    The run's own tags describe the run's last model (here: the scorer); the LoggedModels
    say which features each model read.
    """
    scored = {"user_age": OLD_AGE, "session_count": SESSIONS}
    run_id = make_run(client, "training", scored)
    scorer = logged_model(client, run_id, "scorer", scored)
    risk = logged_model(client, run_id, "risk", {"balance": NEG_BALANCE, "plan": PLAN})
    register(client, "scorer_model", run_id, scorer)
    register(client, "risk_model", run_id, risk)
    return {"run": run_id, "scorer": scorer, "risk": risk}


def cli_json(*args: str) -> dict:
    result = CliRunner().invoke(cli, [*args, "--format", "json"], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_consumers_show_each_versions_own_features(client, tracking_uri) -> None:
    ids = one_run_two_models(client)
    data = cli_json("consumers", "--tracking-uri", tracking_uri)
    risk, scorer = data["consumers"]["risk_model"], data["consumers"]["scorer_model"]
    assert risk["features"] == ["balance", "plan"]
    assert scorer["features"] == ["session_count", "user_age"]
    assert risk["latest_model_id"] == ids["risk"]
    assert risk["latest_run_id"] == ids["run"]
    assert scorer["latest_model_id"] == ids["scorer"]
    # The run's experiment is no consumer of its own: its models are.
    assert set(data["consumers"]) == {"risk_model", "scorer_model"}
    assert data["features"]["balance"]["consumers"] == ["risk_model"]
    assert data["features"]["user_age"]["consumers"] == ["scorer_model"]


def test_impact_names_only_the_version_that_read_the_feature(client, tracking_uri) -> None:
    one_run_two_models(client)
    data = cli_json("impact", "balance", "--tracking-uri", tracking_uri)
    assert [c["name"] for c in data["consumers"]] == ["risk_model"]
    data = cli_json("impact", "user_age", "--tracking-uri", tracking_uri)
    assert [c["name"] for c in data["consumers"]] == ["scorer_model"]


def test_a_version_whose_model_has_no_features_falls_back_to_its_run(client, tracking_uri) -> None:
    run_id = make_run(client, "training", {"user_age": OLD_AGE})
    bare = logged_model(client, run_id, "bare", None)  # logged before capture wrote models
    register(client, "legacy_model", run_id, bare)
    data = cli_json("consumers", "--tracking-uri", tracking_uri)
    legacy = data["consumers"]["legacy_model"]
    assert legacy["features"] == ["user_age"]
    assert legacy["latest_run_id"] == run_id
    assert legacy["latest_model_id"] is None


def test_the_newest_model_of_a_registered_model_is_its_latest(client, tracking_uri) -> None:
    """v1 from an old run (run tags only), v2 a LoggedModel of a newer run: v2's features."""
    old = make_run(client, "training", {"user_age": OLD_AGE, "plan": PLAN}, start=-1000)
    register(client, "churn", old, logged_model(client, old, "m", None))
    new = make_run(client, "training", {"user_age": OLD_AGE})
    register(client, "churn", new, logged_model(client, new, "m", {"session_count": SESSIONS}))
    data = cli_json("consumers", "--tracking-uri", tracking_uri)
    assert data["consumers"]["churn"]["features"] == ["session_count"]
    assert data["consumers"]["churn"]["latest_version"] == 2


def test_the_report_reads_each_versions_features_from_its_model(client, tracking_uri) -> None:
    ids = one_run_two_models(client)
    facts, _ = report_read.read_facts(client)
    by_model = {v.model: v for v in facts.versions}
    assert by_model["risk_model"].features == ("balance", "plan")
    assert by_model["scorer_model"].features == ("user_age", "session_count")
    assert by_model["risk_model"].run_id == ids["run"]
    assert set(facts.lineage.consumers) == {"risk_model", "scorer_model"}
    data = cli_json("report", "--tracking-uri", tracking_uri)
    assert "risk_model" in json.dumps(data)


@pytest.mark.slow  # log_model infers requirements in a subprocess
def test_backfill_tags_logged_models_from_their_signature_once(
    client, tracking_uri, monkeypatch
) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"age": np.arange(20.0), "spend": np.arange(20.0) * 3})
    y = (X["age"] > 9).astype(int)
    mlflow.set_experiment("old")
    monkeypatch.setenv("MLFLOW_DEBT_DISABLE", "1")  # trained before mlflow-debt was installed
    with mlflow.start_run() as run:
        model = LogisticRegression().fit(X, y)
        info = mlflow.sklearn.log_model(model, name="m", input_example=X.head(3))
    monkeypatch.delenv("MLFLOW_DEBT_DISABLE")
    assert not tags.has_features(client.get_logged_model(info.model_id).tags)

    dry = cli_json("backfill", "--tracking-uri", tracking_uri, "--experiment", "old", "--dry-run")
    assert dry["models_from_signature"] == [info.model_id]
    assert not tags.has_features(client.get_logged_model(info.model_id).tags)

    first = cli_json(
        "backfill", "--tracking-uri", tracking_uri, "--experiment", "old"
    )  # the servers keep other tests' LoggedModels
    lm_tags = client.get_logged_model(info.model_id).tags
    fs = tags.decode(lm_tags)
    assert fs is not None
    assert fs.names == ["age", "spend"]
    assert fs.source == "backfill:signature"
    assert first["models_from_signature"] == [info.model_id]
    assert run.info.run_id in first["from_signature"]

    second = cli_json(
        "backfill", "--tracking-uri", tracking_uri, "--experiment", "old"
    )  # the servers keep other tests' LoggedModels
    assert second["models_from_signature"] == []
    assert second["tagged"] == 0
    assert second["models_already_tagged"] == 1
    assert client.get_logged_model(info.model_id).tags == lm_tags


def test_a_version_whose_logged_model_has_features_is_no_lineage_gap_without_a_run(
    client, tracking_uri
) -> None:
    """The LoggedModel is the lineage: a version registered from it with no source run has it."""
    exp = client.create_experiment("registry-only")
    model = client.create_logged_model(
        exp, name="scorer", tags=feature_tags({"user_age": OLD_AGE}, "sklearn:Pipeline")
    )
    client.finalize_logged_model(model.model_id, "READY")
    bare = client.create_logged_model(exp, name="bare")
    client.finalize_logged_model(bare.model_id, "READY")
    client.create_registered_model("runless")
    for m in (model, bare):
        client.create_model_version("runless", source=f"models:/{m.model_id}", model_id=m.model_id)
    data = cli_json("report", "--tracking-uri", tracking_uri)
    (check,) = [c for c in data["checks"] if c["id"] == "lineage-gap"]
    (gap,) = check["findings"]
    assert gap["detail"]["no_source_run"] == [2]  # version 1's LoggedModel carries its features
