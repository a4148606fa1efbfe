"""The debt report's checks: plain facts about the store in, results out.

Pure: no MLflow, no I/O. Each ``check_*`` function takes :class:`~mlflow_debt.report.model.Facts`
and returns one :class:`~mlflow_debt.report.model.CheckResult`; :func:`mlflow_debt.report.assess.
assess` runs them all. What each check means is documented in :data:`~mlflow_debt.report.model.
CHECKS` and docs/report.md.

Over ~500 lines on purpose: nine checks of about 50 lines each, side by side so that their
notes, applicability and severities stay consistent; each is a small pure function. The two
that look at other data (parameters, the producer -> consumer cycle) have their own modules,
:mod:`.checks_config` and :mod:`.checks_loops`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from mlflow_debt.output import plural, shell_quote
from mlflow_debt.prune import plan as retention
from mlflow_debt.prune.plan import Policy, PolicyError, VersionInfo
from mlflow_debt.report.model import (
    FAIL,
    HIGH,
    LOW,
    MEDIUM,
    PASS,
    PRUNE_FAILED,
    SKIPPED,
    CheckResult,
    Facts,
    Finding,
    Severity,
    Thresholds,
    VersionFacts,
)

#: A feature name that ends like this after a model's name is that model's output.
OUTPUT_SUFFIXES = frozenset(
    {"score", "scores", "pred", "preds", "prediction", "predictions", "proba", "probability"}
    | {"output", "outputs", "estimate", "forecast", "label"}
)
_SUFFIX_SEP = re.compile(r"[_.:\-/ ]")


def versions_by_model(facts: Facts) -> dict[str, list[VersionFacts]]:
    out: dict[str, list[VersionFacts]] = {name: [] for name in facts.models}
    for v in facts.versions:
        out.setdefault(v.model, []).append(v)
    for vs in out.values():
        vs.sort(key=lambda v: v.version)
    return out


def _numbers(versions: Sequence[VersionFacts]) -> str:
    return ", ".join(f"v{v.version}" for v in versions)


def _result(
    check_id: str,
    findings: Sequence[Finding],
    applicable: set[str],
    note: str,
    skipped: str = "",
) -> CheckResult:
    if skipped:
        return CheckResult(check_id, SKIPPED, (), skipped)
    failed = {m for f in findings for m in f.models} & applicable
    return CheckResult(
        check_id,
        FAIL if findings else PASS,
        tuple(sorted(findings, key=lambda f: f.rank)),
        note,
        frozenset(applicable),
        frozenset(failed),
    )


#: For the checks in their own modules (:mod:`.checks_config`, :mod:`.checks_loops`).
result = _result


def check_entanglement(facts: Facts, th: Thresholds) -> CheckResult:
    report = facts.lineage
    findings = []
    for usage in report.changed:
        newest = usage.definitions[0]
        behind = sorted({n for d in usage.definitions[1:] for n in d.consumers})
        findings.append(
            Finding(
                "entanglement",
                HIGH,
                usage.name,
                f"{usage.name!r} has {len(usage.definitions)} definitions among its "
                f"{plural(len(usage.consumers), 'consumer')}: {', '.join(newest.consumers)} "
                f"trained on the newest, {', '.join(behind)} on older ones.",
                usage.consumers,
                f"mlflow-debt impact {shell_quote(usage.name)}",
                {
                    "feature": usage.name,
                    "definitions": [
                        {"fingerprint": d.fingerprint, "consumers": list(d.consumers)}
                        for d in usage.definitions
                    ],
                },
            )
        )
    wide = [u for u in report.features if len(u.consumers) >= th.fan_out]
    note = (
        f"{plural(len(report.features), 'feature')} read by "
        f"{plural(len(report.consumers), 'consumer')}; "
        f"{len(wide)} read by {th.fan_out} or more"
    )
    applicable = {name for name in report.consumers if name in facts.models}
    if report.empty:
        return _result("entanglement", [], set(), "", skipped="no run carries feature tags")
    return _result("entanglement", findings, applicable, note)


def check_declarations(facts: Facts) -> tuple[CheckResult, CheckResult]:
    report = facts.lineage
    decl = facts.declarations
    if decl is None:
        why = "no declarations file (--declared FILE)"
        return (
            _result("undeclared-consumer", [], set(), "", skipped=why),
            _result("stale-declaration", [], set(), "", skipped=why),
        )
    where = decl.path or "the declarations file"
    undeclared = [
        Finding(
            "undeclared-consumer",
            MEDIUM,
            f"{p.feature} → {p.consumer}",
            f"{p.consumer} reads {p.feature!r}, but {where} does not declare it as a consumer.",
            (p.consumer,),
            f"add {p.consumer} to features.{p.feature} in {where}, or stop reading it",
            {"feature": p.feature, "consumer": p.consumer},
        )
        for p in report.undeclared
    ]
    stale = [
        Finding(
            "stale-declaration",
            LOW,
            f"{p.feature} → {p.consumer}",
            f"{where} declares {p.consumer} as a consumer of {p.feature!r}, which it no "
            "longer reads.",
            (p.consumer,),
            f"remove {p.consumer} from features.{p.feature} in {where}",
            {"feature": p.feature, "consumer": p.consumer},
        )
        for p in report.stale
    ]
    declared_names = {n for names in decl.features.values() for n in names}
    applicable = {n for n in facts.models if n in report.consumers or n in declared_names}
    note = f"{plural(len(decl.features), 'declared feature')} in {where} (scope: {decl.scope})"
    return (
        _result("undeclared-consumer", undeclared, applicable, note),
        _result("stale-declaration", stale, applicable, note),
    )


def check_version_limit(
    facts: Facts, th: Thresholds, by_model: Mapping[str, list[VersionFacts]]
) -> CheckResult:
    findings = []
    with_policy = 0
    held_by_protection = 0
    for name in sorted(facts.models):
        versions = by_model.get(name, [])
        n = len(versions)
        try:
            policy = retention.policy_from_tags(name, facts.models[name].tags)
        except PolicyError as exc:
            findings.append(
                Finding(
                    "version-limit",
                    MEDIUM,
                    name,
                    f"{name}'s version limit cannot be read: {exc}",
                    (name,),
                    f"mlflow-debt policy set {shell_quote(name)} --max-versions N",
                    {"model": name, "live_versions": n, "error": str(exc)},
                )
            )
            continue
        if policy is None:
            if n > th.many_versions:
                findings.append(
                    Finding(
                        "version-limit",
                        LOW,
                        name,
                        f"{name} has {n} live versions and no version limit.",
                        (name,),
                        f"mlflow-debt policy set {shell_quote(name)} --max-versions "
                        f"{min(th.many_versions, 5)}",
                        {"model": name, "live_versions": n, "max_versions": None},
                    )
                )
            continue
        with_policy += 1
        if n <= policy.max_versions:
            continue
        plan = _plan(name, versions, policy)
        deletable = len(plan.delete)
        detail = {
            "model": name,
            "live_versions": n,
            "max_versions": policy.max_versions,
            "metric": policy.metric,
            "prune_would_delete": [d.version for d in plan.delete],
            "protected": [d.version for d in plan.protected],
            "unranked": [d.version for d in plan.unranked],
        }
        if deletable:
            msg = (
                f"{name} has {n} live versions, its limit is {policy.max_versions}: prune "
                f"would remove {plural(deletable, 'version')} ({_numbers_of(plan.delete)})."
            )
            findings.append(
                Finding(
                    "version-limit",
                    MEDIUM,
                    name,
                    msg,
                    (name,),
                    f"mlflow-debt prune --model {shell_quote(name)}",
                    detail,
                )
            )
        elif plan.unranked:
            unranked = len(plan.unranked)
            msg = (
                f"{name} has {n} live versions, its limit is {policy.max_versions}, but "
                f"{plural(unranked, 'version')} ({_numbers_of(plan.unranked)}) "
                f"{'has' if unranked == 1 else 'have'} no {policy.metric}: prune cannot rank "
                f"{'it' if unranked == 1 else 'them'}."
            )
            findings.append(
                Finding(
                    "version-limit",
                    LOW,
                    name,
                    msg,
                    (name,),
                    f"mlflow-debt prune --model {shell_quote(name)} --prune-unranked --dry-run",
                    detail,
                )
            )
        else:
            # Over the number only by aliased, kept or Production/Staging versions: that is
            # what the policy means (protected versions are never pruned), not debt.
            held_by_protection += 1
    note = (
        f"{plural(len(facts.models), 'registered model')}, {with_policy} with a version limit; "
        f"no limit is flagged above {th.many_versions} live versions"
    )
    if held_by_protection:
        note += (
            f"; {held_by_protection} above its limit only by protected (aliased, kept, "
            "Production/Staging) versions"
        )
    if not facts.models:
        return _result("version-limit", [], set(), "", skipped="no registered models")
    return _result("version-limit", findings, set(facts.models), note)


def _numbers_of(decisions: Sequence[retention.Decision]) -> str:
    return ", ".join(f"v{d.version}" for d in sorted(decisions, key=lambda d: d.version))


def _plan(name: str, versions: Sequence[VersionFacts], policy: Policy) -> retention.ModelPlan:
    infos = [VersionInfo(v.model, v.version, v.aliases, v.tags, v.stage) for v in versions]
    metrics = {(v.model, v.version): v.metric(policy.metric) for v in versions}
    return retention.plan_model(name, infos, metrics, policy)


def check_lineage_gaps(facts: Facts, by_model: Mapping[str, list[VersionFacts]]) -> CheckResult:  # noqa: ARG001  every check reads the facts
    findings = []
    applicable = {name for name, vs in by_model.items() if vs}
    for name in sorted(applicable):
        # A version whose LoggedModel carries the features has lineage even if its run is gone.
        no_run = [
            v for v in by_model[name] if (not v.run_id or not v.run_found) and v.features is None
        ]
        untagged = [v for v in by_model[name] if v.run_found and v.run_id and v.features is None]
        partial = [v for v in by_model[name] if v.features is not None and not v.features_complete]
        parts = []
        if untagged:
            parts.append(f"{_numbers(untagged)}: source run has no feature tags")
        if partial:
            parts.append(f"{_numbers(partial)}: feature tags incomplete")
        if no_run:
            parts.append(f"{_numbers(no_run)}: no source run")
        if not parts:
            continue
        gaps = untagged + partial + no_run
        experiments = sorted({v.experiment for v in untagged + partial if v.experiment})
        fix = (
            "mlflow-debt backfill "
            + " ".join(f"--experiment {shell_quote(e)}" for e in experiments)
            if experiments
            else "re-train with mlflow-debt installed and register the new version"
        )
        findings.append(
            Finding(
                "lineage-gap",
                MEDIUM,
                name,
                f"{name}: {plural(len(gaps), 'live version')} without lineage "
                f"({'; '.join(parts)}).",
                (name,),
                fix,
                {
                    "model": name,
                    "untagged": [v.version for v in untagged],
                    "incomplete": [v.version for v in partial],
                    "no_source_run": [v.version for v in no_run],
                    "runs": {str(v.version): v.run_id for v in gaps if v.run_id},
                },
            )
        )
    n = sum(len(by_model[m]) for m in applicable)
    if not applicable:
        return _result("lineage-gap", [], set(), "", skipped="no live model versions")
    return _result("lineage-gap", findings, applicable, f"{plural(n, 'live version')} checked")


#: What reproducibility looks at, in the order findings list it.
CODE, SIGNATURE, METRIC, ARTIFACT, SOURCE_RUN = (
    "code version",
    "signature",
    "metric",
    "model artifact",
    "source run",
)


def _missing(v: VersionFacts) -> list[str]:
    missing = []
    if not v.run_id or not v.run_found:
        missing.append(SOURCE_RUN)
    elif not v.git_commit:
        missing.append(CODE)
    if v.artifact is False:
        missing.append(ARTIFACT)
    elif v.signature is False:
        missing.append(SIGNATURE)
    if not v.has_metric:
        missing.append(METRIC)
    return missing


def check_reproducibility(facts: Facts, by_model: Mapping[str, list[VersionFacts]]) -> CheckResult:  # noqa: ARG001  every check reads the facts
    findings = []
    applicable = {name for name, vs in by_model.items() if vs}
    unknown = 0
    for name in sorted(applicable):
        gaps = {v.version: _missing(v) for v in by_model[name]}
        unknown += sum(1 for v in by_model[name] if v.artifact is None)
        gaps = {k: m for k, m in gaps.items() if m}
        if not gaps:
            continue
        by_what: dict[str, list[int]] = {}
        for number, missing in gaps.items():
            for what in missing:
                by_what.setdefault(what, []).append(number)
        order = [SOURCE_RUN, ARTIFACT, CODE, SIGNATURE, METRIC]
        parts = [
            f"no {what} ({', '.join(f'v{n}' for n in by_what[what])})"
            for what in order
            if what in by_what
        ]
        severity: Severity = HIGH if ARTIFACT in by_what or SOURCE_RUN in by_what else MEDIUM
        findings.append(
            Finding(
                "reproducibility",
                severity,
                name,
                f"{name}: {'; '.join(parts)}.",
                (name,),
                _repro_fix(by_what),
                {"model": name, "versions": {str(k): m for k, m in sorted(gaps.items())}},
            )
        )
    n = sum(len(by_model[m]) for m in applicable)
    note = f"{plural(n, 'live version')} checked"
    if unknown:
        note += f"; the model artifact of {unknown} could not be read"
    if not applicable:
        return _result("reproducibility", [], set(), "", skipped="no live model versions")
    return _result("reproducibility", findings, applicable, note)


def _repro_fix(by_what: Mapping[str, list[int]]) -> str:
    fixes = {
        SOURCE_RUN: "register versions from runs (mlflow.<flavor>.log_model in a run)",
        ARTIFACT: "re-register the lost versions from a re-trained model",
        CODE: "train from a git checkout (mlflow run records the commit)",
        SIGNATURE: "log models with a signature or an input_example",
        METRIC: "log an evaluation metric on the run or the model",
    }
    return "; ".join(fixes[w] for w in fixes if w in by_what)


def check_underutilized(
    facts: Facts, th: Thresholds, by_model: Mapping[str, list[VersionFacts]]
) -> CheckResult:
    live = [v for vs in by_model.values() for v in vs]
    with_features = [v for v in live if v.features]
    if not with_features:
        return _result(
            "underutilized-feature", [], set(), "", skipped="no live version carries feature tags"
        )
    read_live = {f for v in with_features for f in v.features or ()}
    read_now = {f for c in facts.lineage.consumers.values() for f in c.reads}
    findings = []
    for feature in sorted(set(facts.features_seen) - read_live - read_now):
        runs = facts.features_seen[feature]
        findings.append(
            Finding(
                "underutilized-feature",
                LOW,
                feature,
                f"{feature!r} appears in {plural(runs, 'run')} but no live version or current "
                "consumer reads it (legacy).",
                (),
                f"stop computing {feature!r} in the training pipelines",
                {"feature": feature, "kind": "legacy", "runs": runs},
            )
        )

    # Near-zero importance: every live version reading the feature logged one, all near zero.
    readers: dict[str, list[VersionFacts]] = {}
    for v in with_features:
        for f in v.features or ():
            readers.setdefault(f, []).append(v)
    weights = {(v.model, v.version): v.importances() for v in with_features}
    scored = 0
    for feature in sorted(readers):
        vs = readers[feature]
        values = []
        for v in vs:
            imp = weights[(v.model, v.version)]
            if feature not in imp:
                break
            top = max(imp.values())
            values.append((v, imp[feature], top))
        else:
            scored += 1
            if all(value <= th.near_zero * top for _v, value, top in values):
                models = tuple(sorted({v.model for v in vs}))
                findings.append(
                    Finding(
                        "underutilized-feature",
                        LOW,
                        feature,
                        f"{feature!r} has near-zero importance in every live version that reads "
                        f"it ({', '.join(v.label for v in vs)}).",
                        models,
                        f"drop {feature!r} from {', '.join(models)} and re-train",
                        {
                            "feature": feature,
                            "kind": "near_zero_importance",
                            "importance": {v.label: value for v, value, _top in values},
                        },
                    )
                )
    applicable = {v.model for v in with_features}
    note = (
        f"{plural(len(facts.features_seen), 'feature')} seen in runs, {len(read_live)} read by "
        f"live versions; importances logged for {scored}"
    )
    return _result("underutilized-feature", findings, applicable, note)


def producer_of(
    feature: str, models: Sequence[str], outputs: Mapping[str, str] | None = None
) -> str | None:
    """The registered model whose output ``feature`` is, by declaration or by name."""
    if outputs and feature in outputs:
        return outputs[feature]
    low = feature.lower()
    best = None
    for model in models:
        m = model.lower()
        if low == m:
            return model
        if low.startswith(m) and _SUFFIX_SEP.fullmatch(low[len(m) : len(m) + 1] or "x"):
            rest = low[len(m) + 1 :]
            if rest in OUTPUT_SUFFIXES and (best is None or len(model) > len(best)):
                best = model
    return best


def check_cascades(facts: Facts) -> CheckResult:
    report = facts.lineage
    if report.empty:
        return _result("correction-cascade", [], set(), "", skipped="no run carries feature tags")
    outputs = facts.declarations.outputs if facts.declarations else {}
    names = sorted(facts.models)
    findings = []
    for usage in report.features:
        producer = producer_of(usage.name, names, outputs)
        if producer is None:
            continue
        for consumer in usage.consumers:
            if consumer == producer:
                continue
            how = "declared as" if usage.name in outputs else "named after"
            findings.append(
                Finding(
                    "correction-cascade",
                    MEDIUM,
                    f"{producer} → {consumer}",
                    f"{consumer} reads {usage.name!r}, {how} the output of {producer}: "
                    f"changing {producer} changes {consumer}'s input.",
                    (consumer,),
                    f"evaluate {consumer} whenever {producer} changes "
                    f"(mlflow-debt impact {shell_quote(usage.name)})",
                    {"feature": usage.name, "producer": producer, "consumer": consumer},
                )
            )
    applicable = {n for n in report.consumers if n in facts.models}
    return _result(
        "correction-cascade",
        findings,
        applicable,
        f"{plural(len(report.features), 'feature')} matched against "
        f"{plural(len(names), 'model name')} and {plural(len(outputs), 'declared output')}",
    )


def check_prunes(facts: Facts, th: Thresholds) -> CheckResult:  # noqa: ARG001  every check takes the thresholds
    findings = []
    for p in facts.prunes:
        if p.unreadable:
            findings.append(
                Finding(
                    "prune-history",
                    HIGH,
                    f"prune {p.prune_id[:8]}",
                    f"The records of the prune of {p.started or 'unknown date'} cannot be read "
                    f"(records unreadable: {p.unreadable}): what it deleted cannot be listed "
                    "or restored from them.",
                    (),
                    "mlflow-debt restore --list",
                    {"prune_id": p.prune_id, "unreadable": p.unreadable},
                )
            )
        if p.crashed:
            findings.append(
                Finding(
                    "prune-history",
                    MEDIUM,
                    f"prune {p.prune_id[:8]}",
                    f"The prune of {p.started or 'unknown date'} stopped before recording its "
                    f"outcome (state deleting): {plural(len(p.records), 'record')} resolved "
                    "from the registry; re-run the prune to finish it.",
                    p.models,
                    "mlflow-debt restore --list",
                    {"prune_id": p.prune_id, "crashed": True},
                )
            )
        failed = [r for r in p.records if r.state == PRUNE_FAILED]
        for model in sorted({r.model for r in failed}):
            mine = [r for r in failed if r.model == model]
            findings.append(
                Finding(
                    "prune-history",
                    MEDIUM,
                    f"{model} (prune {p.prune_id[:8]})",
                    f"The prune of {p.started or 'unknown date'} failed to delete "
                    f"{', '.join(f'v{r.version}' for r in mine)} of {model}.",
                    (model,),
                    f"mlflow-debt prune --model {shell_quote(model)}",
                    {"prune_id": p.prune_id, "model": model, "failed": [r.version for r in mine]},
                )
            )
    applicable = {m for p in facts.prunes for m in p.models if m in facts.models}
    if not facts.prunes:
        return _result("prune-history", [], set(), "", skipped="no prune has run")
    return _result(
        "prune-history",
        findings,
        applicable,
        f"{plural(len(facts.prunes), 'prune')} recorded, "
        f"{plural(sum(p.count('deleted') for p in facts.prunes), 'version')} deleted by them"
        + (
            f", {plural(len(lost), 'prune')} with unreadable records"
            if (lost := [p for p in facts.prunes if p.unreadable])
            else ""
        ),
    )
