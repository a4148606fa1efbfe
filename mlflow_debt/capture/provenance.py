"""Provenance: a transformer's output remembers, weakly, the columns it was made from.

``Xs = StandardScaler().fit_transform(X[num])`` gives an array without column names; a model fit
on it later (``LogisticRegression().fit(Xs, y)``) has read ``num``, through the scaler. When a
fit-like or ``transform`` call of a fitted transformer returns (the sklearn hook calls
:func:`remember`), its output is registered here with an :class:`Origin`: the source columns
(names, dtypes, the strided sample of their rows that the fingerprints will be made from), which
source columns each output column comes from (:func:`mlflow_debt.capture.reads.outputs`: one-hot
blocks, ``ColumnTransformer`` parts and their ``num__`` names, selectors), and the chain of
transformers applied to each source column so far. A later fit on that output (:func:`origin_of`)
records the source columns with that chain as preprocessing, never the output's own names.

The registry never keeps an output alive and never copies it: it maps ``id(output)`` to a weak
reference (checked for identity at lookup, so a recycled id never matches) and the origin; the
entry goes when the output is collected. A numpy view with the same columns (``Xs[:800]``)
finds its base's origin; a DataFrame output (``set_output(transform="pandas")``) is found by its
column names too, so a row split or a column subset of it (``train_test_split``) still maps back.
At most :data:`MAX_ORIGINS` outputs are remembered (the oldest go first).

Pure: no MLflow, numpy or pandas import (the sample is taken by the caller's function).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlflow_debt.capture import reads

#: Outputs remembered at once; older ones are forgotten (their models are recorded as today).
MAX_ORIGINS = 64
#: How many ``.base`` links of a numpy view are followed to its registered output.
MAX_BASES = 4


@dataclass(eq=False)
class Origin:
    """Where the columns of a transformer's output come from."""

    #: The source columns: names and dtypes (as the source frame has them).
    names: tuple[str, ...]
    dtypes: tuple[Any, ...]
    #: The strided sample of the source columns' rows (see ``profile.snapshot``); ``view``: it
    #: shares the source frame's memory (pandas copy-on-write).
    sample: Any
    view: bool
    #: Output column -> positions of the source columns it is made from.
    outputs: list[frozenset[int]]
    #: Source position -> transformer descriptions applied to it so far.
    chains: dict[int, list[str]] = field(default_factory=dict)
    #: The output's column names when it is a DataFrame.
    out_names: tuple[str, ...] | None = None
    #: Source columns handed to the transformers that none of them read.
    unread: tuple[str, ...] = ()
    #: The class of the last transformer (for messages and tests).
    transformer: str = ""
    _index: dict[str, int] | None = None

    def out_index(self) -> dict[str, int]:
        """Output name -> position (empty when the output has no names or repeats one)."""
        if self._index is None:
            names = self.out_names or ()
            index = {n: i for i, n in enumerate(names)}
            self._index = index if len(index) == len(names) else {}
        return self._index

    def sources(self, positions: Sequence[int] | None) -> list[int]:
        """The source positions behind output ``positions`` (``None``: all outputs), in order."""
        picked = self.outputs if positions is None else [self.outputs[i] for i in positions]
        return sorted(frozenset().union(*picked)) if picked else []


_lock = threading.Lock()
_origins: dict[int, tuple[weakref.ref[Any], Origin]] = {}


def _forget(key: int, ref: weakref.ref[Any]) -> None:
    with _lock:
        entry = _origins.get(key)
        if entry is not None and entry[0] is ref:
            del _origins[key]


def _register(output: Any, origin: Origin) -> bool:
    key = id(output)

    def forget(r: weakref.ref[Any]) -> None:
        _forget(key, r)

    try:
        ref = weakref.ref(output, forget)
    except TypeError:  # not weakly referenceable (a list): nothing is remembered
        return False
    with _lock:
        _origins.pop(key, None)
        _origins[key] = (ref, origin)
        while len(_origins) > MAX_ORIGINS:
            del _origins[next(iter(_origins))]
    return True


def _after_fork_in_child() -> None:
    # a fork while another thread held the lock must not leave the child's copy locked
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def clear() -> None:
    """Forget every output (tests; a forked child keeps its parent's, which stay valid)."""
    with _lock:
        _origins.clear()


def _column_names(X: Any) -> tuple[str, ...] | None:
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "dtypes"):
        return None
    tolist = getattr(columns, "tolist", None)
    labels = tolist() if callable(tolist) else list(columns)
    return tuple(str(c) for c in labels)


def _width(X: Any) -> int | None:
    shape = getattr(X, "shape", None)
    if not isinstance(shape, tuple) or len(shape) != 2:
        return None
    try:
        return int(shape[1])
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Found:
    """An input traced to its origin: input column ``i`` is output column ``positions[i]``."""

    origin: Origin
    positions: list[int]


def origin_of(X: Any) -> Found | None:
    """The origin of ``X`` if it is (a view of, or a frame made from) a remembered output."""
    if not _origins:
        return None
    width = _width(X)
    if width is None:
        return None
    hit = _lookup(X)
    names = _column_names(X)
    if names is not None:  # a frame: its columns by name (a split or subset of the output too)
        return _by_names(names, hit)
    base = X
    for _ in range(MAX_BASES):
        if hit is not None:
            break
        base = getattr(base, "base", None)
        if base is None:
            return None
        hit = _lookup(base)
    if hit is None or len(hit.outputs) != width:
        return None
    return Found(hit, list(range(width)))


def _lookup(obj: Any) -> Origin | None:
    with _lock:
        entry = _origins.get(id(obj))
    return entry[1] if entry is not None and entry[0]() is obj else None


def _by_names(names: tuple[str, ...], hit: Origin | None) -> Found | None:
    with _lock:
        recent = [o for _, o in reversed(_origins.values())]
    for origin in [hit] if hit is not None else recent:
        where = origin.out_index()
        if not where or not all(n in where for n in names):
            continue
        if hit is None and all(_named_as_source(origin, where[n], n) for n in names):
            continue  # the source columns' own names: an unrelated frame, recorded as it is
        return Found(origin, [where[n] for n in names])
    return None


def _named_as_source(origin: Origin, position: int, name: str) -> bool:
    sources = origin.sources([position])
    return len(sources) == 1 and origin.names[sources[0]] == name


Sampler = Callable[[Any], tuple[Any, bool]]


def remember(
    transformer: Any, X: Any, output: Any, sampler: Sampler, frame_columns: Callable[[Any], Any]
) -> Origin | None:
    """Register ``output`` (what the fitted ``transformer`` returned for ``X``) with its origin.

    ``sampler(X)`` takes the strided sample of a source frame and says whether it is a view;
    ``frame_columns(X)`` gives its (labels, dtypes). Nothing is registered when ``X`` has no
    names and no origin, or when ``output`` is not a two-dimensional array or frame.
    """
    n_out = _width(output)
    n_in = _width(X)
    if n_out is None or n_in is None:
        return None
    found = origin_of(X)
    names = _column_names(X)
    if found is not None:
        base = found.origin
        current = [base.outputs[p] for p in found.positions]
        chains = {k: list(v) for k, v in base.chains.items()}
        src_names, dtypes, sample, view = base.names, base.dtypes, base.sample, base.view
        unread = list(base.unread)
    else:
        if names is None or _positional(names, X):
            return None
        labels, dtypes = frame_columns(X)
        src_names = tuple(str(c) for c in labels)
        sample, view = sampler(X)
        current = [frozenset([i]) for i in range(n_in)]
        chains = {}
        unread = []
    step = reads.transformer_chains(transformer, names, n_in)
    out = reads.outputs(transformer, names, n_in)
    if out is None or len(out) != n_out:
        read = step.read_positions()
        out = [frozenset(read)] * n_out
    _extend(chains, current, step.chains)
    outputs = [frozenset().union(*(current[i] for i in srcs if i < len(current))) for srcs in out]
    used = frozenset().union(*outputs) if outputs else frozenset()
    handed = frozenset().union(*current) if current else frozenset()
    seen = set(unread)
    unread.extend(src_names[s] for s in sorted(handed - used) if src_names[s] not in seen)
    origin = Origin(
        names=src_names,
        dtypes=tuple(dtypes),
        sample=sample,
        view=view,
        outputs=outputs,
        chains={s: c for s, c in chains.items() if s in used},
        out_names=_column_names(output),
        unread=tuple(unread),
        transformer=type(transformer).__name__,
    )
    return origin if _register(output, origin) else None


def _extend(
    chains: dict[int, list[str]],
    behind: Sequence[frozenset[int]],
    step: dict[int, list[str]],
    only: set[int] | None = None,
) -> None:
    """Append one step's descriptions (keyed by the step's input positions) to the chains of
    the source columns behind those positions, once per source (one-hot columns share one)."""
    per_source: dict[int, list[str]] = {}
    for pos in sorted(step):
        if pos >= len(behind):
            continue
        for s in sorted(behind[pos]):
            if only is not None and s not in only:
                continue
            got = per_source.setdefault(s, [])
            got.extend(d for d in step[pos] if d not in got)
    for s, descs in per_source.items():
        chains.setdefault(s, []).extend(descs)


def _positional(names: tuple[str, ...], X: Any) -> bool:
    labels = getattr(X, "columns", None)
    if type(labels).__name__ == "RangeIndex":
        return True
    tolist = getattr(labels, "tolist", None)
    values = tolist() if callable(tolist) else list(names)
    return bool(values) and all(
        isinstance(c, int) or (type(c).__module__ == "numpy" and "int" in type(c).__name__)
        for c in values
    )


@dataclass
class Traced:
    """A fit on a remembered output, traced back to the source columns."""

    origin: Origin
    #: Source positions the model reads, in source order.
    read: list[int]
    #: Source name -> its preprocessing chain (the transformers' and the model's own).
    pre: dict[str, str]
    #: Source columns handed in (to the transformers or the model) and not read.
    unread: tuple[str, ...]


def trace(estimator: Any, X: Any) -> Traced | None:
    """What a fit of ``estimator`` on ``X`` read, when ``X`` is a remembered output."""
    found = origin_of(X)
    if found is None:
        return None
    origin = found.origin
    names = _column_names(X)
    analysis = reads.analyse(estimator, list(names) if names else None, len(found.positions))
    model_read = analysis.read_positions()
    read = origin.sources([found.positions[i] for i in model_read])
    chains = {s: list(origin.chains.get(s, [])) for s in read}
    behind = [frozenset(origin.sources([p])) for p in found.positions]
    _extend(chains, behind, {i: [t] for i, t in analysis.chain_text().items()}, only=set(read))
    pre = {
        origin.names[s]: ">".join(c)
        for s, c in chains.items()
        if c and any(d != "passthrough" for d in c)
    }
    handed = set(origin.sources(found.positions))
    unread, seen = list(origin.unread), set(origin.unread)
    unread.extend(
        origin.names[s] for s in sorted(handed - set(read)) if origin.names[s] not in seen
    )
    return Traced(origin, read, pre, tuple(unread))


def record_output(transformer: Any, X: Any, output: Any) -> None:
    """What the sklearn hook calls when a fitted transformer's ``fit_transform``/``transform``
    returned ``output`` for ``X`` (never raises: capture never fails the user's call)."""
    try:
        if _width(output) is None or _width(X) is None:
            return
        remember(transformer, X, output, _sample_frame, _frame_columns)
    except Exception:  # noqa: BLE001  the user's transformer: capture never fails the call
        return


def _sample_frame(X: Any) -> tuple[Any, bool]:
    from mlflow_debt.capture import profile

    view = type(X).__module__.startswith("pandas") and profile.copy_on_write()
    return profile.snapshot(X, None, copy=not view)[0], view


def _frame_columns(X: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    dtypes = X.dtypes
    listed = dtypes.tolist() if hasattr(dtypes, "tolist") else list(dtypes)
    columns = X.columns
    labels = columns.tolist() if hasattr(columns, "tolist") else list(columns)
    return tuple(labels), tuple(listed)
