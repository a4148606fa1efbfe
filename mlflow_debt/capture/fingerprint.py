"""Comparing fingerprints (:mod:`mlflow_debt.capture.profile` makes them). Pure, light."""

from __future__ import annotations

from mlflow_debt.tags import UNKNOWN


def _bucket_value(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


def same_definition(a: str, b: str) -> bool | None:
    """Whether two fingerprints describe the same feature definition; ``None`` if unknowable.

    Equal tokens match. Numeric location/scale buckets may differ by one bucket (0.1 decade), the
    sampling noise of a statistic sitting on a bucket edge; anything else must be equal. So a
    rescale by 1.6x or more is always a change, and re-sampling almost never is.
    """
    if a == UNKNOWN or b == UNKNOWN or not a or not b:
        return None
    if a == b:
        return True
    pa, pb = a.split(":"), b.split(":")
    if len(pa) != len(pb) or pa[0] != pb[0] or pa[0] not in {"num", "int"}:
        return False
    for ta, tb in zip(pa, pb):
        if ta == tb:
            continue
        if ta[:1] != tb[:1] or ta[:1] not in {"m", "s", "c"}:
            return False
        va, vb = _bucket_value(ta[1:]), _bucket_value(tb[1:])
        if va is None or vb is None or abs(va - vb) > 0.1 + 1e-9:
            return False
    return True
