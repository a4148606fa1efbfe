"""The corpus oracle: what a fitted scikit-learn model reads, taken from the fitted object itself.

Used on both sides of the corpus test (tests/capture/test_corpus.py):

* inside the script's interpreter (tests/support/corpus_runner.py), :func:`read_set` computes the
  input columns each outermost fit's model reads, from its fitted attributes only;
* in pytest, :func:`judge` compares what mlflow-debt recorded in the store with those read sets.

What a model reads (issue 18 §2), computed position by position over the fit's input:

* a bare estimator reads every column it was fit on (``n_features_in_``), unless it is a
  selector (``SelectorMixin``: its support) or a meta-estimator whose fitted sub-estimators were
  fit on the same input (``best_estimator_``, ``estimators_``, ``regressor_``, a calibrated
  classifier's ``estimator``...): then the union of what those read;
* a ``Pipeline`` carries, for every intermediate column, the set of input columns it derives
  from, step by step, and reads what its final step reads, mapped back;
* a ``ColumnTransformer`` reads its fitted selections (``remainder`` included, ``"drop"``
  excluded); its outputs map back to the columns of the transformer that made them;
* a transformer whose ``get_feature_names_out()`` are among its input names maps them one to one
  (scalers, imputers, selectors); any other output derives from all of its inputs (one-hot, PCA,
  polynomial features). This over-approximates only after a selector downstream of such a
  transformer, which the corpus does not contain.

Names are the fit input's ``feature_names_in_`` (a DataFrame with string columns); a fit on an
array reads positions, reported as ``n_read`` of ``n_in``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Attributes of fitted meta-estimators that hold estimators fit on the meta-estimator's input.
_SUB_ATTRS = (
    "best_estimator_",
    "estimator_",
    "estimators_",
    "regressor_",
    "classifier_",
    "calibrated_classifiers_",
)

Mapping = list[frozenset[int]]


def _is_estimator(obj: Any) -> bool:
    from sklearn.base import BaseEstimator

    return isinstance(obj, BaseEstimator)


def _n_in(est: Any) -> int | None:
    try:
        n = est.n_features_in_
    except AttributeError:
        return None
    return int(n) if isinstance(n, int) or hasattr(n, "__index__") else None


def input_names(est: Any) -> list[str] | None:
    """The column names ``est`` was fit on, if it was fit on a DataFrame with string columns."""
    try:
        names = est.feature_names_in_
    except AttributeError:
        return None
    out = [str(n) for n in names]
    return out if all(isinstance(n, str) for n in names) else None


def _subs(est: Any, n_in: int) -> list[Any]:
    """Fitted sub-estimators of ``est`` that were fit on ``est``'s own input (same width)."""
    found: list[Any] = []
    for attr in _SUB_ATTRS:
        value = est.__dict__.get(attr)
        items = value if isinstance(value, (list, tuple)) else [value]
        if hasattr(value, "ravel") and getattr(getattr(value, "dtype", None), "kind", "") == "O":
            items = list(value.ravel())
        for item in items:
            sub = item if _is_estimator(item) else getattr(item, "estimator", None)
            if _is_estimator(sub) and sub is not est and _n_in(sub) == n_in:
                found.append(sub)
    return found


def _reads(est: Any, n_in: int) -> frozenset[int]:
    """Positions of its input that the fitted ``est`` reads."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import SelectorMixin
    from sklearn.pipeline import Pipeline

    if est is None or est == "passthrough":
        return frozenset(range(n_in))
    if isinstance(est, Pipeline):
        mapping = _through_steps([s for _, s in est.steps[:-1]], _identity(n_in), est.steps)
        final = est.steps[-1][1]
        positions = _reads(final, len(mapping))
        return frozenset().union(*(mapping[p] for p in positions)) if positions else frozenset()
    if isinstance(est, ColumnTransformer):
        return frozenset().union(*_column_transformer(est, _identity(n_in))) or frozenset()
    if isinstance(est, SelectorMixin):
        return frozenset(int(i) for i in est.get_support(indices=True))
    subs = _subs(est, n_in)
    if subs:
        return frozenset().union(*(_reads(s, n_in) for s in subs))
    return frozenset(range(n_in))


def _identity(n: int) -> Mapping:
    return [frozenset((i,)) for i in range(n)]


def _through_steps(steps: Sequence[Any], mapping: Mapping, all_steps: Sequence[Any]) -> Mapping:
    for i, step in enumerate(steps):
        following = all_steps[i + 1][1] if i + 1 < len(all_steps) else None
        mapping = _propagate(step, mapping, _n_in(following) if _is_estimator(following) else None)
    return mapping


def _propagate(step: Any, mapping: Mapping, n_out_hint: int | None) -> Mapping:
    """The source positions of each output column of the fitted transformer ``step``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import SelectorMixin
    from sklearn.pipeline import Pipeline

    if step is None or step == "passthrough":
        return mapping
    if isinstance(step, Pipeline):
        return _through_steps([s for _, s in step.steps], mapping, step.steps)
    if isinstance(step, ColumnTransformer):
        return _column_transformer(step, mapping)
    if isinstance(step, SelectorMixin):
        return [mapping[int(i)] for i in step.get_support(indices=True)]
    out_names = _names_out(step)
    in_names = input_names(step) or [f"x{i}" for i in range(len(mapping))]
    if out_names is not None and set(out_names) <= set(in_names):
        where = {name: i for i, name in enumerate(in_names)}
        return [mapping[where[name]] for name in out_names]
    everything = frozenset().union(*mapping) if mapping else frozenset()
    width = len(out_names) if out_names is not None else n_out_hint
    return [everything] * (width if width is not None else 1)


def _names_out(step: Any) -> list[str] | None:
    try:
        return [str(n) for n in step.get_feature_names_out()]
    except Exception:  # noqa: BLE001  many transformers cannot name their outputs
        return None


def _column_transformer(ct: Any, mapping: Mapping) -> Mapping:
    """Output columns of a fitted ColumnTransformer, each mapped to its source positions."""
    slices: dict[str, slice] = dict(getattr(ct, "output_indices_", {}))
    to_input: dict[str, Sequence[int]] = dict(getattr(ct, "_transformer_to_input_indices", {}))
    width = max((s.stop for s in slices.values()), default=0)
    out: Mapping = [frozenset()] * width
    for name, trans, _cols in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        where = slices.get(name)
        if where is None or where.stop <= where.start:
            continue
        inputs = [mapping[int(i)] for i in to_input.get(name, [])]
        group = _propagate(trans, inputs, where.stop - where.start)
        if len(group) != where.stop - where.start:
            everything = frozenset().union(*inputs) if inputs else frozenset()
            group = [everything] * (where.stop - where.start)
        out[where.start : where.stop] = group
    return out


@dataclass(frozen=True)
class ReadSet:
    """What one fitted model reads: names (fit on a named DataFrame) or positions of an array."""

    n_in: int | None
    names: tuple[str, ...] | None  # in input order; None: fit on an array
    n_read: int | None


def read_set(est: Any) -> ReadSet:
    """The input columns the fitted ``est`` reads (see the module docstring)."""
    n_in = _n_in(est)
    names = input_names(est)
    if n_in is None and names is not None:
        n_in = len(names)
    if n_in is None:
        return ReadSet(None, None, None)
    try:
        positions = sorted(_reads(est, n_in))
    except Exception:  # noqa: BLE001  an estimator the oracle cannot walk: it reads everything
        positions = list(range(n_in))
    if names is None:
        return ReadSet(n_in, None, len(positions))
    return ReadSet(n_in, tuple(names[p] for p in positions), len(positions))


def is_predictor(est: Any, y_given: bool) -> bool:
    """docs/lineage.md's predictor: a classifier or regressor, else ``predict`` fit with ``y``."""
    from sklearn.base import is_classifier, is_clusterer, is_outlier_detector, is_regressor

    try:
        if is_classifier(est) or is_regressor(est):
            return True
        if is_outlier_detector(est) or is_clusterer(est):
            return False
    except Exception:  # noqa: BLE001  a custom estimator without tags
        return False
    return y_given and hasattr(est, "predict")


# --- judging (in pytest, over the JSON the runner wrote and the tags in the store) ---------------


@dataclass(frozen=True)
class Check:
    """One comparison: a run's or a LoggedModel's recorded features against the oracle."""

    target: str  # "run <id>" or "model <id>"
    ok: bool
    expected: str
    recorded: str


def _describe_expected(fit: dict[str, Any] | None) -> str:
    if fit is None:
        return "no fit: no features"
    if fit["names"] is None:
        return f"{fit['cls']} on an array: not recorded ({fit['n_read']} of {fit['n_in']} read)"
    return f"{fit['cls']}: {sorted(fit['names'])}"


def _judge_one(target: str, fit: dict[str, Any] | None, recorded: list[str] | None) -> Check:
    expected = _describe_expected(fit)
    shown = "nothing" if recorded is None else str(sorted(recorded))
    if fit is None or fit["names"] is None:
        # docs/lineage.md: arrays (no names) are not recorded; nothing else may stand in for them
        return Check(target, recorded is None, expected, shown)
    ok = recorded is not None and set(recorded) == set(fit["names"])
    return Check(target, ok, expected, shown)


def judge(
    oracle: dict[str, Any],
    run_features: dict[str, list[str] | None],
    model_features: dict[str, list[str] | None],
) -> list[Check]:
    """Compare the recorded features of every run and LoggedModel with the oracle's fits.

    ``oracle`` is the runner's JSON: ``fits`` (each with its ``run``, ``names``, ``n_read``...),
    ``attributed`` (run id -> index of the fit the run's tags must describe, or null) and
    ``logged`` (LoggedModel id -> index of the fit whose object was logged, or null).
    """
    fits: list[dict[str, Any]] = oracle["fits"]
    checks = []
    for run_id, recorded in sorted(run_features.items()):
        index = oracle["attributed"].get(run_id)
        checks.append(_judge_one(f"run {run_id}", None if index is None else fits[index], recorded))
    for model_id, recorded in sorted(model_features.items()):
        index = oracle["logged"].get(model_id)
        fit = None if index is None else fits[index]
        if fit is None and recorded is None:
            continue  # a model the oracle saw no fit for (loaded, not trained here): nothing to say
        checks.append(_judge_one(f"model {model_id}", fit, recorded))
    return checks
