"""Features on every model version: the three ways a training process registers one.

Real SQLite stores, real scikit-learn fits, real ``log_model``/``register_model``/
``create_model_version`` calls; the version's tags are read back from the store.
"""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlflow_debt
from mlflow_debt import tags
from mlflow_debt.capture import version_tags as rule
from mlflow_debt.capture import versions

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def frame(n: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    X = pd.DataFrame(
        {
            "user_age": [20.0 + (i * 7) % 50 for i in range(n)],
            "session_count": [float((i * 3) % 11) for i in range(n)],
        }
    )
    y = pd.Series([i % 2 for i in range(n)])
    return X, y


def features_of(tag_map: dict[str, str]) -> list[str]:
    fs = tags.decode(tag_map)
    assert fs is not None
    assert fs.complete
    return fs.names


def version_tags(client: MlflowClient, name: str, version: str | int) -> dict[str, str]:
    return dict(client.get_model_version(name, str(version)).tags)


def test_the_hook_is_installed_on_mlflows_one_seam() -> None:
    # All three registration paths cross MlflowClient._create_model_version (3.1 to 3.17).
    assert versions._hook.get("name") == "_create_model_version"
    assert mlflow.MlflowClient._create_model_version is versions._hook["wrapped"]


def test_log_model_with_registered_model_name_tags_the_version(client: MlflowClient) -> None:
    X, y = frame()
    with mlflow.start_run() as run:
        model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name="churn", input_example=X.head(2)
        )
    assert mlflow_debt.flush()
    got = version_tags(client, "churn", info.registered_model_version)
    assert features_of(got) == ["user_age", "session_count"]
    assert got[tags.FEATURES_FROM_KEY] == f"models:/{info.model_id}"
    # The same feature set as the LoggedModel's (and the run's) tags.
    lm = client.get_logged_model(info.model_id)
    assert got[tags.DIGEST_KEY] == lm.tags[tags.DIGEST_KEY]
    assert got[tags.DIGEST_KEY] == client.get_run(run.info.run_id).data.tags[tags.DIGEST_KEY]
    assert versions.pending() == 0


def test_register_model_after_the_write_tags_at_creation(client: MlflowClient) -> None:
    X, y = frame()
    with mlflow.start_run():
        model = LogisticRegression().fit(X, y)
        info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(2))
    assert mlflow_debt.flush()
    mv = mlflow.register_model(f"models:/{info.model_id}", "scorer")
    # Created with its tags: the returned version carries them, no later write needed.
    assert features_of(dict(mv.tags)) == ["user_age", "session_count"]
    assert features_of(version_tags(client, "scorer", mv.version)) == ["user_age", "session_count"]


def test_create_model_version_from_a_run_uses_the_runs_tags(client: MlflowClient) -> None:
    X, y = frame()
    with mlflow.start_run() as run:
        LogisticRegression().fit(X[["user_age"]], y)
    assert mlflow_debt.flush()
    client.create_registered_model("age_only")
    mv = client.create_model_version(
        "age_only", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    got = version_tags(client, "age_only", mv.version)
    assert features_of(got) == ["user_age"]
    assert got[tags.FEATURES_FROM_KEY] == f"runs:/{run.info.run_id}"


def test_a_users_own_tags_win_and_hand_set_features_are_left(client: MlflowClient) -> None:
    X, y = frame()
    with mlflow.start_run() as run:
        LogisticRegression().fit(X, y)
    assert mlflow_debt.flush()
    client.create_registered_model("m")
    source = f"runs:/{run.info.run_id}/model"
    mv = client.create_model_version(
        "m", source, run_id=run.info.run_id, tags={tags.SOURCE_KEY: "by hand", "team": "risk"}
    )
    got = version_tags(client, "m", mv.version)
    assert got[tags.SOURCE_KEY] == "by hand"  # never overwritten
    assert got["team"] == "risk"
    # A feature key set by hand makes the version's features the user's: nothing is added.
    assert tags.COUNT_KEY not in got
    assert tags.FEATURES_FROM_KEY not in got
    # A user's tag outside the schema does not: the features are added beside it.
    mv1 = client.create_model_version("m", source, run_id=run.info.run_id, tags={"team": "x"})
    got1 = version_tags(client, "m", mv1.version)
    assert got1["team"] == "x"
    assert got1[tags.COUNT_KEY] == "2"
    # A version created with a whole feature set of the user's: nothing of ours is added.
    own = tags.encode([tags.FeatureRecord("x", "float64")], "manual")
    mv2 = client.create_model_version("m", source, run_id=run.info.run_id, tags=own)
    got2 = version_tags(client, "m", mv2.version)
    assert features_of(got2) == ["x"]
    assert tags.FEATURES_FROM_KEY not in got2


def test_a_source_without_features_leaves_the_version_untagged(client: MlflowClient) -> None:
    with mlflow.start_run() as run:
        mlflow.log_param("p", 1)
    client.create_registered_model("bare")
    mv = client.create_model_version("bare", "file:///nowhere", run_id=run.info.run_id)
    assert not any(k.startswith(tags.PREFIX) for k in version_tags(client, "bare", mv.version))


def test_two_models_of_one_run_each_version_gets_its_own(client: MlflowClient) -> None:
    X, y = frame()
    with mlflow.start_run():
        wide = LogisticRegression().fit(X, y)
        narrow = LogisticRegression().fit(X[["session_count"]], y)
        a = mlflow.sklearn.log_model(
            wide, name="wide", registered_model_name="wide", input_example=X.head(2)
        )
        b = mlflow.sklearn.log_model(
            narrow,
            name="narrow",
            registered_model_name="narrow",
            input_example=X[["session_count"]].head(2),
        )
    assert mlflow_debt.flush()
    assert features_of(version_tags(client, "wide", a.registered_model_version)) == [
        "user_age",
        "session_count",
    ]
    assert features_of(version_tags(client, "narrow", b.registered_model_version)) == [
        "session_count"
    ]


def test_disabled_capture_tags_nothing(client: MlflowClient, monkeypatch) -> None:
    X, y = frame()
    with mlflow.start_run() as run:
        LogisticRegression().fit(X, y)
    assert mlflow_debt.flush()
    monkeypatch.setenv("MLFLOW_DEBT_DISABLE", "1")
    client.create_registered_model("off")
    mv = client.create_model_version("off", "file:///x", run_id=run.info.run_id)
    assert tags.SCHEMA_KEY not in version_tags(client, "off", mv.version)


# --- the pure rule --------------------------------------------------------------------------

SOURCE = tags.encode([tags.FeatureRecord("a", "float64"), tags.FeatureRecord("b", "str")], "s")


def test_plan_copies_the_feature_keys_and_the_origin() -> None:
    write = rule.plan({}, {**SOURCE, "mlflow.user": "x", "other": "y"}, "runs:/r1")
    assert set(write.set) == set(SOURCE) | {tags.FEATURES_FROM_KEY}
    assert write.delete == ()


def test_plan_is_idempotent() -> None:
    first = rule.plan({}, SOURCE, "models:/m-1")
    assert not rule.plan(first.set, SOURCE, "models:/m-1")


def test_plan_never_downgrades_a_loggedmodel_source_to_the_run() -> None:
    current = rule.plan({}, SOURCE, "models:/m-1").set
    other = tags.encode([tags.FeatureRecord("z", "int64")], "s")
    assert not rule.plan(current, other, "runs:/r1")
    # ... but upgrades a run's copy to the LoggedModel's, removing keys it no longer has.
    from_run = rule.plan({}, SOURCE, "runs:/r1").set
    up = rule.plan(from_run, other, "models:/m-1")
    assert up.set[tags.FEATURES_FROM_KEY] == "models:/m-1"
    assert "mlflow_debt.f.001" in up.delete


def test_plan_leaves_hand_set_features_and_sources_without_features() -> None:
    assert not rule.plan(SOURCE, SOURCE, "runs:/r1")  # features without our origin tag
    assert not rule.plan({}, {"mlflow.user": "x"}, "runs:/r1")
    feast = {tags.FEAST_KEY: "view:a"}
    assert not rule.plan({}, feast, "runs:/r1")


# --- backfill: versions that exist already ----------------------------------------------------


def test_backfill_tags_existing_versions_once(client: MlflowClient, monkeypatch) -> None:
    import json

    from click.testing import CliRunner

    from mlflow_debt.cli import cli

    from support.lineage import feature_tags, make_run

    monkeypatch.setenv("MLFLOW_DEBT_DISABLE", "1")  # registered before mlflow-debt was there
    tagged_run = make_run(client, "old", {"user_age": "?", "plan": "?"})
    bare_run = make_run(client, "old", None)
    exp = client.get_run(tagged_run).info.experiment_id
    lm = client.create_logged_model(
        exp, name="m", source_run_id=tagged_run, tags=feature_tags({"plan": "?"})
    )
    client.create_registered_model("legacy")
    from_run = client.create_model_version("legacy", "file:///a", run_id=tagged_run).version
    from_model = client.create_model_version(
        "legacy", f"models:/{lm.model_id}", run_id=tagged_run, model_id=lm.model_id
    ).version
    untaggable = client.create_model_version("legacy", "file:///b", run_id=bare_run).version
    by_hand = client.create_model_version(
        "legacy", "file:///c", run_id=tagged_run, tags=feature_tags({"x": "?"}, "hand")
    ).version
    assert tags.SCHEMA_KEY not in version_tags(client, "legacy", from_run)
    monkeypatch.delenv("MLFLOW_DEBT_DISABLE")

    runner = CliRunner()
    dry = json.loads(runner.invoke(cli, ["backfill", "--dry-run", "--format", "json"]).output)
    assert len(dry["versions_tagged"]) == 2
    assert tags.SCHEMA_KEY not in version_tags(client, "legacy", from_run)

    result = runner.invoke(cli, ["backfill", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert sorted(v["version"] for v in doc["versions_tagged"]) == sorted(
        int(v) for v in (from_run, from_model)
    )
    assert doc["versions_untaggable"] == [{"name": "legacy", "version": int(untaggable)}]
    assert features_of(version_tags(client, "legacy", from_run)) == ["user_age", "plan"]
    got = version_tags(client, "legacy", from_model)
    assert features_of(got) == ["plan"]
    assert got[tags.FEATURES_FROM_KEY] == f"models:/{lm.model_id}"
    assert features_of(version_tags(client, "legacy", by_hand)) == ["x"]

    again = json.loads(runner.invoke(cli, ["backfill", "--format", "json"]).output)
    assert again["versions_tagged"] == []
    assert again["versions_already_tagged"] == 3
    text = runner.invoke(cli, ["backfill"]).output
    assert "0 model version(s)" in text


def test_a_failing_read_never_fails_the_users_register_call(client: MlflowClient, mocker) -> None:
    import warnings

    from mlflow_debt import store
    from mlflow_debt.errors import MlflowDebtWarning, ServerError

    X, y = frame()
    with mlflow.start_run() as run:
        LogisticRegression().fit(X, y)
    assert mlflow_debt.flush()
    mocker.patch.object(store, "run_tags", side_effect=ServerError("503 from the store"))
    client.create_registered_model("robust")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mv = client.create_model_version("robust", "file:///r", run_id=run.info.run_id)
    assert int(mv.version) == 1
    assert any(issubclass(w.category, MlflowDebtWarning) for w in caught)
    assert tags.SCHEMA_KEY not in version_tags(client, "robust", mv.version)
