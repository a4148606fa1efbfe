"""The debt report's data: the checks' documentation, the facts they read, their results.

Pure: no MLflow, no I/O, only data types and the constants that name statuses and severities.
:mod:`mlflow_debt.report.read` gathers :class:`Facts`, :mod:`mlflow_debt.report.checks` runs the
eleven checks over them, :mod:`mlflow_debt.report.assess` turns their results into a
:class:`DebtReport` (scores, most urgent, graph), and :mod:`mlflow_debt.report.text` /
:mod:`mlflow_debt.report.html` draw it.

Every check has a stable id (like a linter's rule code): ``--fail-on`` takes it, JSON carries
it, and :data:`CHECKS` documents what it detects, why that is debt and how to pay it down.
A check *fails* when it has at least one finding; for a registered model it is *applicable*
when the model has what the check looks at, and the model's score is the number of applicable
checks it passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from mlflow_debt.consumers.analysis import ConsumerKind, Declarations, Report
from mlflow_debt.output import shell_quote


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
        "configuration-debt",
        "Configuration debt",
        "Parameters that differ between a model's serving (aliased) version and its newest "
        "version with nothing recording why (the newest version's description or its run's "
        "note does not name them), and parameters never varied across a model's live versions "
        "(dead knobs).",
        "Configuration is code nobody reviews: a difference between what serves and what was "
        "trained last that nobody explained cannot be reviewed or reproduced, and a knob nobody "
        "turns is surface to maintain, misread and get wrong.",
        "Say why in the newest version's description (name the parameter), or train it with "
        "the serving configuration; turn dead knobs into constants of the training code.",
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
        "feedback-loop",
        "Hidden feedback loops",
        "Models that read, directly or through other models, a feature produced from their own "
        "output: a cycle in the producer -> consumer graph that correction-cascade draws.",
        "A model that shapes its own future training data learns from a world it narrowed: its "
        "metrics can improve while its predictions get worse, and no single change shows it.",
        "Break the cycle: train on data the model did not influence (a held-out share served "
        "without it, logged propensities), or stop reading the feature.",
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

Severity = Literal["high", "medium", "low"]
HIGH: Final = "high"
MEDIUM: Final = "medium"
LOW: Final = "low"
SEVERITIES: tuple[Severity, ...] = (HIGH, MEDIUM, LOW)
_SEVERITY_RANK: dict[Severity, int] = {HIGH: 3, MEDIUM: 2, LOW: 1}

Status = Literal["pass", "fail", "skipped"]
PASS: Final = "pass"
FAIL: Final = "fail"
SKIPPED: Final = "skipped"
STATUSES: tuple[Status, ...] = (PASS, FAIL, SKIPPED)

NodeKind = Literal["feature", "model"]
EdgeKind = Literal["reads", "output"]

#: The audit's state of a version whose delete call failed (``prune.history.FAILED``).
PRUNE_FAILED = "failed"

#: Metric keys logging a per-feature importance: ``feature_importance.<feature name>``.
IMPORTANCE_PREFIX = "feature_importance."


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
    #: Dead knobs are judged on models with at least this many live versions with parameters.
    dead_knob_versions: int = 3


# --------------------------------------------------------------------------------------------
# Facts (what report.read gathers)


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


def restore_command(prune_id: str) -> str:
    """The command that undoes a prune (the report shows it next to each prune)."""
    return f"mlflow-debt restore --prune-id {shell_quote(prune_id)}"


@dataclass(frozen=True)
class PruneFacts:
    """One prune operation from the audit trail."""

    prune_id: str
    started: str
    records: tuple[PruneRecord, ...]
    #: It stopped before recording its outcome (state ``deleting``, no result).
    crashed: bool = False
    #: Why its records cannot be read ("" when they can); it then has no records.
    unreadable: str = ""

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(sorted({r.model for r in self.records}))

    def count(self, state: str) -> int:
        return sum(1 for r in self.records if r.state == state)

    @property
    def restored(self) -> int:
        return sum(1 for r in self.records if r.restored_as is not None)


VersionKey = tuple[str, int]


@dataclass(frozen=True)
class ConfigFacts:
    """The live versions' parameters (read by :mod:`mlflow_debt.report.read_config`)."""

    #: (model, version) -> its source run's parameters (versions whose run was read).
    params: Mapping[VersionKey, Mapping[str, str]] = field(default_factory=dict)
    #: (model, version) -> what records why it was trained as it was: the version's
    #: description and its source run's note (``mlflow.note.content``), where read.
    notes: Mapping[VersionKey, str] = field(default_factory=dict)


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
    #: Parameters for configuration-debt; None: not read (the check is skipped).
    config: ConfigFacts | None = None


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Finding:
    """One piece of debt, in words and in data."""

    check: str
    severity: Severity
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
    status: Status
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
    kind: NodeKind
    name: str
    #: Features: consumers reading it; models: features it reads.
    degree: int = 0
    high_fan_out: bool = False
    changed: bool = False
    #: Models: how the consumer got its name (lineage.MODEL, TAG, EXPERIMENT); features: "".
    consumer_kind: ConsumerKind | Literal[""] = ""


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    #: "reads" (feature -> model) or "output" (producing model -> feature: a cascade).
    kind: EdgeKind
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
class Scope:
    """What the report read, for its header and the JSON ``scope`` object."""

    tracking_uri: str = ""
    #: ISO 8601, UTC.
    generated_at: str = ""
    #: ``--experiment`` (empty: all experiments).
    experiments: tuple[str, ...] = ()
    #: ``--model`` (empty: all registered models).
    models: tuple[str, ...] = ()
    #: The declarations file, if any.
    declared: str | None = None
    #: Feature-tagged runs read (LoggedModels that describe versions are counted apart).
    runs_read: int | None = None
    logged_models_read: int | None = None
    versions_read: int | None = None
    registered_models: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON ``scope`` object (docs/report.md): the fields, sequences as lists."""
        return {
            "tracking_uri": self.tracking_uri,
            "generated_at": self.generated_at,
            "experiments": list(self.experiments),
            "models": list(self.models),
            "declared": self.declared,
            "runs_read": self.runs_read,
            "logged_models_read": self.logged_models_read,
            "versions_read": self.versions_read,
            "registered_models": self.registered_models,
        }


@dataclass(frozen=True)
class DebtReport:
    checks: tuple[CheckResult, ...]
    scores: tuple[ModelScore, ...]
    top: tuple[Finding, ...]
    graph: Graph
    prunes: tuple[PruneFacts, ...]
    #: Facts about the read: runs, versions, models, experiments, declarations, selection.
    scope: Scope = field(default_factory=lambda: Scope())

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for c in self.checks for f in c.findings)

    def result(self, check_id: str) -> CheckResult:
        return next(c for c in self.checks if c.id == check_id)
