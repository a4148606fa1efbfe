"""`mlflow-debt prune` and `policy` end to end on a real SQLite registry."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from mlflow_debt.cli import cli
from mlflow_debt.prune.plan import KEEP_TAG

from support.prune import live_versions, make_model

pytestmark = pytest.mark.backends  # store tests also run against the servers

#: The fixtures (``mc``: a client on a fresh real store) live in tests/support/prune.py.
EXAMPLE = [0.82, 0.85, 0.88, 0.90, 0.87]


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def prune_json(*args: str) -> dict:
    result = run("prune", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("where", ["run", "model"])
def test_issue_example_keeps_090_088_087(mc, where):
    made = make_model(mc, "churn", EXAMPLE, where=where)
    result = run("prune", "--max-versions", "3")
    assert result.exit_code == 0, result.output
    assert live_versions(mc, "churn") == [5, 4, 3]
    assert "Deleted 2 versions of 1 model; kept 3; protected 0." in result.stdout
    # The plan is shown first: model, version, metric value, decision, reason.
    assert "churn  1        accuracy  0.82   DELETE    rank 5 of 5, beyond limit 3" in result.stdout
    assert made.runs[1]  # the runs behind deleted versions stay


def test_logged_model_metric_wins_over_run_metric(mc):
    # Each run's latest accuracy is -1.0 (a later step); the LoggedModels carry the real values.
    make_model(mc, "m", EXAMPLE, where="both")
    doc = prune_json("--max-versions", "3")
    assert doc["models"]["m"]["keep"] == [4, 3, 5]
    assert doc["models"]["m"]["delete"] == [2, 1]


def test_json_schema(mc):
    make_model(mc, "churn", EXAMPLE)
    doc = prune_json("--max-versions", "3")
    assert doc["applied"] is True
    assert doc["metric"] == "accuracy"
    m = doc["models"]["churn"]
    assert {"keep", "delete", "protected", "unranked"} <= set(m)
    assert m["keep"] == [4, 3, 5]
    assert m["delete"] == [2, 1]
    assert m["protected"] == []
    assert m["unranked"] == []
    assert all(type(v) is int for key in ("keep", "delete") for v in m[key])
    assert isinstance(doc["prune_id"], str)
    assert doc["prune_id"]


def test_dry_run_deletes_nothing(mc):
    make_model(mc, "churn", EXAMPLE)
    doc = prune_json("--max-versions", "3", "--dry-run")
    assert doc["applied"] is False
    assert doc["models"]["churn"]["delete"] == [2, 1]
    assert doc["prune_id"] is None
    assert live_versions(mc, "churn") == [5, 4, 3, 2, 1]
    assert mc.get_experiment_by_name("mlflow-debt") is None  # nothing recorded either
    text = run("prune", "--max-versions", "3", "--dry-run")
    assert "Would delete 2 versions of 1 model; kept 3; protected 0." in text.stdout


def test_alias_protects_and_does_not_count(mc):
    make_model(mc, "churn", EXAMPLE)
    mc.set_registered_model_alias("churn", "champion", "1")  # the worst version
    doc = prune_json("--max-versions", "3")
    m = doc["models"]["churn"]
    assert m["protected"] == [1]
    assert m["keep"] == [4, 3, 5]
    assert m["delete"] == [2]
    assert live_versions(mc, "churn") == [5, 4, 3, 1]
    assert int(mc.get_model_version_by_alias("churn", "champion").version) == 1


def test_keep_tag_and_stage_protect(mc):
    make_model(mc, "churn", EXAMPLE, version_tags={2: {KEEP_TAG: "true"}})
    mc.transition_model_version_stage("churn", "1", "Staging")
    doc = prune_json("--max-versions", "2")
    m = doc["models"]["churn"]
    assert m["protected"] == [2, 1]
    assert m["keep"] == [4, 3]
    assert m["delete"] == [5]
    assert live_versions(mc, "churn") == [4, 3, 2, 1]


def test_ties_newer_version_wins(mc):
    make_model(mc, "m", [0.9, 0.9, 0.9, 0.8])
    doc = prune_json("--max-versions", "2")
    assert doc["models"]["m"]["keep"] == [3, 2]
    assert doc["models"]["m"]["delete"] == [1, 4]


def test_lower_is_better(mc):
    make_model(mc, "reg", [0.30, 0.10, 0.20, 0.40], metric="rmse")
    doc = prune_json("--max-versions", "2", "--metric", "rmse", "--lower-is-better")
    assert doc["metric"] == "rmse"
    assert doc["models"]["reg"]["keep"] == [2, 3]
    assert live_versions(mc, "reg") == [3, 2]


def test_unranked_kept_unless_prune_unranked(mc):
    make_model(mc, "m", [0.9, None, 0.8, float("nan"), 0.7])
    doc = prune_json("--max-versions", "1", "--dry-run")
    assert doc["models"]["m"]["unranked"] == [4, 2]
    assert doc["models"]["m"]["delete"] == [3, 5]
    doc = prune_json("--max-versions", "1", "--prune-unranked")
    assert doc["models"]["m"]["unranked"] == []
    assert sorted(doc["models"]["m"]["delete"]) == [2, 3, 4, 5]
    assert live_versions(mc, "m") == [1]


def test_model_selection(mc):
    make_model(mc, "a", EXAMPLE)
    make_model(mc, "b", EXAMPLE)
    doc = prune_json("--max-versions", "1", "--model", "b")
    assert list(doc["models"]) == ["b"]
    assert live_versions(mc, "a") == [5, 4, 3, 2, 1]
    assert live_versions(mc, "b") == [4]


def test_policy_tags_enforced_and_flags_override(mc):
    make_model(mc, "a", EXAMPLE)
    make_model(mc, "b", [0.3, 0.1, 0.2], metric="rmse")
    make_model(mc, "c", EXAMPLE)  # no policy: left alone
    assert run("policy", "set", "a", "--max-versions", "3").exit_code == 0
    out = run("policy", "set", "b", "--max-versions", "1", "--metric", "rmse", "--lower-is-better")
    assert out.exit_code == 0
    assert 'Set "b": keep 1 version by rmse (lower is better).' in out.stdout
    assert mc.get_registered_model("b").tags["mlflow_debt.max_versions"] == "1"

    shown = json.loads(run("policy", "show", "--format", "json").stdout)
    assert shown == {
        "policies": {
            "a": {"max_versions": 3, "metric": "accuracy", "lower_is_better": False},
            "b": {"max_versions": 1, "metric": "rmse", "lower_is_better": True},
        }
    }
    assert "b      1             rmse" in run("policy", "show").stdout

    doc = prune_json("--dry-run")
    assert doc["metric"] is None  # models differ: see each model's own
    assert doc["models"]["a"]["delete"] == [2, 1]
    assert doc["models"]["a"]["policy"] == "tag"
    assert doc["models"]["b"] == {
        "keep": [2],
        "delete": [3, 1],
        "protected": [],
        "unranked": [],
        "metric": "rmse",
        "lower_is_better": True,
        "max_versions": 1,
        "policy": "tag",
    }
    assert doc["without_policy"] == ["c"]
    # A flag overrides the tag.
    doc = prune_json("--dry-run", "--model", "a", "--max-versions", "4")
    assert doc["models"]["a"]["delete"] == [1]

    prune_json()
    assert live_versions(mc, "a") == [5, 4, 3]
    assert live_versions(mc, "b") == [2]
    assert live_versions(mc, "c") == [5, 4, 3, 2, 1]

    assert run("policy", "unset", "a").exit_code == 0
    assert "mlflow_debt.max_versions" not in mc.get_registered_model("a").tags


def test_no_policy_anywhere_is_a_usage_error(mc):
    make_model(mc, "a", EXAMPLE)
    result = run("prune")
    assert result.exit_code == 2
    assert "--max-versions" in result.stderr


def test_declining_at_the_prompt_deletes_nothing(mc, mocker):
    make_model(mc, "churn", EXAMPLE)
    mocker.patch("mlflow_debt.commands.prune._interactive", return_value=True)
    result = run("prune", "--max-versions", "3", input="n\n")
    assert result.exit_code == 1
    assert "Delete 2 versions?" in result.stderr
    assert live_versions(mc, "churn") == [5, 4, 3, 2, 1]
    result = run("prune", "--max-versions", "3", input="y\n")
    assert result.exit_code == 0
    assert live_versions(mc, "churn") == [5, 4, 3]


def test_rerun_is_a_no_op(mc):
    make_model(mc, "churn", EXAMPLE)
    prune_json("--max-versions", "3")
    doc = prune_json("--max-versions", "3")
    assert doc["models"]["churn"]["delete"] == []
    assert doc["prune_id"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-versions", "0"], "--max-versions"),
        (["--max-versions", "-2"], "--max-versions"),
        (["--max-versions", "three"], "--max-versions"),
        (["--max-versions", "2", "--metric", " "], "--metric"),
    ],
)
def test_bad_arguments_exit_2(args, message):
    result = run("prune", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_unknown_model_exit_2(mc):
    make_model(mc, "churn", EXAMPLE)
    result = run("prune", "--max-versions", "2", "--model", "nope")
    assert result.exit_code == 2
    assert result.stderr.strip() == 'Error: Registered model "nope" does not exist'
    result = run("policy", "set", "nope", "--max-versions", "2")
    assert result.exit_code == 2
    assert '"nope" does not exist' in result.stderr


def test_metric_logged_nowhere_exit_2(mc):
    make_model(mc, "churn", EXAMPLE)
    result = run("prune", "--max-versions", "2", "--metric", "acuracy")
    assert result.exit_code == 2
    assert 'Metric "acuracy" is logged on none of the 5 versions of "churn"' in result.stderr
    assert live_versions(mc, "churn") == [5, 4, 3, 2, 1]


def test_malformed_policy_tag_exit_2(mc):
    make_model(mc, "churn", EXAMPLE, tags={"mlflow_debt.max_versions": "lots"})
    result = run("prune")
    assert result.exit_code == 2
    assert 'Registered model "churn" has tag mlflow_debt.max_versions=' in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["prune", "--max-versions", "2"],
        ["policy", "show"],
        ["policy", "set", "m", "--max-versions", "2"],
        ["restore", "--all"],
    ],
)
def test_unreachable_server_exit_3_fast(monkeypatch, command):
    # Fails on the first refused connection, without waiting out MLflow's retry backoff.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    t0 = time.monotonic()
    result = run(*command, "--tracking-uri", "http://127.0.0.1:9")
    assert time.monotonic() - t0 < 20
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: Cannot reach the tracking server at http://127.0.0.1:9 (connection refused)\n"
    )
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("mc")
def test_empty_registry_is_fine():
    doc = prune_json("--max-versions", "2")
    assert doc == {
        "applied": True,
        "metric": "accuracy",
        "models": {},
        "prune_id": None,
        "without_policy": [],
        "skipped": {},
    }


@pytest.mark.parametrize("command", [["prune"], ["policy"], ["restore"], ["policy", "set"]])
def test_help_has_examples(command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert "mlflow-debt " in result.stdout


def test_logged_model_without_the_metric_falls_back_to_the_run(mc):
    # LoggedModels carrying only "loss"; the runs carry accuracy: the run's value is used.
    made = make_model(mc, "m", [0.1, 0.2, 0.3], metric="loss", where="model")
    for version, value in {1: 0.9, 2: 0.7, 3: 0.8}.items():
        mc.log_metric(made.runs[version], "accuracy", value)
    doc = prune_json("--max-versions", "2", "--dry-run")
    assert doc["models"]["m"]["keep"] == [1, 3]
    assert doc["models"]["m"]["delete"] == [2]
    # ...while the LoggedModel's own metric ranks by it.
    doc = prune_json("--max-versions", "1", "--metric", "loss", "--lower-is-better", "--dry-run")
    assert doc["models"]["m"]["keep"] == [1]


def test_model_names_with_quotes_and_spaces(mc):
    make_model(mc, "o'brien model", EXAMPLE)
    make_model(mc, 'say "hi"', EXAMPLE)
    doc = prune_json("--max-versions", "3", "--model", "o'brien model", "--model", 'say "hi"')
    assert doc["models"]["o'brien model"]["delete"] == [2, 1]
    assert doc["models"]['say "hi"']["delete"] == [2, 1]
    assert live_versions(mc, 'say "hi"') == [5, 4, 3]
