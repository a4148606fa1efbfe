"""Findings where they apply: ``mlflow_debt.findings`` on registered models and versions.

The pure part (which targets, what words, what to change) table-driven; ``report --annotate``
end to end on a real SQLite store: written, left alone when unchanged, removed when the finding
is gone, and nothing else of the registry touched.
"""

from __future__ import annotations

from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt import tags
from mlflow_debt.cli import cli
from mlflow_debt.report import annotate
from mlflow_debt.report.model import HIGH, LOW, MEDIUM, Finding

from support.lineage import NEW_AGE, OLD_AGE, SESSIONS, make_run, register

KEY = tags.FINDINGS_KEY


def entangled(models: tuple[str, ...] = ("a", "b", "c", "d")) -> Finding:
    return Finding(
        "entanglement",
        HIGH,
        "user_age",
        "...",
        models,
        detail={
            "feature": "user_age",
            "definitions": [
                {"fingerprint": "x", "consumers": ["a"]},
                {"fingerprint": "y", "consumers": ["b"]},
                {"fingerprint": "z", "consumers": ["c", "d"]},
            ],
        },
    )


def test_the_example_of_the_issue() -> None:
    undeclared = Finding(
        "undeclared-consumer",
        MEDIUM,
        "session_count → a",
        "...",
        ("a",),
        detail={"feature": "session_count", "consumer": "a"},
    )
    got = annotate.per_target([undeclared, entangled()], {"a": [1, 3], "b": [1]})
    text = (
        "entangled: user_age (3 definitions across 4 consumers) · "
        "undeclared reader of session_count"
    )
    assert got[("a", None)] == text
    assert got[("a", 3)] == text  # the newest live version: the one the analysis read
    assert ("a", 1) not in got
    assert got[("b", None)] == "entangled: user_age (3 definitions across 4 consumers)"
    assert ("c", None) not in got  # not a registered model (or not selected): not annotated


def test_findings_that_name_versions_annotate_those_versions() -> None:
    gap = Finding(
        "lineage-gap",
        MEDIUM,
        "m",
        "...",
        ("m",),
        detail={"model": "m", "untagged": [2], "incomplete": [], "no_source_run": [5]},
    )
    repro = Finding(
        "reproducibility",
        MEDIUM,
        "m",
        "...",
        ("m",),
        detail={"model": "m", "versions": {"2": ["code version", "signature"]}},
    )
    prune = Finding(
        "prune-history",
        MEDIUM,
        "m (prune 1234abcd)",
        "...",
        ("m",),
        detail={"prune_id": "1234abcdef", "model": "m", "failed": [7]},
    )
    got = annotate.per_target([gap, repro, prune], {"m": [2, 5, 7, 9]})
    assert (
        got[("m", 2)]
        == "lineage gap: no feature tags · not reproducible: no code version, no signature"
    )
    assert got[("m", 5)] == "lineage gap: no source run"
    assert got[("m", 7)] == "prune 1234abcd failed to delete it"
    assert ("m", 9) not in got
    assert got[("m", None)] == (
        "lineage gap: v2, v5 · not reproducible: v2 · prune 1234abcd failed to delete v7"
    )


def test_an_unknown_check_and_a_long_list_still_read_well() -> None:
    new = Finding("feedback-loop", LOW, "a → b → a", "...", ("a",))
    assert annotate.per_target([new], {"a": [1]})[("a", None)] == "feedback-loop: a → b → a"
    many = [
        Finding(
            "undeclared-consumer",
            MEDIUM,
            f"f{i}",
            "...",
            ("a",),
            detail={"feature": "x" * 40 + str(i)},
        )
        for i in range(100)
    ]
    text = annotate.per_target(many, {"a": [1]})[("a", None)]
    assert len(text) <= annotate.MAX_TEXT
    assert text.endswith("more")


def test_plan_writes_only_changes_and_removes_what_is_gone() -> None:
    wanted = {("a", None): "x", ("a", 2): "y"}
    current = {("a", None): "x", ("a", 1): "old", ("b", None): "other model"}
    p = annotate.plan(wanted, current, scope={"a"})
    assert p.set == {("a", 2): "y"}
    assert p.remove == (("a", 1),)  # b is out of scope: left alone
    assert annotate.plan(wanted, {("a", None): "x", ("a", 2): "y"}) == annotate.Plan()


def report(tracking_uri: str, *extra: str):
    return CliRunner().invoke(
        cli,
        ["report", "--tracking-uri", tracking_uri, "--format", "json", "--annotate", *extra],
        catch_exceptions=False,
    )


def test_report_annotate_writes_and_removes_findings_tags(
    client: MlflowClient, tracking_uri
) -> None:
    old = make_run(client, "a", {"user_age": OLD_AGE, "session_count": SESSIONS}, start=0)
    register(client, "model_a", old)
    new = make_run(client, "b", {"user_age": NEW_AGE}, start=5)
    register(client, "model_b", new, aliases=["champion"])
    client.update_registered_model("model_b", description="keep me")
    client.set_registered_model_tag("model_b", "owner", "risk-team")
    client.set_model_version_tag("model_b", "1", "note", "hand-set")

    result = report(tracking_uri)
    assert result.exit_code == 0, result.output
    assert "findings tag(s) written" in result.stderr
    rm = client.get_registered_model("model_b")
    assert rm.tags[KEY].startswith("entangled: user_age (2 definitions across 2 consumers)")
    mv = client.get_model_version("model_b", "1")
    assert "entangled: user_age" in mv.tags[KEY]
    # Nothing else of the registry moved.
    assert rm.description == "keep me"
    assert rm.tags["owner"] == "risk-team"
    assert {k: int(v) for k, v in rm.aliases.items()} == {"champion": 1}
    assert mv.tags["note"] == "hand-set"

    # Idempotent: nothing to write the second time.
    again = report(tracking_uri)
    assert "0 findings tag(s) written, 0 removed" in again.stderr

    # The finding goes (model_a re-trained on the new definition): so do its tags.
    fixed = make_run(client, "a", {"user_age": NEW_AGE, "session_count": SESSIONS}, start=10)
    register(client, "model_a", fixed)
    report(tracking_uri)
    assert "entangled" not in client.get_registered_model("model_b").tags.get(KEY, "")
    assert "entangled" not in client.get_model_version("model_b", "1").tags.get(KEY, "")
    assert "entangled" not in client.get_registered_model("model_a").tags.get(KEY, "")
    assert client.get_registered_model("model_b").tags["owner"] == "risk-team"


def test_report_without_annotate_writes_nothing(client: MlflowClient, tracking_uri) -> None:
    old = make_run(client, "a", {"user_age": OLD_AGE}, start=0)
    register(client, "model_a", old)
    new = make_run(client, "b", {"user_age": NEW_AGE}, start=5)
    register(client, "model_b", new)
    result = CliRunner().invoke(cli, ["report", "--tracking-uri", tracking_uri, "--format", "json"])
    assert result.exit_code == 0
    assert KEY not in client.get_registered_model("model_b").tags
