"""The attribution rule: which of a run's fits its tags describe (pure; docs/lineage.md).

A run keeps every recorded fit, in order. Its ``mlflow_debt.*`` tags describe *one* of them:

1. the fit of the model last logged from the run (the recorder matches a logged object to its fit
   by identity; failing that, :func:`match_by_names` matches the logged signature's input names);
2. else the best-scored fit made on the main thread, the latest among equals. Scores:
   3 an explicit ``log_features``, 2 a classifier or regressor, 1 another predictor fit with
   ``y``, 0 anything else (a transformer, a monitor, a clusterer);
3. else (no fit on the main thread) the best-scored fit of any thread, the latest among equals.

The others are listed in ``mlflow_debt.other_fits`` (:func:`other_fits_value`). While the run is
open, :func:`still_choosable` tells which fits a later fit could not outrank yet, so their
samples are kept until the run ends.

Works on any objects with the attributes of :class:`FitLike`; imports neither MLflow nor NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from mlflow_debt import tags
from mlflow_debt.tags import FeatureRecord

#: The compact list of the run's other fits.
OTHER_FITS_KEY = tags.OTHER_FITS_KEY
#: Longest ``other_fits`` value (MLflow truncates tag values at 8,000 characters).
OTHER_FITS_MAX = 6_000


class FitLike(Protocol):
    """What the rule reads of a recorded fit."""

    order: int  # recording order in the process
    source: str  # "sklearn:LogisticRegression", "log_features", ...
    kind: str  # the entry point: "fit", "partial_fit", ...
    thread: str  # "main" or the thread's name
    main: bool  # made on the main thread
    score: int  # 3 explicit, 2 classifier/regressor, 1 supervised predictor, 0 other

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        """(name, dtype) of each column, as text."""
        ...


F = TypeVar("F", bound=FitLike)


def choose(fits: Sequence[F], logged: F | None = None) -> F | None:
    """The fit the run's tags describe (the module docstring's rule)."""
    if logged is not None:
        return logged
    if not fits:
        return None
    main = [f for f in fits if f.main] or list(fits)
    return max(main, key=lambda f: (f.score, f.order))


def still_choosable(fits: Sequence[FitLike]) -> set[int]:
    """``id()`` of the fits :func:`choose` may still pick while the run is open: no later fit of
    the same thread kind (main or not) scores as high."""
    best: dict[bool, int] = {}
    out = set()
    for f in reversed(fits):
        later = best.get(f.main, -1)
        if f.score > later:
            out.add(id(f))
            best[f.main] = f.score
    return out


def match_by_names(fits: Sequence[F], names: Sequence[str]) -> F | None:
    """The last fit on exactly the columns ``names`` (a logged signature's inputs), if any."""
    if not names:
        return None
    wanted = list(names)
    same = [f for f in fits if [n for n, _ in f.key] == wanted]
    return same[-1] if same else None


def names_digest(fit: FitLike) -> str:
    """First 8 hex of the digest of the fit's (name, dtype) list, without fingerprints."""
    return tags.digest(FeatureRecord(n, d, "") for n, d in fit.key)[:8]


def other_fits_value(fits: Sequence[FitLike], primary: FitLike) -> str:
    """``#order kind source n_features columns-digest thread [xN]``, ``;``-separated, in order."""
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...], str], list[FitLike]] = {}
    for f in fits:
        if f is not primary:
            groups.setdefault((f.source, f.kind, f.key, f.thread), []).append(f)
    items = []
    for (source, kind, key, thread), same in groups.items():
        first = same[0]
        times = f" x{len(same)}" if len(same) > 1 else ""
        items.append(
            (
                first.order,
                f"#{first.order} {kind} {source} {len(key)}f {names_digest(first)} {thread}{times}",
            )
        )
    items.sort()
    out: list[str] = []
    size = 0
    for i, (_, text) in enumerate(items):
        if size + len(text) + 2 > OTHER_FITS_MAX:
            out.append(f"+{len(items) - i} more")
            break
        out.append(text)
        size += len(text) + 2
    return "; ".join(out)
