"""The pure rules of pruning that used to be buried in I/O: table-driven, no store needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlflow_debt.prune import history
from mlflow_debt.prune.history import (
    DELETED,
    FAILED,
    PLANNED,
    REINSTATED,
    SKIPPED,
    VANISHED,
    AuditEntry,
    LoadedPrune,
    Record,
)
from mlflow_debt.prune.plan import unlogged_metric


def rec(version: int, state: history.RecordState = PLANNED, name: str = "m") -> Record:
    r = Record(name, version, f"s{version}", None, None, {}, None, [], None, "acc", None, "")
    r.state = state
    return r


@pytest.mark.parametrize(
    ("later", "expected"),
    [
        (DELETED, SKIPPED),
        (SKIPPED, SKIPPED),
        (FAILED, SKIPPED),
        (REINSTATED, SKIPPED),
        (VANISHED, DELETED),
        (None, None),
        (PLANNED, None),
    ],
)
def test_resolve_by_later(later, expected):
    got = history.resolve_by_later(later)
    assert (got[0] if got else None) == expected


@pytest.mark.parametrize(("exists", "expected"), [(True, SKIPPED), (False, DELETED)])
def test_resolve_by_existence(exists, expected):
    assert history.resolve_by_existence(exists)[0] == expected


def test_resolve_crashed_asks_the_registry_only_without_a_later_record():
    crashed = LoadedPrune("a", {}, [rec(1), rec(2), rec(3, DELETED)], final=False)
    later = LoadedPrune("b", {}, [rec(1, VANISHED)], final=True)
    asked: list[int] = []

    def exists(r: Record) -> bool:
        asked.append(r.version)
        return r.version == 2

    history.resolve_crashed([crashed, later], exists)
    assert [r.state for r in crashed.records] == [DELETED, SKIPPED, DELETED]
    assert asked == [2]  # v1 decided by the later prune, v3 was already recorded


@pytest.mark.parametrize(
    ("later", "exists", "expected"),
    [
        (None, False, DELETED),  # the delete took effect, its answer was lost
        (None, True, FAILED),  # the delete really failed
        (VANISHED, True, DELETED),  # gone before a later prune came
        (DELETED, False, FAILED),  # a later prune deleted it, not this one
        (SKIPPED, False, FAILED),
    ],
)
def test_a_failed_delete_of_a_version_that_is_gone_counts_as_deleted(later, exists, expected):
    got = history.resolve_failed(later, lambda: exists)
    assert (got[0] if got else FAILED) == expected


def test_failed_records_are_resolved_in_finished_prunes_too():
    done = LoadedPrune("a", {}, [rec(1, FAILED), rec(2, FAILED)], final=True)
    history.resolve_crashed([done], lambda r: r.version == 2)
    assert [r.state for r in done.records] == [DELETED, FAILED]


def entry(prune: str, version: int, state: history.RecordState, restored: int | None = None):
    return AuditEntry(prune, 0, rec(version, state), restored)


@pytest.mark.parametrize(
    ("entries", "kept_prune"),
    [
        ([entry("a", 1, DELETED), entry("b", 1, DELETED)], "a"),  # the oldest
        ([entry("a", 1, DELETED), entry("b", 1, DELETED, restored=7)], "b"),  # the restored
        ([entry("a", 1, DELETED), entry("b", 1, SKIPPED)], "a"),
    ],
)
def test_count_once(entries, kept_prune):
    history.count_once(entries)
    deleted = [e.prune_id for e in entries if e.record.state == DELETED]
    assert deleted == [kept_prune]


@pytest.mark.parametrize(
    ("models", "versions", "todo", "done"),
    [
        ((), (), [("m", 1), ("m", 2)], [("m", 3)]),
        (("m",), (2,), [("m", 2)], []),
        (("other",), (), [], []),
        ((), (3,), [], [("m", 3)]),
    ],
)
def test_select_restore(models, versions, todo, done):
    entries = [
        entry("a", 2, DELETED),
        entry("a", 1, DELETED),
        entry("a", 3, DELETED, restored=9),
        entry("a", 4, SKIPPED),
        entry("b", 3, DELETED),  # a later record of a version restored by another
    ]
    got_todo, got_done = history.select_restore(entries, models, versions)
    assert [e.record.key for e in got_todo] == todo
    assert [e.record.key for e in got_done] == done


@pytest.mark.parametrize(
    ("before", "after", "deleted", "moved"),
    [
        ({"champion": 6}, {"champion": 6}, 3, []),
        ({"champion": 6}, {}, 3, ["champion"]),  # moved onto v3, deleted with it
        ({}, {"champion": 3}, 3, ["champion"]),  # dangling on the deleted version
        ({"a": 6, "b": 5}, {"b": 5}, 3, ["a"]),
        ({}, {}, 3, []),
    ],
)
def test_moved_aliases(before, after, deleted, moved):
    assert history.moved_aliases(before, after, deleted) == moved


@pytest.mark.parametrize(
    ("metric_of", "metrics", "error"),
    [
        ({"m": "acc"}, {("m", 1): None, ("m", 2): None}, 'Metric "acc" is logged on none'),
        ({"m": "acc"}, {("m", 1): None, ("m", 2): 0.5}, None),
        ({"m": "acc", "n": "rmse"}, {("m", 1): 0.5, ("n", 1): None}, 'Metric "rmse"'),
        ({}, {("m", 1): None}, None),
    ],
)
def test_unlogged_metric(metric_of, metrics, error):
    got = unlogged_metric(metric_of, list(metrics), metrics)
    assert (got is None) if error is None else (got is not None and error in got)


@pytest.mark.parametrize(
    "module", ["mlflow_debt.prune.plan", "mlflow_debt.prune.history", "mlflow_debt.prune.render"]
)
def test_pure_prune_modules_import_no_mlflow(module):
    code = (
        f"import sys, {module}; "
        "bad = [m for m in ('mlflow', 'numpy', 'yaml') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
