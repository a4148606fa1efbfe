"""Factories for consumer/lineage tests: feature-tagged runs, model versions, the team scenario.

The team scenario (the example project's)::

    user_age       churn_model (rescaled in its latest run), ltv_model, fraud_model
    session_count  churn_model, recommender, ads_ranker
    plan           churn_model

``DECLARED`` lists only churn_model and recommender for session_count, so ads_ranker is undeclared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from mlflow.entities import RunTag
from mlflow.tracking import MlflowClient

from mlflow_debt import tags
from mlflow_debt.consumers.analysis import RunRow, VersionRow
from mlflow_debt.tags import FeatureRecord

OLD_AGE = "num:+:m41.2:s12.0:na0"
NEW_AGE = "num:+:m0.0:s1.0:na0"  # user_age standardised: a changed definition
SESSIONS = "num:+:m7.5:s3.1:na0"
PLAN = "cat:k3:h5d41"

T0 = 1_700_000_000_000  # a fixed start time (ms), so "latest" is deterministic

DECLARED = """\
version: 1
features:
  user_age: [churn_model, ltv_model, fraud_model]
  session_count: [churn_model, recommender]
  plan: [churn_model]
"""


def feature_tags(features: Mapping[str, str], source: str = "test") -> dict[str, str]:
    """The tags of a run trained on ``features`` (name -> fingerprint)."""
    return tags.encode([FeatureRecord(n, "float64", fp) for n, fp in features.items()], source)


def row(
    run_id: str,
    features: Mapping[str, str] | None = None,
    experiment: str = "exp",
    start: int = 0,
    extra: Mapping[str, str] | None = None,
) -> RunRow:
    """A run row for pure lineage tests (no store)."""
    t = feature_tags(features) if features is not None else {}
    return RunRow(run_id, experiment, T0 + start, {**t, **(extra or {})})


def version(model: str, number: int, run_id: str | None) -> VersionRow:
    return VersionRow(model, number, run_id)


def experiment_id(client: MlflowClient, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    return exp.experiment_id if exp else client.create_experiment(name)


def make_run(
    client: MlflowClient,
    experiment: str,
    features: Mapping[str, str] | None = None,
    start: int = 0,
    extra_tags: Mapping[str, str] | None = None,
) -> str:
    """A finished run in ``experiment`` carrying the feature tags of ``features``; its id."""
    run = client.create_run(experiment_id(client, experiment), start_time=T0 + start)
    all_tags = {**(feature_tags(features) if features is not None else {}), **(extra_tags or {})}
    if all_tags:
        client.log_batch(run.info.run_id, tags=[RunTag(k, v) for k, v in all_tags.items()])
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def register(client: MlflowClient, model: str, run_id: str, aliases: Sequence[str] = ()) -> int:
    """Register ``run_id`` as a new version of ``model`` (created if needed); its number."""
    if not client.search_registered_models(filter_string=f"name = '{model}'"):
        client.create_registered_model(model)
    mv = client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id)
    for alias in aliases:
        client.set_registered_model_alias(model, alias, mv.version)
    return int(mv.version)


def team_scenario(client: MlflowClient) -> dict[str, str]:
    """The example team's store; returns consumer -> latest run id."""
    latest: dict[str, str] = {}
    old = make_run(
        client, "churn", {"user_age": OLD_AGE, "session_count": SESSIONS, "plan": PLAN}, start=0
    )
    register(client, "churn_model", old, aliases=["champion"])
    new = make_run(
        client, "churn", {"user_age": NEW_AGE, "session_count": SESSIONS, "plan": PLAN}, start=50
    )
    register(client, "churn_model", new, aliases=["challenger"])
    latest["churn_model"] = new
    for i, (model, exp, features) in enumerate(
        [
            ("ltv_model", "ltv", {"user_age": OLD_AGE}),
            ("fraud_model", "fraud", {"user_age": OLD_AGE}),
            ("recommender", "recsys", {"session_count": SESSIONS}),
            ("ads_ranker", "ads", {"session_count": SESSIONS}),
        ]
    ):
        run_id = make_run(client, exp, features, start=10 + i)
        register(client, model, run_id)
        latest[model] = run_id
    return latest


def write_declarations(tmp_path: Path, text: str = DECLARED, name: str = "consumers.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)
