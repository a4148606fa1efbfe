"""A changed definition compares value profiles across consumers; preprocessing along one model."""

from __future__ import annotations

from mlflow_debt.consumers import analysis as lineage
from mlflow_debt.consumers import render
from mlflow_debt.consumers.analysis import RunRow, VersionRow
from mlflow_debt.tags import FeatureRecord, encode

AGE = "num:+:mp1.6:s1.2:na0"


def _row(run_id: str, fp: str, start: int) -> RunRow:
    return RunRow(run_id, "exp", start, encode([FeatureRecord("user_age", "float64", fp)], "t"))


def test_two_models_preprocessing_one_feature_differently_is_no_changed_definition() -> None:
    runs = [_row("sk", AGE + ":p4930", 1), _row("spark", AGE + ":p77aa", 2)]
    report = lineage.analyze(
        runs, [VersionRow("sklearn_m", 1, "sk"), VersionRow("spark_m", 1, "spark")]
    )
    (usage,) = report.features
    assert not usage.changed
    assert usage.preprocessing == ()
    assert render.report_json(report)["preprocessing_changed"] == []


def test_a_rescaled_value_profile_is_still_a_changed_definition() -> None:
    runs = [_row("sk", AGE + ":p4930", 1), _row("spark", "num:+:mp2.7:s2.3:na0:p77aa", 2)]
    report = lineage.analyze(runs, [VersionRow("a", 1, "sk"), VersionRow("b", 1, "spark")])
    assert report.features[0].changed


def test_preprocessing_changed_between_two_versions_of_one_model() -> None:
    runs = [_row("v1", AGE + ":p4930", 1), _row("v2", AGE + ":p77aa", 2), _row("o", AGE, 3)]
    versions = [VersionRow("m", 1, "v1"), VersionRow("m", 2, "v2"), VersionRow("other", 1, "o")]
    report = lineage.analyze(runs, versions)
    (usage,) = report.features
    assert not usage.changed  # the value profile is the same for every consumer
    (change,) = usage.preprocessing
    assert (change.consumer, change.before, change.after) == ("m", AGE + ":p4930", AGE + ":p77aa")
    assert (change.before_run_id, change.after_run_id) == ("v1", "v2")
    data = render.report_json(report)
    assert data["preprocessing_changed"] == [
        {
            "feature": "user_age",
            "consumer": "m",
            "before": AGE + ":p4930",
            "after": AGE + ":p77aa",
            "before_run_id": "v1",
            "after_run_id": "v2",
        }
    ]
    assert "Changed preprocessing" in render.report_text(report)


def test_same_preprocessing_along_the_versions_is_no_change() -> None:
    runs = [_row("v1", AGE + ":p4930", 1), _row("v2", "num:+:mp2.7:s2.3:na0:p4930", 2)]
    report = lineage.analyze(runs, [VersionRow("m", 1, "v1"), VersionRow("m", 2, "v2")])
    assert report.features[0].preprocessing == ()
