"""Each check of ``mlflow-debt report`` on a real SQLite store: debt planted, and debt absent."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.consumers.declarations import parse
from mlflow_debt.prune import audit, history
from mlflow_debt.report import model as rmodel
from mlflow_debt.report.model import PASS, SKIPPED

from support.lineage import NEW_AGE, OLD_AGE, SESSIONS, make_run
from support.report import assess, clean_version, findings, subjects


def status(report: rmodel.DebtReport) -> dict[str, str]:
    return {c.id: c.status for c in report.checks}


def cli_run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# --- a store with no debt ---------------------------------------------------------------------


def test_a_clean_store_passes_every_applicable_check(client):
    client.create_registered_model("churn_model", tags={"mlflow_debt.max_versions": "3"})
    clean_version(client, "churn_model", ["user_age", "plan"], experiment="churn")
    clean_version(client, "ltv_model", ["user_age"], experiment="ltv")
    declared = parse(
        "version: 1\nfeatures:\n  user_age: [churn_model, ltv_model]\n  plan: [churn_model]\n"
    )
    report = assess(client, declarations=declared)
    assert status(report) == {
        "entanglement": PASS,
        "undeclared-consumer": PASS,
        "stale-declaration": PASS,
        "version-limit": PASS,
        "lineage-gap": PASS,
        "reproducibility": PASS,
        "configuration-debt": SKIPPED,  # no run logged parameters
        "underutilized-feature": PASS,
        "correction-cascade": PASS,
        "feedback-loop": PASS,
        "prune-history": SKIPPED,
    }
    assert report.findings == ()
    assert report.top == ()
    assert {(s.model, s.passed, s.applicable) for s in report.scores} == {
        ("churn_model", 9, 9),
        ("ltv_model", 9, 9),
    }


def test_an_empty_store_skips_what_it_cannot_judge(client):
    report = assess(client)
    assert status(report)["entanglement"] == SKIPPED
    assert status(report)["version-limit"] == SKIPPED
    assert report.scores == ()
    assert report.graph.nodes == ()


# --- entanglement -----------------------------------------------------------------------------


def test_entanglement_finds_a_definition_changed_under_some_consumers(client):
    clean_version(client, "churn_model", {"user_age": NEW_AGE}, experiment="churn", start=50)
    clean_version(client, "ltv_model", {"user_age": OLD_AGE}, experiment="ltv", start=10)
    clean_version(client, "fraud_model", {"user_age": OLD_AGE}, experiment="fraud", start=20)
    report = assess(client)
    (finding,) = findings(report, "entanglement")
    assert finding.subject == "user_age"
    assert finding.severity == rmodel.HIGH
    assert set(finding.models) == {"churn_model", "ltv_model", "fraud_model"}
    assert "churn_model trained on the newest" in finding.message
    assert finding.fix == "mlflow-debt impact user_age"
    # The graph marks the feature, and the two consumers left on the old definition.
    feature = next(n for n in report.graph.nodes if n.name == "user_age")
    assert feature.changed
    assert feature.high_fan_out
    changed = {report.graph.node(e.target).name for e in report.graph.edges if e.changed}
    assert changed == {"ltv_model", "fraud_model"}
    assert {s.model: "entanglement" in s.failed for s in report.scores} == {
        "churn_model": True,
        "ltv_model": True,
        "fraud_model": True,
    }


def test_entanglement_passes_when_consumers_agree(client):
    for i, model in enumerate(["churn_model", "ltv_model", "fraud_model"]):
        clean_version(client, model, {"user_age": OLD_AGE}, experiment=model, start=i)
    report = assess(client)
    assert status(report)["entanglement"] == PASS
    assert "1 read by 3 or more" in report.result("entanglement").note
    assert report.graph.nodes[0].high_fan_out  # shared by three: highlighted, not a finding
    assert not assess(client, fan_out=4).graph.nodes[0].high_fan_out


# --- declarations -----------------------------------------------------------------------------

DECLARED = """\
version: 1
features:
  user_age: [churn_model, fraud_model]
"""


def test_undeclared_consumer_and_stale_declaration(client):
    clean_version(client, "churn_model", ["user_age"], experiment="churn")
    clean_version(client, "ltv_model", ["user_age"], experiment="ltv")
    report = assess(client, declarations=parse(DECLARED, "owners.yaml"))
    (undeclared,) = findings(report, "undeclared-consumer")
    assert (undeclared.subject, undeclared.models) == ("user_age → ltv_model", ("ltv_model",))
    assert "owners.yaml does not declare it" in undeclared.message
    (stale,) = findings(report, "stale-declaration")
    assert stale.models == ("fraud_model",)
    assert stale.severity == rmodel.LOW


def test_declarations_that_match_pass_and_no_file_skips(client):
    clean_version(client, "churn_model", ["user_age"], experiment="churn")
    clean_version(client, "fraud_model", ["user_age"], experiment="fraud")
    report = assess(client, declarations=parse(DECLARED))
    assert status(report)["undeclared-consumer"] == PASS
    assert status(report)["stale-declaration"] == PASS
    bare = assess(client)
    assert status(bare)["undeclared-consumer"] == SKIPPED
    assert "--declared" in bare.result("undeclared-consumer").note


# --- version limit ----------------------------------------------------------------------------


def test_over_the_limit_names_what_prune_would_remove(client):
    client.create_registered_model("churn_model", tags={"mlflow_debt.max_versions": "2"})
    for i, acc in enumerate([0.7, 0.9, 0.8, 0.6]):
        clean_version(client, "churn_model", metrics={"accuracy": acc}, start=i)
    report = assess(client)
    (finding,) = findings(report, "version-limit")
    assert finding.severity == rmodel.MEDIUM
    assert finding.detail["prune_would_delete"] == [1, 4]
    assert "prune would remove 2 versions (v1, v4)" in finding.message
    assert finding.fix == "mlflow-debt prune --model churn_model"


def test_over_the_limit_only_by_protected_versions_is_no_debt(client):
    client.create_registered_model("churn_model", tags={"mlflow_debt.max_versions": "1"})
    clean_version(client, "churn_model", aliases=["champion"])
    clean_version(client, "churn_model", aliases=["challenger"])
    report = assess(client)
    assert status(report)["version-limit"] == PASS
    assert "1 above its limit only by protected" in report.result("version-limit").note


def test_over_the_limit_by_unranked_versions(client):
    client.create_registered_model("churn_model", tags={"mlflow_debt.max_versions": "1"})
    clean_version(client, "churn_model", metrics={"accuracy": 0.9})
    clean_version(client, "churn_model", metrics={"rmse": 0.1})  # no accuracy: unranked
    (finding,) = findings(assess(client), "version-limit")
    assert finding.severity == rmodel.LOW
    assert "1 version (v2) has no accuracy: prune cannot rank it" in finding.message
    assert finding.fix == "mlflow-debt prune --model churn_model --prune-unranked --dry-run"


def test_many_versions_without_a_limit(client):
    for i in range(3):
        clean_version(client, "churn_model", start=i)
    assert status(assess(client))["version-limit"] == PASS  # 3 <= 10
    (finding,) = findings(assess(client, many_versions=2), "version-limit")
    assert finding.detail == {"model": "churn_model", "live_versions": 3, "max_versions": None}
    assert finding.fix.startswith("mlflow-debt policy set churn_model --max-versions")


def test_a_malformed_policy_tag_is_a_finding_not_a_crash(client):
    client.create_registered_model("churn_model", tags={"mlflow_debt.max_versions": "lots"})
    clean_version(client, "churn_model")
    (finding,) = findings(assess(client), "version-limit")
    assert "cannot be read" in finding.message


def test_within_the_limit_passes(client):
    client.create_registered_model("churn_model", tags={"mlflow_debt.max_versions": "2"})
    clean_version(client, "churn_model")
    clean_version(client, "churn_model")
    assert status(assess(client))["version-limit"] == PASS


# --- lineage gaps -----------------------------------------------------------------------------


def test_versions_without_feature_tags_are_lineage_gaps(client):
    clean_version(client, "churn_model", ["user_age"], experiment="churn")
    clean_version(client, "churn_model", None, experiment="churn legacy")
    client.create_model_version("churn_model", "s3://bucket/old-model")  # no source run
    (finding,) = findings(assess(client), "lineage-gap")
    assert finding.detail["untagged"] == [2]
    assert finding.detail["no_source_run"] == [3]
    assert finding.fix == "mlflow-debt backfill --experiment 'churn legacy'"
    # The rest of the report still works on the versions that do have lineage.
    assert status(assess(client))["entanglement"] == PASS


def test_no_lineage_gap_when_every_version_is_tagged(client):
    clean_version(client, "churn_model", ["user_age"])
    assert status(assess(client))["lineage-gap"] == PASS


def test_a_source_run_in_an_experiment_not_read_is_still_checked(client):
    clean_version(client, "churn_model", ["user_age"], experiment="churn")
    clean_version(client, "other_model", ["plan"], experiment="elsewhere")
    report = assess(client, experiments=["churn"])
    assert status(report)["lineage-gap"] == PASS  # other_model's run was looked up by id
    assert report.scope.experiments == ("churn",)


# --- reproducibility --------------------------------------------------------------------------


def test_reproducibility_lists_what_each_version_lacks(client):
    clean_version(client, "churn_model")
    clean_version(client, "churn_model", commit=None)
    clean_version(client, "churn_model", signature=False)
    clean_version(client, "churn_model", metrics={})
    clean_version(client, "churn_model", artifact=False)
    (finding,) = findings(assess(client), "reproducibility")
    assert finding.detail["versions"] == {
        "2": ["code version"],
        "3": ["signature"],
        "4": ["metric"],
        "5": ["model artifact"],
    }
    assert finding.severity == rmodel.HIGH  # a lost artifact
    assert finding.message == (
        "churn_model: no model artifact (v5); no code version (v2); no signature (v3); "
        "no metric (v4)."
    )


@pytest.mark.slow  # log_model infers requirements in a subprocess
def test_a_real_logged_model_with_a_signature_passes(client):
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"user_age": [20.0, 30.0, 40.0, 50.0], "plan": [0.0, 1.0, 0.0, 1.0]})
    y = [0, 0, 1, 1]
    mlflow.set_experiment("churn")
    with mlflow.start_run() as run:
        mlflow.set_tag("mlflow.source.git.commit", "abc123")
        model = LogisticRegression().fit(X, y)
        mlflow.log_metric("accuracy", 1.0)
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(X, model.predict(X)),
            registered_model_name="churn_model",
        )
    import mlflow_debt

    mlflow_debt.flush()
    mv = client.get_model_version("churn_model", "1")
    assert mv.source.startswith("models:/m-")  # the MLflow 3 LoggedModel path
    report = assess(client)
    assert status(report)["reproducibility"] == PASS, report.result("reproducibility").findings
    assert status(report)["lineage-gap"] == PASS  # the plugin tagged the fit
    assert run.info.run_id in {mv.run_id}


@pytest.mark.slow  # log_model infers requirements in a subprocess
def test_a_logged_model_without_a_signature_is_found(client):
    import mlflow
    import pandas as pd
    from sklearn.dummy import DummyClassifier

    mlflow.set_experiment("churn")
    with mlflow.start_run():
        mlflow.set_tag("mlflow.source.git.commit", "abc123")
        mlflow.log_metric("accuracy", 0.5)
        model = DummyClassifier().fit(pd.DataFrame({"x": [0.0, 1.0]}), [0, 1])
        mlflow.sklearn.log_model(model, name="model", registered_model_name="churn_model")
    (finding,) = findings(assess(client), "reproducibility")
    assert finding.detail["versions"]["1"] == ["signature"]


# --- underutilized features -------------------------------------------------------------------


def test_legacy_features_nobody_reads_any_more(client):
    # An older run of the same consumer still computed legacy_score; the latest does not.
    make_run(
        client,
        "churn",
        {"user_age": OLD_AGE, "legacy_score": SESSIONS},
        start=0,
        extra_tags={"mlflow_debt.consumer": "churn_model"},
    )
    clean_version(client, "churn_model", ["user_age"], experiment="churn", start=10)
    report = assess(client)
    (finding,) = findings(report, "underutilized-feature")
    assert finding.subject == "legacy_score"
    assert finding.detail == {"feature": "legacy_score", "kind": "legacy", "runs": 1}
    assert finding.models == ()


def test_near_zero_importance_in_every_live_version(client):
    imp = {"accuracy": 0.9, "feature_importance.user_age": 0.8, "feature_importance.plan": 0.001}
    clean_version(client, "churn_model", ["user_age", "plan"], metrics=imp)
    clean_version(client, "churn_model", ["user_age", "plan"], metrics=imp, start=5)
    (finding,) = findings(assess(client), "underutilized-feature")
    assert finding.subject == "plan"
    assert finding.detail["kind"] == "near_zero_importance"
    assert finding.models == ("churn_model",)


def test_importance_that_matters_somewhere_is_not_underutilized(client):
    low = {"accuracy": 0.9, "feature_importance.user_age": 0.8, "feature_importance.plan": 0.001}
    high = {"accuracy": 0.9, "feature_importance.user_age": 0.8, "feature_importance.plan": 0.3}
    clean_version(client, "churn_model", ["user_age", "plan"], metrics=low)
    clean_version(client, "ltv_model", ["user_age", "plan"], metrics=high, experiment="ltv")
    clean_version(client, "fraud_model", ["plan"], experiment="fraud")  # logs none: unknown
    report = assess(client)
    assert status(report)["underutilized-feature"] == PASS
    assert "importances logged for 1" in report.result("underutilized-feature").note


# --- correction cascades ----------------------------------------------------------------------


def test_a_feature_named_after_a_model_is_a_cascade(client):
    clean_version(client, "churn_model", ["user_age"], experiment="churn")
    clean_version(client, "ads_ranker", ["churn_model_score", "region"], experiment="ads")
    report = assess(client)
    (finding,) = findings(report, "correction-cascade")
    assert finding.detail == {
        "feature": "churn_model_score",
        "producer": "churn_model",
        "consumer": "ads_ranker",
    }
    assert finding.models == ("ads_ranker",)
    outputs = [e for e in report.graph.edges if e.kind == "output"]
    assert [
        (report.graph.node(e.source).name, report.graph.node(e.target).name) for e in outputs
    ] == [("churn_model", "churn_model_score")]


def test_a_declared_output_is_a_cascade(client):
    clean_version(client, "churn_model", ["user_age"], experiment="churn")
    clean_version(client, "ads_ranker", ["retention_hint"], experiment="ads")
    assert status(assess(client))["correction-cascade"] == PASS
    declared = parse("features: {}\noutputs:\n  retention_hint: churn_model\n")
    (finding,) = findings(assess(client, declarations=declared), "correction-cascade")
    assert "declared as the output of churn_model" in finding.message


def test_names_that_only_look_alike_are_not_cascades(client):
    clean_version(client, "churn", ["user_age"], experiment="churn")
    clean_version(client, "ads_ranker", ["churn_rate", "churnscore"], experiment="ads")
    assert status(assess(client))["correction-cascade"] == PASS


# --- prune history ----------------------------------------------------------------------------


def test_prune_history_lists_prunes_with_their_restore_command(client):
    for i, acc in enumerate([0.7, 0.9, 0.8]):
        clean_version(client, "churn_model", metrics={"accuracy": acc}, start=i)
    assert cli_run("prune", "--max-versions", "1", "--yes").exit_code == 0
    report = assess(client)
    assert status(report)["prune-history"] == PASS
    (prune,) = report.prunes
    assert prune.models == ("churn_model",)
    assert prune.count("deleted") == 2
    assert prune.started  # an ISO timestamp from the audit record
    assert "1 prune recorded, 2 versions deleted" in report.result("prune-history").note


def test_one_pruned_version_is_counted_in_the_singular(client):
    for i, acc in enumerate([0.7, 0.9]):
        clean_version(client, "churn_model", metrics={"accuracy": acc}, start=i)
    assert cli_run("prune", "--max-versions", "1", "--yes").exit_code == 0
    note = assess(client).result("prune-history").note
    assert "1 prune recorded, 1 version deleted by them" in note, note


def test_a_prune_that_failed_to_delete_is_a_finding(client, mocker):
    for i, acc in enumerate([0.7, 0.9, 0.8]):
        clean_version(client, "churn_model", metrics={"accuracy": acc}, start=i)

    def failing(self, name, version):  # noqa: ARG001  autospec passes the call's arguments
        raise MlflowException("Internal error: database is locked", error_code=INTERNAL_ERROR)

    mocker.patch.object(MlflowClient, "delete_model_version", autospec=True, side_effect=failing)
    assert cli_run("prune", "--max-versions", "1", "--yes", "--workers", "1").exit_code == 3
    mocker.stopall()
    (finding,) = findings(assess(client), "prune-history")
    assert finding.models == ("churn_model",)
    assert finding.fix == "mlflow-debt prune --model churn_model"
    states = {e.record.state for e in audit.read_audit(client)}
    assert history.FAILED in states


# --- scope and summary ------------------------------------------------------------------------


def test_model_selection_keeps_only_its_findings_and_scores(client):
    clean_version(client, "churn_model", {"user_age": NEW_AGE}, experiment="churn", start=50)
    clean_version(client, "ltv_model", {"user_age": OLD_AGE}, experiment="ltv", commit=None)
    report = assess(client, models=["churn_model"])
    assert [s.model for s in report.scores] == ["churn_model"]
    assert status(report)["reproducibility"] == PASS  # ltv_model's debt is not churn_model's
    assert subjects(report, "entanglement") == ["user_age"]  # but shared debt is
    assert {n.name for n in report.graph.nodes} == {"user_age", "churn_model", "ltv_model"}


def test_unknown_model_is_an_error(client):
    from mlflow_debt.errors import NotFoundError

    with pytest.raises(NotFoundError, match='Registered model "nope" does not exist'):
        assess(client, models=["nope"])


def test_top_three_prefers_one_item_per_check_most_severe_first(client):
    client.create_registered_model("churn_model", tags={"mlflow_debt.max_versions": "1"})
    clean_version(client, "churn_model", {"user_age": NEW_AGE}, experiment="churn", start=50)
    clean_version(client, "churn_model", None, experiment="churn", start=60)
    clean_version(client, "ltv_model", {"user_age": OLD_AGE}, experiment="ltv", artifact=False)
    clean_version(client, "fraud_model", {"user_age": OLD_AGE}, experiment="fraud", artifact=False)
    report = assess(client)
    assert [f.check for f in report.top] == ["entanglement", "reproducibility", "version-limit"]
    assert len(findings(report, "reproducibility")) == 2  # both high, only one in the top 3
