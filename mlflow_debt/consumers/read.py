"""The reads behind ``consumers`` and ``impact``: what is live, and each consumer's newest run.

The answers depend on little, so little is read (never every run, never every LoggedModel):

* every live model version (``search_model_versions``) and every registered model's aliases
  (``search_registered_models``; versions read by search carry none);
* the versions' LoggedModels by id (batched ``model_id IN (...)``): one whose own
  ``mlflow_debt.*`` tags describe it (capture writes them) stands for its versions;
* the versions' source runs by id (batched ``run_id IN (...)``): a registered model's consumer
  rows;
* per experiment, its newest feature-tagged run without a ``mlflow_debt.consumer`` tag that is not
  registered (no live version) and not retired: runs read newest first in small pages, stopping
  at the first such run (:func:`mlflow_debt.store.run_pages_newest_first`);
* per ``mlflow_debt.consumer`` value, its newest such run. The values are found newest first too:
  the newest tagged run whose value is none of those found so far, until there is none;
* whether a run is *retired* (registered once, no live version left) is asked only of the runs
  those scans meet: their LoggedModels by ``source_run_id IN (...)``, whose
  ``mlflow.modelVersions`` tag MLflow writes on registration.

Each scan is done per tag family (mlflow-debt's own, then Feast's where the run carries no own
tags; MLflow's filter has no OR). The rows read go to :func:`analysis.analyze`, which gives the
same answer as when fed every feature-tagged run (the property tests compare it with a plain
full scan, ``tests/consumers/reference.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_debt import store, tags
from mlflow_debt.consumers.analysis import Declarations, Report, RunRow, VersionRow, analyze
from mlflow_debt.errors import InputError

if TYPE_CHECKING:
    from mlflow.entities import LoggedModel, Run
    from mlflow.tracking import MlflowClient

#: Runs per ``search_runs`` page when a reader streams many runs (the ``--since all`` window).
RUNS_PAGE = store.STREAM_RUNS_PAGE

_OWN, _FEAST = tags.presence_filters()
#: The two tag families as ``search_runs`` filters: a run is read once, by the first that has it.
FAMILIES = (_OWN, f"{_FEAST} AND tags.`{tags.SCHEMA_KEY}` IS NULL")
_CONSUMER = f"tags.`{tags.CONSUMER_KEY}`"
#: At most this many live versions' runs are excluded in one filter (more: skipped as read).
MAX_EXCLUDED = 500
#: The read of every experiment at once stops after this many (growing) pages; experiments and
#: consumer tags it has not settled by then are read one by one.
STREAM_PAGES = 3
#: Its first page holds at least this many runs (and twice as many as experiments).
FIRST_STREAM_PAGE = 20
#: ... and this many per experiment.
STREAM_PER_EXPERIMENT = 2
#: Its largest page.
STREAM_LAST_PAGE = 2_000
#: Pages of the other newest-first reads (see :mod:`mlflow_debt.store.newest`).
SCAN_FIRST_PAGE = store.FIRST_PAGE
SCAN_LAST_PAGE = store.LAST_PAGE


def has_features(run_tags: Mapping[str, str]) -> bool:
    """Whether a run is one the feature-tag filters select (either family, any value)."""
    return tags.SCHEMA_KEY in run_tags or tags.FEAST_KEY in run_tags


def iter_feature_runs(
    client: MlflowClient,
    experiment_ids: dict[str, str],
    page_size: int = RUNS_PAGE,
    tap: Callable[[Run], None] | None = None,
    since_ms: int | None = None,
) -> Iterator[RunRow]:
    """Every active run of the experiments (id -> name) that carries feature tags, once each;
    only those started at ``since_ms`` or later when it is given (the history window).

    ``tap`` sees each MLflow ``Run`` as it streams by.
    """
    ids = list(experiment_ids)
    window = "" if since_ms is None else f" AND attributes.start_time >= {int(since_ms)}"
    for family in FAMILIES:
        for run in store.iter_runs(client, ids, family + window, page_size=page_size):
            if tap is not None:
                tap(run)
            yield _row(run, experiment_ids)


def _row(run: Any, experiment_ids: Mapping[str, str]) -> RunRow:
    info = run.info
    return RunRow(
        run_id=info.run_id,
        experiment=experiment_ids.get(info.experiment_id, info.experiment_id),
        start_time=info.start_time or 0,
        tags=run.data.tags,
    )


def model_id_of(mv: Any) -> str | None:
    """The LoggedModel behind a version: its ``model_id``, else parsed from ``models:/m-...``."""
    return store.model_id_of(mv)


def read_versions(
    client: MlflowClient,
    described: Iterable[str] | None = None,
    versions: Iterable[Any] | None = None,
) -> list[VersionRow]:
    """Every live model version with its source run (``versions``: already read ones).

    ``described`` are the LoggedModels that carry feature tags of their own: a version of one of
    them gets its ``model_id`` (it is described by the model, not by the run).
    """
    with_features = set(described or ())
    rows = []
    for v in store.iter_model_versions(client) if versions is None else versions:
        model_id = model_id_of(v)
        rows.append(
            VersionRow(
                v.name,
                int(v.version),
                v.run_id or None,
                model_id if model_id in with_features else None,
            )
        )
    return rows


def read_aliases(client: MlflowClient) -> dict[str, dict[str, int]]:
    """model -> alias -> version, for every registered model that has aliases."""
    return {rm.name: store.aliases(rm) for rm in store.iter_registered_models(client) if rm.aliases}


MODEL_VERSIONS_TAG = store.MODEL_VERSIONS_TAG
was_registered = store.was_registered


def model_rows(
    models: Mapping[str, Any], versions: Iterable[VersionRow], experiment_ids: Mapping[str, str]
) -> Iterator[RunRow]:
    """A row for each LoggedModel with features that a live version is described by."""
    wanted = {v.model_id for v in versions if v.model_id}
    for model_id in sorted(wanted):
        model = models.get(model_id)
        if model is None:
            continue
        yield RunRow(
            run_id=model.source_run_id or "",
            experiment=experiment_ids.get(model.experiment_id, model.experiment_id),
            start_time=int(model.creation_timestamp or 0),
            tags=dict(model.tags or {}),
            model_id=model_id,
        )


def described_runs(versions: Iterable[VersionRow]) -> set[str]:
    """Source runs of versions described by their LoggedModel: registered, so never a consumer
    of their own (their models are)."""
    return {v.run_id for v in versions if v.model_id and v.run_id}


def with_features(models: Iterable[LoggedModel]) -> dict[str, LoggedModel]:
    """model_id -> LoggedModel, of those that carry feature tags of their own."""
    return {m.model_id: m for m in models if tags.SCHEMA_KEY in (m.tags or {})}


@dataclass
class Live:
    """What the live read found: rows for the analysis, and what it needs besides."""

    rows: list[RunRow]
    versions: list[VersionRow]
    #: Runs that belong to nobody: retired ones met by the scans, and runs whose versions are
    #: all described by their LoggedModels.
    retired: set[str] = field(default_factory=set)
    #: Runs the newest-first scans read (the rows are the ones that count).
    scanned: int = 0


class _Scanner:
    """The newest-first scans for tag and experiment consumers, sharing what they learn."""

    def __init__(
        self,
        client: MlflowClient,
        experiment_ids: Mapping[str, str],
        skip: set[str],
        logged_model_experiments: Sequence[str],
        skip_by_experiment: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.client = client
        self.experiment_ids = experiment_ids
        #: Runs that are a live version's row, or belong to nobody: never a candidate.
        self.skip = skip
        self.lm_exps = list(logged_model_experiments)
        #: The skipped runs whose experiment is known, excluded in the filter itself so the
        #: newest eligible run is usually the first one read; the others are skipped here.
        self.skip_by_experiment = skip_by_experiment or {}
        self.retired: set[str] = set()
        self._checked: set[str] = set()
        self.scanned = 0

    def _learn_retired(self, runs: Sequence[Run]) -> None:
        ask = [r.info.run_id for r in runs if r.info.run_id not in self.skip]
        ask = [i for i in ask if i not in self._checked]
        if ask:
            self.retired |= store.registered_sources(self.client, self.lm_exps, ask)
            self._checked.update(ask)

    def eligible(self, run: Run) -> bool:
        rid = run.info.run_id
        return rid not in self.skip and rid not in self.retired

    def _excluding(self, filter_string: str, exp_ids: Sequence[str]) -> str:
        ids = sorted({r for e in exp_ids for r in self.skip_by_experiment.get(e, ())})
        if not ids or len(ids) > MAX_EXCLUDED:
            return filter_string
        not_in = store.in_filter("attributes.run_id", ids).replace(" IN (", " NOT IN (", 1)
        return f"{filter_string} AND {not_in}"

    def newest(self, filter_string: str, exp_ids: Sequence[str]) -> RunRow | None:
        """The newest eligible run matching ``filter_string``; ties broken by run id."""
        best: RunRow | None = None
        search = self._excluding(filter_string, exp_ids)
        pages = store.run_pages_newest_first(
            self.client, exp_ids, search, first_page=SCAN_FIRST_PAGE, last_page=SCAN_LAST_PAGE
        )
        for page in pages:
            self.scanned += len(page)
            if best is None:
                self._learn_retired(page)
            for run in page:
                start = run.info.start_time or 0
                if best is not None and start < best.start_time:
                    return best
                if best is not None and start == best.start_time:
                    self._learn_retired([run])
                if self.eligible(run):
                    row = _row(run, self.experiment_ids)
                    if best is None or (row.start_time, row.key) > (best.start_time, best.key):
                        best = row
        return best

    def every(self, filter_string: str) -> list[RunRow]:
        """Every eligible run matching ``filter_string`` (the fallback of an unquotable tag)."""
        out: list[RunRow] = []
        ids = list(self.experiment_ids)
        pages = store.run_pages_newest_first(
            self.client, ids, filter_string, first_page=SCAN_FIRST_PAGE, last_page=SCAN_LAST_PAGE
        )
        for page in pages:
            self.scanned += len(page)
            self._learn_retired(page)
            out.extend(_row(r, self.experiment_ids) for r in page if self.eligible(r))
        return out

    def stream(  # noqa: C901  one loop with its stop rules side by side
        self, family: str, ids: Sequence[str], first_page: int, max_pages: int | None
    ) -> tuple[list[RunRow], set[str], set[str], bool]:
        """One newest-first read of every experiment at once, until each experiment has its
        newest eligible run (or :data:`STREAM_PAGES` pages are read).

        Returns the rows found, the experiments resolved, the consumer-tag values resolved (their
        newest eligible run is among the rows) and every value met, and whether the whole family
        was read. A row is final once the read has gone past its start time (ties included).
        """
        best: dict[tuple[str, str], RunRow] = {}
        met: set[str] = set()
        position: int | None = None
        exhausted = True
        pages = store.run_pages_newest_first(
            self.client,
            ids,
            self._excluding(family, ids),
            first_page=first_page,
            last_page=STREAM_LAST_PAGE if max_pages is not None else SCAN_LAST_PAGE,
        )
        for n, page in enumerate(pages):
            self.scanned += len(page)
            self._learn_retired(page)
            stop = False
            for run in page:
                start = run.info.start_time or 0
                exp_best = [best.get(("exp", e)) for e in ids]
                if all(exp_best) and start < min(r.start_time for r in exp_best if r):
                    stop = True
                    break
                position = start
                value = run.data.tags.get(tags.CONSUMER_KEY)
                if value is not None:
                    met.add(value)
                if not self.eligible(run):
                    continue
                row = _row(run, self.experiment_ids)
                key = (
                    ("tag", value)
                    if value is not None and value.strip()
                    else ("exp", run.info.experiment_id)
                )
                cur = best.get(key)
                if cur is None or (row.start_time, row.key) > (cur.start_time, cur.key):
                    best[key] = row
            if stop:
                exhausted = False
                break
            found = [r.start_time for k, r in best.items() if k[0] == "exp"]
            if max_pages is not None and found and position is not None and min(found) > position:
                # Every experiment met is settled; the others are read apart (dormant ones).
                exhausted = False
                break
            if max_pages is not None and n + 1 >= max_pages:
                exhausted = False
                break
        if exhausted:
            position = None

        def final(row: RunRow) -> bool:
            return position is None or row.start_time > position

        resolved_exps = {k[1] for k, r in best.items() if k[0] == "exp" and final(r)}
        resolved_tags = {k[1] for k, r in best.items() if k[0] == "tag" and final(r)}
        if exhausted:
            resolved_exps = set(ids)
            resolved_tags = set(met)
        return (
            list(best.values()),
            resolved_exps,
            resolved_tags,
            exhausted,
        )

    def family_rows(self, family: str) -> list[RunRow]:
        """Every experiment's and consumer tag's newest eligible run in ``family``.

        First one newest-first read of all the experiments (a few pages: active experiments
        interleave, so each one's newest run comes early); then one more over the experiments
        it did not settle (dormant or empty ones), without tagged runs; then the consumer-tag
        values it did not settle, one by one.
        """
        ids = list(self.experiment_ids)
        first = max(FIRST_STREAM_PAGE, STREAM_PER_EXPERIMENT * len(ids))
        out, resolved_exps, resolved_tags, exhausted = self.stream(family, ids, first, STREAM_PAGES)
        if exhausted:
            return out
        rest = [i for i in ids if i not in resolved_exps]
        if rest:
            flt = f"{family} AND {_CONSUMER} IS NULL"
            more, _, _, _ = self.stream(flt, rest, SCAN_FIRST_PAGE, None)
            out.extend(more)
        out.extend(self.tag_rows(family, resolved_tags, resolved_exps))
        return out

    def tag_rows(
        self,
        family: str,
        resolved: Collection[str] = frozenset(),
        resolved_exps: Collection[str] = frozenset(),
    ) -> list[RunRow]:
        """Per ``mlflow_debt.consumer`` value not ``resolved``, its newest eligible run (per
        experiment not resolved for a blank value: such a run is its experiment's)."""
        out: list[RunRow] = []
        known: list[str] = []
        ids = list(self.experiment_ids)
        while True:
            try:
                excluded = "".join(f" AND {_CONSUMER} != {store.quote(v)}" for v in known)
            except InputError:  # a value MLflow's filter cannot write: read them all
                return self.every(f"{family} AND {_CONSUMER} LIKE '%'")
            first = next(
                store.run_pages_newest_first(
                    self.client, ids, f"{family} AND {_CONSUMER} LIKE '%'{excluded}", first_page=1
                ),
                [],
            )
            self.scanned += len(first)
            if not first:
                return out
            value = first[0].data.tags.get(tags.CONSUMER_KEY, "")
            known.append(value)
            if value in resolved and value.strip():
                continue
            try:
                same = f"{family} AND {_CONSUMER} = {store.quote(value)}"
            except InputError:
                return self.every(f"{family} AND {_CONSUMER} LIKE '%'")
            groups = [ids] if value.strip() else [[i] for i in ids if i not in resolved_exps]
            for exp_ids in groups:
                row = self.newest(same, exp_ids)
                if row is not None:
                    out.append(row)


def read_live(
    client: MlflowClient,
    experiment_ids: Mapping[str, str],
    versions: Sequence[Any],
    logged_models: Iterable[LoggedModel] | None = None,
    source_runs: Mapping[str, Run] | None = None,
    logged_model_experiments: Sequence[str] | None = None,
) -> Live:
    """The rows :func:`analyze` needs for the experiments ``experiment_ids`` (id -> name).

    ``versions`` are the live model versions; ``logged_models`` (their LoggedModels) and
    ``source_runs`` (run id -> Run, deleted ones and other experiments' included) when the
    caller already read them, else they are read here. ``logged_model_experiments``: where a
    run's LoggedModels are looked for (default: the experiments read).
    """
    exp_ids = list(experiment_ids)
    lm_exps = list(logged_model_experiments) if logged_model_experiments is not None else exp_ids
    if logged_models is None:
        ids = {m for m in map(model_id_of, versions) if m}
        logged_models = store.logged_models_by_ids(client, exp_ids, ids)
    selected = {
        k: m
        for k, m in with_features(logged_models).items()
        if str(m.experiment_id) in experiment_ids
    }
    version_rows = read_versions(client, selected, versions)
    keyed_runs = {v.run_id for v in version_rows if v.run_id and not v.model_id}
    if source_runs is None:
        found = store.runs_by_ids(client, exp_ids, keyed_runs, action="Reading source runs")
        source_runs = {r.info.run_id: r for r in found}
    rows = [
        _row(run, experiment_ids)
        for rid in sorted(keyed_runs)
        if (run := source_runs.get(rid)) is not None
        and run.info.lifecycle_stage != "deleted"
        and run.info.experiment_id in experiment_ids
        and has_features(run.data.tags)
    ]
    rows.extend(model_rows(selected, version_rows, experiment_ids))
    described = described_runs(version_rows)
    by_exp: dict[str, list[str]] = {}
    for rid in keyed_runs:
        if (run := source_runs.get(rid)) is not None:
            by_exp.setdefault(run.info.experiment_id, []).append(rid)
    scanner = _Scanner(client, experiment_ids, keyed_runs | described, lm_exps, by_exp)
    if exp_ids:
        for family in FAMILIES:
            rows.extend(scanner.family_rows(family))
    return Live(rows, version_rows, scanner.retired | described, scanner.scanned + len(rows))


def build_report(
    client: MlflowClient,
    experiment_names: Sequence[str] = (),
    declarations: Declarations | None = None,
    only_features: Sequence[str] = (),
    page_size: int = RUNS_PAGE,
) -> Report:
    """Read what is live and analyse it: the one core call behind ``consumers`` and ``impact``.

    ``page_size`` is kept for callers; the live read pages by itself.
    """
    del page_size
    exps = store.experiments(client, experiment_names)
    experiment_ids = {e.experiment_id: e.name for e in exps}
    versions = list(store.iter_model_versions(client))
    aliases = read_aliases(client)
    live = read_live(client, experiment_ids, versions)
    return analyze(
        live.rows,
        live.versions,
        aliases,
        declarations=declarations,
        only_features=only_features,
        # Reading a subset of experiments, a declared consumer we did not see may live elsewhere.
        judge_absent=not experiment_names,
        registered_runs=live.retired,
    )
