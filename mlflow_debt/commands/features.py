"""``mlflow-debt features`` and ``mlflow-debt backfill``."""

from __future__ import annotations

import click

from mlflow_debt.options import experiment_option, format_option, tracking_uri_option


@click.command(
    epilog="""\b
Examples:
  mlflow-debt features 3f2a9c0d1e4b4f5a8b6c7d8e9f0a1b2c
  mlflow-debt features 3f2a9c0d1e4b4f5a8b6c7d8e9f0a1b2c --format json
"""
)
@click.argument("run_id")
@format_option("text", "json")
@tracking_uri_option
def features(run_id: str, fmt: str, tracking_uri: str | None) -> None:
    """Print the features RUN_ID was trained on, in training column order.

    Each feature has its name, dtype and fingerprint (a coarse profile of its values that
    changes when the feature's definition changes; "?" when unknown).
    """
    from mlflow_debt import store, tags
    from mlflow_debt.capture import render

    client = store.get_client(tracking_uri)
    run = store.get_run(client, run_id)
    fs = tags.decode(run.data.tags)
    if fmt == "json":
        click.echo(render.dumps(render.features_json(run_id, fs)))
    else:
        click.echo(render.features_text(run_id, run.info.run_name, fs))


@click.command(
    epilog="""\b
Examples:
  mlflow-debt backfill
  mlflow-debt backfill --experiment churn --experiment ltv --dry-run
"""
)
@experiment_option
@click.option("--dry-run", is_flag=True, help="Count what would be tagged; write nothing.")
@format_option("text", "json")
@tracking_uri_option
def backfill(
    experiments: tuple[str, ...], dry_run: bool, fmt: str, tracking_uri: str | None
) -> None:
    """Tag runs recorded before mlflow-debt was installed with the features MLflow already has.

    Names and types come from a run's training dataset input (autolog, mlflow.log_input) or
    else from the signature of a model logged from it; fingerprints are unknown ("?"). Runs
    that already have feature tags are left alone, so running it again changes nothing.
    LoggedModels without feature tags get them from their own signature the same way.
    """
    from mlflow_debt import store
    from mlflow_debt.capture import render
    from mlflow_debt.capture.backfill import backfill as run_backfill

    client = store.get_client(tracking_uri)
    result = run_backfill(client, experiments, dry_run=dry_run)
    if fmt == "json":
        click.echo(render.dumps(render.backfill_json(result, dry_run)))
    else:
        click.echo(render.backfill_text(result, dry_run))
