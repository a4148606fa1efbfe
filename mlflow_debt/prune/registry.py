"""All MLflow I/O for pruning: registry reads, batched metric look-ups, audited deletes, restore.

Reads are O(pages), not O(versions): versions come from paged ``search_model_versions``, metric
values from ``search_logged_models`` (``model_id IN (...)``) and ``search_runs``
(``attributes.run_id IN (...)``) in batches. Against an HTTP tracking server the batches (and the
deletes, which MLflow only offers one version at a time) run on a small thread pool; against a
local SQLite store they run sequentially, because SQLite serializes writers anyway.

The audit trail lives in the tracking server itself: each prune is a run in the experiment
:data:`AUDIT_EXPERIMENT`, holding the full record of every version it is about to delete as the
JSON artifact ``prune/plan.json`` (written *before* the first delete) and the outcome per version
as ``prune/result.json`` (written after the last). A prune that crashed in between leaves only
``plan.json``; readers resolve its records by asking whether the version still exists.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import math
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mlflow.entities import Metric, ViewType
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_debt.errors import InputError, NotFoundError, ServerError
from mlflow_debt.prune import plan as retention
from mlflow_debt.prune.plan import Policy, PolicyError, PrunePlan, VersionInfo
from mlflow_debt.store import iter_model_versions, mlflow_errors, one_line

#: The experiment that holds the prune history (one run per prune).
AUDIT_EXPERIMENT = "mlflow-debt"
PLAN_ARTIFACT = "prune/plan.json"
RESULT_ARTIFACT = "prune/result.json"
AUDIT_SCHEMA = 1
#: Tags on audit runs.
OP_TAG = "mlflow_debt.op"
STATE_TAG = "mlflow_debt.state"
RESTORED_TAG = "mlflow_debt.restored."
#: Who started a prune: "cli" (``mlflow-debt prune``) or "serve" (the enforcement service).
TRIGGER_TAG = "mlflow_debt.trigger"

#: Record states in the audit.
PLANNED = "planned"  # recorded, delete not (yet) attempted or its outcome unknown (crash)
DELETED = "deleted"  # deleted by this prune
VANISHED = "vanished"  # already gone when this prune came to delete it: not deleted by it
SKIPPED = "skipped"  # not deleted: protected or kept on re-check, or after an earlier failure
FAILED = "failed"  # the delete call failed

#: Default thread-pool size against an HTTP server; 1 (sequential) for local stores.
HTTP_WORKERS = 8
#: Items per batched metric look-up (``... IN (...)``).
BATCH = 500
#: ``search_registered_models`` page size (MLflow's maximum).
MODELS_PAGE = 1000

_MODEL_ID_SOURCE = re.compile(r"^models:/(m-[0-9a-f]+)/?$")
_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}

T = TypeVar("T")
R = TypeVar("R")

#: ``progress(label, total)`` returns a context manager yielding ``advance(n)``.
ProgressFactory = Callable[[str, int], contextlib.AbstractContextManager[Callable[[int], None]]]


@contextlib.contextmanager
def no_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


def default_workers(client: MlflowClient) -> int:
    """How many calls to have in flight: a pool for HTTP servers, sequential for local stores."""
    uri = str(client.tracking_uri or "")
    return HTTP_WORKERS if uri.startswith(("http://", "https://")) else 1


def ensure_reachable(client: MlflowClient, timeout: float = 10.0) -> None:
    """Fail fast, with one clear line, when an HTTP tracking server cannot be reached at all.

    MLflow's client retries a refused connection with backoff for minutes before giving up.
    This is one probe, not a retry layer: any HTTP answer (even 401/404) counts as reachable,
    and TLS trouble is left to MLflow's own settings.
    """
    uri = str(client.tracking_uri or "")
    if not uri.startswith(("http://", "https://")) or uri in _REACHABLE:
        return
    import requests
    from mlflow.environment_variables import (
        MLFLOW_TRACKING_INSECURE_TLS,
        MLFLOW_TRACKING_SERVER_CERT_PATH,
    )

    verify: bool | str = not MLFLOW_TRACKING_INSECURE_TLS.get()
    if verify and MLFLOW_TRACKING_SERVER_CERT_PATH.get():
        verify = str(MLFLOW_TRACKING_SERVER_CERT_PATH.get())
    try:
        requests.get(uri.rstrip("/") + "/health", timeout=timeout, verify=verify)
    except requests.exceptions.SSLError:
        return
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        reason = type(exc).__name__
        inner = getattr(exc, "args", None)
        if inner and "refused" in str(inner[0]).lower():
            reason = "connection refused"
        raise ServerError(
            f"Cannot reach the tracking server at {one_line(uri)} ({reason})"
        ) from None
    _REACHABLE.add(uri)


#: Servers that answered once in this process: probed once, not before every call.
_REACHABLE: set[str] = set()


def _pmap(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(x) for x in items]``, on ``workers`` threads when more than one; order kept."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)))
    try:
        return list(pool.map(fn, items))
    finally:
        # On an error or Ctrl-C, start nothing new (a plain `with` would run the whole queue).
        pool.shutdown(wait=True, cancel_futures=True)


def _both(f: Callable[[], T], g: Callable[[], R]) -> tuple[T, R]:
    """``(f(), g())`` with ``g`` on a second thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        later = pool.submit(g)
        return f(), later.result()


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _batch_size(n: int, workers: int) -> int:
    # Sequentially, fewer and larger calls are cheapest; with a pool, split the work so every
    # worker gets a share.
    if workers <= 1:
        return BATCH
    return max(50, min(BATCH, math.ceil(n / (2 * workers))))


def quote(value: str) -> str:
    """``value`` as a string literal in an MLflow search filter."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise InputError(f"Names containing both ' and \" are not supported: {value!r}")


def _is_not_found(exc: MlflowException) -> bool:
    return str(getattr(exc, "error_code", "") or "") in _NOT_FOUND_CODES


def model_id_of(mv: ModelVersion) -> str | None:
    """The LoggedModel behind a version: its ``model_id``, else parsed from ``models:/m-...``."""
    if getattr(mv, "model_id", None):
        return str(mv.model_id)
    m = _MODEL_ID_SOURCE.match(mv.source or "")
    return m.group(1) if m else None


# --------------------------------------------------------------------------------------------
# Reading the registry


@dataclass
class Selection:
    """What to prune and the flags that override each model's own policy (None = not given)."""

    models: tuple[str, ...] = ()
    max_versions: int | None = None
    metric: str | None = None
    lower_is_better: bool | None = None
    prune_unranked: bool = False

    def policy_for(self, name: str, tags: Mapping[str, str]) -> Policy | None:
        try:
            return retention.policy_from_tags(
                name,
                tags,
                max_versions=self.max_versions,
                metric=self.metric,
                lower_is_better=self.lower_is_better,
                prune_unranked=self.prune_unranked,
            )
        except PolicyError as exc:
            raise InputError(str(exc)) from None


@dataclass
class Snapshot:
    """Everything read from MLflow to plan a prune."""

    selection: Selection
    #: name -> registered model tags
    model_tags: dict[str, dict[str, str]]
    #: name -> {version: aliases}
    aliases: dict[str, dict[int, list[str]]]
    policies: dict[str, Policy | None]
    #: (name, version) -> the live version as read
    versions: dict[tuple[str, int], ModelVersion]
    #: (name, version) -> value of the model's metric (None: no value)
    metrics: dict[tuple[str, int], float | None]

    def infos(self) -> list[VersionInfo]:
        return [
            version_info(mv, self.aliases.get(name, {}).get(v, []))
            for (name, v), mv in self.versions.items()
        ]


def version_info(mv: ModelVersion, aliases: Iterable[str] = ()) -> VersionInfo:
    return VersionInfo(
        name=mv.name,
        version=int(mv.version),
        aliases=tuple(sorted(set(aliases) | set(mv.aliases or []))),
        tags=dict(mv.tags or {}),
        stage=mv.current_stage,
    )


def _aliases_of(rm: RegisteredModel) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for alias, version in (rm.aliases or {}).items():
        out.setdefault(int(version), []).append(alias)
    return out


def read_registered_models(
    client: MlflowClient, names: Sequence[str], workers: int = 1
) -> list[RegisteredModel]:
    """The named registered models (all of them when ``names`` is empty); unknown names fail."""
    if names:

        def get(name: str) -> RegisteredModel:
            try:
                with mlflow_errors(f'Reading registered model "{name}"'):
                    return client.get_registered_model(name)
            except (NotFoundError, InputError):
                raise NotFoundError(f'Registered model "{name}" does not exist') from None

        return _pmap(get, list(dict.fromkeys(names)), workers)
    found: list[RegisteredModel] = []
    token = None
    while True:
        with mlflow_errors("Listing registered models"):
            page = client.search_registered_models(max_results=MODELS_PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def read_versions(
    client: MlflowClient, names: Sequence[str], *, all_models: bool, workers: int = 1
) -> dict[tuple[str, int], ModelVersion]:
    """Live versions of ``names``: one paged read of everything, or one paged read per model.

    With ``all_models`` and one worker a single paged scan is cheapest; with a pool (HTTP) and a
    known list of models, per-model reads run side by side.
    """
    wanted = set(names)
    out: dict[tuple[str, int], ModelVersion] = {}
    if all_models and (workers <= 1 or len(names) > 4 * workers * 8):
        for mv in iter_model_versions(client):
            if mv.name in wanted:
                out[(mv.name, int(mv.version))] = mv
        return out

    def one(name: str) -> list[ModelVersion]:
        return list(iter_model_versions(client, f"name = {quote(name)}"))

    for versions in _pmap(one, list(names), workers):
        for mv in versions:
            out[(mv.name, int(mv.version))] = mv
    return out


def experiment_names(client: MlflowClient) -> dict[str, str]:
    """id -> name of every experiment, deleted ones included (a version's run may live in one)."""
    names: dict[str, str] = {}
    token = None
    while True:
        with mlflow_errors("Listing experiments"):
            page = client.search_experiments(
                view_type=ViewType.ALL, max_results=1000, page_token=token
            )
        names.update((e.experiment_id, e.name) for e in page)
        token = page.token
        if not token:
            return names


def experiment_ids(client: MlflowClient) -> list[str]:
    """Every experiment id, deleted ones included."""
    return list(experiment_names(client))


def latest_values(metrics: Iterable[Metric]) -> dict[str, float]:
    """key -> latest value (MLflow's rule: highest step, then newest, then largest)."""
    best: dict[str, tuple[int, int, float]] = {}
    for m in metrics:
        cand = (int(m.step or 0), int(m.timestamp or 0), float(m.value))
        if m.key not in best or cand > best[m.key]:
            best[m.key] = cand
    return {k: v[2] for k, v in best.items()}


def _latest(metrics: Iterable[Metric], key: str) -> float | None:
    """The latest value of ``key``."""
    return latest_values(m for m in metrics if m.key == key).get(key)


def read_metrics(
    client: MlflowClient,
    versions: Mapping[tuple[str, int], ModelVersion],
    metric_of: Mapping[str, str],
    *,
    workers: int = 1,
    progress: ProgressFactory = no_progress,
    exp_ids: Sequence[str] | None = None,
) -> dict[tuple[str, int], float | None]:
    """Each version's value of its model's metric: the LoggedModel's, else the source run's.

    ``metric_of`` maps model name -> metric name; versions of other models are not looked up.
    One round of batched searches, side by side: LoggedModels (``model_id IN (...)``) for the
    versions that have one, runs (``attributes.run_id IN (...)``) for the others; then runs for
    the few versions whose LoggedModel lacks the metric.
    """
    keys = [k for k in versions if k[0] in metric_of]
    values: dict[tuple[str, int], float | None] = dict.fromkeys(keys)
    if not keys:
        return values
    exp_ids = list(exp_ids) if exp_ids is not None else experiment_ids(client)
    if not exp_ids:
        return values

    def search_logged_models(batch: Sequence[str]) -> dict[str, list[Metric]]:
        flt = "model_id IN (" + ", ".join(quote(i) for i in batch) + ")"
        found: dict[str, list[Metric]] = {}
        token = None
        while True:
            with mlflow_errors("Reading logged models"):
                page = client.search_logged_models(
                    exp_ids, filter_string=flt, max_results=len(batch), page_token=token
                )
            for lm in page:
                found[lm.model_id] = list(lm.metrics or [])
            token = page.token
            if not token:
                return found

    def search_runs(batch: Sequence[str]) -> dict[str, dict[str, float]]:
        flt = "attributes.run_id IN (" + ", ".join(quote(i) for i in batch) + ")"
        found: dict[str, dict[str, float]] = {}
        token = None
        while True:
            with mlflow_errors("Reading runs"):
                page = client.search_runs(
                    exp_ids, filter_string=flt, max_results=len(batch), page_token=token
                )
            for run in page:
                found[run.info.run_id] = run.data.metrics
            token = page.token
            if not token:
                return found

    by_model_id: dict[str, list[tuple[str, int]]] = {}
    by_run: dict[str, list[tuple[str, int]]] = {}
    for k in keys:
        mid = model_id_of(versions[k])
        if mid:
            by_model_id.setdefault(mid, []).append(k)
        elif versions[k].run_id:
            by_run.setdefault(str(versions[k].run_id), []).append(k)

    def tasks(kind: str, ids: list[str]) -> list[tuple[str, Sequence[str]]]:
        return [(kind, chunk) for chunk in _chunks(ids, _batch_size(len(ids), workers))]

    with progress(f"Reading metrics of {len(keys)} versions", len(keys)) as advance:

        def lookup(task: tuple[str, Sequence[str]]) -> tuple[str, dict[str, Any]]:
            kind, batch = task
            found: dict[str, Any] = (
                search_logged_models(batch) if kind == "model" else search_runs(batch)
            )
            owners = by_model_id if kind == "model" else by_run
            advance(sum(len(owners[i]) for i in batch))
            return kind, found

        def apply_found(kind: str, found: dict[str, Any], fallback: dict[str, list[Any]]) -> None:
            for oid, data in found.items():
                owners = by_model_id if kind == "model" else by_run
                for k in owners.get(oid, []):
                    if kind == "model":
                        values[k] = _latest(data, metric_of[k[0]])
                        run_id = versions[k].run_id
                        if values[k] is None and run_id:
                            fallback.setdefault(str(run_id), []).append(k)
                    elif values[k] is None:
                        value = data.get(metric_of[k[0]])
                        values[k] = None if value is None else float(value)

        todo = tasks("model", sorted(by_model_id)) + tasks("run", sorted(by_run))
        fallback: dict[str, list[tuple[str, int]]] = {}
        for kind, found in _pmap(lookup, todo, workers):
            apply_found(kind, found, fallback)
        # LoggedModels without the metric: their source run may have it.
        if fallback:
            by_run = fallback
            for kind, found in _pmap(lookup, tasks("run", sorted(by_run)), workers):
                apply_found(kind, found, {})
    return values


def load(
    client: MlflowClient,
    selection: Selection,
    *,
    workers: int | None = None,
    progress: ProgressFactory = no_progress,
) -> tuple[Snapshot, PrunePlan]:
    """Read what ``selection`` needs and plan it. Raises :class:`InputError` on bad input."""
    ensure_reachable(client)
    workers = workers or default_workers(client)
    if workers > 1:  # independent reads: side by side
        models, exp_ids = _both(
            lambda: read_registered_models(client, selection.models, workers),
            lambda: experiment_ids(client),
        )
    else:
        models = read_registered_models(client, selection.models, workers)
        exp_ids = None
    model_tags = {rm.name: dict(rm.tags or {}) for rm in models}
    aliases = {rm.name: _aliases_of(rm) for rm in models}
    policies = {rm.name: selection.policy_for(rm.name, model_tags[rm.name]) for rm in models}
    managed = [name for name, pol in policies.items() if pol is not None]
    if models and not managed:
        raise InputError(
            "No version limit to enforce: pass --max-versions N, or give models their own "
            "with: mlflow-debt policy set MODEL --max-versions N"
        )
    versions = read_versions(client, managed, all_models=not selection.models, workers=workers)
    metric_of = {name: pol.metric for name, pol in policies.items() if pol is not None}
    metrics = read_metrics(
        client, versions, metric_of, workers=workers, progress=progress, exp_ids=exp_ids
    )

    # A metric that no version of the models ranked by it has is a typo, not "all unranked".
    for metric in sorted(set(metric_of.values())):
        keys = [k for k in versions if metric_of.get(k[0]) == metric]
        if keys and all(metrics.get(k) is None for k in keys):
            names = sorted({k[0] for k in keys})
            shown = ", ".join(f'"{n}"' for n in names[:5]) + (" ..." if len(names) > 5 else "")
            raise InputError(
                f'Metric "{metric}" is logged on none of the {len(keys)} versions of '
                f"{shown} (neither on their logged models nor on their source runs)"
            )

    snapshot = Snapshot(selection, model_tags, aliases, policies, versions, metrics)
    plan = retention.plan(snapshot.infos(), metrics, policies, models=policies)
    return snapshot, plan


# --------------------------------------------------------------------------------------------
# Applying a plan: record, re-check, delete


@dataclass
class Record:
    """Everything needed to re-register a deleted version, plus why and what happened."""

    name: str
    version: int
    source: str
    run_id: str | None
    model_id: str | None
    tags: dict[str, str]
    description: str | None
    aliases: list[str]
    stage: str | None
    metric: str
    value: float | None
    reason: str
    state: str = PLANNED
    detail: str = ""

    @classmethod
    def of(cls, mv: ModelVersion, decision: retention.Decision, metric: str) -> Record:
        return cls(
            name=mv.name,
            version=int(mv.version),
            source=str(mv.source or ""),
            run_id=mv.run_id or None,
            model_id=model_id_of(mv),
            tags=dict(mv.tags or {}),
            description=mv.description or None,
            aliases=list(mv.aliases or []),
            stage=mv.current_stage,
            metric=metric,
            value=decision.value,
            reason=decision.reason,
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Record:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class ApplyResult:
    prune_id: str | None
    records: list[Record] = field(default_factory=list)
    error: str | None = None

    def by_state(self, state: str) -> list[Record]:
        return [r for r in self.records if r.state == state]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def audit_experiment_id(client: MlflowClient, create: bool = True) -> str | None:
    """The id of the audit experiment, created on first use (concurrent creators are fine)."""
    with mlflow_errors(f'Reading experiment "{AUDIT_EXPERIMENT}"'):
        exp = client.get_experiment_by_name(AUDIT_EXPERIMENT)
        if exp is not None:
            if exp.lifecycle_stage == "deleted" and create:
                # Someone deleted the history; new records still need a live experiment.
                client.restore_experiment(exp.experiment_id)
            return str(exp.experiment_id)
        if not create:
            return None
        try:
            return str(
                client.create_experiment(
                    AUDIT_EXPERIMENT,
                    tags={"mlflow.note.content": "Prune history written by mlflow-debt."},
                )
            )
        except MlflowException as exc:
            if "already exists" not in str(exc.message).lower():
                raise
            exp = client.get_experiment_by_name(AUDIT_EXPERIMENT)
            if exp is None:
                raise
            return str(exp.experiment_id)


def _recheck(
    snapshot: Snapshot, client: MlflowClient, plan: PrunePlan, workers: int
) -> tuple[PrunePlan, set[tuple[str, int]]]:
    """Re-plan the models about to lose versions from a fresh read of their versions and tags.

    Only deletions both plans agree on go ahead. Versions registered since the first read are
    left out of the re-plan (their metric is unknown), which can only make it keep more. Returns
    the fresh plan and the versions still live.
    """
    names = [n for n, mp in plan.models.items() if mp.delete]
    if not names:
        return plan, set(snapshot.versions)
    models = read_registered_models(client, names, workers)
    versions = read_versions(client, names, all_models=False, workers=workers)
    infos = []
    for (name, v), mv in versions.items():
        if (name, v) in snapshot.versions:
            infos.append(version_info(mv, _aliases_of_name(models, name).get(v, [])))
    policies = {
        rm.name: snapshot.selection.policy_for(rm.name, dict(rm.tags or {})) for rm in models
    }
    # A policy whose metric changed needs metrics we did not read: keep everything of that model.
    for name, pol in list(policies.items()):
        old = snapshot.policies.get(name)
        if pol is not None and (old is None or pol.metric != old.metric):
            policies[name] = None
    return retention.plan(infos, snapshot.metrics, policies, models=names), set(versions)


def _aliases_of_name(models: Sequence[RegisteredModel], name: str) -> dict[int, list[str]]:
    for rm in models:
        if rm.name == name:
            return _aliases_of(rm)
    return {}


def apply(
    client: MlflowClient,
    snapshot: Snapshot,
    plan: PrunePlan,
    *,
    workers: int | None = None,
    progress: ProgressFactory = no_progress,
    trigger: str = "cli",
) -> ApplyResult:
    """Delete what ``plan`` says: re-plan on fresh data, record every deletion, then delete.

    For each version, right before deleting it, re-read it: a version that gained an alias, the
    keep tag or a protected stage is skipped; one that is gone is "vanished", not an error. On the
    first failed delete no new deletes start; the result says which versions were deleted, and
    :class:`ServerError` is raised after the audit is complete. Re-running converges.
    ``trigger`` is written on the audit run (tag :data:`TRIGGER_TAG`).
    """
    workers = workers or default_workers(client)
    fresh, live = _recheck(snapshot, client, plan, workers)
    fresh_deletes = {(d.name, d.version) for d in fresh.deletions}
    records: list[Record] = []
    for d in plan.deletions:
        mv = snapshot.versions[(d.name, d.version)]
        rec = Record.of(mv, d, plan.models[d.name].policy.metric)
        if (d.name, d.version) not in live:
            rec.state, rec.detail = VANISHED, "already gone"
        elif (d.name, d.version) not in fresh_deletes:
            rec.state, rec.detail = SKIPPED, "kept on re-check (versions, tags or policy changed)"
        records.append(rec)
    todo = [r for r in records if r.state == PLANNED]
    if not todo:
        return ApplyResult(prune_id=None, records=records)

    # Record first: the full records are in the tracking server before anything is deleted.
    exp_id = audit_experiment_id(client)
    assert exp_id is not None
    started = _now()
    with mlflow_errors("Writing the prune record"):
        run = client.create_run(
            exp_id,
            run_name=f"prune {started}",
            tags={OP_TAG: "prune", STATE_TAG: "deleting", TRIGGER_TAG: trigger},
        )
        prune_id = run.info.run_id
        client.log_dict(
            prune_id,
            {
                "schema": AUDIT_SCHEMA,
                "prune_id": prune_id,
                "started": started,
                "records": [asdict(r) for r in records],
            },
            PLAN_ARTIFACT,
        )

    stop = threading.Event()
    errors: list[str] = []

    def delete_one(rec: Record) -> None:
        if stop.is_set():
            rec.state, rec.detail = SKIPPED, "not attempted after an earlier failure"
            return
        try:
            # MLflow drops aliases on delete, so re-check right before deleting.
            try:
                mv = client.get_model_version(rec.name, str(rec.version))
            except MlflowException as exc:
                if not _is_not_found(exc):
                    raise
                rec.state, rec.detail = VANISHED, "already gone"
                return
            why = retention.protection(version_info(mv))
            if why:
                rec.state, rec.detail = SKIPPED, f"protected on re-check: {why}"
                return
            client.delete_model_version(rec.name, str(rec.version))
            rec.state = DELETED
        except MlflowException as exc:
            if _is_not_found(exc):
                # It existed a moment ago: most likely our own delete, retried by MLflow's
                # client after a lost response (or a concurrent prune). Record it as deleted so
                # it stays restorable; restore registers a version only once.
                rec.state, rec.detail = DELETED, "gone when deleted (retried call or another prune)"
                return
            rec.state, rec.detail = FAILED, one_line(exc.message)
            errors.append(f'deleting "{rec.name}" version {rec.version}: {rec.detail}')
            stop.set()
        except Exception as exc:  # network/DB errors: record, stop, report after the audit
            rec.state, rec.detail = FAILED, one_line(f"{type(exc).__name__}: {exc}")
            errors.append(f'deleting "{rec.name}" version {rec.version}: {rec.detail}')
            stop.set()

    with progress(f"Deleting {len(todo)} versions", len(todo)) as advance:

        def task(rec: Record) -> None:
            delete_one(rec)
            advance(1)

        _pmap(task, todo, workers)

    result = ApplyResult(prune_id=prune_id, records=records)
    deleted = len(result.by_state(DELETED))
    with mlflow_errors(f"Writing the prune result (run {prune_id})"):
        client.log_dict(
            prune_id,
            {
                "schema": AUDIT_SCHEMA,
                "prune_id": prune_id,
                "started": started,
                "finished": _now(),
                "records": [asdict(r) for r in records],
            },
            RESULT_ARTIFACT,
        )
        client.log_batch(
            prune_id,
            metrics=[
                Metric(f"versions_{state}", len(result.by_state(state)), 0, 0)
                for state in (DELETED, VANISHED, SKIPPED, FAILED)
            ],
            synchronous=True,
        )
        client.set_tag(prune_id, STATE_TAG, "failed" if errors else "done")
        # Over HTTP, set_terminated prints "View run ... at: URL" on stdout, which would corrupt
        # --format json; our own summary names the run.
        with contextlib.redirect_stdout(io.StringIO()):
            client.set_terminated(prune_id, "FAILED" if errors else "FINISHED")
    if errors:
        result.error = errors[0]
        raise ServerError(
            f"Prune stopped {errors[0]}. Deleted {deleted} of {len(todo)} versions, all recorded "
            f"in run {prune_id} of experiment {AUDIT_EXPERIMENT!r}; re-run to finish."
        )
    return result


# --------------------------------------------------------------------------------------------
# Reading the audit trail and restoring


@dataclass
class AuditEntry:
    """One record of one prune operation, with its resolved state."""

    prune_id: str
    index: int
    record: Record
    restored_as: int | None = None
    #: When the prune started (ISO 8601, UTC), from its record.
    started: str = ""


def _download_json(client: MlflowClient, run_id: str, path: str, dst: str) -> dict[str, Any] | None:
    try:
        local = client.download_artifacts(run_id, path, dst_path=dst)
    except MlflowException as exc:
        if _is_not_found(exc):
            return None
        raise
    except OSError:
        return None
    data: dict[str, Any] = json.loads(Path(local).read_text(encoding="utf-8"))
    return data


def _artifact_paths(client: MlflowClient, run_id: str) -> set[str]:
    return {f.path for f in client.list_artifacts(run_id, "prune")}


def read_audit(client: MlflowClient, prune_id: str | None = None) -> list[AuditEntry]:
    """Every recorded deletion (of one prune, or of all), oldest prune first.

    Records of a prune that never wrote its result (it crashed) are resolved now: a version that
    no longer exists counts as deleted, one that still does as not deleted.
    """
    ensure_reachable(client)
    exp_id = audit_experiment_id(client, create=False)
    if exp_id is None:
        if prune_id:
            raise NotFoundError(f'Prune "{prune_id}" does not exist (no prune has run yet)')
        return []
    runs: list[Any] = []
    with mlflow_errors("Reading the prune history"):
        if prune_id:
            try:
                run = client.get_run(prune_id)
            except MlflowException as exc:
                raise NotFoundError(f'Prune "{prune_id}" does not exist') from exc
            if run.info.experiment_id != exp_id or run.data.tags.get(OP_TAG) != "prune":
                raise NotFoundError(f'Run "{prune_id}" is not a prune of mlflow-debt')
        # All prunes, also for one: later prunes resolve a crashed prune's records.
        token = None
        while True:
            page = client.search_runs(
                [exp_id],
                filter_string=f"tags.`{OP_TAG}` = 'prune'",
                order_by=["attributes.start_time ASC"],
                max_results=1000,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                break

    loaded: list[tuple[str, dict[str, str], list[Record], bool]] = []
    started: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp, mlflow_errors("Reading the prune history"):
        for run in runs:
            rid = run.info.run_id
            paths = _artifact_paths(client, rid)
            data = None
            final = RESULT_ARTIFACT in paths
            if final:
                data = _download_json(client, rid, RESULT_ARTIFACT, f"{tmp}/{rid}")
            if data is None and PLAN_ARTIFACT in paths:
                data = _download_json(client, rid, PLAN_ARTIFACT, f"{tmp}/{rid}")
                final = False
            if data is None:
                continue
            records = [Record.from_dict(raw) for raw in data.get("records", [])]
            started[rid] = str(data.get("started", ""))
            loaded.append((rid, dict(run.data.tags), records, final))

        # A prune that stopped before writing its result left "planned" records. Resolve them
        # newest prune first: a later prune's record of the same version says whether it was
        # still there then (so this one did not delete it); only without one does the version's
        # existence now decide.
        later: dict[tuple[str, int], str] = {}
        for _rid, _tags, records, final in reversed(loaded):
            for rec in records:
                key = (rec.name, rec.version)
                if not final and rec.state == PLANNED:
                    rec.state, rec.detail = _resolve(client, rec, later.get(key))
                later[key] = rec.state

    entries: list[AuditEntry] = []
    for rid, tags, records, _final in loaded:
        if prune_id and rid != prune_id:
            continue
        for i, rec in enumerate(records):
            new = tags.get(f"{RESTORED_TAG}{i}")
            restored = int(new) if new and new.isdigit() else None
            entries.append(AuditEntry(rid, i, rec, restored, started.get(rid, "")))
    return entries


def _resolve(client: MlflowClient, rec: Record, later: str | None) -> tuple[str, str]:
    """The outcome of a record its prune never wrote down (it stopped first)."""
    stopped = "the prune stopped before recording its outcome"
    if later == DELETED:
        return SKIPPED, f"not deleted: a later prune deleted it ({stopped})"
    if later in (SKIPPED, FAILED):
        return SKIPPED, f"not deleted: still there when a later prune came ({stopped})"
    if later == VANISHED:
        return DELETED, f"gone before a later prune came ({stopped})"
    try:
        client.get_model_version(rec.name, str(rec.version))
    except MlflowException as exc:
        if _is_not_found(exc):
            return DELETED, f"gone ({stopped})"
        raise
    return SKIPPED, f"still exists ({stopped})"


@dataclass
class Restored:
    entry: AuditEntry
    new_version: int | None  # None for a dry run


def restore(
    client: MlflowClient,
    *,
    models: Sequence[str] = (),
    versions: Sequence[int] = (),
    prune_id: str | None = None,
    dry_run: bool = False,
) -> tuple[list[Restored], list[AuditEntry]]:
    """Re-register deleted versions from the audit; returns (restored, already restored).

    Same source, run, tags and description; MLflow gives them new version numbers. Each restore
    is written back to the prune's run (tag ``mlflow_debt.restored.<i>``), so running the same
    restore twice does not register a version twice.
    """
    entries = read_audit(client, prune_id)
    chosen: dict[tuple[str, int], AuditEntry] = {}
    done: dict[tuple[str, int], AuditEntry] = {}
    for e in entries:
        r = e.record
        if r.state != DELETED:
            continue
        if models and r.name not in models:
            continue
        if versions and r.version not in versions:
            continue
        key = (r.name, r.version)
        if e.restored_as is not None:
            done[key] = e
        chosen[key] = e  # a later record of the same version wins
    for key in done:
        chosen.pop(key, None)
    if not chosen and not done:
        what = []
        if models:
            what.append("model " + ", ".join(f'"{m}"' for m in models))
        if versions:
            what.append("version " + ", ".join(str(v) for v in versions))
        if prune_id:
            what.append(f'prune "{prune_id}"')
        raise NotFoundError(
            "No pruned versions recorded" + (" for " + ", ".join(what) if what else "")
        )
    todo = sorted(chosen.values(), key=lambda e: (e.record.name, e.record.version))
    if dry_run:
        return [Restored(e, None) for e in todo], sorted(done.values(), key=_entry_key)

    restored: list[Restored] = []
    existing: set[str] = set()
    with default_tracking_uri(client):
        for e in todo:
            restored.append(_restore_one(client, e, existing))
    return restored, sorted(done.values(), key=_entry_key)


@contextlib.contextmanager
def default_tracking_uri(client: MlflowClient) -> Iterator[None]:
    """Point MLflow's default tracking URI at ``client``'s store for the duration.

    MLflow's SQL registry resolves a ``models:/m-...`` source through ``MlflowClient()`` (the
    *default* tracking URI), so registering against a store given by ``--tracking-uri`` would
    look the LoggedModel up in the wrong store.
    """
    import mlflow

    before = mlflow.get_tracking_uri()
    target = str(client.tracking_uri)
    if before == target:
        yield
        return
    mlflow.set_tracking_uri(target)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)


def _restore_one(client: MlflowClient, e: AuditEntry, existing: set[str]) -> Restored:
    r = e.record
    with mlflow_errors(f'Restoring "{r.name}" version {r.version}'):
        if r.name not in existing:
            try:
                client.get_registered_model(r.name)
            except MlflowException as exc:
                if not _is_not_found(exc):
                    raise
                client.create_registered_model(r.name)  # the whole model was deleted since
            existing.add(r.name)
        mv = client.create_model_version(
            r.name,
            r.source,
            run_id=r.run_id,
            tags=r.tags,
            description=r.description,
            model_id=r.model_id,
            await_creation_for=0,
        )
        # Written back to the prune's run, so the same restore run twice does not duplicate.
        client.set_tag(e.prune_id, f"{RESTORED_TAG}{e.index}", str(mv.version))
    return Restored(e, int(mv.version))


def _entry_key(e: AuditEntry) -> tuple[str, int]:
    return (e.record.name, e.record.version)


# --------------------------------------------------------------------------------------------
# Policies stored as registered-model tags


def set_policy(client: MlflowClient, name: str, policy: Policy, *, metric_given: bool) -> None:
    """Store ``policy`` as ``name``'s tags (the metric tag only when a metric was given)."""
    ensure_reachable(client)
    read_registered_models(client, [name])
    tags = retention.policy_tags(policy)
    if not metric_given:
        tags.pop(retention.METRIC_TAG)
    with mlflow_errors(f'Tagging registered model "{name}"'):
        for key, value in tags.items():
            client.set_registered_model_tag(name, key, value)


def unset_policy(client: MlflowClient, name: str) -> None:
    ensure_reachable(client)
    rm = read_registered_models(client, [name])[0]
    with mlflow_errors(f'Untagging registered model "{name}"'):
        for key in (
            retention.MAX_VERSIONS_TAG,
            retention.METRIC_TAG,
            retention.LOWER_IS_BETTER_TAG,
        ):
            if key in (rm.tags or {}):
                client.delete_registered_model_tag(name, key)


def read_policies(client: MlflowClient, names: Sequence[str] = ()) -> dict[str, Policy | None]:
    """Each model's own policy from its tags (None: no limit). Malformed tags raise InputError."""
    ensure_reachable(client)
    models = read_registered_models(client, names)
    out: dict[str, Policy | None] = {}
    for rm in sorted(models, key=lambda m: m.name):
        try:
            out[rm.name] = retention.policy_from_tags(rm.name, dict(rm.tags or {}))
        except PolicyError as exc:
            raise InputError(str(exc)) from None
    return out
