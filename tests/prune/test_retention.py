"""The retention rule, table-driven, without a store."""

from __future__ import annotations

import math

import pytest

from mlflow_debt.prune.plan import (
    KEEP_TAG,
    LOWER_IS_BETTER_TAG,
    MAX_VERSIONS_TAG,
    METRIC_TAG,
    Policy,
    PolicyError,
    VersionInfo,
    plan,
    policy_from_tags,
    policy_tags,
    summary_line,
)


def versions(name: str, n: int, **extra: dict) -> list[VersionInfo]:
    out = []
    for v in range(1, n + 1):
        kw = extra.get(str(v), {})
        out.append(VersionInfo(name=name, version=v, **kw))
    return out


def lists(values, n_keep, *, lower=False, unranked_prune=False, **extra):
    """Plan model "m" with versions 1..len(values) and return its four lists."""
    vs = versions("m", len(values), **extra)
    metrics = {("m", i): v for i, v in enumerate(values, start=1)}
    pol = Policy(n_keep, lower_is_better=lower, prune_unranked=unranked_prune)
    mp = plan(vs, metrics, pol, models=["m"]).models["m"]
    d = mp.as_dict()
    return d["keep"], d["delete"], d["protected"], d["unranked"]


NAN = math.nan

CASES = [
    # id, values, N, kwargs, keep, delete, protected, unranked
    ("issue example", [0.82, 0.85, 0.88, 0.90, 0.87], 3, {}, [4, 3, 5], [2, 1], [], []),
    ("fewer than N", [0.5, 0.6], 3, {}, [2, 1], [], [], []),
    ("exactly N", [0.5, 0.6, 0.7], 3, {}, [3, 2, 1], [], [], []),
    ("N = 1", [0.9, 0.8, 0.7], 1, {}, [1], [2, 3], [], []),
    ("ties: newer wins", [0.9, 0.9, 0.9, 0.9], 2, {}, [4, 3], [2, 1], [], []),
    ("tie at the cut", [0.95, 0.9, 0.9, 0.5], 2, {}, [1, 3], [2, 4], [], []),
    ("lower is better", [0.3, 0.1, 0.2, 0.4], 2, {"lower": True}, [2, 3], [1, 4], [], []),
    ("lower ties: newer wins", [0.1, 0.1, 0.2], 1, {"lower": True}, [2], [1, 3], [], []),
    ("negative values", [-1.0, -3.0, 2.0], 1, {}, [3], [1, 2], [], []),
    ("unranked kept", [0.9, None, 0.8, NAN, 0.7], 1, {}, [1], [3, 5], [], [4, 2]),
    (
        "unranked pruned",
        [0.9, None, 0.8, NAN, 0.7],
        1,
        {"unranked_prune": True},
        [1],
        [3, 5, 4, 2],
        [],
        [],
    ),
    ("all unranked", [None, None], 1, {}, [], [], [], [2, 1]),
    ("no versions", [], 2, {}, [], [], [], []),
]


@pytest.mark.parametrize(
    ("values", "n", "kw", "keep", "delete", "protected", "unranked"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_rule(values, n, kw, keep, delete, protected, unranked):
    assert lists(values, n, **kw) == (keep, delete, protected, unranked)


PROTECTIONS = [
    ("alias", {"aliases": ("champion",)}),
    ("keep tag", {"tags": {KEEP_TAG: "true"}}),
    ("keep tag, any case", {"tags": {KEEP_TAG: "True"}}),
    ("stage Production", {"stage": "Production"}),
    ("stage Staging", {"stage": "Staging"}),
]


@pytest.mark.parametrize("extra", [p[1] for p in PROTECTIONS], ids=[p[0] for p in PROTECTIONS])
def test_protected_never_deleted_and_not_counted(extra):
    # Version 1 is the worst; protected, it stays, and the two best ranked versions are kept too.
    keep, delete, protected, unranked = lists([0.1, 0.5, 0.6, 0.7], 2, **{"1": extra})
    assert protected == [1]
    assert keep == [4, 3]
    assert delete == [2]
    assert unranked == []


def test_protection_wins_over_unranked_pruning():
    keep, delete, protected, _ = lists(
        [None, 0.5], 1, unranked_prune=True, **{"1": {"aliases": ("prod",)}}
    )
    assert (keep, delete, protected) == ([2], [], [1])


@pytest.mark.parametrize(
    ("tags", "stage"),
    [({KEEP_TAG: "false"}, None), ({KEEP_TAG: "no"}, None), ({}, "Archived"), ({}, "None")],
)
def test_not_protected(tags, stage):
    _, delete, protected, _ = lists([0.1, 0.9], 1, **{"1": {"tags": tags, "stage": stage}})
    assert protected == []
    assert delete == [1]


def test_reasons_and_values():
    vs = versions("m", 3, **{"3": {"aliases": ("champion", "b")}})
    mp = plan(vs, {("m", 1): 0.2, ("m", 2): 0.9, ("m", 3): 0.1}, Policy(1)).models["m"]
    by_version = {d.version: d for d in mp.decisions()}
    assert by_version[2].reason == "rank 1 of 2"
    assert by_version[1].reason == "rank 2 of 2, beyond limit 1"
    assert by_version[3].reason == "alias b, champion"
    assert by_version[3].value == 0.1
    assert [d.version for d in mp.decisions()] == [3, 2, 1]


def test_per_model_policies_and_models_without_policy():
    vs = versions("a", 3) + versions("b", 3) + versions("c", 2)
    metrics = {(n, v): float(v) for n in "abc" for v in (1, 2, 3)}
    p = plan(vs, metrics, {"a": Policy(1), "b": Policy(2, lower_is_better=True)}, models=["d"])
    assert p.models["a"].as_dict()["delete"] == [2, 1]
    assert p.models["b"].as_dict()["keep"] == [1, 2]
    assert p.without_policy == ["c", "d"]
    assert p.counts() == {"delete": 3, "keep": 3, "protected": 0, "unranked": 0, "models": 2}


def test_duplicate_versions_from_paging_are_counted_once():
    vs = versions("m", 3) + versions("m", 3)
    p = plan(vs, {("m", i): i / 10 for i in (1, 2, 3)}, Policy(2))
    assert p.models["m"].as_dict()["delete"] == [1]


def test_deterministic():
    values = [0.5, 0.5, 0.7, None, 0.1, 0.7]
    assert lists(values, 2) == lists(values, 2)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3", True])
def test_policy_rejects_bad_limits(bad):
    with pytest.raises(PolicyError):
        Policy(bad)


def test_policy_from_tags_and_overrides():
    tags = {MAX_VERSIONS_TAG: "4", METRIC_TAG: "rmse", LOWER_IS_BETTER_TAG: "true"}
    assert policy_from_tags("m", tags) == Policy(4, "rmse", True, origin="tag")
    assert policy_from_tags("m", tags, max_versions=2) == Policy(2, "rmse", True)
    assert policy_from_tags("m", tags, metric="f1", lower_is_better=False).metric == "f1"
    assert policy_from_tags("m", {}) is None
    assert policy_from_tags("m", {}, max_versions=3) == Policy(3)
    assert policy_from_tags("m", policy_tags(Policy(7, "auc"))) == Policy(7, "auc", origin="tag")


@pytest.mark.parametrize(
    "tags",
    [
        {MAX_VERSIONS_TAG: "0"},
        {MAX_VERSIONS_TAG: "three"},
        {MAX_VERSIONS_TAG: "-2"},
        {MAX_VERSIONS_TAG: "2", LOWER_IS_BETTER_TAG: "maybe"},
    ],
)
def test_malformed_policy_tags_name_the_model(tags):
    with pytest.raises(PolicyError, match='"churn"'):
        policy_from_tags("churn", tags)


def test_summary_line():
    vs = versions("m", 5, **{"5": {"aliases": ("champion",)}})
    metrics = {("m", i): v for i, v in enumerate([0.82, 0.85, 0.88, 0.90], start=1)}
    p = plan(vs, metrics, Policy(2))
    assert summary_line(p, applied=True) == "Deleted 2 versions of 1 model; kept 2; protected 1."
    assert summary_line(p, applied=False).startswith("Would delete 2 versions")
    assert summary_line(p, applied=True, deleted=1).startswith("Deleted 1 version of")
