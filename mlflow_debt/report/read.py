"""The MLflow reads behind ``mlflow-debt report``: what is live, and a bounded window of history.

What is read, each as a paged or batched search, never one call per run, and never every run:

* every registered model (its tags hold the version limit, its aliases say what serves) and
  every live model version (``search_model_versions``);
* the live versions' LoggedModels by id (batched ``model_id IN (...)``): their metrics, artifact
  location and feature tags (a version whose LoggedModel carries them reads its features from
  there, else from its source run);
* the live versions' source runs by id (batched ``run_id IN (...)``, deleted ones and other
  experiments' too): code version, metrics, features;
* the lineage's live read (:func:`mlflow_debt.consumers.read.read_live`): each consumer's newest
  feature-tagged run, newest first with an early stop, and whether the runs met are retired;
* the history window (``--since``, default the last 90 days; ``all``: every run): the
  feature-tagged runs started in it, streamed once to count how many runs computed each feature
  (the legacy-feature check); a feature last computed before the window is not today's debt;
* each selected live version's ``MLmodel`` file (signature, artifact present): one small
  download per version, side by side against an HTTP server;
* the prune history (:func:`mlflow_debt.prune.audit.read_audit`).

Then :func:`mlflow_debt.report.assess.assess` does the rest, without I/O.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import yaml
from mlflow.entities import LoggedModel, Run, ViewType
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from mlflow_debt import store, tags
from mlflow_debt.consumers import read as consumers_io
from mlflow_debt.consumers.analysis import Declarations, analyze
from mlflow_debt.errors import NotFoundError
from mlflow_debt.prune import audit
from mlflow_debt.prune.history import AuditEntry
from mlflow_debt.report import assess
from mlflow_debt.report.model import (
    DebtReport,
    Facts,
    ModelFacts,
    PruneFacts,
    PruneRecord,
    Scope,
    Thresholds,
    VersionFacts,
)
from mlflow_debt.report.read_config import read_config

GIT_COMMIT_TAG = "mlflow.source.git.commit"


@dataclasses.dataclass
class _RunFacts:
    """What the report keeps of a live version's source run."""

    experiment_id: str
    deleted: bool
    features: tuple[str, ...] | None
    complete: bool
    git_commit: str | None
    metrics: dict[str, float]


def _run_facts(run: Run) -> _RunFacts:
    fs = tags.decode(run.data.tags)
    return _RunFacts(
        experiment_id=run.info.experiment_id,
        deleted=run.info.lifecycle_stage == "deleted",
        features=None if fs is None else tuple(dict.fromkeys(r.name for r in fs.features)),
        complete=True if fs is None else fs.complete,
        git_commit=run.data.tags.get(GIT_COMMIT_TAG) or None,
        metrics=dict(run.data.metrics),
    )


class _Tap:
    """Watches the feature-run stream: counts feature names, keeps the wanted runs' facts."""

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted
        self.found: dict[str, _RunFacts] = {}
        self.seen: dict[str, int] = {}
        #: Runs streamed by (the header's "runs read": LoggedModel rows are not runs).
        self.runs = 0
        # Runs with the same digest carry the same features: decode each feature set once.
        self._names: dict[str, tuple[str, ...]] = {}

    def __call__(self, run: Run) -> None:
        self.runs += 1
        run_tags = run.data.tags
        key = run_tags.get(tags.DIGEST_KEY) or run_tags.get(tags.FEAST_KEY) or ""
        names = self._names.get(key) if key else None
        if names is None:
            fs = tags.decode(run_tags)
            names = () if fs is None else tuple(dict.fromkeys(r.name for r in fs.features))
            if key and (fs is None or fs.complete):
                self._names[key] = names
        for name in names:
            self.seen[name] = self.seen.get(name, 0) + 1
        if run.info.run_id in self.wanted:
            self.found[run.info.run_id] = _run_facts(run)


def _source_runs(
    client: MlflowClient, experiment_ids: Sequence[str], run_ids: Iterable[str]
) -> dict[str, Run]:
    """The runs ``run_ids`` (deleted ones too), in batches."""
    runs = store.runs_by_ids(
        client, experiment_ids, run_ids, view_type=ViewType.ALL, action="Reading source runs"
    )
    return {run.info.run_id: run for run in runs}


@dataclasses.dataclass
class _LoggedModel:
    metrics: dict[str, float]
    artifact_location: str
    #: The model's own feature names (None: it carries no feature tags), and their completeness.
    features: tuple[str, ...] | None = None
    complete: bool = True


def _features_of(lm_tags: Mapping[str, str]) -> tuple[tuple[str, ...] | None, bool]:
    fs = tags.decode(lm_tags) if tags.SCHEMA_KEY in lm_tags else None
    if fs is None:
        return None, True
    return tuple(dict.fromkeys(r.name for r in fs.features)), fs.complete


def _logged_models(models: Iterable[LoggedModel]) -> dict[str, _LoggedModel]:
    """model_id -> its metrics, location and features."""
    out: dict[str, _LoggedModel] = {}
    for lm in models:
        features, complete = _features_of(dict(lm.tags or {}))
        out[lm.model_id] = _LoggedModel(
            store.latest_values(lm.metrics or []),
            str(lm.artifact_location or ""),
            features,
            complete,
        )
    return out


#: The default history window of the legacy-feature check, in days (``--since``).
DEFAULT_SINCE_DAYS = 90
_DAY_MS = 86_400_000


def since_ms(text: str | None, now_ms: int | None = None) -> int | None:
    """``--since`` as a start time in ms (None: ``all``, no window).

    ``all``; ``N`` or ``Nd`` (days), ``Nw`` (weeks), ``Nh`` (hours) before ``now_ms`` (default:
    now); or a date ``YYYY-MM-DD`` (UTC). Anything else is an
    :class:`~mlflow_debt.errors.InputError`.
    """
    from mlflow_debt.errors import InputError

    now = int(_dt.datetime.now(_dt.timezone.utc).timestamp() * 1000) if now_ms is None else now_ms
    value = (text if text is not None else f"{DEFAULT_SINCE_DAYS}d").strip().lower()
    if value == "all":
        return None
    units = {"d": _DAY_MS, "w": 7 * _DAY_MS, "h": _DAY_MS // 24}
    number, unit = (value[:-1], value[-1]) if value[-1:] in units else (value, "d")
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if number and amount >= 0 and amount == amount and amount < 1e6:
        return now - int(amount * units[unit])
    try:
        day = _dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"--since {text!r}: expected 'all', a number of days (90, 90d), weeks (12w), "
            "hours (48h) or a date (2026-01-31)"
        ) from None
    start = _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.timezone.utc)
    return int(start.timestamp() * 1000)


_NOT_FOUND = ("not found", "does not exist", "no such file", "404", "resource_does_not_exist")


def _mlmodel(location: str, tmp: str, tracking_uri: str) -> tuple[bool | None, bool | None]:
    """(artifact present, has a signature) of the model at ``location``; None: unknown."""
    import mlflow.artifacts

    if not location:
        return None, None
    try:
        # runs:/ URIs resolve through the tracking store: the client's, not the process default.
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=location.rstrip("/") + "/MLmodel", dst_path=tmp, tracking_uri=tracking_uri
        )
        if not Path(local).is_file():  # MLflow 3.1 "downloads" a missing file as a directory
            return False, None
        data = yaml.safe_load(Path(local).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return True, None
    except Exception as exc:  # noqa: BLE001  any artifact store's error: missing SDK, network, permissions
        text = f"{getattr(exc, 'error_code', '')} {exc}".lower()
        if isinstance(exc, FileNotFoundError) or any(s in text for s in _NOT_FOUND):
            return False, None
        return _listed(location, tracking_uri), None
    return True, bool(isinstance(data, dict) and data.get("signature"))


def _listed(location: str, tracking_uri: str) -> bool | None:
    """Whether ``location`` lists an ``MLmodel`` (some MLflow releases fail oddly on a missing
    file instead of saying so); None when it cannot be listed either."""
    import mlflow.artifacts

    try:
        files = mlflow.artifacts.list_artifacts(artifact_uri=location, tracking_uri=tracking_uri)
    except Exception:  # noqa: BLE001  any artifact store's error means no MLmodel seen
        return None
    return any(f.path.rsplit("/", 1)[-1] == "MLmodel" for f in files)


def _model_location(mv: ModelVersion, logged: Mapping[str, _LoggedModel]) -> str:
    model_id = store.model_id_of(mv)
    if model_id:
        lm = logged.get(model_id)
        return lm.artifact_location if lm else ""
    return str(mv.source or "")


def _read_mlmodels(
    client: MlflowClient, locations: Mapping[tuple[str, int], str]
) -> dict[tuple[str, int], tuple[bool | None, bool | None]]:
    keys = list(locations)
    # MLflow 3.1 resolves runs:/ URIs through the default store whatever tracking_uri says.
    with tempfile.TemporaryDirectory() as tmp, store.default_tracking_uri(client):

        def one(key: tuple[str, int]) -> tuple[bool | None, bool | None]:
            return _mlmodel(locations[key], f"{tmp}/{key[0]}-{key[1]}", str(client.tracking_uri))

        results = store.pmap(one, keys, store.default_workers(client))
    return dict(zip(keys, results, strict=True))


def _prunes(client: MlflowClient) -> list[PruneFacts]:
    by_prune: dict[str, list[AuditEntry]] = {}
    history = audit.read_history(client)
    for entry in history.entries:
        by_prune.setdefault(entry.prune_id, []).append(entry)
    lost = [PruneFacts(u.prune_id, u.started, (), unreadable=u.why) for u in history.unreadable]
    return lost + [
        PruneFacts(
            prune_id,
            entries[0].started,
            tuple(
                PruneRecord(e.record.name, e.record.version, e.record.state, e.restored_as)
                for e in entries
            ),
            crashed=entries[0].crashed,
        )
        for prune_id, entries in by_prune.items()
    ]


def read_facts(
    client: MlflowClient,
    experiments: Sequence[str] = (),
    models: Sequence[str] = (),
    declarations: Declarations | None = None,
    page_size: int = consumers_io.RUNS_PAGE,
    since: int | str | None = "default",
) -> tuple[Facts, Scope]:
    """Everything the checks need, and the scope of the read (for the report's header).

    ``since``: the history window's start in ms (``None``: all history), or a ``--since`` text
    (:func:`since_ms`; ``"default"``: :data:`DEFAULT_SINCE_DAYS` days), counted back from the
    newest feature-tagged run read.
    """
    store.ensure_reachable(client)
    exps = store.experiments(client, experiments)
    selected_exps = {e.experiment_id: e.name for e in exps}
    all_exps = store.experiment_names(client)

    registered = store.registered_models(client)
    names = {rm.name for rm in registered}
    for name in models:
        if name not in names:
            raise NotFoundError(f'Registered model "{name}" does not exist')
    aliases = {rm.name: store.aliases_by_version(rm) for rm in registered}
    alias_by_model = {
        name: {a: v for v, al in by_v.items() for a in al} for name, by_v in aliases.items()
    }
    versions = list(store.iter_model_versions(client))
    model_ids = {m for m in map(store.model_id_of, versions) if m}
    found_models = store.logged_models_by_ids(client, list(all_exps), model_ids)
    logged = _logged_models(found_models)

    wanted = {str(mv.run_id) for mv in versions if mv.run_id}
    source_runs = _source_runs(client, list(all_exps), wanted)
    runs = {rid: _run_facts(run) for rid, run in source_runs.items()}
    # As in ``consumers``: the selected experiments' LoggedModels with features describe their
    # versions; the others' versions fall back to their runs.
    live = consumers_io.read_live(
        client,
        selected_exps,
        versions,
        logged_models=found_models,
        source_runs=source_runs,
        logged_model_experiments=list(all_exps),
    )
    lineage = analyze(
        live.rows,
        live.versions,
        alias_by_model,
        declarations=declarations,
        judge_absent=not experiments,
        registered_runs=live.retired,
    )
    # The history window: how many runs computed each feature (the legacy-feature check). A
    # relative window (90d) ends at the newest feature-tagged run read (on an active server:
    # today), so a store's history means the same whenever it is read.
    if isinstance(since, str):
        newest = max((r.start_time for r in live.rows), default=None)
        window = since_ms(None if since == "default" else since, newest)
    else:
        window = since
    tap = _Tap(set())
    window_runs = 0
    for _ in consumers_io.iter_feature_runs(
        client, selected_exps, page_size=page_size, tap=tap, since_ms=window
    ):
        window_runs += 1

    scoped = set(models) or names
    locations = {
        (mv.name, int(mv.version)): _model_location(mv, logged)
        for mv in versions
        if mv.name in scoped
    }
    mlmodels = _read_mlmodels(client, locations)

    facts_versions = []
    for mv in versions:
        key = (mv.name, int(mv.version))
        run = runs.get(str(mv.run_id)) if mv.run_id else None
        model_id = store.model_id_of(mv)
        lm = logged.get(model_id) if model_id else None
        artifact, signature = mlmodels.get(key, (None, None))
        # A version reads its LoggedModel's own features when it has them, else its run's.
        own = lm is not None and lm.features is not None
        facts_versions.append(
            VersionFacts(
                model=mv.name,
                version=key[1],
                run_id=mv.run_id or None,
                aliases=tuple(sorted(aliases.get(mv.name, {}).get(key[1], []))),
                stage=mv.current_stage,
                tags=dict(mv.tags or {}),
                run_found=run is not None,
                run_deleted=bool(run and run.deleted),
                experiment=all_exps.get(run.experiment_id, "") if run else "",
                features=lm.features if own and lm else (run.features if run else None),
                features_complete=(lm.complete if own and lm else (run.complete if run else True)),
                git_commit=run.git_commit if run else None,
                run_metrics=run.metrics if run else {},
                model_metrics=lm.metrics if lm else {},
                signature=signature,
                artifact=artifact,
            )
        )
    facts = Facts(
        lineage=lineage,
        models={rm.name: ModelFacts(rm.name, dict(rm.tags or {})) for rm in registered},
        versions=facts_versions,
        features_seen=tap.seen,
        prunes=_prunes(client),
        declarations=declarations,
        selected=tuple(dict.fromkeys(models)),
    )
    scope = Scope(
        tracking_uri=store.tracking_uri_of(client),
        generated_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        experiments=tuple(sorted(selected_exps.values())) if experiments else (),
        models=tuple(dict.fromkeys(models)),
        declared=declarations.path if declarations else None,
        runs_read=sum(1 for r in live.rows if r.model_id is None) + window_runs,
        logged_models_read=sum(1 for r in live.rows if r.model_id is not None),
        versions_read=len(versions),
        registered_models=len(registered),
    )
    return facts, scope


def build(
    client: MlflowClient,
    experiments: Sequence[str] = (),
    models: Sequence[str] = (),
    declarations: Declarations | None = None,
    thresholds: Thresholds | None = None,
    page_size: int = consumers_io.RUNS_PAGE,
    since: int | str | None = "default",
) -> DebtReport:
    """Read the store and assess it: the one core call behind ``mlflow-debt report``."""
    facts, scope = read_facts(client, experiments, models, declarations, page_size, since)
    facts = dataclasses.replace(facts, config=read_config(client, facts))
    return dataclasses.replace(assess.assess(facts, thresholds), scope=scope)
