"""``prune``, ``policy`` and ``restore``: version limits for the model registry (thin CLI).

The rule lives in :mod:`mlflow_debt.prune.plan` (pure), the MLflow I/O in
:mod:`mlflow_debt.prune.registry`; these commands parse, call them, and render.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import click

from mlflow_debt.errors import Declined
from mlflow_debt.options import format_option, tracking_uri_option

PRUNE_EXAMPLES = """\b
Examples:
  mlflow-debt prune --max-versions 3 --dry-run
  mlflow-debt prune --model churn --max-versions 5 --metric rmse --lower-is-better
  mlflow-debt prune                      # enforce each model's own policy (policy set)
  mlflow-debt prune --max-versions 10 --yes --format json
"""

POLICY_EXAMPLES = """\b
Examples:
  mlflow-debt policy set churn --max-versions 3
  mlflow-debt policy set fraud --max-versions 5 --metric rmse --lower-is-better
  mlflow-debt policy show
  mlflow-debt policy unset churn
"""

RESTORE_EXAMPLES = """\b
Examples:
  mlflow-debt restore --list
  mlflow-debt restore --model churn
  mlflow-debt restore --model churn --version 2 --version 4
  mlflow-debt restore --prune-id 4f7c0e... --dry-run
"""


def _interactive() -> bool:
    """Whether a person can answer a prompt (both ends on a terminal)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _progress_factory() -> Callable[[str, int], contextlib.AbstractContextManager[Any]]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""

    @contextlib.contextmanager
    def progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
        if not sys.stderr.isatty() or total <= 0:
            yield lambda n: None
            return
        lock = threading.Lock()
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:

            def advance(n: int) -> None:
                with lock:  # deletes run on a thread pool
                    bar.update(n)

            yield advance

    return progress


def _fmt_value(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _render_plan(plan: Any) -> None:
    from mlflow_debt.prune.plan import DELETE

    rows = [("MODEL", "VERSION", "METRIC", "VALUE", "DECISION", "REASON")]
    for name, mp in plan.models.items():
        for d in mp.decisions():
            rows.append(
                (
                    name,
                    str(d.version),
                    mp.policy.metric,
                    _fmt_value(d.value),
                    d.decision.upper() if d.decision == DELETE else d.decision,
                    d.reason,
                )
            )
    if len(rows) > 1:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)]
            click.echo("  ".join([*cells, r[-1]]).rstrip())
    if plan.without_policy:
        shown = ", ".join(plan.without_policy[:10]) + (
            " ..." if len(plan.without_policy) > 10 else ""
        )
        click.echo(f"No version limit (left alone): {shown}")


@click.command(epilog=PRUNE_EXAMPLES)
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="NAME",
    help="Only this registered model (repeatable; default: all models).",
)
@click.option(
    "--max-versions",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Keep the best N ranked versions of each model (default: each model's own policy, "
    "from its tag mlflow_debt.max_versions).",
)
@click.option(
    "--metric",
    default=None,
    metavar="NAME",
    help="Rank versions by this metric (default: the model's mlflow_debt.metric tag, else "
    "accuracy). The LoggedModel's value wins, else the source run's latest value.",
)
@click.option(
    "--lower-is-better/--higher-is-better",
    "lower_is_better",
    default=None,
    help="Rank ascending (losses such as rmse) or descending (default: the model's policy, "
    "else higher is better).",
)
@click.option(
    "--prune-unranked",
    is_flag=True,
    help="Also delete versions without a value for the metric (default: keep them).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan and stop; delete nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation on a terminal.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Concurrent calls to the tracking server (default: 8 over HTTP, 1 for local stores).",
)
@format_option("text", "json")
@tracking_uri_option
def prune(
    models: tuple[str, ...],
    max_versions: int | None,
    metric: str | None,
    lower_is_better: bool | None,
    prune_unranked: bool,
    dry_run: bool,
    yes: bool,
    workers: int | None,
    fmt: str,
    tracking_uri: str | None,
) -> None:
    """Keep only the best N versions of each registered model; delete the rest, recorded.

    Versions are ranked by a metric (ties: the newer version wins). Never deleted and not
    counted against N: versions with an alias, the tag mlflow_debt.keep=true, or stage
    Production/Staging. Versions without a value for the metric are kept (reported as
    unranked) unless --prune-unranked.

    Shows the plan first. On a terminal it asks before deleting unless --yes; run
    non-interactively (cron, CI) it proceeds. Every deletion is first recorded in the tracking
    server (experiment "mlflow-debt") and can be undone with `mlflow-debt restore`.
    """
    if metric is not None and not metric.strip():
        raise click.BadParameter("must not be empty", param_hint="--metric")
    from mlflow_debt.prune import registry
    from mlflow_debt.store import get_client

    client = get_client(tracking_uri)
    selection = registry.Selection(
        models=models,
        max_versions=max_versions,
        metric=metric.strip() if metric else None,
        lower_is_better=lower_is_better,
        prune_unranked=prune_unranked,
    )
    progress = _progress_factory()
    snapshot, plan = registry.load(client, selection, workers=workers, progress=progress)

    if fmt == "text":
        _render_plan(plan)
    if dry_run or not plan.deletions:
        _finish(plan, fmt, applied=not dry_run, result=None)
        return
    if not yes and _interactive():
        n = len(plan.deletions)
        if not click.confirm(f"Delete {n} version{'s' if n != 1 else ''}?", err=True):
            raise Declined("Declined at the prompt; nothing deleted.")
    result = registry.apply(client, snapshot, plan, workers=workers, progress=progress)
    _finish(plan, fmt, applied=True, result=result)


def _finish(plan: Any, fmt: str, *, applied: bool, result: Any) -> None:
    from mlflow_debt.prune import plan as retention
    from mlflow_debt.prune import registry

    deleted: dict[str, list[int]] = {}
    not_deleted: dict[str, list[dict[str, Any]]] = {}
    if result is not None:
        for rec in result.records:
            if rec.state == registry.DELETED:
                deleted.setdefault(rec.name, []).append(rec.version)
            else:
                not_deleted.setdefault(rec.name, []).append(
                    {"version": rec.version, "state": rec.state, "detail": rec.detail}
                )
    n_deleted = sum(len(v) for v in deleted.values()) if result is not None else None
    if fmt == "json":
        models: dict[str, Any] = {}
        for name, mp in plan.models.items():
            entry = mp.as_dict()
            if result is not None:
                entry["delete"] = deleted.get(name, [])
                entry["not_deleted"] = not_deleted.get(name, [])
            models[name] = entry
        doc = {
            "applied": applied,
            "metric": plan.metric(),
            "models": models,
            "prune_id": result.prune_id if result is not None else None,
            "without_policy": plan.without_policy,
        }
        click.echo(json.dumps(doc, indent=2))
        return
    if result is not None:
        for name, items in not_deleted.items():
            for item in items:
                click.echo(
                    f'Not deleted: "{name}" version {item["version"]} '
                    f"({item['state']}: {item['detail']})",
                    err=True,
                )
    click.echo(retention.summary_line(plan, applied=applied, deleted=n_deleted))
    if result is not None and result.prune_id:
        click.echo(
            f"Recorded as prune {result.prune_id} (experiment {registry.AUDIT_EXPERIMENT!r}); "
            f"undo with: mlflow-debt restore --prune-id {result.prune_id}"
        )


@click.group(epilog=POLICY_EXAMPLES)
def policy() -> None:
    """Manage each registered model's own version limit, stored as its tags.

    The tags mlflow_debt.max_versions, mlflow_debt.metric and mlflow_debt.lower_is_better are
    visible and editable in the MLflow UI; `mlflow-debt prune` without --max-versions enforces
    them.
    """


@policy.command("set", epilog=POLICY_EXAMPLES)
@click.argument("model")
@click.option(
    "--max-versions", type=click.IntRange(min=1), required=True, metavar="N", help="Keep N."
)
@click.option("--metric", default=None, metavar="NAME", help="Rank by this metric.")
@click.option(
    "--lower-is-better/--higher-is-better",
    "lower_is_better",
    default=False,
    help="Rank ascending, for losses (default: higher is better).",
)
@tracking_uri_option
def policy_set(
    model: str,
    max_versions: int,
    metric: str | None,
    lower_is_better: bool,
    tracking_uri: str | None,
) -> None:
    """Give MODEL its own version limit."""
    if metric is not None and not metric.strip():
        raise click.BadParameter("must not be empty", param_hint="--metric")
    from mlflow_debt.prune import plan as retention
    from mlflow_debt.prune import registry
    from mlflow_debt.store import get_client

    pol = retention.Policy(
        max_versions=max_versions,
        metric=(metric or retention.DEFAULT_METRIC).strip(),
        lower_is_better=lower_is_better,
    )
    registry.set_policy(get_client(tracking_uri), model, pol, metric_given=metric is not None)
    order = "lower is better" if lower_is_better else "higher is better"
    click.echo(
        f'Set "{model}": keep {max_versions} version{"s" if max_versions != 1 else ""}'
        + (f" by {pol.metric} ({order})." if metric else f" ({order}).")
    )


@policy.command("unset", epilog=POLICY_EXAMPLES)
@click.argument("model")
@tracking_uri_option
def policy_unset(model: str, tracking_uri: str | None) -> None:
    """Remove MODEL's own version limit."""
    from mlflow_debt.prune import registry
    from mlflow_debt.store import get_client

    registry.unset_policy(get_client(tracking_uri), model)
    click.echo(f'Removed the version limit of "{model}".')


@policy.command("show", epilog=POLICY_EXAMPLES)
@click.option("--model", "models", multiple=True, metavar="NAME", help="Only this model.")
@click.option("--all", "show_all", is_flag=True, help="Also list models without a limit.")
@format_option("text", "json")
@tracking_uri_option
def policy_show(
    models: tuple[str, ...], show_all: bool, fmt: str, tracking_uri: str | None
) -> None:
    """List the models that have their own version limit."""
    from mlflow_debt.prune import registry
    from mlflow_debt.store import get_client

    policies = registry.read_policies(get_client(tracking_uri), models)
    shown = {n: p for n, p in policies.items() if p is not None or show_all or models}
    if fmt == "json":
        doc = {
            "policies": {
                n: None
                if p is None
                else {
                    "max_versions": p.max_versions,
                    "metric": p.metric,
                    "lower_is_better": p.lower_is_better,
                }
                for n, p in shown.items()
            }
        }
        click.echo(json.dumps(doc, indent=2))
        return
    if not shown:
        click.echo(
            "No model has a version limit. "
            "Set one with: mlflow-debt policy set MODEL --max-versions N"
        )
        return
    rows = [("MODEL", "MAX_VERSIONS", "METRIC", "ORDER")]
    for n, p in shown.items():
        if p is None:
            rows.append((n, "-", "-", "-"))
        else:
            order = "lower is better" if p.lower_is_better else "higher is better"
            rows.append((n, str(p.max_versions), p.metric, order))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        click.echo("  ".join([*(c.ljust(w) for c, w in zip(r[:3], widths, strict=False)), r[3]]))


@click.command(epilog=RESTORE_EXAMPLES)
@click.option("--model", "models", multiple=True, metavar="NAME", help="Pruned versions of it.")
@click.option(
    "--version",
    "versions",
    multiple=True,
    type=click.IntRange(min=1),
    metavar="N",
    help="Only this (old) version number (repeatable; with --model, of that model).",
)
@click.option("--prune-id", default=None, metavar="RUN_ID", help="Only this prune operation.")
@click.option("--all", "restore_all", is_flag=True, help="Every pruned version not yet restored.")
@click.option("--list", "list_only", is_flag=True, help="List the prune history and stop.")
@click.option("--dry-run", is_flag=True, help="Say what would be restored; change nothing.")
@format_option("text", "json")
@tracking_uri_option
def restore(
    models: tuple[str, ...],
    versions: tuple[int, ...],
    prune_id: str | None,
    restore_all: bool,
    list_only: bool,
    dry_run: bool,
    fmt: str,
    tracking_uri: str | None,
) -> None:
    """Re-register pruned versions from the prune records in the tracking server.

    Each restored version gets the same source, run, tags and description; MLflow gives it a new
    version number (numbers are never reused), which this command prints. Select by --model,
    --version, --prune-id (combinable), or --all.
    """
    from mlflow_debt.prune import registry
    from mlflow_debt.store import get_client

    client = get_client(tracking_uri)
    if list_only:
        entries = registry.read_audit(client, prune_id)
        _render_history(entries, fmt)
        return
    if not (models or versions or prune_id or restore_all):
        raise click.UsageError("Say what to restore: --model, --version, --prune-id or --all.")
    restored, already = registry.restore(
        client, models=models, versions=versions, prune_id=prune_id, dry_run=dry_run
    )
    if fmt == "json":
        doc = {
            "applied": not dry_run,
            "restored": [
                {
                    "name": r.entry.record.name,
                    "version": r.entry.record.version,
                    "new_version": r.new_version,
                    "prune_id": r.entry.prune_id,
                }
                for r in restored
            ],
            "already_restored": [
                {
                    "name": e.record.name,
                    "version": e.record.version,
                    "new_version": e.restored_as,
                    "prune_id": e.prune_id,
                }
                for e in already
            ],
        }
        click.echo(json.dumps(doc, indent=2))
        return
    for e in already:
        click.echo(
            f'"{e.record.name}" version {e.record.version} was already restored as version '
            f"{e.restored_as}."
        )
    for r in restored:
        rec = r.entry.record
        if r.new_version is None:
            click.echo(f'Would restore "{rec.name}" version {rec.version} from {rec.source}.')
        else:
            click.echo(f'Restored "{rec.name}" version {rec.version} as version {r.new_version}.')
    n = len(restored)
    verb = "Would restore" if dry_run else "Restored"
    click.echo(f"{verb} {n} version{'s' if n != 1 else ''}.")


def _render_history(entries: list[Any], fmt: str) -> None:
    if fmt == "json":
        doc = {
            "records": [
                {
                    "prune_id": e.prune_id,
                    "name": e.record.name,
                    "version": e.record.version,
                    "state": e.record.state,
                    "metric": e.record.metric,
                    "value": e.record.value,
                    "source": e.record.source,
                    "restored_as": e.restored_as,
                }
                for e in entries
            ]
        }
        click.echo(json.dumps(doc, indent=2))
        return
    if not entries:
        click.echo("No prune has been recorded.")
        return
    rows = [("PRUNE", "MODEL", "VERSION", "STATE", "RESTORED_AS")]
    for e in entries:
        rows.append(
            (
                e.prune_id,
                e.record.name,
                str(e.record.version),
                e.record.state,
                "-" if e.restored_as is None else str(e.restored_as),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        click.echo("  ".join([*(c.ljust(w) for c, w in zip(r[:4], widths, strict=False)), r[4]]))
