"""``prune``, ``policy`` and ``restore``: version limits for the model registry (thin CLI).

The rule lives in :mod:`mlflow_debt.prune.plan` (pure), the MLflow I/O in
:mod:`mlflow_debt.prune.read`, :mod:`~mlflow_debt.prune.apply`, :mod:`~mlflow_debt.prune.audit` and
:mod:`~mlflow_debt.prune.policy`, the output in :mod:`mlflow_debt.prune.render`; these commands
parse, call them, and render.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import click

from mlflow_debt.errors import Declined
from mlflow_debt.options import confirm, format_option, tracking_uri_option

if TYPE_CHECKING:
    from mlflow_debt.prune.read import ProgressFactory

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


def _progress_factory() -> ProgressFactory:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""

    @contextlib.contextmanager
    def progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
        if not sys.stderr.isatty() or total <= 0:
            yield lambda _n: None
            return
        lock = threading.Lock()
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:

            def advance(n: int) -> None:
                with lock:  # deletes run on a thread pool
                    bar.update(n)

            yield advance

    return progress


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
    "--lower-is-better",
    "lower",
    is_flag=True,
    help="Rank ascending, for losses such as rmse (default: the model's policy, else higher "
    "is better).",
)
@click.option("--higher-is-better", "higher", is_flag=True, help="Rank descending.")
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
    lower: bool,
    higher: bool,
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
    lower_is_better = _order(lower, higher, default=None)
    from mlflow_debt.prune import apply, read, render
    from mlflow_debt.store import get_client

    client = get_client(tracking_uri)
    selection = read.Selection(
        models=models,
        max_versions=max_versions,
        metric=metric.strip() if metric else None,
        lower_is_better=lower_is_better,
        prune_unranked=prune_unranked,
    )
    progress = _progress_factory()
    snapshot, plan = read.load(client, selection, workers=workers, progress=progress)

    _echo(render.skipped_text(plan), err=True)
    if fmt == "text":
        _echo(render.plan_text(plan))
    result = None
    if not dry_run and plan.deletions:
        if not yes and _interactive():
            n = len(plan.deletions)
            if not confirm(f"Delete {n} version{'s' if n != 1 else ''}?"):
                raise Declined("Declined at the prompt; nothing deleted.")
        result = apply.apply(client, snapshot, plan, workers=workers, progress=progress)
    if fmt == "json":
        click.echo(render.prune_json(plan, result, applied=not dry_run))
        return
    _echo(render.not_deleted_text(result), err=True)
    _echo(render.prune_summary(plan, result, applied=not dry_run))


def _order(lower: bool, higher: bool, *, default: bool | None) -> bool | None:
    """The two order flags as one value; both at once is a usage error."""
    if lower and higher:
        raise click.UsageError("--lower-is-better and --higher-is-better contradict each other.")
    return True if lower else False if higher else default


def _echo(lines: list[str], *, err: bool = False) -> None:
    for line in lines:
        click.echo(line, err=err)


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
    "--lower-is-better",
    "lower",
    is_flag=True,
    help="Rank ascending, for losses (default: higher is better).",
)
@click.option("--higher-is-better", "higher", is_flag=True, help="Rank descending (the default).")
@tracking_uri_option
def policy_set(
    model: str,
    max_versions: int,
    metric: str | None,
    lower: bool,
    higher: bool,
    tracking_uri: str | None,
) -> None:
    """Give MODEL its own version limit."""
    if metric is not None and not metric.strip():
        raise click.BadParameter("must not be empty", param_hint="--metric")
    lower_is_better = bool(_order(lower, higher, default=False))
    from mlflow_debt.prune import plan as retention
    from mlflow_debt.prune import policy as policies
    from mlflow_debt.prune import render
    from mlflow_debt.store import get_client

    pol = retention.Policy(
        max_versions=max_versions,
        metric=(metric or retention.DEFAULT_METRIC).strip(),
        lower_is_better=lower_is_better,
    )
    policies.set_policy(get_client(tracking_uri), model, pol, metric_given=metric is not None)
    click.echo(render.policy_set_line(model, pol, metric_given=metric is not None))


@policy.command("unset", epilog=POLICY_EXAMPLES)
@click.argument("model")
@tracking_uri_option
def policy_unset(model: str, tracking_uri: str | None) -> None:
    """Remove MODEL's own version limit."""
    from mlflow_debt.prune import policy as policies
    from mlflow_debt.prune import render
    from mlflow_debt.store import get_client

    policies.unset_policy(get_client(tracking_uri), model)
    click.echo(render.policy_unset_line(model))


@policy.command("show", epilog=POLICY_EXAMPLES)
@click.option("--model", "models", multiple=True, metavar="NAME", help="Only this model.")
@click.option("--all", "show_all", is_flag=True, help="Also list models without a limit.")
@format_option("text", "json")
@tracking_uri_option
def policy_show(
    models: tuple[str, ...], show_all: bool, fmt: str, tracking_uri: str | None
) -> None:
    """List the models that have their own version limit."""
    from mlflow_debt.prune import policy as policies
    from mlflow_debt.prune import render
    from mlflow_debt.store import get_client

    found = policies.read_policies(get_client(tracking_uri), models)
    shown = render.shown_policies(found, show_all=show_all, selected=bool(models))
    if fmt == "json":
        click.echo(render.policies_json(shown))
        return
    _echo(render.policies_text(shown))


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
    from mlflow_debt.prune import audit, render
    from mlflow_debt.store import get_client

    if list_only and restore_all:
        raise click.UsageError("--list and --all contradict each other: list, or restore.")
    if not (list_only or models or versions or prune_id or restore_all):
        raise click.UsageError("Say what to restore: --model, --version, --prune-id or --all.")
    client = get_client(tracking_uri)
    history = audit.read_history(client, prune_id)
    if list_only:
        if fmt == "json":
            click.echo(render.history_json(history.entries, history.unreadable))
        else:
            _echo(render.history_text(history.entries, history.unreadable))
    else:
        restored, already = audit.restore(
            client,
            models=models,
            versions=versions,
            prune_id=prune_id,
            dry_run=dry_run,
            history=history,
        )
        if fmt == "json":
            click.echo(render.restore_json(restored, already, dry_run=dry_run))
        else:
            _echo(render.restore_text(restored, already, dry_run=dry_run))
    if history.unreadable:
        # Everything readable was listed or restored; the rest is unknown: exit 3, said so.
        raise audit.UnreadableRecords(history.unreadable)
