"""The report's findings as words on the registry: ``mlflow_debt.findings`` per model and version.

Pure (no MLflow): :func:`per_target` turns findings into one short text per registered model
and per live version they concern; :func:`plan` compares that with the tags already there and
says what to set and what to remove. :mod:`mlflow_debt.report.publish` reads and writes.

Which targets a finding concerns:

* every registered model in ``Finding.models``;
* the versions it names: lineage gaps and reproducibility (per version), a prune that failed to
  delete them, near-zero importance (``model vN``);
* for findings about what a model reads (entanglement, undeclared and stale declarations,
  correction cascades, and checks this module does not know), the model's newest live version:
  the one whose features the consumer analysis read.

Example: ``entangled: user_age (3 definitions across 4 consumers) · undeclared reader of
session_count``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlflow_debt.report.model import CHECK_IDS, SEVERITIES, Finding
from mlflow_debt.tags import FINDINGS_KEY

KEY = FINDINGS_KEY
SEP = " · "
#: Longest text written (the UI shows the whole value; a long list helps nobody).
MAX_TEXT = 1_000

#: A registered model (version None) or one of its versions.
Target = tuple[str, int | None]


def _versions(values: Any) -> list[int]:
    out = []
    for v in values if isinstance(values, (list, tuple)) else ():
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            continue
    return out


def _vlist(numbers: Iterable[int]) -> str:
    return ", ".join(f"v{n}" for n in sorted(set(numbers)))


Phrases = tuple[list[tuple[str, str]], dict[tuple[str, int], str]]


def _feature(f: Finding) -> str:
    return str(f.detail.get("feature", f.subject))


def _each(f: Finding, text: str) -> Phrases:
    return [(m, text) for m in f.models], {}


def _entanglement(f: Finding) -> Phrases:
    defs = len(f.detail.get("definitions") or ()) or 2
    return _each(
        f, f"entangled: {_feature(f)} ({defs} definitions across {len(f.models)} consumers)"
    )


def _cascade(f: Finding) -> Phrases:
    producer = str(f.detail.get("producer", ""))
    return _each(f, f"reads the output of {producer} ({_feature(f)})")


def _version_limit(f: Finding) -> Phrases:
    d = f.detail
    n, limit = d.get("live_versions"), d.get("max_versions")
    if "error" in d:
        return _each(f, "version limit unreadable")
    if limit is None:
        return _each(f, f"{n} live versions, no version limit")
    return _each(f, f"over its version limit ({n} live, limit {limit})")


def _lineage_gap(f: Finding) -> Phrases:
    model = str(f.detail.get("model", f.subject))
    kinds = (
        ("untagged", "no feature tags"),
        ("incomplete", "incomplete feature tags"),
        ("no_source_run", "no source run"),
    )
    versions: dict[tuple[str, int], str] = {}
    for key, words in kinds:
        for v in _versions(f.detail.get(key)):
            versions[(model, v)] = f"lineage gap: {words}"
    return [(model, f"lineage gap: {_vlist(v for _, v in versions)}")], versions


def _reproducibility(f: Finding) -> Phrases:
    model = str(f.detail.get("model", f.subject))
    by_version = f.detail.get("versions")
    versions: dict[tuple[str, int], str] = {}
    for key, missing in by_version.items() if isinstance(by_version, Mapping) else ():
        if not str(key).isdigit():
            continue
        what = ", ".join(f"no {m}" for m in missing) if isinstance(missing, list) else ""
        versions[(model, int(key))] = f"not reproducible: {what}" if what else "not reproducible"
    return [(model, f"not reproducible: {_vlist(v for _, v in versions)}")], versions


def _underutilized(f: Finding) -> Phrases:
    if f.detail.get("kind") != "near_zero_importance":
        return [], {}  # a legacy feature concerns no model
    text = f"near-zero importance: {_feature(f)}"
    versions: dict[tuple[str, int], str] = {}
    for label in f.detail.get("importance") or {}:
        model, _, number = str(label).rpartition(" v")
        if model and number.isdigit():
            versions[(model, int(number))] = text
    return [(m, text) for m in f.models], versions


def _prune_history(f: Finding) -> Phrases:
    prune = str(f.detail.get("prune_id", ""))[:8]
    if f.detail.get("crashed"):
        return _each(f, f"prune {prune} stopped half-way")
    failed = _versions(f.detail.get("failed"))
    versions = {(m, v): f"prune {prune} failed to delete it" for m in f.models for v in failed}
    return [(m, f"prune {prune} failed to delete {_vlist(failed)}") for m in f.models], versions


_PHRASES: dict[str, Callable[[Finding], Phrases]] = {
    "entanglement": _entanglement,
    "undeclared-consumer": lambda f: _each(f, f"undeclared reader of {_feature(f)}"),
    "stale-declaration": lambda f: _each(f, f"declared for {_feature(f)}, reads it no longer"),
    "correction-cascade": _cascade,
    "version-limit": _version_limit,
    "lineage-gap": _lineage_gap,
    "reproducibility": _reproducibility,
    "underutilized-feature": _underutilized,
    "prune-history": _prune_history,
}


def _phrases(f: Finding) -> Phrases:
    """(model, phrase) for models, and (model, version) -> phrase for named versions; a check
    this module does not know yet gets its id and subject."""
    make = _PHRASES.get(f.check)
    return make(f) if make is not None else _each(f, f"{f.check}: {f.subject}")


#: Checks about what a model reads now: they concern its newest live version too.
_READS = frozenset(
    {"entanglement", "undeclared-consumer", "stale-declaration", "correction-cascade"}
)
_KNOWN = frozenset(_PHRASES)


def _order_of(f: Finding) -> tuple[int, int, str]:
    """Most severe first, then report order (a check this module does not know: last)."""
    severity = SEVERITIES.index(f.severity) if f.severity in SEVERITIES else len(SEVERITIES)
    check = CHECK_IDS.index(f.check) if f.check in CHECK_IDS else len(CHECK_IDS)
    return severity, check, f.subject


def _join(phrases: Sequence[str]) -> str:
    unique = list(dict.fromkeys(phrases))
    out: list[str] = []
    size = 0
    for i, p in enumerate(unique):
        if size + len(p) + len(SEP) > MAX_TEXT - 12:
            out.append(f"+{len(unique) - i} more")
            break
        out.append(p)
        size += len(p) + len(SEP)
    return SEP.join(out)


def per_target(findings: Iterable[Finding], live: Mapping[str, Sequence[int]]) -> dict[Target, str]:
    """The findings text of every target a finding concerns (targets without any: absent).

    ``live``: registered model -> its live version numbers (only those are annotated).
    """
    phrases: dict[Target, list[str]] = {}
    for f in sorted(findings, key=_order_of):
        models, versions = _phrases(f)
        for model, text in models:
            if model not in live:
                continue  # a consumer that is not a registered model (a tag or experiment)
            phrases.setdefault((model, None), []).append(text)
            if (f.check in _READS or f.check not in _KNOWN) and live[model]:
                phrases.setdefault((model, max(live[model])), []).append(text)
        for (model, number), text in versions.items():
            if number in set(live.get(model, ())):
                phrases.setdefault((model, number), []).append(text)
    return {target: _join(texts) for target, texts in phrases.items()}


@dataclass(frozen=True)
class Plan:
    """Tags to set (target -> text) and targets whose findings tag goes."""

    set: dict[Target, str] = field(default_factory=dict)
    remove: tuple[Target, ...] = ()


def plan(
    wanted: Mapping[Target, str],
    current: Mapping[Target, str],
    scope: Collection[str] | None = None,
) -> Plan:
    """What to write so that the targets carry ``wanted``: only changes; a tag whose finding is
    gone is removed. ``scope``: only targets of these models are touched (None: all)."""

    def inside(target: Target) -> bool:
        return scope is None or target[0] in scope

    to_set = {t: text for t, text in wanted.items() if inside(t) and current.get(t) != text}
    remove = tuple(sorted((t for t in current if inside(t) and t not in wanted), key=_order))
    return Plan(to_set, remove)


def _order(target: Target) -> tuple[str, int]:
    return (target[0], -1 if target[1] is None else target[1])
