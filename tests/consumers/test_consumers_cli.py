"""`mlflow-debt consumers` and `impact` end to end on a real SQLite store, via click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt import tags
from mlflow_debt.cli import cli

from support.lineage import (
    NEW_AGE,
    OLD_AGE,
    PLAN,
    SESSIONS,
    make_run,
    register,
    team_scenario,
    write_declarations,
)

pytestmark = pytest.mark.backends  # store tests also run against the servers


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> tuple[str, dict[str, str]]:
    """The example team's store, built once for this module's read-only tests."""
    path = tmp_path_factory.mktemp("team") / "mlflow.db"
    uri = f"sqlite:///{path}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return uri, team_scenario(client)


@pytest.fixture
def team_uri(team) -> str:
    return team[0]


def squash(text: str) -> str:
    """``text`` with runs of spaces collapsed, so assertions do not depend on column widths."""
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def consumers(uri: str, *args: str):
    return run_cli("consumers", "--tracking-uri", uri, *args)


# --- the team scenario ------------------------------------------------------------------------


def test_text_report(team_uri):
    result = consumers(team_uri)
    assert result.exit_code == 0, result.output
    out = squash(result.stdout)
    lines = out.splitlines()
    # Most consumers first; ties by name; the single-consumer feature last.
    table = [line.split()[0] for line in lines[2:5]]
    assert table == ["session_count", "user_age", "plan"]
    assert "session_count 3 ads_ranker, churn_model, recommender" in out
    assert "user_age 3 churn_model, fraud_model, ltv_model" in out
    assert "Changed definitions (1)" in out
    assert f"{NEW_AGE} churn_model (newest)" in out
    assert f"{OLD_AGE} fraud_model, ltv_model" in out
    assert "Undeclared consumers: not checked (pass --declared FILE)" in out
    assert result.stderr == ""


def test_undeclared_consumer_fails_the_gate(team_uri, tmp_path):
    decl = write_declarations(tmp_path)
    result = consumers(team_uri, "--declared", decl, "--fail-on", "undeclared")
    assert result.exit_code == 1
    assert "Undeclared consumers (1)\n  session_count: ads_ranker" in result.stdout
    assert "Stale declarations (0)" in result.stdout
    assert result.stderr == "Error: --fail-on undeclared: found 1 undeclared consumer(s)\n"


def test_json_report_is_exactly_the_documented_shape(team_uri, tmp_path, team):
    decl = write_declarations(tmp_path)
    result = consumers(team_uri, "--declared", decl, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert list(data["features"]) == ["session_count", "user_age", "plan"]
    assert data["features"]["user_age"] == {
        "consumers": ["churn_model", "fraud_model", "ltv_model"],
        "definitions": [
            {"fingerprint": NEW_AGE, "consumers": ["churn_model"]},
            {"fingerprint": OLD_AGE, "consumers": ["fraud_model", "ltv_model"]},
        ],
        "unknown_definition": [],
        "changed": True,
        "preprocessing_changed": [],
    }
    assert data["features"]["session_count"]["consumers"] == [
        "ads_ranker",
        "churn_model",
        "recommender",
    ]
    assert data["features"]["session_count"]["definitions"] == [
        {"fingerprint": SESSIONS, "consumers": ["ads_ranker", "churn_model", "recommender"]}
    ]
    assert data["changed"] == [
        {
            "feature": "user_age",
            "definitions": data["features"]["user_age"]["definitions"],
            "unknown_definition": [],
        }
    ]
    assert data["undeclared"] == [{"feature": "session_count", "consumer": "ads_ranker"}]
    assert data["stale"] == []
    assert data["missing"] == []
    assert data["declarations"] == decl
    churn = data["consumers"]["churn_model"]
    assert churn["kind"] == "registered_model"
    assert churn["latest_version"] == 2
    assert churn["aliases"] == {"challenger": 2, "champion": 1}
    assert churn["latest_run_id"] == team[1]["churn_model"]
    assert churn["features"] == ["plan", "session_count", "user_age"]
    assert data["runs_read"] == 6


def test_markdown_report(team_uri, tmp_path):
    decl = write_declarations(tmp_path)
    result = consumers(team_uri, "--declared", decl, "--format", "markdown")
    assert result.exit_code == 0
    md = result.stdout
    assert md.startswith("## Feature consumers\n\n| Feature | Consumers | Read by |\n|---|---|---|")
    assert "| session_count | 3 | ads_ranker, churn_model, recommender |" in md
    assert f"| user_age | `{NEW_AGE}` (newest) | churn_model |" in md
    assert "## Undeclared consumers (1)" in md
    assert "| session_count | ads_ranker |" in md
    assert "| churn_model | registered model | v2 | challenger=v2, champion=v1 | 3 |" in md


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        (["--fail-on", "changed"], 1, "Error: --fail-on changed: found 1 changed definition(s)\n"),
        (["--fail-on", "any"], 1, "Error: --fail-on any: found 1 changed definition(s)\n"),
        (["--fail-on", "changed", "--feature", "session_count"], 0, ""),
        (["--fail-on", "undeclared"], 2, "Error: --fail-on undeclared needs --declared FILE\n"),
    ],
)
def test_fail_on(team_uri, args, code, stderr):
    result = consumers(team_uri, *args)
    assert result.exit_code == code
    assert result.stderr == stderr


def test_feature_filter_and_a_feature_nobody_reads(team_uri):
    result = consumers(team_uri, "--feature", "user_age", "--feature", "user_agee")
    assert result.exit_code == 0
    assert "user_age" in result.stdout
    assert "session_count" not in result.stdout
    assert "Nobody reads 'user_agee'." in result.stdout
    data = json.loads(consumers(team_uri, "--feature", "nope", "--format", "json").stdout)
    assert data["features"] == {}
    assert data["missing"] == ["nope"]


def test_experiment_filter(team_uri):
    result = consumers(team_uri, "--experiment", "ads", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["features"]["session_count"]["consumers"] == ["ads_ranker"]
    assert list(data["consumers"]) == ["ads_ranker"]


def test_reads_cost_what_is_live_not_the_history(tmp_path, mocker):
    # Issue 19: the calls depend on the experiments, consumers and live versions, never on how
    # many older runs there are (and nothing is read one run at a time).
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    team_scenario(client)
    make_run(client, "adhoc", {"user_age": OLD_AGE}, start=5)
    make_run(client, "adhoc", {"plan": PLAN}, start=6, extra_tags={tags.CONSUMER_KEY: "pricing"})

    def calls() -> tuple[int, int, int, str]:
        search = mocker.spy(MlflowClient, "search_runs")
        get_run = mocker.spy(MlflowClient, "get_run")
        result = consumers(uri, "--format", "json")
        read = sum(len(page) for page in search.spy_return_list)
        n = (search.call_count, read, get_run.call_count, result.stdout)
        mocker.stopall()
        return n

    def history(n: int, offset: int) -> None:  # older runs: unregistered, tagged and untagged
        for i in range(offset, offset + n):
            make_run(client, "adhoc", {"user_age": OLD_AGE}, start=-100 - i)
            make_run(
                client,
                "adhoc",
                {"plan": PLAN},
                start=-100 - i,
                extra_tags={tags.CONSUMER_KEY: "pricing"},
            )

    searches, _, get_runs, before = calls()
    assert get_runs == 0
    history(30, 0)  # more than a first page of the newest-first reads
    searches_30, read_30, _, _ = calls()
    history(90, 30)
    searches_120, read_120, get_runs, after = calls()
    assert (searches_120, read_120, get_runs) == (searches_30, read_30, 0)
    assert searches_30 <= 3 * searches  # a store read whole by the first page needs no more
    assert json.loads(after)["consumers"] == json.loads(before)["consumers"]


# --- impact -----------------------------------------------------------------------------------


def test_impact_text(team_uri, team):
    result = run_cli("impact", "user_age", "--tracking-uri", team_uri)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Editing 'user_age' may invalidate: churn_model, fraud_model, ltv_model"
    churn = next(line for line in lines if line.strip().startswith("churn_model"))
    assert "registered model" in churn
    assert "v2" in churn
    assert "challenger=v2, champion=v1" in churn
    assert NEW_AGE in churn
    assert team[1]["churn_model"] in churn
    assert "Definitions already differ: churn_model on " + NEW_AGE in result.stdout


def test_impact_json_and_markdown(team_uri):
    result = run_cli("impact", "session_count", "--tracking-uri", team_uri, "--format", "json")
    data = json.loads(result.stdout)
    assert data["feature"] == "session_count"
    assert [c["name"] for c in data["consumers"]] == ["ads_ranker", "churn_model", "recommender"]
    assert data["consumers"][1]["aliases"] == {"challenger": 2, "champion": 1}
    assert data["consumers"][0]["fingerprint"] == SESSIONS
    assert data["changed"] is False
    assert data["sentence"] == (
        "Editing 'session_count' may invalidate: ads_ranker, churn_model, recommender"
    )
    md = run_cli("impact", "user_age", "--tracking-uri", team_uri, "--format", "markdown")
    assert md.stdout.startswith("## Impact of `user_age`\n\nEditing 'user_age' may invalidate:")
    assert "| ltv_model | registered model | v1 | - |" in md.stdout


def test_impact_of_a_feature_nobody_reads(team_uri):
    result = run_cli("impact", "user_agee", "--tracking-uri", team_uri)
    assert result.exit_code == 0
    assert result.stdout == (
        "Nobody reads 'user_agee': editing it invalidates no recorded consumer.\n"
        "Did you mean: user_age?\n"
    )
    data = json.loads(run_cli("impact", "x", "--tracking-uri", team_uri, "--format", "json").stdout)
    assert data["consumers"] == []
    assert data["suggestions"] == []


# --- other stores -----------------------------------------------------------------------------


def test_feast_tags_and_consumer_tags(client, tracking_uri):
    make_run(client, "eta", extra_tags={tags.FEAST_KEY: "driver:conv_rate,driver:acc_rate"})
    make_run(
        client,
        "scratch",
        {"driver:conv_rate": "num:+:m0.1:s0.2:na0"},
        start=5,
        extra_tags={tags.CONSUMER_KEY: "pricing"},
    )
    # A run with both families is read once, by its own tags.
    both = make_run(
        client,
        "eta_v2",
        {"driver:acc_rate": "num:+:m1"},
        start=6,
        extra_tags={tags.FEAST_KEY: "driver:conv_rate"},
    )
    register(client, "eta_model", both)
    make_run(client, "untagged")  # no features: not a consumer
    result = consumers(tracking_uri, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["features"]["driver:conv_rate"]["consumers"] == ["eta", "pricing"]
    assert data["features"]["driver:conv_rate"]["unknown_definition"] == ["eta"]
    assert data["features"]["driver:acc_rate"]["consumers"] == ["eta", "eta_model"]
    assert data["changed"] == []
    assert data["consumers"]["pricing"]["kind"] == "consumer_tag"
    assert data["consumers"]["eta"]["kind"] == "experiment"
    assert data["runs_read"] == 3


def test_changed_definition_on_a_live_store(client, tracking_uri):
    a = make_run(client, "a", {"user_age": OLD_AGE}, start=0)
    b = make_run(client, "b", {"user_age": OLD_AGE}, start=1)
    register(client, "ltv_model", a)
    register(client, "churn_model", b)
    assert consumers(tracking_uri, "--fail-on", "changed").exit_code == 0
    # churn retrains on a rescaled user_age: ltv_model is still on the old definition.
    register(client, "churn_model", make_run(client, "b", {"user_age": NEW_AGE}, start=2))
    result = consumers(tracking_uri, "--fail-on", "changed")
    assert result.exit_code == 1
    assert f"{NEW_AGE} churn_model (newest)" in squash(result.stdout)
    assert f"{OLD_AGE} ltv_model" in squash(result.stdout)
    # A deleted version no longer makes its run the model's.
    client.delete_model_version("churn_model", "2")
    result = consumers(tracking_uri, "--format", "json")
    data = json.loads(result.stdout)
    assert data["consumers"]["churn_model"]["latest_version"] == 1
    assert data["consumers"]["b"]["kind"] == "experiment"  # the orphaned retrain
    assert data["features"]["user_age"]["consumers"] == ["b", "churn_model", "ltv_model"]


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_empty_store_is_a_friendly_sentence(tracking_uri, client, fmt):
    make_run(client, "exp")  # a run, but no feature tags
    result = consumers(tracking_uri, "--format", fmt)
    assert result.exit_code == 0
    sentence = "No runs with feature tags found."
    if fmt == "json":
        data = json.loads(result.stdout)
        assert data["features"] == {}
        assert data["consumers"] == {}
        assert sentence in result.stderr
        assert "mlflow-debt backfill" in result.stderr
    else:
        assert result.stdout.startswith(sentence)
        assert "mlflow-debt backfill" in result.stdout
    impact = run_cli("impact", "user_age", "--tracking-uri", tracking_uri)
    assert impact.exit_code == 0
    assert "mlflow-debt backfill" in impact.stdout


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (None, "does not exist"),
        ("features: [a\n", "is not valid YAML at line 2"),
        ("features:\n  session_count: recommender\n", "must map to a list of consumer names"),
        ("features: {}\nowners: [me]\n", "unknown top-level key 'owners'"),
    ],
)
def test_bad_declarations_file(team_uri, tmp_path, text, problem):
    path = str(tmp_path / "decl.yaml") if text is None else write_declarations(tmp_path, text)
    result = consumers(team_uri, "--declared", path)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: Declarations file '{path}'")
    assert problem in lines[0]


def test_unknown_experiment(team_uri):
    for command in (["consumers"], ["impact", "user_age"]):
        result = run_cli(*command, "--tracking-uri", team_uri, "--experiment", "nope")
        assert result.exit_code == 2
        assert result.stderr == "Error: Experiment 'nope' does not exist\n"


def test_unreachable_server_is_exit_3(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    result = consumers("http://127.0.0.1:9")
    assert result.exit_code == 3
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output


def test_help_has_examples():
    for command in ("consumers", "impact"):
        result = run_cli(command, "--help")
        assert result.exit_code == 0
        assert "Examples:" in result.stdout
        assert f"mlflow-debt {command}" in result.stdout
