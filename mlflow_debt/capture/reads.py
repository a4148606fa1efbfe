"""What a fitted estimator reads of its input, and what it does to each column. Pure: no MLflow,
no numpy, no pandas, no scikit-learn import; everything is read from the fitted objects.

Three questions, one walk over the fitted object:

* **outputs** (:func:`outputs`): for a fitted *transformer*, which input positions each output
  column comes from (a ``ColumnTransformer``'s ``output_indices_`` and input indices per part, a
  selector's ``get_support``, a one-hot encoder's block per input, one-to-one transformers); a
  ``Pipeline`` of transformers composes its steps. ``None``: unknown (every output from every
  input).
* **reads** (:func:`analyse`): the input positions a fitted *model* (or pipeline) really reads: a
  ``ColumnTransformer`` reads only the columns its parts select (remainder included unless
  dropped), a selector only what it keeps, a pipeline what its final step reads traced back
  through the steps before it.
* **chains** (:func:`analyse`): per input position, the transformers applied to it before the
  model, as short descriptions (class and scalar parameters). The fingerprint's ``:p<hash>`` is
  the hash of that chain (:func:`mlflow_debt.capture.fingerprint.with_preprocessing`).

Meta-estimators are walked **generically**, not by a list of classes: a fitted wrapper's children
are the fitted estimators among its parameters (scikit-learn keeps each as an attribute of
its own name; ``get_params`` otherwise) and its fitted attributes (names
ending in ``_``: ``best_estimator_``, ``estimator_``, ``estimators_``, ``regressor_``,
``calibrated_classifiers_``' ``estimator``, ...), lists and tuples flattened. A child counts as
reading the wrapper's input when it was fitted on it: the same ``feature_names_in_`` when the
input has names, else the same ``n_features_in_`` (a stacking ensemble's final estimator or a
target transformer are fitted on something else); a child that records neither counts.
Children's chains that differ are joined with ``|``. The walk is bounded (:data:`MAX_NODES`,
:data:`MAX_CHILDREN` per list, :data:`MAX_DEPTH`) and skips an object already on its path
(cycles): beyond the bounds a model reads everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

#: At most this many estimators are looked at in one walk (huge ensembles stay cheap).
MAX_NODES = 256
#: At most this many children of one list (``estimators_`` of a forest) are looked at.
MAX_CHILDREN = 32
#: Nesting deeper than this is not followed.
MAX_DEPTH = 12

Outputs = list[frozenset[int]]


@dataclass
class Reads:
    """What a fitted estimator does with an input of ``n`` columns."""

    n: int
    #: Input positions read, in order; ``None``: all of them.
    read: frozenset[int] | None = None
    #: Input position -> transformer descriptions applied to it, in order.
    chains: dict[int, list[str]] = field(default_factory=dict)

    def read_positions(self) -> list[int]:
        if self.read is None:
            return list(range(self.n))
        return sorted(i for i in self.read if 0 <= i < self.n)

    def chain_text(self) -> dict[int, str]:
        """Position -> ``A>B`` for the positions transformed by something other than passthrough."""
        return {
            i: ">".join(descs)
            for i, descs in self.chains.items()
            if any(d != "passthrough" for d in descs) and (self.read is None or i in self.read)
        }


class LazyNames(Sequence[str]):
    """Column names made on first use: most models never need them (and a pandas 3 Index of
    strings costs more to list than the whole walk of a plain model)."""

    def __init__(self, load: Callable[[], list[str]]) -> None:
        self._load: Callable[[], list[str]] | None = load
        self._names: list[str] = []

    def _get(self) -> list[str]:
        if self._load is not None:
            self._names, self._load = list(self._load()), None
        return self._names

    def __getitem__(self, i: Any) -> Any:
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __contains__(self, value: object) -> bool:
        return value in self._get()

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        return self._get().index(value, start, len(self) if stop is None else stop)


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0
        self.path: set[int] = set()

    def take(self) -> bool:
        self.nodes += 1
        return self.nodes <= MAX_NODES


# --- describing a transformer ---------------------------------------------------------------


def _scalar_params(obj: Any) -> str:
    try:
        params = obj.get_params(deep=False)
    except Exception:  # noqa: BLE001  the user's estimator: capture never fails the fit
        return ""
    simple = {
        k: v for k, v in params.items() if v is None or isinstance(v, (str, int, float, bool))
    }
    return ",".join(f"{k}={simple[k]!r}" for k in sorted(simple))


def describe(t: Any) -> str:
    """A transformer as text: its class and scalar parameters; a pipeline as ``A>B``."""
    if isinstance(t, str):  # "drop" / "passthrough"
        return t
    if t is None:
        return "passthrough"
    if type(t).__name__ == "FunctionTransformer" and getattr(t, "func", None) is None:
        return "passthrough"  # how a fitted ColumnTransformer stores remainder="passthrough"
    steps = getattr(t, "steps", None)
    if isinstance(steps, list):  # a Pipeline
        return ">".join(describe(s) for _, s in steps)
    return f"{type(t).__name__}({_scalar_params(t)})"


def _is_passthrough(t: Any) -> bool:
    if t is None or (isinstance(t, str) and t == "passthrough"):
        return True
    return type(t).__name__ == "FunctionTransformer" and getattr(t, "func", None) is None


# --- resolving a ColumnTransformer's selections ---------------------------------------------


def _as_list(spec: Any) -> list[Any]:
    tolist = getattr(spec, "tolist", None)
    if callable(tolist):
        value = tolist()
        return value if isinstance(value, list) else [value]
    if isinstance(spec, (list, tuple)):
        return list(spec)
    return [spec]


def resolve(spec: Any, names: Sequence[str] | None, n: int) -> list[int] | None:
    """Input positions selected by a column specification (``None``: cannot tell)."""
    if spec is None:
        return []
    if isinstance(spec, slice):
        if isinstance(spec.start, str) or isinstance(spec.stop, str):
            if names is None:
                return None
            start = 0 if spec.start is None else list(names).index(spec.start)
            stop = n - 1 if spec.stop is None else list(names).index(spec.stop)
            return list(range(start, stop + 1))  # label slices include their end
        return list(range(n))[spec]
    if callable(spec):
        return None
    items = [spec] if isinstance(spec, str) else _as_list(spec)
    if items and all(type(v).__name__ in ("bool", "bool_") for v in items):
        return [i for i, keep in enumerate(items) if keep]
    out: list[int] = []
    for v in items:
        if isinstance(v, str):
            if names is None or v not in names:
                return None
            out.append(list(names).index(v))
        else:
            try:
                out.append(int(v) % n if n else int(v))
            except (TypeError, ValueError):
                return None
    return out


def _parts(ct: Any, names: Sequence[str] | None, n: int) -> list[tuple[str, Any, list[int]]] | None:
    """A fitted ColumnTransformer's ``(name, transformer, input positions)`` in order."""
    fitted = getattr(ct, "transformers_", None)
    if not isinstance(fitted, list):
        return None
    indices = getattr(ct, "_transformer_to_input_indices", None)
    out = []
    for item in fitted:
        try:
            name, trans, spec = item
        except (TypeError, ValueError):
            return None
        positions = None
        if isinstance(indices, dict) and name in indices:
            positions = [int(i) for i in _as_list(indices[name])]
        if positions is None:
            positions = resolve(spec, names, n)
        if positions is None:
            return None
        out.append((str(name), trans, positions))
    return out


# --- outputs of a fitted transformer --------------------------------------------------------


def _n_outputs(t: Any, n_in: int) -> int | None:
    for attr in ("_n_features_out", "n_output_features_"):
        value = getattr(t, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    if any(c.__name__ == "OneToOneFeatureMixin" for c in type(t).__mro__):
        return n_in
    names_out = getattr(t, "get_feature_names_out", None)
    if callable(names_out):
        try:
            return len(names_out())
        except Exception:  # noqa: BLE001  not every transformer can name its outputs
            return None
    return None


def _all_to_all(n_in: int, n_out: int) -> Outputs:
    every = frozenset(range(n_in))
    return [every] * n_out


def _ct_outputs(ct: Any, names: Sequence[str] | None, n_in: int, budget: _Budget) -> Outputs | None:
    parts = _parts(ct, names, n_in)
    slices = getattr(ct, "output_indices_", None)
    if parts is None or not isinstance(slices, dict):
        return None
    width = max((s.stop for s in slices.values() if isinstance(s, slice)), default=0)
    out: list[frozenset[int] | None] = [None] * width
    for name, trans, positions in parts:
        where = slices.get(name)
        if not isinstance(where, slice) or where.stop <= where.start or trans == "drop":
            continue
        n_part = where.stop - where.start
        sub_names = [names[i] for i in positions] if names is not None else None
        inner = (
            [frozenset([i]) for i in range(len(positions))]
            if _is_passthrough(trans)
            else _outputs(trans, sub_names, len(positions), budget)
        )
        if inner is None or len(inner) != n_part:
            inner = _all_to_all(len(positions), n_part)
        for k, srcs in enumerate(inner):
            out[where.start + k] = frozenset(positions[i] for i in srcs if i < len(positions))
    if any(o is None for o in out):
        return None
    return [o for o in out if o is not None]


def _outputs(t: Any, names: Sequence[str] | None, n_in: int, budget: _Budget) -> Outputs | None:
    if _is_passthrough(t):
        return [frozenset([i]) for i in range(n_in)]
    if not budget.take():
        return None
    if isinstance(getattr(t, "transformers_", None), list):
        return _ct_outputs(t, names, n_in, budget)
    steps = getattr(t, "steps", None)
    if isinstance(steps, list):
        current: Outputs = [frozenset([i]) for i in range(n_in)]
        step_names = names
        for _, step in steps:
            inner = _outputs(step, step_names, len(current), budget)
            if inner is None:
                return None
            current = [frozenset().union(*(current[i] for i in srcs)) for srcs in inner]
            step_names = None
        return current
    return _leaf_outputs(t, n_in)


def _leaf_outputs(t: Any, n_in: int) -> Outputs | None:
    support = getattr(t, "get_support", None)
    if callable(support):
        try:
            kept = [int(i) for i in _as_list(support(indices=True))]
            return [frozenset([i]) for i in kept]
        except Exception:  # noqa: BLE001  a user's selector: fall back to counting
            pass
    if callable(getattr(t, "fit_resample", None)) and not callable(getattr(t, "transform", None)):
        return [frozenset([i]) for i in range(n_in)]  # a sampler: rows, not columns
    blocks = getattr(t, "_n_features_outs", None)  # OneHotEncoder: outputs per input, in order
    if isinstance(blocks, list) and len(blocks) == n_in:
        out: Outputs = []
        for i, k in enumerate(blocks):
            out.extend([frozenset([i])] * int(k))
        return out
    n_out = _n_outputs(t, n_in)
    if n_out is None:
        return None
    if n_out == n_in:
        return [frozenset([i]) for i in range(n_in)]
    return _all_to_all(n_in, n_out)


def outputs(t: Any, names: Sequence[str] | None, n_in: int) -> Outputs | None:
    """For each output column of the fitted transformer ``t`` (given ``n_in`` inputs, named
    ``names`` when known), the input positions it is made from; ``None``: unknown."""
    try:
        return _outputs(t, names, n_in, _Budget())
    except Exception:  # noqa: BLE001  the user's transformer: capture never fails
        return None


def transformer_chains(t: Any, names: Sequence[str] | None, n_in: int) -> Reads:
    """What the fitted transformer ``t`` reads and applies to each of its ``n_in`` inputs."""
    reads = Reads(n_in, None, {})
    try:
        _apply_step(t, names, n_in, [frozenset([i]) for i in range(n_in)], reads, _Budget())
    except Exception:  # noqa: BLE001  the user's transformer: capture never fails
        return Reads(n_in)
    return reads


# --- reads and chains of a fitted model -----------------------------------------------------


def _append(reads: Reads, sources: frozenset[int], desc: str) -> None:
    for s in sorted(sources):
        reads.chains.setdefault(s, []).append(desc)


def _apply_step(
    step: Any,
    names: Sequence[str] | None,
    n_cur: int,
    current: Outputs,
    reads: Reads,
    budget: _Budget,
) -> Outputs | None:
    """Apply one transformer step: add its descriptions to the chains of the source columns it
    transforms; return the new columns' sources (``None``: unknown)."""
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return current
    parts = (
        _parts(step, names, n_cur)
        if isinstance(getattr(step, "transformers_", None), list)
        else None
    )
    if parts is not None:
        for _, trans, positions in parts:
            srcs = frozenset().union(*(current[i] for i in positions if i < len(current)))
            _append(reads, srcs, describe(trans))
    else:
        every = frozenset().union(*current) if current else frozenset()
        _append(reads, every, describe(step))
    inner = _outputs(step, names, n_cur, budget)
    if inner is None:
        return None
    return [frozenset().union(*(current[i] for i in srcs if i < len(current))) for srcs in inner]


def _estimator_like(value: Any) -> bool:
    return callable(getattr(value, "fit", None)) and callable(getattr(value, "get_params", None))


def _values(est: Any) -> list[tuple[Any, bool]]:
    """``est``'s parameters and public fitted attributes (a wrapper's candidates for children),
    each with whether it is a fitted attribute (a parameter counts only once it is fitted).

    scikit-learn estimators keep each parameter as an attribute of its own name, so ``vars``
    gives both without ``get_params`` (which inspects ``__init__``'s signature on every call:
    the walk runs inside every fit)."""
    try:
        attrs = dict(vars(est))
    except TypeError:
        attrs = {}
    if not attrs:
        try:
            attrs = dict(est.get_params(deep=False))
        except Exception:  # noqa: BLE001  the user's estimator
            attrs = {}
    params: list[tuple[Any, bool]] = []
    fitted: list[tuple[Any, bool]] = []
    for key, value in attrs.items():  # in the order they were set: stable
        if value is None or key.startswith("_") or isinstance(value, (str, int, float)):
            continue
        if not key.endswith("_"):
            params.append((value, False))
        elif key != "named_estimators_":
            fitted.append((value, True))
    return params + fitted


def _is_fitted(value: Any) -> bool:
    try:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(value))
    except TypeError:
        return hasattr(value, "n_features_in_")


def children(est: Any) -> list[Any]:
    """The fitted estimators inside ``est`` (see the module docstring), at most
    :data:`MAX_CHILDREN` from each list, in a stable order."""
    found: list[Any] = []
    seen: set[int] = {id(est)}

    def add(value: Any, fitted: bool, depth: int = 0) -> None:
        if value is None or isinstance(value, (str, bytes, int, float)):
            return
        if _estimator_like(value):
            if id(value) not in seen and (fitted or _is_fitted(value)):
                seen.add(id(value))
                found.append(value)
        elif isinstance(value, (list, tuple)) and depth < 2:
            for item in value[:MAX_CHILDREN]:
                add(item, fitted, depth + 1)
        elif depth < 2 and _estimator_like(getattr(value, "estimator", None)):
            add(value.estimator, fitted, depth + 1)  # calibrated pairs: their fitted estimator

    for value, fitted in _values(est):
        add(value, fitted)
    return found


def _records_input(child: Any) -> bool:
    return hasattr(child, "feature_names_in_") or hasattr(child, "n_features_in_")


def _reads_same_input(child: Any, names: Sequence[str] | None, n: int) -> bool:
    """Whether ``child`` was fitted on the wrapper's input: the same names, else the same width;
    a child that records neither (a user's estimator) is taken to have been."""
    seen = getattr(child, "feature_names_in_", None)
    if names is not None and seen is not None:
        return [str(s) for s in _as_list(seen)] == [str(s) for s in names]
    width = getattr(child, "n_features_in_", None)
    if width is None:
        return seen is None
    return isinstance(width, int) and width == n


def _analyse(est: Any, names: Sequence[str] | None, n: int, budget: _Budget, depth: int) -> Reads:
    everything = Reads(n)
    if _is_passthrough(est) or depth > MAX_DEPTH or id(est) in budget.path or not budget.take():
        return everything
    budget.path.add(id(est))
    try:
        steps = getattr(est, "steps", None)
        if isinstance(steps, list) and steps:
            return _analyse_pipeline(steps, names, n, budget, depth)
        if isinstance(getattr(est, "transformers_", None), list) or callable(
            getattr(est, "get_support", None)
        ):  # a ColumnTransformer or a selector fitted on its own: it reads what it selects
            reads = Reads(n)
            out = _apply_step(est, names, n, [frozenset([i]) for i in range(n)], reads, budget)
            if out is not None:
                reads.read = frozenset().union(*out) if out else frozenset()
            return reads
        kids = [c for c in children(est) if _reads_same_input(c, names, n)]
        if not kids:
            return everything
        merged = Reads(n, frozenset(), {})
        chains: dict[int, list[str]] = {}
        informed = False
        for kid in kids:
            sub = _analyse(kid, names, n, budget, depth + 1)
            # a child that records no input (a label encoder, a user's pipeline) adds its chains
            # but never widens what the others read
            if _records_input(kid):
                informed = True
                merged.read = (
                    None if sub.read is None or merged.read is None else merged.read | sub.read
                )
            for pos, text in sub.chain_text().items():
                if text not in chains.setdefault(pos, []):
                    chains[pos].append(text)
        merged.chains = {pos: ["|".join(sorted(texts))] for pos, texts in chains.items()}
        if not informed:
            merged.read = None
        return merged
    finally:
        budget.path.discard(id(est))


def _analyse_pipeline(
    steps: list[Any], names: Sequence[str] | None, n: int, budget: _Budget, depth: int
) -> Reads:
    reads = Reads(n, None, {})
    current: Outputs = [frozenset([i]) for i in range(n)]
    step_names = names
    for k, (_, step) in enumerate(steps[:-1]):
        out = _apply_step(step, step_names, len(current), current, reads, budget)
        if out is None:  # unknown columns: each made from all, as many as the next step takes
            width = getattr(steps[k + 1][1], "n_features_in_", None)
            if not isinstance(width, int):
                reads.read = frozenset().union(*current) if current else frozenset()
                return reads
            out = [frozenset().union(*current) if current else frozenset()] * width
        current, step_names = out, None
    final = steps[-1][1]
    sub = _analyse(final, step_names, len(current), budget, depth + 1)
    read_now = sub.read_positions()
    reads.read = frozenset().union(*(current[i] for i in read_now)) if read_now else frozenset()
    for pos, text in sub.chain_text().items():
        if pos < len(current):
            _append(reads, current[pos], text)
    return reads


def analyse(est: Any, names: Sequence[str] | None, n: int) -> Reads:
    """What the fitted ``est`` reads of an input of ``n`` columns (named ``names`` when known),
    and the chain of transformers applied to each column it reads. Never raises: an estimator
    it cannot follow reads every column, untransformed."""
    try:
        return _analyse(est, names, n, _Budget(), 0)
    except Exception:  # noqa: BLE001  the user's estimator: capture never fails the fit
        return Reads(n)
