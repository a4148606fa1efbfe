"""Fingerprints: a sign-safe encoding, the documented tolerance, legacy tokens. No store needed.

The property tests re-sample distributions drawn by hypothesis (six families, any scale, shifted,
mirrored to negative values) at the 2,000 rows the docs measure on.
"""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlflow_debt.capture import fingerprint
from mlflow_debt.capture.fingerprint import same_definition
from mlflow_debt.capture.profile import profile

ROWS = 2_000
#: The false-"changed" rate docs/lineage.md claims for re-samples of one distribution.
DOCUMENTED_RATE = 0.008

FAMILIES = {
    "normal": lambda r, n: r.normal(0.0, 1.0, n),
    "lognormal": lambda r, n: r.lognormal(0.0, 0.8, n),
    "exponential": lambda r, n: r.exponential(1.0, n),
    "student_t3": lambda r, n: r.standard_t(3, n),
    "uniform": lambda r, n: r.uniform(0.0, 1.0, n),
    "poisson": lambda r, n: r.poisson(3.0, n).astype(float),
}


def draw(family: str, shift: float, scale: float, mirror: bool, seed: int, n: int = ROWS):
    x = FAMILIES[family](np.random.default_rng(seed), n)
    # poisson stays whole: shifted by whole numbers, not rescaled
    x = x + round(shift) if family == "poisson" else (x + shift) * scale
    return -x if mirror else x


def tok(x: np.ndarray) -> str:
    return profile(pd.Series(x))


def false_changed(base: str, samples: list[str]) -> int:
    return sum(same_definition(base, s) is False for s in samples)


distributions = st.tuples(
    st.sampled_from(sorted(FAMILIES)),
    st.floats(-4.0, 4.0),  # shift, in units of the family's spread
    st.floats(-3.0, 3.0).map(lambda e: 10.0**e),  # scale
    st.booleans(),  # mirrored: the same distribution, negative
)


def _away_from_the_sign_edge(family: str, shift: float, scale: float) -> bool:
    """The sign field comes from the 1st/99th percentiles: a distribution whose percentile sits
    at zero flips it between samples (documented). Those are excluded here, counted below."""
    big = draw(family, shift, scale, False, seed=12345, n=50_000)
    p1, q1, q3, p99 = np.percentile(big, (1, 25, 75, 99))
    band = 0.25 * (q3 - q1)
    return abs(p1) > band and abs(p99) > band


SLOW_PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@SLOW_PROPERTY
@given(distributions)
@pytest.mark.slow  # hundreds of generated cases: 20-50 s
def test_resampling_a_distribution_is_not_a_change(dist) -> None:
    family, shift, scale, mirror = dist
    assume(_away_from_the_sign_edge(family, shift, scale))
    base = tok(draw(family, shift, scale, mirror, seed=0))
    samples = [tok(draw(family, shift, scale, mirror, seed=s)) for s in range(1, 21)]
    assert false_changed(base, samples) == 0, (base, samples)


@SLOW_PROPERTY
@given(distributions)
@pytest.mark.slow  # hundreds of generated cases: 20-50 s
def test_a_mirrored_distribution_is_judged_like_its_original(dist) -> None:
    family, shift, scale, _ = dist
    verdicts = []
    for mirror in (False, True):
        base = tok(draw(family, shift, scale, mirror, seed=0))
        samples = [tok(draw(family, shift, scale, mirror, seed=s)) for s in range(1, 16)]
        verdicts.append([same_definition(base, s) for s in samples])
    assert verdicts[0] == verdicts[1]


@pytest.mark.parametrize(
    "change",
    [
        lambda x: x * 2.0,
        lambda x: x / 2.0,
        lambda x: x * 2.54,  # inches -> cm
        lambda x: x * 12,  # years -> months
        lambda x: x * 100,
        lambda x: x / 1000,
    ],
    ids=["x2", "x0.5", "x2.54", "x12", "x100", "x0.001"],
)
@settings(max_examples=25, deadline=None, derandomize=True)
@given(dist=distributions)
def test_a_rescale_or_unit_change_is_caught(change, dist) -> None:
    family, shift, scale, mirror = dist
    base = tok(draw(family, shift, scale, mirror, seed=0))
    assert same_definition(base, tok(change(draw(family, shift, scale, mirror, seed=1)))) is False


@settings(max_examples=60, deadline=None, derandomize=True)
@given(dist=distributions)
def test_a_sign_flip_is_caught_unless_the_distribution_is_its_own_mirror(dist) -> None:
    family, shift, scale, mirror = dist
    big = draw(family, shift, scale, False, seed=12345, n=50_000)
    q1, med, q3 = np.percentile(big, (25, 50, 75))
    # A flip of a feature centred on zero (|median| small against its IQR) and symmetric is the
    # same distribution: nothing can tell. Off centre, it is a new definition.
    assume(abs(med) > 0.25 * (q3 - q1))
    base = tok(draw(family, shift, scale, mirror, seed=0))
    assert same_definition(base, tok(-draw(family, shift, scale, mirror, seed=1))) is False


@pytest.mark.slow  # hundreds of generated cases: 20-50 s
def test_the_false_changed_rate_stays_at_the_documented_rate_sign_edges_included() -> None:
    """The docs' figure over a grid of shifts (sign edges included), for positive and negative
    versions of each distribution alike."""
    rates = {}
    for mirror in (False, True):
        bad = total = 0
        for family in FAMILIES:
            for shift in np.linspace(-3, 3, 13):
                for scale in (0.01, 37.0):
                    base = tok(draw(family, shift, scale, mirror, seed=0))
                    samples = [tok(draw(family, shift, scale, mirror, s)) for s in range(1, 11)]
                    bad += false_changed(base, samples)
                    total += len(samples)
        rates[mirror] = bad / total
    assert rates[False] <= DOCUMENTED_RATE, rates
    assert rates[True] <= DOCUMENTED_RATE, rates
    assert rates[False] == rates[True]


def test_negative_medians_keep_the_one_bucket_tolerance() -> None:
    """Issue 11 defect 6: re-samples of normal(-0.36, 0.3) were 'changed' 11 times in 29."""
    for loc in (-0.36, 0.36):
        base = tok(np.random.default_rng(0).normal(loc, 0.3, ROWS))
        samples = [tok(np.random.default_rng(s).normal(loc, 0.3, ROWS)) for s in range(1, 30)]
        assert false_changed(base, samples) == 0, (loc, base, samples)
    assert "--" not in base


def test_a_median_moving_across_zero_is_a_change() -> None:
    """+0.4 -> -2.5 was encoded as the same bucket ('m-0.4') on both sides of zero."""
    a = tok(np.random.default_rng(1).normal(0.4, 2.0, ROWS))
    b = tok(np.random.default_rng(2).normal(-2.5, 2.0, ROWS))
    assert a.split(":")[1] == b.split(":")[1] == "pm"
    assert same_definition(a, b) is False


def test_the_encoding_is_sign_safe() -> None:
    assert fingerprint.signed_bucket(-0.36) == "n-0.4"
    assert fingerprint.signed_bucket(-2.5) == "n0.4"
    assert fingerprint.signed_bucket(0.4) == "p-0.4"
    assert fingerprint.signed_bucket(40) == "p1.6"
    assert fingerprint.signed_bucket(0) == "z"
    for x in np.concatenate([-np.logspace(-5, 5, 101), np.logspace(-5, 5, 101)]):
        token = fingerprint.signed_bucket(float(x))
        assert "--" not in token
        assert token[0] == ("n" if x < 0 else "p")


def test_the_module_docstring_examples_are_what_the_code_does() -> None:
    result = doctest.testmod(fingerprint, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2
    assert result.failed == 0


# --- tokens written by mlflow-debt 0.1 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("legacy", "new", "expected"),
    [
        # Unambiguous legacy values compare like new ones.
        ("num:+:m1.6:s1.2:na0", "num:+:mp1.6:s1.2:na0", True),
        ("num:+:m1.6:s1.2:na0", "num:+:mp1.7:s1.2:na0", True),
        ("num:+:m1.6:s1.2:na0", "num:+:mp2.6:s1.2:na0", False),
        ("num:pm:m--0.4:s-0.4:na0", "num:pm:mn-0.4:s-0.4:na0", True),
        ("num:pm:m--0.4:s-0.4:na0", "num:pm:mn-0.5:s-0.4:na0", True),
        # The sign field resolves a single minus: all positive, all negative.
        ("num:+:m-0.4:s-0.4:na0", "num:+:mp-0.4:s-0.4:na0", True),
        ("num:-:m-1.6:s1.2:na0", "num:-:mn1.6:s1.2:na0", True),
        ("num:-:m-1.6:s1.2:na0", "num:-:mn2.6:s1.2:na0", False),
        # Either +0.4 or -2.5: unknown when the new value is one of them, never 'changed'.
        ("num:pm:m-0.4:s0.4:na0", "num:pm:mp-0.4:s0.4:na0", None),
        ("num:pm:m-0.4:s0.4:na0", "num:pm:mn0.4:s0.4:na0", None),
        # ... and changed when it is neither.
        ("num:pm:m-0.4:s0.4:na0", "num:pm:mp2:s0.4:na0", False),
        # A legacy m0 was zero or about +1.
        ("num:pm:m0:s0.1:na0", "num:pm:mz:s0.1:na0", None),
        ("num:+:m0:s-1:na0", "num:+:mp0:s-1:na0", None),
        ("num:pm:m0:s0.1:na0", "num:pm:mp1.5:s0.1:na0", False),
        # The other fields are compared exactly, as before.
        ("num:+:m1.6:s1.2:na0", "num:+:mp1.6:s1.2:na5", False),
        ("num:+:m1.6:s1.2:na0", "int:+:mp1.6:s1.2:na0", False),
        ("num:+:m1.6:s1.2:na0:p4930", "num:+:mp1.6:s1.2:na0:p4930", True),
    ],
)
def test_legacy_tokens_decode_and_compare_sensibly(legacy, new, expected) -> None:
    assert same_definition(legacy, new) is expected
    assert same_definition(new, legacy) is expected


def test_an_unchanged_feature_recorded_before_and_after_the_upgrade_matches() -> None:
    """Legacy tokens of real data (the 0.1 encoder, inlined) against today's tokens."""

    def legacy_bucket(x: float) -> str:
        if x == 0:
            return "0"
        b = round(np.log10(abs(x)), 1) + 0.0
        return f"{'-' if x < 0 else ''}{b:g}"

    for loc, spread in ((40.0, 11.0), (-0.36, 0.3), (0.36, 0.3), (-300.0, 20.0), (0.02, 0.01)):
        x = np.random.default_rng(0).normal(loc, spread, ROWS)
        new = tok(x)
        parts = new.split(":")
        q1, med, q3 = np.percentile(x, (25, 50, 75))
        centred = abs(med) < 0.05 * (q3 - q1)
        parts[2] = "m" + ("0" if centred else legacy_bucket(float(med)))
        legacy = ":".join(parts)
        assert same_definition(legacy, new) is not False, (legacy, new)


def test_non_numeric_kinds_are_compared_exactly() -> None:
    assert same_definition("cat:k3:habc123:na0", "cat:k3:habc124:na0") is False
    assert same_definition("bin:p0.3:na0", "bin:p0.3:na0") is True
    assert same_definition("?", "num:+:mp1:s1:na0") is None
    assert same_definition("num:+:mp1:s1:na0", "num:+:mp1.1:s1:na0") is True
    assert same_definition("num:+:mp1:s1:na0", "num:+:mp1.2:s1:na0") is False
    assert same_definition("num:+:mp1:s1:na0", "num:+:mn1:s1:na0") is False


def test_the_fingerprint_module_is_pure() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mlflow_debt.capture.fingerprint\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'mlflow', 'polars') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["num", "int", "+", "-", "pm", "mz", "sinf", "na0", "m--", "c"]),
            st.from_regex(r"[mcs][pn-]{0,2}-?[0-9e.]{0,6}(inf|nan)?", fullmatch=True),
            st.text(max_size=6),
        ),
        min_size=1,
        max_size=6,
    ).map(":".join),
    st.sampled_from(["num:pm:mp1e308:s400:na0", "num:+:m-999:s-999:na0", "int:-:cn0.3:na0"]),
)
@pytest.mark.slow  # hundreds of generated cases: 20-50 s
def test_any_stored_text_compares_without_raising(a: str, b: str) -> None:
    """Tag values are untrusted: whatever a store holds, comparing answers True/False/None."""
    for x, y in ((a, b), (b, a), (a, a)):
        assert same_definition(x, y) in (True, False, None)
