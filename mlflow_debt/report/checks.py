"""The debt report's checks: plain facts about the store in, findings and scores out.

Pure: no MLflow, no I/O. :mod:`mlflow_debt.report.read` gathers the facts in one pass over the
store (:class:`Facts`), :func:`assess` runs every check, and :mod:`mlflow_debt.report.text`
draws the result as JSON, Markdown or HTML.

Every check has a stable id (like a linter's rule code): ``--fail-on`` takes it, JSON carries
it, and :data:`CHECKS` documents what it detects, why that is debt and how to pay it down.
A check *fails* when it has at least one finding; for a registered model it is *applicable*
when the model has what the check looks at, and the model's score is the number of applicable
checks it passes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlflow_debt.consumers.analysis import Declarations, Report
from mlflow_debt.prune import plan as retention
from mlflow_debt.prune.plan import Policy, PolicyError, VersionInfo


@dataclass(frozen=True)
class Check:
    """One check's documentation."""

    id: str
    title: str
    detects: str
    why: str
    fix: str


#: Every check, in report order. Ids are a stable interface: never rename or reuse one.
CHECKS: tuple[Check, ...] = (
    Check(
        "entanglement",
        "Entanglement",
        "Features read by several models (high fan-out) and features whose definition "
        "(fingerprint) differs between the models that read them.",
        "Changing Anything Changes Everything: a feature shared by many models couples them, and "
        "a definition changed under some consumers but not others means models disagree on what "
        "the feature is.",
        "Re-train the consumers still on the old definition (mlflow-debt impact FEATURE lists "
        "them), or give the new definition its own feature name.",
    ),
    Check(
        "undeclared-consumer",
        "Undeclared consumers",
        "Models reading a feature that the declarations file does not allow them to read.",
        "An undeclared consumer is invisible to the feature's owners: they will change the "
        "feature without re-evaluating that model.",
        "Declare the consumer in the declarations file (the owners agree), or stop reading the "
        "feature.",
    ),
    Check(
        "stale-declaration",
        "Stale declarations",
        "Declared consumers that no longer read the feature.",
        "Stale declarations make owners re-evaluate models that do not care, and hide how "
        "little a feature is really used.",
        "Remove the consumer from the feature's list in the declarations file.",
    ),
    Check(
        "version-limit",
        "Over the version limit",
        "Models with more live versions than their mlflow_debt.max_versions policy keeps, and "
        "models with many versions and no policy.",
        "Every live version is a model someone may load, serve or be asked about; unbounded "
        "registries hide the few versions that matter.",
        "mlflow-debt prune --model MODEL (the plan is shown first; every removal can be "
        "restored), or set a limit with mlflow-debt policy set MODEL --max-versions N.",
    ),
    Check(
        "lineage-gap",
        "Lineage gaps",
        "Registered versions whose source run carries no feature tags (or incomplete ones), or "
        "that have no source run at all.",
        "Without lineage nobody can tell which features a serving model reads, so every other "
        "check is blind to it.",
        "mlflow-debt backfill --experiment EXPERIMENT (recovers names from autologged dataset "
        "schemas), or re-train with mlflow-debt installed.",
    ),
    Check(
        "reproducibility",
        "Reproducibility debt",
        "Registered versions whose source run has no code version (mlflow.source.git.commit), "
        "whose model has no signature, that have no metric, or whose model artifact is missing.",
        "A version that cannot be rebuilt, validated or compared can only be kept forever or "
        "thrown away blindly.",
        "Train from a git checkout (mlflow run records the commit), log models with a "
        "signature (an input_example infers one), log at least one metric, and re-register "
        "versions whose artifacts were lost.",
    ),
    Check(
        "underutilized-feature",
        "Underutilized features",
        "Features that runs still compute but no live version or current consumer reads "
        "(legacy), and features whose logged importance (metrics feature_importance.NAME) is "
        "near zero in every live version that reads them.",
        "Unused and near-useless features cost computation, monitoring and upstream coupling, "
        "and each one is a way for the data to break the model.",
        "Drop the feature from the pipelines that compute or read it, then re-train.",
    ),
    Check(
        "correction-cascade",
        "Correction cascades",
        "Models whose features include another model's output: a feature named after a "
        "registered model (MODEL, MODEL_score, MODEL_pred, ...) or declared as its output.",
        "Model B learns corrections on top of model A: improving A changes B's input, and B "
        "can lock A in place.",
        "Evaluate the consumer whenever the producing model changes; better, learn the "
        "correction inside one model.",
    ),
    Check(
        "prune-history",
        "Prune history",
        "Recent prune operations from the audit trail; a prune that failed to delete versions "
        "is a finding.",
        "A prune that stopped half-way leaves a model over its limit and a restore list that "
        "must be checked.",
        "Re-run mlflow-debt prune for the model; mlflow-debt restore --prune-id ID undoes a prune.",
    ),
)
CHECK_IDS: tuple[str, ...] = tuple(c.id for c in CHECKS)
CHECK_BY_ID: dict[str, Check] = {c.id: c for c in CHECKS}

HIGH, MEDIUM, LOW = "high", "medium", "low"
SEVERITIES = (HIGH, MEDIUM, LOW)
_SEVERITY_RANK = {HIGH: 3, MEDIUM: 2, LOW: 1}

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"

#: The audit's state of a version whose delete call failed (``prune.history.FAILED``).
PRUNE_FAILED = "failed"

#: Metric keys logging a per-feature importance: ``feature_importance.<feature name>``.
IMPORTANCE_PREFIX = "feature_importance."
#: A feature name that ends like this after a model's name is that model's output.
OUTPUT_SUFFIXES = frozenset(
    {"score", "scores", "pred", "preds", "prediction", "predictions", "proba", "probability"}
    | {"output", "outputs", "estimate", "forecast", "label"}
)
_SUFFIX_SEP = re.compile(r"[_.:\-/ ]")


@dataclass(frozen=True)
class Thresholds:
    """Knobs of the checks (the CLI exposes the ones users tune)."""

    #: A feature read by at least this many consumers is high fan-out.
    fan_out: int = 3
    #: A model without a version limit is flagged above this many live versions.
    many_versions: int = 10
    #: An importance at most this fraction of the version's largest is near zero.
    near_zero: float = 0.01
    #: Prunes shown in the prune history.
    recent_prunes: int = 10
    #: Features drawn in the graph (most consumers first); the rest are counted.
    graph_features: int = 80


# --------------------------------------------------------------------------------------------
# Facts (what report_io reads)


@dataclass(frozen=True)
class ModelFacts:
    """A registered model."""

    name: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionFacts:
    """A live model version and what its source run and model tell about it."""

    model: str
    version: int
    run_id: str | None
    aliases: tuple[str, ...] = ()
    stage: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Whether the source run was found (False: no run id, or the run is gone).
    run_found: bool = True
    #: Whether the source run is deleted (still readable, but bound for ``mlflow gc``).
    run_deleted: bool = False
    experiment: str = ""
    #: Feature names the source run trained on; None: it carries no feature tags.
    features: tuple[str, ...] | None = None
    features_complete: bool = True
    git_commit: str | None = None
    #: The source run's metrics (latest values) and the LoggedModel's.
    run_metrics: Mapping[str, float] = field(default_factory=dict)
    model_metrics: Mapping[str, float] = field(default_factory=dict)
    #: Whether the model's MLmodel has a signature / the artifact exists; None: not known.
    signature: bool | None = None
    artifact: bool | None = None

    @property
    def label(self) -> str:
        return f"{self.model} v{self.version}"

    def metric(self, key: str) -> float | None:
        """The version's value of ``key``: the LoggedModel's, else the source run's."""
        value = self.model_metrics.get(key)
        return self.run_metrics.get(key) if value is None else value

    @property
    def has_metric(self) -> bool:
        return any(
            not k.startswith(IMPORTANCE_PREFIX) for k in (*self.run_metrics, *self.model_metrics)
        )

    def importances(self) -> dict[str, float]:
        """feature -> |importance| from ``feature_importance.*`` metrics (LoggedModel's win)."""
        out: dict[str, float] = {}
        for metrics in (self.run_metrics, self.model_metrics):
            for key, value in metrics.items():
                if key.startswith(IMPORTANCE_PREFIX) and value == value:  # not NaN
                    out[key[len(IMPORTANCE_PREFIX) :]] = abs(float(value))
        return out


@dataclass(frozen=True)
class PruneRecord:
    model: str
    version: int
    state: str
    restored_as: int | None = None


@dataclass(frozen=True)
class PruneFacts:
    """One prune operation from the audit trail."""

    prune_id: str
    started: str
    records: tuple[PruneRecord, ...]
    #: It stopped before recording its outcome (state ``deleting``, no result).
    crashed: bool = False

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(sorted({r.model for r in self.records}))

    def count(self, state: str) -> int:
        return sum(1 for r in self.records if r.state == state)

    @property
    def restored(self) -> int:
        return sum(1 for r in self.records if r.restored_as is not None)


@dataclass(frozen=True)
class Facts:
    """Everything the checks look at, read in one pass by :mod:`mlflow_debt.report.read`."""

    lineage: Report
    #: Every registered model (not only the selected ones: names matter for cascades).
    models: Mapping[str, ModelFacts]
    #: Every live version of those models.
    versions: Sequence[VersionFacts]
    #: feature -> number of feature-tagged runs (in the experiments read) that carried it.
    features_seen: Mapping[str, int]
    prunes: Sequence[PruneFacts] = ()
    declarations: Declarations | None = None
    #: ``--model``: only findings and scores about these models (empty: all).
    selected: Sequence[str] = ()


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Finding:
    """One piece of debt, in words and in data."""

    check: str
    severity: str
    #: What it is about: a feature, a model, a version, a prune.
    subject: str
    message: str
    #: The registered models (or other consumers) it concerns.
    models: tuple[str, ...] = ()
    #: The command or action that pays it down.
    fix: str = ""
    #: Machine-readable details (JSON-able).
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fix_is_command(self) -> bool:
        """Whether :attr:`fix` is a command to run (else an action in words)."""
        return self.fix.startswith(("mlflow-debt ", "mlflow "))

    @property
    def rank(self) -> tuple[int, int, int, str]:
        """Sort key: most severe, then most models concerned, then check order."""
        return (
            -_SEVERITY_RANK[self.severity],
            -len(self.models),
            CHECK_IDS.index(self.check),
            self.subject,
        )


@dataclass(frozen=True)
class CheckResult:
    id: str
    status: str
    findings: tuple[Finding, ...] = ()
    #: One line: what was examined, or why the check was skipped.
    note: str = ""
    #: Registered models the check applies to, and those it fails for.
    applicable: frozenset[str] = frozenset()
    failed_models: frozenset[str] = frozenset()

    @property
    def check(self) -> Check:
        return CHECK_BY_ID[self.id]


@dataclass(frozen=True)
class ModelScore:
    model: str
    passed: int
    applicable: int
    #: Ids of the applicable checks the model fails.
    failed: tuple[str, ...]


@dataclass(frozen=True)
class GraphNode:
    id: str
    kind: str  # "feature" or "model"
    name: str
    #: Features: consumers reading it; models: features it reads.
    degree: int = 0
    high_fan_out: bool = False
    changed: bool = False
    #: Models: how the consumer got its name (lineage.MODEL, TAG, EXPERIMENT).
    consumer_kind: str = ""


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    #: "reads" (feature -> model) or "output" (producing model -> feature: a cascade).
    kind: str
    #: For "reads": this consumer trained on a definition other than the newest one.
    changed: bool = False


@dataclass(frozen=True)
class Graph:
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    #: Features read by some consumer but not drawn (the graph keeps the widest ones).
    omitted_features: int = 0

    def node(self, node_id: str) -> GraphNode:
        return next(n for n in self.nodes if n.id == node_id)


@dataclass(frozen=True)
class DebtReport:
    checks: tuple[CheckResult, ...]
    scores: tuple[ModelScore, ...]
    top: tuple[Finding, ...]
    graph: Graph
    prunes: tuple[PruneFacts, ...]
    #: Facts about the read: runs, versions, models, experiments, declarations, selection.
    scope: Mapping[str, Any] = field(default_factory=dict)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for c in self.checks for f in c.findings)

    def result(self, check_id: str) -> CheckResult:
        return next(c for c in self.checks if c.id == check_id)


# --------------------------------------------------------------------------------------------
# The checks


def _versions_by_model(facts: Facts) -> dict[str, list[VersionFacts]]:
    out: dict[str, list[VersionFacts]] = {name: [] for name in facts.models}
    for v in facts.versions:
        out.setdefault(v.model, []).append(v)
    for vs in out.values():
        vs.sort(key=lambda v: v.version)
    return out


def _numbers(versions: Sequence[VersionFacts]) -> str:
    return ", ".join(f"v{v.version}" for v in versions)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


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
                f"{_plural(len(usage.consumers), 'consumer')}: {', '.join(newest.consumers)} "
                f"trained on the newest, {', '.join(behind)} on older ones.",
                usage.consumers,
                f"mlflow-debt impact {_shell(usage.name)}",
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
        f"{_plural(len(report.features), 'feature')} read by "
        f"{_plural(len(report.consumers), 'consumer')}; "
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
    note = f"{_plural(len(decl.features), 'declared feature')} in {where} (scope: {decl.scope})"
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
                    f"mlflow-debt policy set {_shell(name)} --max-versions N",
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
                        f"mlflow-debt policy set {_shell(name)} --max-versions "
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
                f"would remove {_plural(deletable, 'version')} ({_numbers_of(plan.delete)})."
            )
            findings.append(
                Finding(
                    "version-limit",
                    MEDIUM,
                    name,
                    msg,
                    (name,),
                    f"mlflow-debt prune --model {_shell(name)}",
                    detail,
                )
            )
        elif plan.unranked:
            unranked = len(plan.unranked)
            msg = (
                f"{name} has {n} live versions, its limit is {policy.max_versions}, but "
                f"{_plural(unranked, 'version')} ({_numbers_of(plan.unranked)}) "
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
                    f"mlflow-debt prune --model {_shell(name)} --prune-unranked --dry-run",
                    detail,
                )
            )
        else:
            # Over the number only by aliased, kept or Production/Staging versions: that is
            # what the policy means (protected versions are never pruned), not debt.
            held_by_protection += 1
    note = (
        f"{_plural(len(facts.models), 'registered model')}, {with_policy} with a version limit; "
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


def check_lineage_gaps(facts: Facts, by_model: Mapping[str, list[VersionFacts]]) -> CheckResult:
    findings = []
    applicable = {name for name, vs in by_model.items() if vs}
    for name in sorted(applicable):
        no_run = [v for v in by_model[name] if not v.run_id or not v.run_found]
        untagged = [v for v in by_model[name] if v.run_found and v.run_id and v.features is None]
        partial = [
            v
            for v in by_model[name]
            if v.run_found and v.features is not None and not v.features_complete
        ]
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
            "mlflow-debt backfill " + " ".join(f"--experiment {_shell(e)}" for e in experiments)
            if experiments
            else "re-train with mlflow-debt installed and register the new version"
        )
        findings.append(
            Finding(
                "lineage-gap",
                MEDIUM,
                name,
                f"{name}: {_plural(len(gaps), 'live version')} without lineage "
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
    return _result("lineage-gap", findings, applicable, f"{_plural(n, 'live version')} checked")


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


def check_reproducibility(facts: Facts, by_model: Mapping[str, list[VersionFacts]]) -> CheckResult:
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
        severity = HIGH if ARTIFACT in by_what or SOURCE_RUN in by_what else MEDIUM
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
    note = f"{_plural(n, 'live version')} checked"
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
                f"{feature!r} appears in {_plural(runs, 'run')} but no live version or current "
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
        f"{_plural(len(facts.features_seen), 'feature')} seen in runs, {len(read_live)} read by "
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
                    f"(mlflow-debt impact {_shell(usage.name)})",
                    {"feature": usage.name, "producer": producer, "consumer": consumer},
                )
            )
    applicable = {n for n in report.consumers if n in facts.models}
    return _result(
        "correction-cascade",
        findings,
        applicable,
        f"{_plural(len(report.features), 'feature')} matched against "
        f"{_plural(len(names), 'model name')} and {_plural(len(outputs), 'declared output')}",
    )


def check_prunes(facts: Facts, th: Thresholds) -> CheckResult:
    findings = []
    for p in facts.prunes:
        if p.crashed:
            findings.append(
                Finding(
                    "prune-history",
                    MEDIUM,
                    f"prune {p.prune_id[:8]}",
                    f"The prune of {p.started or 'unknown date'} stopped before recording its "
                    f"outcome (state deleting): {_plural(len(p.records), 'record')} resolved "
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
                    f"mlflow-debt prune --model {_shell(model)}",
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
        f"{_plural(len(facts.prunes), 'prune')} recorded, "
        f"{sum(p.count('deleted') for p in facts.prunes)} versions deleted by them",
    )


# --------------------------------------------------------------------------------------------
# Graph, scores, the whole report


def graph(facts: Facts, th: Thresholds, keep: set[str] | None = None) -> Graph:
    """Features and their consumers; cascades as producing model -> feature edges.

    ``keep``: only features read by these consumers (``--model``), with all their consumers.
    """
    report = facts.lineage
    usages = [u for u in report.features if keep is None or keep & set(u.consumers)]
    shown = usages[: th.graph_features]
    outputs = facts.declarations.outputs if facts.declarations else {}
    names = sorted(facts.models)
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    model_ids: dict[str, str] = {}
    degree: dict[str, int] = {}

    def model_node(name: str) -> str:
        if name not in model_ids:
            model_ids[name] = f"m{len(model_ids)}"
        return model_ids[name]

    for i, u in enumerate(shown):
        fid = f"f{i}"
        nodes.append(
            GraphNode(
                fid, "feature", u.name, len(u.consumers), len(u.consumers) >= th.fan_out, u.changed
            )
        )
        newest = u.definitions[0].consumers if u.changed else ()
        for consumer in u.consumers:
            degree[consumer] = degree.get(consumer, 0) + 1
            changed = u.changed and consumer not in newest and consumer not in u.unknown
            edges.append(GraphEdge(fid, model_node(consumer), "reads", changed))
        producer = producer_of(u.name, names, outputs)
        if producer is not None:
            edges.append(GraphEdge(model_node(producer), fid, "output"))
    for name, mid in model_ids.items():
        seen = report.consumers.get(name)
        kind = seen.kind if seen else "registered_model"
        nodes.append(GraphNode(mid, "model", name, degree.get(name, 0), consumer_kind=kind))
    return Graph(tuple(nodes), tuple(edges), len(usages) - len(shown))


def scores(checks: Sequence[CheckResult], models: Sequence[str]) -> tuple[ModelScore, ...]:
    out = []
    for name in models:
        applicable = [c for c in checks if c.status != SKIPPED and name in c.applicable]
        failed = tuple(c.id for c in applicable if name in c.failed_models)
        out.append(ModelScore(name, len(applicable) - len(failed), len(applicable), failed))
    # Worst first: lowest share passed, then most failures, then name.
    return tuple(
        sorted(
            out,
            key=lambda s: (
                s.passed / s.applicable if s.applicable else 1.0,
                -len(s.failed),
                s.model,
            ),
        )
    )


def _select(result: CheckResult, selected: set[str]) -> CheckResult:
    """``result`` restricted to findings about the selected models."""
    findings = tuple(f for f in result.findings if selected & set(f.models))
    status = result.status if result.status == SKIPPED else (FAIL if findings else PASS)
    return CheckResult(
        result.id,
        status,
        findings,
        result.note,
        result.applicable & selected,
        result.failed_models & selected,
    )


def most_urgent(findings: Sequence[Finding], n: int = 3) -> tuple[Finding, ...]:
    """The ``n`` most urgent findings, at most one per check while other checks have some."""
    ranked = sorted(findings, key=lambda f: f.rank)
    first: list[Finding] = []
    for f in ranked:
        if all(f.check != g.check for g in first):
            first.append(f)
    chosen = sorted(first, key=lambda f: f.rank)[:n]
    chosen += [f for f in ranked if f not in chosen][: n - len(chosen)]
    return tuple(sorted(chosen, key=lambda f: f.rank))


def assess(facts: Facts, th: Thresholds | None = None) -> DebtReport:
    """Run every check over ``facts``."""
    th = th or Thresholds()
    by_model = _versions_by_model(facts)
    undeclared, stale = check_declarations(facts)
    results = [
        check_entanglement(facts, th),
        undeclared,
        stale,
        check_version_limit(facts, th, by_model),
        check_lineage_gaps(facts, by_model),
        check_reproducibility(facts, by_model),
        check_underutilized(facts, th, by_model),
        check_cascades(facts),
        check_prunes(facts, th),
    ]
    assert [r.id for r in results] == list(CHECK_IDS)
    selected = set(facts.selected)
    if selected:
        results = [_select(r, selected) for r in results]
    models = sorted(selected or facts.models)
    top = most_urgent([f for r in results for f in r.findings])
    prunes = sorted(facts.prunes, key=lambda p: p.started, reverse=True)
    if selected:
        prunes = [p for p in prunes if selected & set(p.models)]
    keep = None
    if selected:
        keep = selected
    return DebtReport(
        checks=tuple(results),
        scores=scores(results, models),
        top=top,
        graph=graph(facts, th, keep),
        prunes=tuple(prunes[: th.recent_prunes]),
    )


_SAFE = re.compile(r"^[\w@%+=:,./-]+$")


def _shell(word: str) -> str:
    """``word`` quoted for a POSIX shell when it needs it (fix commands are copy-pasted)."""
    if _SAFE.match(word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"
