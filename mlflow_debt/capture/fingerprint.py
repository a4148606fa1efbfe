"""Fingerprints, made and compared. Pure: plain Python; numpy only inside the array functions.

A fingerprint is a *coarse profile* of one feature's values, written as a short readable token.
It is built to stay the same when the same feature is re-sampled (another month's rows from the
same distribution) and to change when the feature's *definition* changes: rescaled, unit changed,
sign flipped, re-encoded, filled differently, or preprocessed differently inside the pipeline.
:mod:`mlflow_debt.capture.profile` turns DataFrame columns into the inputs of the functions here.

=============  ===========================================================================
kind           token
=============  ===========================================================================
numeric        ``num:<sign>:m<median>:s<IQR>:na<null%>``, e.g. ``num:+:mp1.6:s1.2:na0``. The
               median is a *signed* log10 bucket of 0.1 decade (a factor of 1.26): ``p`` (plus)
               or ``n`` (minus) then the exponent, so ``mp1.6`` is about +40, ``mn-0.4`` about
               -0.4, and ``mz`` a centred feature (median within 5% of the IQR of zero). The IQR
               is always positive: ``s1.2`` is its exponent alone. Robust statistics, so one
               outlier in a new sample moves nothing. ``int`` instead of ``num`` when every value
               is whole; sign ``+``/``-``/``pm`` from the 1st and 99th percentiles; mean and std
               stand in when the IQR is zero (sparse features), ``c<location>`` for a constant.
binary         ``bin:p<share of ones, to 0.1>:na<null%>``
categorical    ``cat:k<categories>:h<hash of the categories>:na<null%>``; only categories with at
               least 1% of the rows count, so rare levels coming and going do not flip it.
datetime       ``dt:na<null%>`` (the span of dates is expected to move with the sample)
=============  ===========================================================================

>>> signed_bucket(40), signed_bucket(-0.36), signed_bucket(0.004), signed_bucket(0)
('p1.6', 'n-0.4', 'p-2.4', 'z')
>>> numeric_token(False, False, (-3.0, -1.2, -0.36, 0.4, 2.0), -0.3, 1.1, "na0")
'num:pm:mn-0.4:s0.2:na0'

``na<null%>`` is bucketed (0, 1, 5, 20, 50, 99). When the model's pipeline transforms the column
``:p<hash>`` is appended (:func:`with_preprocessing`).

**Comparing** (:func:`same_definition`): equal tokens match. A numeric location may differ by one
bucket *of the same sign*, or by at most :data:`NEAR` of the IQR (a median near zero is noisy in
log terms: re-samples of a feature centred at 0.07 land on ``mz``, ``mp-1.2`` or ``mn-1.3``); the
IQR may differ by one bucket. Everything else (kind, sign, null share, preprocessing) must be
equal. So a rescale by 1.6x or more, a unit change and a sign flip of a feature that is not
centred are changes, and re-sampling almost never is.

**Tokens written by mlflow-debt 0.1** (the *legacy* format, still in users' tracking stores)
wrote the location as ``'-' if x < 0`` then the signed exponent: ``m1.6`` (+40), ``m--0.4``
(-0.4), and ``m-0.4``, which is either +0.4 or -2.5. They are decoded, not re-written: a location
is read as every value it can mean (the sign field narrows ``m-0.4`` down when the feature is all
positive or all negative; a legacy ``m0`` is zero or about +1). Compared with any token, a legacy
one is *the same* when every reading matches, *changed* when none does, and ``None`` (unknown,
compatible: never reported as a change) when only some do. Nothing else differs between the
formats, so an unchanged feature recorded before and after the upgrade matches.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlflow_debt.tags import UNKNOWN

if TYPE_CHECKING:
    import numpy as np

#: A category counts towards a categorical fingerprint from this share of rows on.
MIN_CATEGORY_SHARE = 0.01
MAX_CATEGORIES = 50
#: Two numeric locations within this share of the IQR are the same (see the module docstring).
NEAR = 0.1
#: One bucket of 0.1 decade, with room for float rounding.
_ONE_BUCKET = 0.1 + 1e-9
QUANTILES = (1, 25, 50, 75, 99)
#: Below this share of the IQR, a median counts as zero (``mz``).
CENTRED = 0.05


def short_hash(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def na_bucket(share: float) -> str:
    if share <= 0:
        return "na0"
    for edge in (0.01, 0.05, 0.20, 0.50):
        if share <= edge:
            return f"na{round(edge * 100)}"
    return "na99"


def _exponent(x: float) -> str:
    b = round(math.log10(abs(x)), 1) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{b:g}"


def signed_bucket(x: float) -> str:
    """A location as a signed log10 bucket of 0.1 decade: 40 -> 'p1.6', -0.36 -> 'n-0.4'."""
    if x == 0:
        return "z"
    if not math.isfinite(x):
        return "pinf" if x > 0 else "ninf"
    return f"{'n' if x < 0 else 'p'}{_exponent(x)}"


def scale_bucket(x: float) -> str:
    """A (positive) spread as a log10 bucket of 0.1 decade: 16 -> '1.2', 0.4 -> '-0.4'."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else "inf"
    return _exponent(x)


def numeric_token(
    binary: bool, whole: bool, q: Sequence[float], mean: float, std: float, na: str
) -> str:
    """The token of a numeric column from its 1/25/50/75/99th percentiles, mean and std."""
    if binary:
        return f"bin:p{round(float(mean), 1):g}:{na}"
    kind = "int" if whole else "num"
    # Robust statistics: one outlier in a new sample must not move the profile.
    p1, q1, med, q3, p99 = (float(x) for x in q)
    sign = "+" if p1 >= 0 else ("-" if p99 <= 0 else "pm")
    loc, scale = med, q3 - q1
    if scale == 0:  # mostly one value (sparse counts, flags): fall back to mean and std
        loc, scale = float(mean), float(std)
    if scale == 0:
        return f"{kind}:{sign}:c{signed_bucket(loc)}:{na}"
    centre = "z" if abs(loc) < CENTRED * scale else signed_bucket(loc)
    return f"{kind}:{sign}:m{centre}:s{scale_bucket(scale)}:{na}"


def numeric(values: np.ndarray, na: str) -> str:
    """The token of a 1-D float array (NaN and infinity are ignored; ``na`` says how many)."""
    import numpy as np

    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return f"num:empty:{na}"
    binary = bool(np.isin(finite, (0.0, 1.0)).all())
    whole = bool(np.array_equal(finite, np.round(finite)))
    quantiles = np.percentile(finite, QUANTILES)
    return numeric_token(binary, whole, quantiles, finite.mean(), finite.std(), na)


def numeric_columns(block: np.ndarray) -> list[str | None]:
    """Tokens of the columns of a 2-D float array in one vectorised pass.

    Columns holding NaN or infinity come back as ``None`` (the caller profiles them one by one).
    """
    import numpy as np

    clean = np.isfinite(block).all(axis=0)
    out: list[str | None] = [None] * block.shape[1]
    if not clean.any() or block.shape[0] == 0:
        return out
    a = np.ascontiguousarray(block[:, clean].T)  # one row per column: partitions stay in cache
    binary = ((a == 0) | (a == 1)).all(axis=1)
    whole = (a == np.round(a)).all(axis=1)
    q = np.percentile(a, QUANTILES, axis=1)
    mean, std = a.mean(axis=1), a.std(axis=1)
    for j, col in enumerate(np.flatnonzero(clean)):
        out[col] = numeric_token(bool(binary[j]), bool(whole[j]), q[:, j], mean[j], std[j], "na0")
    return out


def boolean(share_true: float, na: str) -> str:
    return f"bin:p{round(float(share_true), 1):g}:{na}"


def datetime(na: str) -> str:
    return f"dt:{na}"


def categorical(counts: Iterable[tuple[str, int]], na: str, total: int | None = None) -> str:
    """The token of a categorical column from (category, rows) pairs, most frequent first.

    ``total`` (the non-null rows) lets a caller pass only the frequent categories.
    """
    pairs = list(counts)
    total = sum(n for _, n in pairs) if total is None else total
    if total == 0:
        return f"cat:empty:{na}"
    frequent = [c for c, n in pairs if n >= MIN_CATEGORY_SHARE * total][:MAX_CATEGORIES]
    cats = sorted(str(c) for c in frequent)
    return f"cat:k{len(cats)}:h{short_hash(chr(31).join(cats))}:{na}"


def with_preprocessing(token: str, chain: str) -> str:
    """``token`` of a column that the fitted model transforms with ``chain`` (its description)."""
    return token if token == UNKNOWN else f"{token}:p{short_hash(chain, 4)}"


# --- comparing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Numeric:
    kind: str
    sign: str
    #: ``m`` (median with a scale) or ``c`` (constant).
    shape: str
    #: Every value the location can mean (two or more only for legacy tokens).
    locations: tuple[float, ...]
    #: The IQR's log10 bucket (``m`` shape only).
    scale_exp: float | None
    rest: tuple[str, ...]


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _pow10(e: float) -> float:
    """10**e, infinite past the float range (tag values are untrusted text)."""
    try:
        result: float = 10.0**e
        return result
    except OverflowError:
        return math.inf


def _readings(text: str, sign: str) -> tuple[float, ...] | None:
    """Every value a location field (after ``m``/``c``) can mean; None if it is not one."""
    if text == "z":
        return (0.0,)
    if text[:1] in {"p", "n"}:
        e = _float(text[1:])
        if e is None:
            return None
        return ((1.0 if text[0] == "p" else -1.0) * _pow10(e),)
    # Legacy: "-" for a negative value, then the signed exponent.
    if text == "inf":
        return (math.inf, -math.inf)
    if text.startswith("--"):
        e = _float(text[2:])
        return None if e is None else (-_pow10(-e),)
    if text.startswith("-"):
        e = _float(text[1:])
        if e is None:
            return None
        positive, negative = _pow10(-e), -_pow10(e)  # +10^-e, or a negative value of exponent e
        if sign == "+":
            return (positive,)
        if sign == "-":
            return (negative,)
        return (positive, negative)
    e = _float(text)
    if e is None:
        return None
    # A legacy "0" was written for zero (centred) and for a value of exponent 0 (about +1).
    return (0.0, 1.0) if e == 0 else (_pow10(e),)


def _parse(token: str) -> _Numeric | None:
    parts = token.split(":")
    if len(parts) < 3 or parts[0] not in {"num", "int"}:
        return None
    kind, sign, loc = parts[0], parts[1], parts[2]
    if loc[:1] not in {"m", "c"}:
        return None
    readings = _readings(loc[1:], sign)
    if readings is None:
        return None
    scale_exp: float | None = None
    rest = parts[3:]
    if loc[0] == "m":
        if not rest or rest[0][:1] != "s":
            return None
        scale_exp = math.inf if rest[0] == "sinf" else _float(rest[0][1:])
        if scale_exp is None or math.isnan(scale_exp):
            return None
        rest = rest[1:]
    return _Numeric(kind, sign, loc[0], readings, scale_exp, tuple(rest))


def _close(x: float, y: float, scale: float | None) -> bool:
    if x == y:
        return True
    if math.isinf(x) or math.isinf(y):
        return False
    same_sign = x != 0 and y != 0 and (x > 0) == (y > 0)
    if same_sign and abs(math.log10(abs(x)) - math.log10(abs(y))) <= _ONE_BUCKET:
        return True
    return scale is not None and not math.isinf(scale) and abs(x - y) <= NEAR * scale * (1 + 1e-9)


def same_definition(a: str, b: str) -> bool | None:
    """Whether two fingerprints describe the same feature definition; ``None`` if unknowable.

    ``None`` for an unknown fingerprint (``?``), and for a legacy token whose location could mean
    either (see the module docstring); callers treat ``None`` as compatible, never as a change.
    """
    if a == UNKNOWN or b == UNKNOWN or not a or not b:
        return None
    if a == b:
        return True
    na, nb = _parse(a), _parse(b)
    if na is None or nb is None:
        return False
    if (na.kind, na.sign, na.shape, na.rest) != (nb.kind, nb.sign, nb.shape, nb.rest):
        return False
    scale: float | None = None
    if na.scale_exp is not None and nb.scale_exp is not None:
        if na.scale_exp != nb.scale_exp and not abs(na.scale_exp - nb.scale_exp) <= _ONE_BUCKET:
            return False
        scale = _pow10(min(na.scale_exp, nb.scale_exp))
    verdicts = {_close(x, y, scale) for x in na.locations for y in nb.locations}
    if verdicts == {True}:
        return True
    if verdicts == {False}:
        return False
    return None


def changed(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are known to be different definitions (``None`` is not)."""
    return same_definition(a, b) is False
