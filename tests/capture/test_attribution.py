"""The attribution rule (mlflow_debt.capture.attribution), table-driven on plain records: which
fit a run's tags describe, which fits an open run may still choose, the other-fits list."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from mlflow_debt.capture import attribution


@dataclass(eq=False)
class Fit:
    order: int
    score: int
    main: bool = True
    source: str = "sklearn:LogisticRegression"
    kind: str = "fit"
    thread: str = "main"
    key: tuple[tuple[str, str], ...] = (("age", "float64"),)


def fits(*spec: tuple[int, bool]) -> list[Fit]:
    """(score, main) per fit, in recording order."""
    return [
        Fit(i + 1, score, main, thread="main" if main else "t")
        for i, (score, main) in enumerate(spec)
    ]


CHOOSE = [
    # (fits as (score, main), logged index or None, chosen index or None, why)
    ((), None, None, "no fits"),
    (((0, True),), None, 0, "one transformer"),
    (((2, True), (0, True)), None, 0, "a monitor after the model"),
    (((2, True), (2, True)), None, 1, "the later of two models"),
    (((1, True), (2, True), (0, True)), None, 1, "a classifier outranks a predictor"),
    (((3, True), (2, True)), None, 0, "log_features outranks later fits"),
    (((2, False), (0, True)), None, 1, "the main thread first, whatever the score"),
    (((2, False), (1, False)), None, 0, "no main-thread fit: the best of the others"),
    (((2, True), (0, True)), 1, 1, "a logged model's fit outranks everything"),
]


@pytest.mark.parametrize(("spec", "logged", "chosen", "why"), CHOOSE, ids=[c[3] for c in CHOOSE])
def test_choose(spec, logged, chosen, why) -> None:
    del why
    run = fits(*spec)
    got = attribution.choose(run, None if logged is None else run[logged])
    assert got is (None if chosen is None else run[chosen])


STILL = [
    # (fits as (score, main), indexes an open run may still choose)
    (((0, True), (2, True), (0, True)), {1, 2}),
    (((2, True), (2, True)), {1}),
    (((2, True), (1, False), (0, False)), {0, 1, 2}),
    (((3, True), (2, True)), {0, 1}),
]


@pytest.mark.parametrize(("spec", "expected"), STILL)
def test_still_choosable(spec, expected) -> None:
    run = fits(*spec)
    assert attribution.still_choosable(run) == {id(run[i]) for i in expected}


def test_match_by_names_takes_the_last_fit_on_exactly_those_columns() -> None:
    a = Fit(1, 2, key=(("age", "float64"), ("visits", "int64")))
    b = Fit(2, 0, key=(("age", "float64"),))
    c = Fit(3, 2, key=(("age", "float64"), ("visits", "int64")))
    assert attribution.match_by_names([a, b, c], ["age", "visits"]) is c
    assert attribution.match_by_names([a, b, c], ["age"]) is b
    assert attribution.match_by_names([a, b, c], ["visits", "age"]) is None
    assert attribution.match_by_names([a, b, c], []) is None


def test_other_fits_lists_the_others_collapsed_and_bounded() -> None:
    primary = Fit(1, 2)
    loop = [Fit(2 + i, 0, source="sklearn:IsolationForest") for i in range(3)]
    thread = Fit(9, 2, main=False, thread="worker-1", key=(("visits", "int64"),))
    value = attribution.other_fits_value([primary, *loop, thread], primary)
    digest = attribution.names_digest(loop[0])
    assert value == (
        f"#2 fit sklearn:IsolationForest 1f {digest} main x3; "
        f"#9 fit sklearn:LogisticRegression 1f {attribution.names_digest(thread)} worker-1"
    )
    many = [Fit(i, 0, key=((f"c{i}", "float64"),)) for i in range(1, 400)]
    value = attribution.other_fits_value(many, many[0])
    assert len(value) <= attribution.OTHER_FITS_MAX + 20
    assert value.endswith(" more")


def test_the_rule_imports_neither_mlflow_nor_numpy() -> None:
    code = (
        "import sys, mlflow_debt.capture.attribution\n"
        "print([m for m in ('mlflow', 'numpy', 'pandas', 'sklearn') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
