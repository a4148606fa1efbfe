"""The pure consumer analysis, table-driven, without a store."""

from __future__ import annotations

import pytest

from mlflow_debt import tags
from mlflow_debt.consumers import analysis as lineage
from mlflow_debt.consumers.analysis import Declarations, Pair, analyze, impact

from support.lineage import NEW_AGE, OLD_AGE, SESSIONS, row, version


def _names(report: lineage.Report) -> dict[str, tuple[str, ...]]:
    return {u.name: u.consumers for u in report.features}


def team_rows() -> tuple[list[lineage.RunRow], list[lineage.VersionRow], dict]:
    runs = [
        row("c1", {"user_age": OLD_AGE, "session_count": SESSIONS}, "churn", start=0),
        row("c2", {"user_age": NEW_AGE, "session_count": SESSIONS}, "churn", start=50),
        row("l1", {"user_age": OLD_AGE}, "ltv", start=10),
        row("f1", {"user_age": OLD_AGE}, "fraud", start=11),
        row("r1", {"session_count": SESSIONS}, "recsys", start=12),
        row("a1", {"session_count": SESSIONS}, "ads", start=13),
    ]
    versions = [
        version("churn_model", 1, "c1"),
        version("churn_model", 2, "c2"),
        version("ltv_model", 1, "l1"),
        version("fraud_model", 1, "f1"),
        version("recommender", 1, "r1"),
        version("ads_ranker", 1, "a1"),
    ]
    return runs, versions, {}


# --- the consumer rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("versions", "extra", "expected"),
    [
        # Behind a live version: the registered model, even with a consumer tag.
        ([version("m", 1, "r")], {tags.CONSUMER_KEY: "mine"}, [("m", lineage.MODEL)]),
        # Behind versions of two models: both.
        (
            [version("b", 1, "r"), version("a", 3, "r")],
            {},
            [("a", lineage.MODEL), ("b", lineage.MODEL)],
        ),
        # Not registered, with a consumer tag: the tag.
        ([], {tags.CONSUMER_KEY: " pricing "}, [("pricing", lineage.TAG)]),
        # Not registered, no tag: the experiment.
        ([], {}, [("exp", lineage.EXPERIMENT)]),
        # A version of another run does not make this one a model's.
        ([version("m", 1, "other")], {}, [("exp", lineage.EXPERIMENT)]),
        # An empty consumer tag is ignored.
        ([], {tags.CONSUMER_KEY: ""}, [("exp", lineage.EXPERIMENT)]),
    ],
)
def test_consumer_rule(versions, extra, expected):
    run = row("r", {"x": "fp"}, extra=extra)
    models_by_run: dict[str, list[str]] = {}
    for v in versions:
        models_by_run.setdefault(v.run_id, []).append(v.model)
    assert lineage.consumers_of_run(run, models_by_run) == expected
    report = analyze([run], versions)
    assert sorted(report.consumers) == [name for name, _ in expected]


def test_tagged_runs_join_the_registered_model_of_the_same_name():
    runs = [
        row("reg", {"a": "1"}, start=0),
        row("dev", {"a": "1", "b": "1"}, start=5, extra={tags.CONSUMER_KEY: "m"}),
    ]
    report = analyze(runs, [version("m", 1, "reg")])
    assert list(report.consumers) == ["m"]
    c = report.consumers["m"]
    assert c.kind == lineage.MODEL
    assert c.latest_run_id == "dev"
    assert c.reads == {"a", "b"}


# --- latest run and what a consumer reads -----------------------------------------------------


@pytest.mark.parametrize(
    ("runs", "latest"),
    [
        ([row("a", {"x": "1"}, start=1), row("b", {"x": "1"}, start=2)], "b"),
        ([row("b", {"x": "1"}, start=2), row("a", {"x": "1"}, start=1)], "b"),
        # Same start time: the run id breaks the tie, so the answer never depends on order.
        ([row("a", {"x": "1"}, start=1), row("b", {"x": "1"}, start=1)], "b"),
        ([row("b", {"x": "1"}, start=1), row("a", {"x": "1"}, start=1)], "b"),
    ],
)
def test_latest_run_is_the_most_recent_by_start_time(runs, latest):
    assert analyze(runs).consumers["exp"].latest_run_id == latest


def test_a_feature_dropped_from_the_latest_run_is_no_longer_read():
    runs = [row("old", {"x": "1", "gone": "1"}, start=0), row("new", {"x": "1"}, start=1)]
    report = analyze(runs)
    assert _names(report) == {"x": ("exp",)}


def test_an_aliased_version_keeps_its_features_read():
    runs = [row("old", {"x": "1", "legacy": "1"}, start=0), row("new", {"x": "2"}, start=1)]
    versions = [version("m", 1, "old"), version("m", 2, "new")]
    report = analyze(runs, versions, aliases={"m": {"champion": 1}})
    c = report.consumers["m"]
    assert c.reads == {"x", "legacy"}
    assert c.latest_version == 2
    assert c.aliases == {"champion": 1}
    legacy = next(u for u in report.features if u.name == "legacy")
    # The latest run does not read it, so its definition is unknown, never "changed".
    assert legacy.unknown == ("m",)
    assert not legacy.changed
    # Without the alias, the old version no longer counts.
    assert analyze(runs, versions).consumers["m"].reads == {"x"}


def test_an_alias_on_another_models_version_does_not_leak():
    runs = [row("r1", {"x": "1", "y": "1"}, start=0), row("r2", {"x": "1"}, start=1)]
    versions = [version("a", 1, "r1"), version("b", 1, "r2"), version("b", 2, "r1")]
    # b@champion -> v1 = r2 (b's latest is r1); a has no alias.
    report = analyze(runs, versions, aliases={"b": {"champion": 1}})
    assert report.consumers["a"].reads == {"x", "y"}
    assert report.consumers["b"].latest_run_id == "r2"
    assert report.consumers["b"].reads == {"x"}


# --- fan-out, changed definitions -------------------------------------------------------------


def test_team_scenario_fan_out_and_changed_definition():
    runs, versions, _ = team_rows()
    report = analyze(runs, versions)
    assert [(u.name, u.consumers) for u in report.features] == [
        ("session_count", ("ads_ranker", "churn_model", "recommender")),
        ("user_age", ("churn_model", "fraud_model", "ltv_model")),
    ]
    (changed,) = report.changed
    assert changed.name == "user_age"
    # Newest definition first: churn_model's latest run rescaled it.
    assert [(d.fingerprint, d.consumers) for d in changed.definitions] == [
        (NEW_AGE, ("churn_model",)),
        (OLD_AGE, ("fraud_model", "ltv_model")),
    ]
    assert report.runs_read == 6


@pytest.mark.parametrize(
    ("fingerprints", "changed"),
    [
        (["a", "a", "a"], False),
        (["a", "b", "a"], True),
        (["a", tags.UNKNOWN, "a"], False),  # unknown never counts as a change
        ([tags.UNKNOWN, tags.UNKNOWN], False),
        (["a", tags.UNKNOWN, "b"], True),
    ],
)
def test_changed_definitions_ignore_unknown_fingerprints(fingerprints, changed):
    runs = [row(f"r{i}", {"x": fp}, f"e{i}", start=i) for i, fp in enumerate(fingerprints)]
    report = analyze(runs)
    assert bool(report.changed) is changed
    usage = report.features[0]
    assert len(usage.unknown) == fingerprints.count(tags.UNKNOWN)


def test_fan_out_ties_are_sorted_by_name():
    runs = [row("r1", {"b": "1", "a": "1", "c": "1"}, "e1"), row("r2", {"c": "1"}, "e2", start=1)]
    assert [u.name for u in analyze(runs).features] == ["c", "a", "b"]


def test_feast_runs_are_read_with_unknown_definitions():
    runs = [
        lineage.RunRow("f", "eta", 1, {tags.FEAST_KEY: "driver:conv_rate, driver:acc_rate"}),
        row("o", {"driver:conv_rate": "num:+:m1"}, "other", start=2),
    ]
    report = analyze(runs)
    assert _names(report) == {
        "driver:conv_rate": ("eta", "other"),
        "driver:acc_rate": ("eta",),
    }
    assert not report.changed
    assert report.consumers["eta"].latest == {
        "driver:conv_rate": tags.UNKNOWN,
        "driver:acc_rate": tags.UNKNOWN,
    }


def test_incomplete_feature_tags_are_counted_not_fatal():
    t = tags.encode([tags.FeatureRecord("x", "int64", "1")], "test")
    t[tags.DIGEST_KEY] = "0" * 16  # tampered
    report = analyze([lineage.RunRow("r", "exp", 1, t)])
    assert report.consumers["exp"].incomplete_runs == 1
    assert _names(report) == {"x": ("exp",)}


def test_runs_are_consumed_once_as_a_stream():
    runs, versions, _ = team_rows()
    report = analyze(iter(runs), iter(versions))
    assert len(report.consumers) == 5


def test_empty_input():
    report = analyze([])
    assert report.empty
    assert report.features == ()
    assert report.changed == ()


# --- declarations -----------------------------------------------------------------------------


TEAM_DECLARED = {
    "user_age": ("churn_model", "ltv_model", "fraud_model"),
    "session_count": ("churn_model", "recommender"),
}


@pytest.mark.parametrize(
    ("declared", "scope", "judge_absent", "undeclared", "stale"),
    [
        (TEAM_DECLARED, "all", True, [("session_count", "ads_ranker")], []),
        # A feature missing from the file: every consumer of it is undeclared (scope all) ...
        (
            {"session_count": ("churn_model", "recommender", "ads_ranker")},
            "all",
            True,
            [("user_age", "churn_model"), ("user_age", "fraud_model"), ("user_age", "ltv_model")],
            [],
        ),
        # ... or not checked (scope listed).
        (
            {"session_count": ("churn_model", "recommender")},
            "listed",
            True,
            [("session_count", "ads_ranker")],
            [],
        ),
        # Declared but not reading: stale; a declared consumer that does not exist: stale too ...
        (
            {**TEAM_DECLARED, "user_age": ("churn_model", "ltv_model", "fraud_model", "old")},
            "all",
            True,
            [("session_count", "ads_ranker")],
            [("user_age", "old")],
        ),
        # ... unless only part of the store was read.
        (
            {**TEAM_DECLARED, "user_age": ("churn_model", "ltv_model", "fraud_model", "old")},
            "all",
            False,
            [("session_count", "ads_ranker")],
            [],
        ),
        # A consumer seen, declared for a feature it does not read: stale even on a partial read.
        (
            {**TEAM_DECLARED, "user_age": (*TEAM_DECLARED["user_age"], "recommender")},
            "all",
            False,
            [("session_count", "ads_ranker")],
            [("user_age", "recommender")],
        ),
        # A declared feature nobody reads: all its declarations are stale.
        (
            {**TEAM_DECLARED, "gone": ("ltv_model",)},
            "all",
            True,
            [("session_count", "ads_ranker")],
            [("gone", "ltv_model")],
        ),
    ],
)
def test_undeclared_and_stale(declared, scope, judge_absent, undeclared, stale):
    runs, versions, _ = team_rows()
    report = analyze(
        runs, versions, declarations=Declarations(declared, scope), judge_absent=judge_absent
    )
    assert report.declared
    assert report.undeclared == tuple(Pair(*p) for p in undeclared)
    assert report.stale == tuple(Pair(*p) for p in stale)


def test_only_features_limits_every_section_and_names_the_missing():
    runs, versions, _ = team_rows()
    report = analyze(
        runs,
        versions,
        declarations=Declarations({"user_age": ("churn_model",), "session_count": ()}),
        only_features=["user_age", "nope", "user_age"],
    )
    assert [u.name for u in report.features] == ["user_age"]
    assert report.missing == ("nope",)
    assert {p.feature for p in report.undeclared} == {"user_age"}
    assert report.changed[0].name == "user_age"


# --- impact -----------------------------------------------------------------------------------


def test_impact_of_a_feature():
    runs, versions, _ = team_rows()
    result = impact(analyze(runs, versions, aliases={"churn_model": {"champion": 1}}), "user_age")
    assert (
        result.sentence == "Editing 'user_age' may invalidate: churn_model, fraud_model, ltv_model"
    )
    churn = result.consumers[0]
    assert churn.consumer.latest_version == 2
    assert churn.consumer.aliases == {"champion": 1}
    assert churn.fingerprint == NEW_AGE
    assert result.usage is not None
    assert result.usage.changed


def test_impact_of_a_feature_nobody_reads_suggests_close_names():
    runs, versions, _ = team_rows()
    result = impact(analyze(runs, versions), "user_agee")
    assert result.consumers == ()
    assert result.suggestions == ("user_age",)
    assert "Nobody reads 'user_agee'" in result.sentence
