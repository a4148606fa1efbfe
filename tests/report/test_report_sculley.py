"""Configuration debt and hidden feedback loops (issue 20 §4): pure rules, then planted stores."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from click.testing import CliRunner
from mlflow.entities import Param
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.consumers.declarations import parse
from mlflow_debt.report.checks_config import differences, explained
from mlflow_debt.report.checks_loops import components, cycle
from mlflow_debt.report.model import FAIL, HIGH, LOW, MEDIUM, PASS, SKIPPED

from support.report import assess, clean_version, findings

# --- the rules, pure ----------------------------------------------------------------------------


def test_differences_name_changed_added_and_removed_parameters():
    assert differences(
        {"C": "1.0", "penalty": "l2", "old": "x"}, {"C": "0.5", "penalty": "l2", "new": "y"}
    ) == {
        "C": ("1.0", "0.5"),
        "new": (None, "y"),
        "old": ("x", None),
    }


@pytest.mark.parametrize(
    ("note", "param", "expected"),
    [
        ("Raised C to 0.5: less regularisation after the March data", "C", True),
        ("raised c", "C", True),
        ("Changed the CV folds", "C", False),  # a word containing the name is not the name
        ("model.max_depth tuned", "max_depth", False),  # another parameter's name
        ("max_depth tuned", "max_depth", True),
        ("", "C", False),
    ],
)
def test_a_note_explains_a_parameter_it_names(note, param, expected):
    assert explained(param, note) is expected


def test_components_find_cycles_and_self_loops():
    edges = {
        "a": {"b": ["a_score"]},
        "b": {"a": ["b_score"], "c": ["b_score"]},
        "d": {"d": ["d_pred"]},
    }
    comps = components(edges)
    assert ["a", "b"] in comps
    assert ["c"] in comps
    assert ["d"] in comps
    assert cycle("a", {"a", "b"}, edges) == ["a", "b", "a"]
    assert cycle("d", {"d"}, edges) == ["d", "d"]


def test_a_long_cycle_is_found_and_walked_in_order():
    edges = {"m1": {"m2": ["f"]}, "m2": {"m3": ["g"]}, "m3": {"m1": ["h"]}, "m0": {"m1": ["k"]}}
    assert ["m1", "m2", "m3"] in components(edges)
    assert cycle("m1", {"m1", "m2", "m3"}, edges) == ["m1", "m2", "m3", "m1"]


# --- configuration debt on a planted store -----------------------------------------------------


def version_with_params(
    client: MlflowClient,
    model: str,
    params: Mapping[str, str],
    *,
    start: int,
    aliases: tuple[str, ...] = (),
    note: str | None = None,
) -> int:
    tags = {"mlflow.note.content": note} if note else None
    number, run_id = clean_version(
        client, model, ["user_age"], start=start, aliases=aliases, extra_tags=tags
    )
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()], synchronous=True)
    return number


BASE = {"C": "1.0", "penalty": "l2", "solver": "lbfgs", "max_iter": "100"}


def plant_drift(client: MlflowClient, note: str | None = None) -> None:
    version_with_params(client, "churn_model", BASE, start=0, aliases=("champion",))
    version_with_params(client, "churn_model", {**BASE, "max_iter": "200"}, start=10)
    version_with_params(client, "churn_model", {**BASE, "C": "0.5"}, start=20, note=note)


def test_serving_and_newest_configured_apart_for_no_recorded_reason(client):
    plant_drift(client)
    report = assess(client)
    result = report.result("configuration-debt")
    assert result.status == FAIL
    drift = [f for f in result.findings if f.severity == MEDIUM]
    assert [f.subject for f in drift] == ["churn_model v1 → v3"]
    (f,) = drift
    assert f.models == ("churn_model",)
    assert "serves v1 (@champion)" in f.message
    assert "C 1.0 → 0.5" in f.message
    assert f.detail["params"] == {"C": {"serving": "1.0", "newest": "0.5"}}
    assert f.detail["serving"] == {"version": 1, "aliases": ["champion"]}
    assert f.detail["newest"] == 3
    # penalty and solver never varied across the three versions: dead knobs (max_iter did).
    dead = [f for f in result.findings if f.severity == LOW]
    assert [f.subject for f in dead] == ["churn_model"]
    assert dead[0].detail["dead_knobs"] == {"penalty": "l2", "solver": "lbfgs"}
    assert "configuration-debt" in next(s for s in report.scores if s.model == "churn_model").failed


def test_a_reason_in_the_run_note_or_the_version_description_is_enough(client):
    plant_drift(client, note="C lowered to 0.5: the new data is noisier")
    assert [f.severity for f in findings(assess(client), "configuration-debt")] == [LOW]

    client.update_model_version("churn_model", "3", description="Run note lost; C=0.5 on purpose")
    client.set_tag(client.get_model_version("churn_model", "3").run_id, "mlflow.note.content", "-")
    assert [f.severity for f in findings(assess(client), "configuration-debt")] == [LOW]


def test_a_newest_version_that_serves_has_no_drift_and_few_versions_no_dead_knobs(client):
    version_with_params(client, "ltv_model", BASE, start=0)
    version_with_params(client, "ltv_model", {**BASE, "C": "2"}, start=10, aliases=("champion",))
    result = assess(client).result("configuration-debt")
    assert result.status == PASS
    assert result.applicable == frozenset({"ltv_model"})
    assert "dead knobs judged in 0 (at least 3 versions)" in result.note


def test_dead_knobs_follow_the_threshold(client):
    version_with_params(client, "ltv_model", BASE, start=0)
    version_with_params(client, "ltv_model", {**BASE, "C": "2"}, start=10)
    (f,) = findings(assess(client, dead_knob_versions=2), "configuration-debt")
    assert f.detail["dead_knobs"] == {"max_iter": "100", "penalty": "l2", "solver": "lbfgs"}


def test_no_parameters_skips_the_check(client):
    clean_version(client, "churn_model", ["user_age"])
    result = assess(client).result("configuration-debt")
    assert result.status == SKIPPED
    assert result.note == "no live version's run logged parameters"


def test_fail_on_configuration_debt(client):
    plant_drift(client)
    result = CliRunner().invoke(
        cli,
        ["report", "--format", "json", "--fail-on", "configuration-debt"],
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == "Error: --fail-on: found 2 in configuration-debt"


# --- hidden feedback loops on a planted store ---------------------------------------------------


def test_two_models_reading_each_others_output_are_a_loop(client):
    clean_version(client, "churn_model", ["user_age", "ads_ranker_score"], experiment="churn")
    clean_version(client, "ads_ranker", ["plan", "churn_model_score"], experiment="ads")
    clean_version(client, "ltv_model", ["churn_model_score"], experiment="ltv")  # a cascade only
    report = assess(client)
    result = report.result("feedback-loop")
    assert result.status == FAIL
    (f,) = result.findings
    assert f.severity == HIGH
    assert f.models == ("ads_ranker", "churn_model")
    assert f.subject == "ads_ranker → churn_model → ads_ranker"
    assert f.detail["features"] == ["ads_ranker_score", "churn_model_score"]
    assert "churn_model reads 'ads_ranker_score' (ads_ranker's output)" in f.message
    # The cascades stay correction-cascade findings; ltv_model is in none of the loops.
    assert len(findings(report, "correction-cascade")) == 3
    scores = {s.model: s.failed for s in report.scores}
    assert "feedback-loop" not in scores["ltv_model"]
    assert "feedback-loop" in scores["churn_model"]
    assert report.top[0].check == "feedback-loop"


def test_a_model_reading_its_own_output_is_a_loop(client):
    clean_version(client, "churn_model", ["user_age", "churn_model.proba"])
    (f,) = findings(assess(client), "feedback-loop")
    assert f.subject == "churn_model → churn_model"
    assert f.models == ("churn_model",)
    assert "its output feeds its own training data" in f.message


def test_a_declared_output_closes_a_loop(client):
    clean_version(client, "churn_model", ["user_age", "retention_hint"], experiment="churn")
    clean_version(client, "ads_ranker", ["churn_model_score"], experiment="ads")
    declared = parse(
        "version: 1\nscope: listed\nfeatures: {}\noutputs:\n  retention_hint: ads_ranker\n"
    )
    (f,) = findings(assess(client, declarations=declared), "feedback-loop")
    assert f.models == ("ads_ranker", "churn_model")


def test_a_chain_without_a_cycle_is_no_loop(client):
    clean_version(client, "churn_model", ["user_age"])
    clean_version(client, "ads_ranker", ["churn_model_score"])
    clean_version(client, "ltv_model", ["ads_ranker_score"])
    result = assess(client).result("feedback-loop")
    assert result.status == PASS
    assert (
        result.note == "2 producer → consumer edges among 3 registered models searched for cycles"
    )


def test_fail_on_feedback_loop(client):
    clean_version(client, "churn_model", ["churn_model_score"])
    result = CliRunner().invoke(
        cli, ["report", "--format", "json", "--fail-on", "feedback-loop"], catch_exceptions=False
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == "Error: --fail-on: found 1 in feedback-loop"


def test_hostile_parameter_names_and_values_stay_text(client):
    from mlflow_debt.report.render import render

    evil = "<img src=x onerror=alert(1)>"
    version_with_params(client, "churn_model", {"k": "1"}, start=0, aliases=("champion",))
    version_with_params(client, "churn_model", {"k": "\x1b[2J" + evil}, start=10)
    report = assess(client)
    (f,) = findings(report, "configuration-debt")
    assert f.detail["params"]["k"]["newest"] == "\x1b[2J" + evil  # JSON: unchanged
    page = render(report, "html")
    assert evil not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    md = render(report, "markdown")
    assert "\x1b" not in md
    assert "<img" not in md
