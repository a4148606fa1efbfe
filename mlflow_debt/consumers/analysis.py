"""Who reads which feature: the consumer graph, changed definitions, undeclared consumers.

Pure: plain data in (runs with their tags, live model versions, aliases, declarations), plain data
out (:class:`Report`, :class:`Impact`). No MLflow, no I/O; :mod:`mlflow_debt.consumers.read`
reads the
store and :mod:`mlflow_debt.consumers.render` renders.

**The consumer rule.** Every run that carries feature tags belongs to one or more *consumers*:

1. each registered model with a live version whose source run (``version.run_id``) is the run;
2. otherwise the run's ``mlflow_debt.consumer`` tag, when the user set one;
3. otherwise the name of the run's experiment.

Consumers are names, so a run tagged ``mlflow_debt.consumer=churn_model`` joins the registered
model ``churn_model``. A consumer's **latest run** is its most recent run by start time (run id
breaks ties). What a consumer *reads* is what its latest run reads, plus — for a registered model —
what the source runs of its aliased versions read (an alias such as ``champion`` usually marks what
serves). Older, unaliased runs do not count: a feature dropped from the latest training is no
longer read.

**Versions read their LoggedModel first.** A run may log several models (MLflow 3's
``LoggedModel``) and each may be registered; capture writes the same tag schema onto each
LoggedModel. A version whose LoggedModel carries feature tags is described by that LoggedModel
(a row of its own, :attr:`RunRow.model_id`, dated by the model's creation), else by its source run
as before. So two versions registered from one run can read different features, and the run
itself, once all its versions are described by their models, is not a consumer of its own.

A run registered only as versions that no longer exist (pruned or deleted: MLflow records the
registration on the run's LoggedModel, ``mlflow.modelVersions``) is *retired*: it belongs to no
consumer, so a pruned version neither keeps a model's old definition alive nor turns into a
phantom consumer named after its experiment.

A **changed definition** is a feature whose fingerprint differs between consumers' latest runs,
compared with :func:`mlflow_debt.capture.fingerprint.same_definition` (a numeric median or IQR
may move by one 0.1-decade bucket, the noise of re-sampling); an unknown fingerprint (``?``, e.g.
from Feast tags) never counts as a change, nor does a comparison that cannot tell (``None``: a
legacy token that may mean either value).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from mlflow_debt import tags as tagschema
from mlflow_debt.capture.fingerprint import same_definition
from mlflow_debt.tags import UNKNOWN, FeatureSet

#: How a consumer got its name (see the module docstring).
#: How a consumer got its name: a registered model, a ``mlflow_debt.consumer`` tag, an experiment.
ConsumerKind = Literal["registered_model", "consumer_tag", "experiment"]
MODEL: Final = "registered_model"
TAG: Final = "consumer_tag"
EXPERIMENT: Final = "experiment"
#: How each kind of consumer is named in words.
KIND_LABEL: dict[str, str] = {
    MODEL: "registered model",
    TAG: "consumer tag",
    EXPERIMENT: "experiment",
}
_RANK = {EXPERIMENT: 0, TAG: 1, MODEL: 2}
_PREPROCESSING = re.compile(r":p[0-9a-f]+$")


def value_profile(fingerprint: str) -> str:
    """The fingerprint without the ``:p<hash>`` of the consumer's own preprocessing."""
    return _PREPROCESSING.sub("", fingerprint)


def preprocessing_of(fingerprint: str) -> str:
    """The ``:p<hash>`` suffix of a fingerprint (``""``: the model reads the column as is)."""
    m = _PREPROCESSING.search(fingerprint)
    return m.group(0)[2:] if m else ""


@dataclass(frozen=True)
class RunRow:
    """One run that carries feature tags, as read from the store; or one LoggedModel that does.

    A LoggedModel's row has its ``model_id`` (and its source run as ``run_id``), its creation
    time as ``start_time`` and its own tags: the features of *that* model, which may differ from
    its run's when a run logged several models.
    """

    run_id: str
    experiment: str
    start_time: int
    #: The run's tags (only feature tags and ``mlflow_debt.consumer`` are read).
    tags: Mapping[str, str]
    model_id: str | None = None

    @property
    def key(self) -> str:
        """What versions point at: the LoggedModel for a model's row, else the run."""
        return self.model_id or self.run_id


@dataclass(frozen=True)
class VersionRow:
    """One live model version and its source run.

    ``model_id`` is set when the version's LoggedModel carries feature tags of its own (then a
    row with that ``model_id`` describes it); else the version is described by its source run.
    """

    model: str
    version: int
    run_id: str | None
    model_id: str | None = None

    @property
    def key(self) -> str | None:
        return self.model_id or self.run_id


@dataclass(frozen=True)
class Consumer:
    """A model (or group of runs) and what it currently reads."""

    name: str
    kind: ConsumerKind
    latest_run_id: str
    latest_start_time: int
    #: feature -> fingerprint, from the latest run (training order).
    latest: dict[str, str]
    #: Every feature currently read: the latest run's, plus aliased versions' for a model.
    reads: frozenset[str]
    #: For a registered model: its newest live version number, and alias -> version.
    latest_version: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)
    #: Runs of this consumer whose feature tags were incomplete or failed their digest.
    incomplete_runs: int = 0
    #: When the latest features came from a LoggedModel's tags: its id (``latest_run_id`` is
    #: then the model's source run).
    latest_model_id: str | None = None
    #: For a registered model: the row of its newest live version older than the latest (the
    #: run id; ``None`` when there is none), and feature -> (fingerprint there, fingerprint now)
    #: for the features whose preprocessing differs between the two.
    previous_run_id: str | None = None
    preprocessing_changes: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Definition:
    """One fingerprint of a feature and the consumers whose latest run used it."""

    fingerprint: str
    consumers: tuple[str, ...]


@dataclass(frozen=True)
class PreprocessingChange:
    """One consumer whose preprocessing of a feature changed between two of its versions."""

    consumer: str
    before: str
    after: str
    before_run_id: str
    after_run_id: str


@dataclass(frozen=True)
class FeatureUsage:
    """One feature: who reads it, and on which definitions."""

    name: str
    consumers: tuple[str, ...]
    #: Known fingerprints among the consumers' latest runs, newest first (by latest run).
    definitions: tuple[Definition, ...]
    #: Consumers whose latest run does not know the fingerprint (or only an aliased version reads).
    unknown: tuple[str, ...]
    #: Consumers whose own preprocessing of the feature changed along their history.
    preprocessing: tuple[PreprocessingChange, ...] = ()

    @property
    def changed(self) -> bool:
        return len(self.definitions) > 1


@dataclass(frozen=True)
class Pair:
    """A (feature, consumer) pair: an undeclared consumer or a stale declaration."""

    feature: str
    consumer: str


@dataclass(frozen=True)
class Report:
    """Everything ``mlflow-debt consumers`` shows."""

    #: Most consumers first (highest CACE risk), then by name.
    features: tuple[FeatureUsage, ...]
    consumers: dict[str, Consumer]
    undeclared: tuple[Pair, ...] = ()
    stale: tuple[Pair, ...] = ()
    #: Features asked for (``--feature``) that no consumer reads.
    missing: tuple[str, ...] = ()
    #: Whether declarations were given (undeclared/stale are meaningful only then).
    declared: bool = False
    runs_read: int = 0

    @property
    def changed(self) -> tuple[FeatureUsage, ...]:
        return tuple(f for f in self.features if f.changed)

    @property
    def preprocessing_changed(self) -> tuple[FeatureUsage, ...]:
        return tuple(f for f in self.features if f.preprocessing)

    @property
    def empty(self) -> bool:
        """No run carried feature tags."""
        return not self.consumers


@dataclass(frozen=True)
class Declarations:
    """The declarations file: feature -> declared consumers."""

    features: dict[str, tuple[str, ...]]
    #: ``all``: every feature read must be declared; ``listed``: only check the listed features.
    scope: str = "all"
    path: str = ""
    #: feature -> the registered model whose output it is (correction cascades).
    outputs: dict[str, str] = field(default_factory=dict)


def _latest_version_and_aliases(
    versions: Iterable[VersionRow], aliases: Mapping[str, Mapping[str, int]]
) -> tuple[dict[str, list[str]], dict[str, int], set[str]]:
    """row key -> models, model -> newest live version, and the row keys behind aliased versions.

    A version's row is its LoggedModel's when that carries features, else its source run's.
    """
    models_by_run: dict[str, list[str]] = {}
    latest: dict[str, int] = {}
    run_of: dict[tuple[str, int], str] = {}
    for v in versions:
        latest[v.model] = max(latest.get(v.model, 0), v.version)
        key = v.key
        if key:
            models_by_run.setdefault(key, []).append(v.model)
            run_of[(v.model, v.version)] = key
    aliased = {
        run_of[(model, version)]
        for model, by_alias in aliases.items()
        for version in by_alias.values()
        if (model, version) in run_of
    }
    return models_by_run, latest, aliased


def consumers_of_run(
    run: RunRow,
    models_by_run: Mapping[str, Sequence[str]],
    retired: Collection[str] = (),
) -> list[tuple[str, ConsumerKind]]:
    """The ``(name, kind)`` of every consumer ``run`` belongs to (the consumer rule).

    ``retired`` holds runs that were registered as model versions at some point; those with no
    live version left belong to nobody.
    """
    models = models_by_run.get(run.key)
    if models:
        return [(m, MODEL) for m in sorted(set(models))]
    if run.model_id or run.run_id in retired:
        return []
    tagged = (run.tags.get(tagschema.CONSUMER_KEY) or "").strip()
    if tagged:
        return [(tagged, TAG)]
    return [(run.experiment, EXPERIMENT)]


def analyze(  # noqa: C901  one pass over runs and versions; see its sections
    runs: Iterable[RunRow],
    versions: Iterable[VersionRow] = (),
    aliases: Mapping[str, Mapping[str, int]] | None = None,
    declarations: Declarations | None = None,
    only_features: Sequence[str] = (),
    judge_absent: bool = True,
    registered_runs: Collection[str] = (),
) -> Report:
    """The consumer graph of ``runs``, checked against ``declarations``.

    ``runs`` is consumed once, as a stream: only each consumer's latest run and the runs behind
    aliased versions are kept and decoded, so memory stays proportional to the consumers.
    ``aliases`` is model -> alias -> version. ``only_features`` limits the report to those
    features. With ``judge_absent`` false (a partial read, e.g. ``--experiment``), a declared
    consumer that was not seen at all is not called stale. ``registered_runs`` are the runs ever
    registered as a model version; those without a live version are retired (no consumer).
    """
    aliases = aliases or {}
    models_by_run, latest_version, aliased_runs = _latest_version_and_aliases(versions, aliases)

    best: dict[str, tuple[int, str, RunRow]] = {}
    kinds: dict[str, ConsumerKind] = {}
    kept_aliased: dict[str, RunRow] = {}
    #: Rows of live versions (a registered model's history; as many as live versions).
    kept_versions: dict[str, RunRow] = {}
    n = 0
    for run in runs:
        n += 1
        key = (run.start_time or 0, run.key)
        for name, kind in consumers_of_run(run, models_by_run, registered_runs):
            # A registered model outranks a tag, a tag an experiment, of the same name.
            if name not in kinds or _RANK[kind] > _RANK[kinds[name]]:
                kinds[name] = kind
            cur = best.get(name)
            if cur is None or key > cur[:2]:
                best[name] = (*key, run)
        if run.key in aliased_runs:
            kept_aliased[run.key] = run
        if run.key in models_by_run:
            kept_versions[run.key] = run

    decoded: dict[str, FeatureSet] = {}

    def features_of(run: RunRow) -> FeatureSet:
        fs = decoded.get(run.key)
        if fs is None:
            fs = tagschema.decode(run.tags) or FeatureSet(())
            decoded[run.key] = fs
        return fs

    consumers: dict[str, Consumer] = {}
    for name in sorted(best):
        start, row_key, run = best[name]
        fs = features_of(run)
        latest_fp: dict[str, str] = {}
        for rec in fs.features:
            latest_fp.setdefault(rec.name, rec.fingerprint)
        reads = set(latest_fp)
        incomplete = 0 if fs.complete else 1
        model_aliases: dict[str, int] = {}
        previous: RunRow | None = None
        pre_changes: dict[str, tuple[str, str]] = {}
        if kinds[name] == MODEL:
            previous = _previous(name, (start, row_key), kept_versions, models_by_run)
            if previous is not None:
                pre_changes = _preprocessing_changes(features_of(previous), latest_fp)
            model_aliases = dict(sorted(aliases.get(name, {}).items()))
            for other in kept_aliased.values():
                if name in models_by_run.get(other.key, ()) and other.key != row_key:
                    # Only the versions of *this* model that an alias points at.
                    ofs = features_of(other)
                    reads.update(r.name for r in ofs.features)
                    incomplete += 0 if ofs.complete else 1
        consumers[name] = Consumer(
            name=name,
            kind=kinds[name],
            latest_run_id=run.run_id,
            latest_start_time=start,
            latest=latest_fp,
            reads=frozenset(reads),
            latest_version=latest_version.get(name) if kinds[name] == MODEL else None,
            aliases=model_aliases,
            incomplete_runs=incomplete,
            latest_model_id=run.model_id,
            previous_run_id=previous.run_id if previous is not None else None,
            preprocessing_changes=pre_changes,
        )

    readers: dict[str, list[str]] = {}
    for c in consumers.values():
        for f in c.reads:
            readers.setdefault(f, []).append(c.name)

    wanted = list(dict.fromkeys(only_features))
    names = [f for f in readers if not wanted or f in wanted]
    usages = [_usage(f, sorted(readers[f]), consumers) for f in names]
    usages.sort(key=lambda u: (-len(u.consumers), u.name))
    missing = tuple(f for f in wanted if f not in readers)

    undeclared: list[Pair] = []
    stale: list[Pair] = []
    if declarations is not None:
        undeclared, stale = _check(declarations, readers, consumers, wanted, judge_absent)

    return Report(
        features=tuple(usages),
        consumers=consumers,
        undeclared=tuple(undeclared),
        stale=tuple(stale),
        missing=missing,
        declared=declarations is not None,
        runs_read=n,
    )


def _previous(
    name: str,
    latest: tuple[int, str],
    rows: Mapping[str, RunRow],
    models_by_run: Mapping[str, Sequence[str]],
) -> RunRow | None:
    """The row of ``name``'s newest live version older than its latest row."""
    older = [
        r
        for k, r in rows.items()
        if name in models_by_run.get(k, ()) and (r.start_time or 0, r.key) < latest
    ]
    return max(older, key=lambda r: (r.start_time or 0, r.key), default=None)


def _preprocessing_changes(
    before: FeatureSet, after: Mapping[str, str]
) -> dict[str, tuple[str, str]]:
    """feature -> (before, after) where both know the feature and their preprocessing differs."""
    old: dict[str, str] = {}
    for rec in before.features:
        old.setdefault(rec.name, rec.fingerprint)
    out = {}
    for feature, fp in after.items():
        was = old.get(feature)
        if was is None or UNKNOWN in (was, fp):
            continue
        if preprocessing_of(was) != preprocessing_of(fp):
            out[feature] = (was, fp)
    return out


def _usage(feature: str, names: list[str], consumers: Mapping[str, Consumer]) -> FeatureUsage:
    by_fp: dict[str, list[str]] = {}
    newest: dict[str, tuple[int, str]] = {}
    unknown: list[str] = []
    # Newest first, so each definition is shown with its newest consumer's fingerprint and
    # fingerprints that differ only by re-sampling noise join it.
    recency = {n: (consumers[n].latest_start_time, consumers[n].latest_run_id) for n in names}
    for name in sorted(names, key=lambda n: recency[n], reverse=True):
        fp = consumers[name].latest.get(feature, UNKNOWN)
        if fp == UNKNOWN:
            unknown.append(name)
            continue
        # None (a legacy token that may mean either) is compatible: it joins, never splits.
        # Only the value profile is compared across consumers (each preprocesses as it likes).
        profile = value_profile(fp)
        rep = next(
            (r for r in by_fp if same_definition(value_profile(r), profile) is not False), fp
        )
        by_fp.setdefault(rep, []).append(name)
        newest[rep] = max(newest.get(rep, (0, "")), recency[name])
    order = sorted(by_fp, key=lambda fp: (newest[fp], fp), reverse=True)
    pre = tuple(
        PreprocessingChange(
            n,
            *consumers[n].preprocessing_changes[feature],
            consumers[n].previous_run_id or "",
            consumers[n].latest_run_id,
        )
        for n in names
        if feature in consumers[n].preprocessing_changes
    )
    return FeatureUsage(
        name=feature,
        consumers=tuple(names),
        definitions=tuple(Definition(fp, tuple(sorted(by_fp[fp]))) for fp in order),
        unknown=tuple(sorted(unknown)),
        preprocessing=pre,
    )


def _check(
    declarations: Declarations,
    readers: Mapping[str, list[str]],
    consumers: Mapping[str, Consumer],
    wanted: Sequence[str],
    judge_absent: bool,
) -> tuple[list[Pair], list[Pair]]:
    declared = declarations.features
    undeclared: list[Pair] = []
    for feature, names in readers.items():
        if wanted and feature not in wanted:
            continue
        if declarations.scope == "listed" and feature not in declared:
            continue
        allowed = set(declared.get(feature, ()))
        undeclared.extend(Pair(feature, n) for n in names if n not in allowed)
    stale: list[Pair] = []
    for feature, declared_names in declared.items():
        if wanted and feature not in wanted:
            continue
        actual = set(readers.get(feature, ()))
        for name in declared_names:
            if name in actual:
                continue
            if not judge_absent and name not in consumers:
                continue
            stale.append(Pair(feature, name))
    key = lambda p: (p.feature, p.consumer)  # noqa: E731
    return sorted(set(undeclared), key=key), sorted(set(stale), key=key)


@dataclass(frozen=True)
class ImpactConsumer:
    """One consumer in the blast radius of a feature."""

    consumer: Consumer
    #: The fingerprint its latest run used (``?`` unknown or read only by an aliased version).
    fingerprint: str


@dataclass(frozen=True)
class Impact:
    """The blast radius of changing one feature."""

    feature: str
    consumers: tuple[ImpactConsumer, ...]
    usage: FeatureUsage | None
    #: Close matches among the features read, when nobody reads ``feature``.
    suggestions: tuple[str, ...] = ()

    @property
    def sentence(self) -> str:
        if not self.consumers:
            return f"Nobody reads {self.feature!r}: editing it invalidates no recorded consumer."
        names = ", ".join(c.consumer.name for c in self.consumers)
        return f"Editing {self.feature!r} may invalidate: {names}"


def impact(report: Report, feature: str) -> Impact:
    """Who is hit when ``feature`` changes, from a report over (at least) that feature."""
    usage = next((u for u in report.features if u.name == feature), None)
    if usage is None:
        known = sorted({f for c in report.consumers.values() for f in c.reads})
        suggestions = tuple(difflib.get_close_matches(feature, known, n=3))
        return Impact(feature, (), None, suggestions)
    hit = tuple(
        ImpactConsumer(report.consumers[n], report.consumers[n].latest.get(feature, UNKNOWN))
        for n in usage.consumers
    )
    return Impact(feature, hit, usage)


#: The report's check ids that ``consumers --fail-on`` takes (one vocabulary for both commands).
GATE_CHECKS: tuple[str, ...] = ("undeclared-consumer", "entanglement", "stale-declaration")
#: ``consumers --fail-on``'s older words, kept: each names one check id.
GATE_ALIASES: dict[str, str] = {"undeclared": "undeclared-consumer", "changed": "entanglement"}
#: The checks that need a declarations file.
NEED_DECLARED: tuple[str, ...] = ("undeclared-consumer", "stale-declaration")


def gate(report: Report, checks: Collection[str]) -> list[str]:
    """What the ``--fail-on`` gate finds in ``report`` for these check ids (empty: it passes)."""
    found = []
    if "undeclared-consumer" in checks and report.undeclared:
        found.append(f"{len(report.undeclared)} undeclared consumer(s)")
    if "entanglement" in checks and report.changed:
        found.append(f"{len(report.changed)} changed definition(s)")
    if "stale-declaration" in checks and report.stale:
        found.append(f"{len(report.stale)} stale declaration(s)")
    return found
