"""Retention planning: which model versions a version limit keeps and which it deletes. Pure.

``plan(versions, metrics, policy)`` takes plain data (what :mod:`mlflow_debt.prune.read`
read from
MLflow) and returns a :class:`PrunePlan`; it does no I/O and is deterministic, so the same inputs
always give the same plan. The rule, per registered model:

1. *Protected* versions are never deleted and do not count against the limit: any alias, the
   version tag ``mlflow_debt.keep=true``, or stage Production/Staging.
2. *Unranked* versions have no value (or NaN) for the model's metric: kept, unless the policy says
   ``prune_unranked``, then deleted.
3. The other versions are ranked by the metric (highest first, or lowest first with
   ``lower_is_better``); ties go to the newer version. The top ``max_versions`` are kept, the rest
   deleted.

The four lists of a :class:`ModelPlan` (keep, delete, protected, unranked) are disjoint and cover
every live version of the model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

#: Registered-model tags that hold a model's own policy (visible and editable in the MLflow UI).
MAX_VERSIONS_TAG = "mlflow_debt.max_versions"
METRIC_TAG = "mlflow_debt.metric"
LOWER_IS_BETTER_TAG = "mlflow_debt.lower_is_better"
#: Model-version tag that protects a version: ``mlflow_debt.keep=true``.
KEEP_TAG = "mlflow_debt.keep"
#: Legacy stages that protect a version, for teams still using stages.
PROTECTED_STAGES = frozenset({"production", "staging"})

DEFAULT_METRIC = "accuracy"

#: A version's fate in a plan.
DecisionKind = Literal["keep", "delete", "protected", "unranked"]
KEEP: Final = "keep"
DELETE: Final = "delete"
PROTECTED: Final = "protected"
UNRANKED: Final = "unranked"
#: Where a policy came from: the command line or the model's own tags.
PolicyOrigin = Literal["flag", "tag"]

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


class PolicyError(ValueError):
    """A policy (from flags or from a model's tags) is malformed."""


@dataclass(frozen=True)
class Policy:
    """A version limit: keep the best ``max_versions`` versions by ``metric``."""

    max_versions: int
    metric: str = DEFAULT_METRIC
    lower_is_better: bool = False
    prune_unranked: bool = False
    #: Where the limit came from: "flag" (command line) or "tag" (the model's own tags).
    origin: PolicyOrigin = "flag"

    def __post_init__(self) -> None:
        if isinstance(self.max_versions, bool) or not isinstance(self.max_versions, int):
            raise PolicyError(f"max_versions must be an integer, not {self.max_versions!r}")
        if self.max_versions < 1:
            raise PolicyError(f"max_versions must be at least 1, not {self.max_versions}")
        if not self.metric or not self.metric.strip():
            raise PolicyError("metric must not be empty")


@dataclass(frozen=True)
class VersionInfo:
    """What planning needs to know about one live model version."""

    name: str
    version: int
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    stage: str | None = None


@dataclass(frozen=True)
class Decision:
    """One version's fate and why."""

    name: str
    version: int
    value: float | None
    decision: DecisionKind
    reason: str


@dataclass
class ModelPlan:
    """The plan for one registered model. Lists are ordered: keep/delete best first."""

    name: str
    policy: Policy
    keep: list[Decision] = field(default_factory=list)
    delete: list[Decision] = field(default_factory=list)
    protected: list[Decision] = field(default_factory=list)
    unranked: list[Decision] = field(default_factory=list)

    def decisions(self) -> list[Decision]:
        """Every version's decision, newest version first."""
        every = [*self.keep, *self.delete, *self.protected, *self.unranked]
        return sorted(every, key=lambda d: -d.version)

    def as_dict(self) -> dict[str, Any]:
        return {
            "keep": [d.version for d in self.keep],
            "delete": [d.version for d in self.delete],
            "protected": [d.version for d in self.protected],
            "unranked": [d.version for d in self.unranked],
            "metric": self.policy.metric,
            "lower_is_better": self.policy.lower_is_better,
            "max_versions": self.policy.max_versions,
            "policy": self.policy.origin,
        }


@dataclass
class PrunePlan:
    """The plan for every selected model that has a policy."""

    models: dict[str, ModelPlan] = field(default_factory=dict)
    #: Selected models that have no limit (no ``--max-versions`` and no policy tag): untouched.
    without_policy: list[str] = field(default_factory=list)
    #: Selected models left alone because they cannot be read safely: name -> why.
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def deletions(self) -> list[Decision]:
        return [d for mp in self.models.values() for d in mp.delete]

    def counts(self) -> dict[str, int]:
        return {
            "delete": sum(len(mp.delete) for mp in self.models.values()),
            "keep": sum(len(mp.keep) for mp in self.models.values()),
            "protected": sum(len(mp.protected) for mp in self.models.values()),
            "unranked": sum(len(mp.unranked) for mp in self.models.values()),
            "models": sum(1 for mp in self.models.values() if mp.delete),
        }

    def metric(self, default: str = DEFAULT_METRIC) -> str | None:
        """The metric every model is ranked by; None when models use different metrics."""
        metrics = {mp.policy.metric for mp in self.models.values()}
        if not metrics:
            return default
        return metrics.pop() if len(metrics) == 1 else None


def is_ranked_value(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def protection(v: VersionInfo) -> str | None:
    """Why ``v`` must never be deleted, or None."""
    if v.aliases:
        names = ", ".join(sorted(v.aliases))
        return f"alias {names}"
    if str(v.tags.get(KEEP_TAG, "")).strip().lower() in _TRUE:
        return f"tag {KEEP_TAG}=true"
    if v.stage and v.stage.lower() in PROTECTED_STAGES:
        return f"stage {v.stage}"
    return None


def plan_model(
    name: str,
    versions: Iterable[VersionInfo],
    metrics: Mapping[tuple[str, int], float | None],
    policy: Policy,
) -> ModelPlan:
    """The plan for one model (``versions`` are that model's live versions)."""
    mp = ModelPlan(name=name, policy=policy)
    ranked: list[tuple[float, int]] = []
    seen: set[int] = set()
    for v in versions:
        if v.version in seen:  # a paged read may return a version twice
            continue
        seen.add(v.version)
        value = metrics.get((name, v.version))
        shown = value if is_ranked_value(value) else None
        why = protection(v)
        if why:
            mp.protected.append(Decision(name, v.version, shown, PROTECTED, why))
        elif not is_ranked_value(value):
            what = "NaN" if value is not None else "no value"
            if policy.prune_unranked:
                reason = f"unranked ({policy.metric}: {what}), --prune-unranked"
                mp.delete.append(Decision(name, v.version, None, DELETE, reason))
            else:
                reason = f"unranked ({policy.metric}: {what})"
                mp.unranked.append(Decision(name, v.version, None, UNRANKED, reason))
        else:
            assert value is not None
            ranked.append((value, v.version))

    # Best first; on equal values the newer (higher) version wins.
    sign = -1.0 if policy.lower_is_better else 1.0
    ranked.sort(key=lambda t: (sign * t[0], t[1]), reverse=True)
    total = len(ranked)
    limit = policy.max_versions
    ranked_deletes = []
    for rank, (value, version) in enumerate(ranked, start=1):
        if rank <= limit:
            mp.keep.append(Decision(name, version, value, KEEP, f"rank {rank} of {total}"))
        else:
            reason = f"rank {rank} of {total}, beyond limit {limit}"
            ranked_deletes.append(Decision(name, version, value, DELETE, reason))
    # Ranked deletions first (best first), then unranked ones (newest first).
    mp.delete = ranked_deletes + sorted(mp.delete, key=lambda d: -d.version)
    mp.protected.sort(key=lambda d: -d.version)
    mp.unranked.sort(key=lambda d: -d.version)
    return mp


def plan(
    versions: Iterable[VersionInfo],
    metrics: Mapping[tuple[str, int], float | None],
    policy: Policy | Mapping[str, Policy | None],
    models: Iterable[str] = (),
) -> PrunePlan:
    """Plan every model in ``versions`` (plus ``models``, which may have no versions).

    ``metrics`` maps ``(model name, version)`` to the value of *that model's* policy metric (None
    when the version has none). ``policy`` is one policy for every model, or one per model name; a
    model mapped to None (or missing) has no limit and is left alone.
    """
    by_model: dict[str, list[VersionInfo]] = {name: [] for name in models}
    for v in versions:
        by_model.setdefault(v.name, []).append(v)
    result = PrunePlan()
    for name in sorted(by_model):
        pol = policy if isinstance(policy, Policy) else policy.get(name)
        if pol is None:
            result.without_policy.append(name)
            continue
        result.models[name] = plan_model(name, by_model[name], metrics, pol)
    return result


def unlogged_metric(
    metric_of: Mapping[str, str],
    versions: Iterable[tuple[str, int]],
    metrics: Mapping[tuple[str, int], float | None],
) -> str | None:
    """The error when a ranking metric is logged on none of the versions ranked by it, else None.

    A metric that no version of the models ranked by it has is a typo, not "all unranked".
    ``metric_of`` maps model -> its metric; ``versions`` are the (model, version) keys read.
    """
    keys = list(versions)
    for metric in sorted(set(metric_of.values())):
        ranked = [k for k in keys if metric_of.get(k[0]) == metric]
        if ranked and all(metrics.get(k) is None for k in ranked):
            names = sorted({k[0] for k in ranked})
            shown = ", ".join(f'"{n}"' for n in names[:5]) + (" ..." if len(names) > 5 else "")
            return (
                f'Metric "{metric}" is logged on none of the {len(ranked)} versions of '
                f"{shown} (neither on their logged models nor on their source runs)"
            )
    return None


def policy_from_tags(
    name: str,
    tags: Mapping[str, str],
    *,
    max_versions: int | None = None,
    metric: str | None = None,
    lower_is_better: bool | None = None,
    prune_unranked: bool = False,
) -> Policy | None:
    """Model ``name``'s effective policy: its tags, each overridden by a flag given (not None).

    None when neither a flag nor a tag sets a limit. Malformed tags raise :class:`PolicyError`.
    """
    origin: PolicyOrigin = "flag"
    if max_versions is None:
        raw = tags.get(MAX_VERSIONS_TAG)
        if raw is None or not str(raw).strip():
            return None
        origin = "tag"
        try:
            max_versions = int(str(raw).strip())
        except ValueError:
            raise PolicyError(
                f'Registered model "{name}" has tag {MAX_VERSIONS_TAG}={raw!r}, '
                "which is not a positive integer"
            ) from None
        if max_versions < 1:
            raise PolicyError(
                f'Registered model "{name}" has tag {MAX_VERSIONS_TAG}={raw!r}, '
                "which is not a positive integer"
            )
    if metric is None:
        metric = (tags.get(METRIC_TAG) or "").strip() or DEFAULT_METRIC
    if lower_is_better is None:
        raw_lower = str(tags.get(LOWER_IS_BETTER_TAG, "")).strip().lower()
        if raw_lower in _TRUE:
            lower_is_better = True
        elif raw_lower in _FALSE:
            lower_is_better = False
        else:
            raise PolicyError(
                f'Registered model "{name}" has tag {LOWER_IS_BETTER_TAG}={raw_lower!r}, '
                "expected true or false"
            )
    return Policy(
        max_versions=max_versions,
        metric=metric,
        lower_is_better=lower_is_better,
        prune_unranked=prune_unranked,
        origin=origin,
    )


def policy_tags(policy: Policy) -> dict[str, str]:
    """The registered-model tags that store ``policy``."""
    return {
        MAX_VERSIONS_TAG: str(policy.max_versions),
        METRIC_TAG: policy.metric,
        LOWER_IS_BETTER_TAG: "true" if policy.lower_is_better else "false",
    }


def summary_line(plan: PrunePlan, *, applied: bool, deleted: int | None = None) -> str:
    """One line: ``Deleted 2 versions of 1 model; kept 3; protected 1.``"""
    c = plan.counts()
    n = c["delete"] if deleted is None else deleted
    verb = "Deleted" if applied else "Would delete"
    line = (
        f"{verb} {n} version{'s' if n != 1 else ''} of {c['models']} "
        f"model{'s' if c['models'] != 1 else ''}; kept {c['keep']}; protected {c['protected']}"
    )
    if c["unranked"]:
        line += f"; unranked (kept) {c['unranked']}"
    return line + "."
