"""Configuration debt: serving and newest versions configured apart for no recorded reason, and
knobs nobody turns.

Pure: no MLflow, no I/O. Parameters are the live versions' source runs' parameters
(:class:`~mlflow_debt.report.model.ConfigFacts`, read by :mod:`mlflow_debt.report.read_config`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from mlflow_debt.output import plural
from mlflow_debt.report.checks import result
from mlflow_debt.report.model import (
    LOW,
    MEDIUM,
    CheckResult,
    ConfigFacts,
    Facts,
    Finding,
    Thresholds,
    VersionFacts,
)

CHECK = "configuration-debt"
#: Names listed in one message before "+N more" (the detail has them all).
_SHOWN = 6
#: A value shown in a message is cut to this many characters.
_VALUE = 40


def _value(v: str | None) -> str:
    if v is None:
        return "unset"
    return v if len(v) <= _VALUE else v[: _VALUE - 1] + "…"


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    rest = len(names) - _SHOWN
    return shown + (f" (+{rest} more)" if rest > 0 else "")


def explained(param: str, note: str) -> bool:
    """Whether ``note`` names ``param`` (as a word, any case): someone recorded why."""
    pattern = rf"(?<![\w.]){re.escape(param)}(?![\w])"
    return re.search(pattern, note, re.IGNORECASE) is not None


def differences(
    serving: Mapping[str, str], newest: Mapping[str, str]
) -> dict[str, tuple[str | None, str | None]]:
    """param -> (serving value, newest value) for every parameter the two set differently."""
    return {
        k: (serving.get(k), newest.get(k))
        for k in sorted(set(serving) | set(newest))
        if serving.get(k) != newest.get(k)
    }


def _drift(
    name: str, versions: Sequence[VersionFacts], config: ConfigFacts
) -> tuple[list[Finding], bool]:
    """Findings for serving versions configured unlike the newest; whether any was compared."""
    newest = versions[-1]
    new_params = config.params.get((name, newest.version))
    if new_params is None:
        return [], False
    note = config.notes.get((name, newest.version), "")
    findings = []
    compared = False
    for v in versions[:-1]:
        if not v.aliases:
            continue
        params = config.params.get((name, v.version))
        if params is None:
            continue
        compared = True
        diff = differences(params, new_params)
        why_not = [k for k in diff if not explained(k, note)]
        if not why_not:
            continue
        aliases = ", ".join(f"@{a}" for a in v.aliases)
        changes = "; ".join(
            f"{k} {_value(diff[k][0])} → {_value(diff[k][1])}" for k in why_not[:_SHOWN]
        )
        more = f" (+{len(why_not) - _SHOWN} more)" if len(why_not) > _SHOWN else ""
        findings.append(
            Finding(
                CHECK,
                MEDIUM,
                f"{name} v{v.version} → v{newest.version}",
                f"{name} serves v{v.version} ({aliases}); the newest v{newest.version} was "
                f"trained with {plural(len(why_not), 'parameter')} changed and nothing records "
                f"why: {changes}{more}.",
                (name,),
                f"say why in the description of {name} v{newest.version} (name the "
                "parameters), or train it with the serving configuration",
                {
                    "model": name,
                    "serving": {"version": v.version, "aliases": list(v.aliases)},
                    "newest": newest.version,
                    "params": {k: {"serving": diff[k][0], "newest": diff[k][1]} for k in why_not},
                    "explained": [k for k in diff if k not in why_not],
                },
            )
        )
    return findings, compared


def _dead_knobs(
    name: str, versions: Sequence[VersionFacts], config: ConfigFacts, th: Thresholds
) -> tuple[list[Finding], bool]:
    """A finding for parameters set alike in every live version; whether the model was judged."""
    all_params = [
        config.params[(name, v.version)] for v in versions if (name, v.version) in config.params
    ]
    if len(all_params) < th.dead_knob_versions:
        return [], False
    first = all_params[0]
    dead = sorted(
        k for k, value in first.items() if all(p.get(k, None) == value for p in all_params[1:])
    )
    if not dead:
        return [], True
    finding = Finding(
        CHECK,
        LOW,
        name,
        f"{name}: {plural(len(dead), 'parameter')} never varied across its "
        f"{len(all_params)} live versions (dead knobs): {_names(dead)}.",
        (name,),
        f"make {_names(dead)} constants of {name}'s training code, or vary them on purpose",
        {"model": name, "dead_knobs": {k: first[k] for k in dead}, "versions": len(all_params)},
    )
    return [finding], True


def check_configuration(
    facts: Facts, th: Thresholds, by_model: Mapping[str, list[VersionFacts]]
) -> CheckResult:
    config = facts.config
    if config is None:
        return result(CHECK, [], set(), "", skipped="parameters not read")
    if not config.params:
        return result(CHECK, [], set(), "", skipped="no live version's run logged parameters")
    findings: list[Finding] = []
    applicable: set[str] = set()
    compared = judged = 0
    for name in sorted(by_model):
        versions = by_model[name]
        if not versions:
            continue
        drift, was_compared = _drift(name, versions, config)
        dead, was_judged = _dead_knobs(name, versions, config, th)
        findings += drift + dead
        compared += was_compared
        judged += was_judged
        if any((name, v.version) in config.params for v in versions):
            applicable.add(name)
    note = (
        f"{plural(len(config.params), 'live version')} with parameters; serving versions "
        f"compared with the newest in {plural(compared, 'model')}; dead knobs judged in "
        f"{judged} (at least {th.dead_knob_versions} versions)"
    )
    return result(CHECK, findings, applicable, note)
