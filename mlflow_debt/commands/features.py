"""``mlflow-debt features`` and ``mlflow-debt backfill``."""

from __future__ import annotations

import json

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

    client = store.get_client(tracking_uri)
    run = store.get_run(client, run_id)
    fs = tags.decode(run.data.tags)
    if fmt == "json":
        payload = {
            "run_id": run_id,
            "features": [
                {"name": f.name, "dtype": f.dtype, "fingerprint": f.fingerprint}
                for f in (fs.features if fs else ())
            ],
            "n_features": len(fs.features) if fs else 0,
            "digest": fs.digest if fs else None,
            "source": fs.source if fs else None,
            "complete": fs.complete if fs else None,
        }
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    name = run.info.run_name or run_id
    if fs is None:
        click.echo(
            f"Run {run_id} ({name}) has no feature tags. Runs recorded before mlflow-debt was "
            "installed can get them with: mlflow-debt backfill"
        )
        return
    click.echo(
        f"Run {run_id} ({name}): {len(fs.features)} features, digest {fs.digest}, "
        f"recorded by {fs.source}"
    )
    if not fs.complete:
        click.echo("Warning: the feature tags are incomplete or do not match their digest.")
    width = max([len(f.name) for f in fs.features] + [4])
    dwidth = max([len(f.dtype) for f in fs.features] + [5])
    click.echo(f"  {'#':>4}  {'name':<{width}}  {'dtype':<{dwidth}}  fingerprint")
    for i, f in enumerate(fs.features):
        click.echo(f"  {i:>4}  {f.name:<{width}}  {f.dtype:<{dwidth}}  {f.fingerprint}")


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
    from mlflow_debt.capture.backfill import backfill as run_backfill

    client = store.get_client(tracking_uri)
    result = run_backfill(client, experiments, dry_run=dry_run)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "applied": not dry_run,
                    "tagged": result.tagged,
                    "from_dataset": result.tagged_from_dataset,
                    "from_signature": result.tagged_from_signature,
                    "untaggable": result.untaggable,
                    "already_tagged": result.already_tagged,
                    "models_from_signature": result.models_from_signature,
                    "models_untaggable": result.models_untaggable,
                    "models_already_tagged": result.models_already_tagged,
                },
                indent=2,
            )
        )
        return
    verb = "Would tag" if dry_run else "Tagged"
    click.echo(
        f"{verb} {result.tagged} run(s) ({len(result.tagged_from_dataset)} from dataset inputs, "
        f"{len(result.tagged_from_signature)} from model signatures); could not tag "
        f"{len(result.untaggable)} run(s) (no dataset input or model signature); "
        f"{result.already_tagged} already had feature tags."
    )
    if result.models_from_signature or result.models_untaggable:
        click.echo(
            f"{verb} {len(result.models_from_signature)} logged model(s) from their signatures; "
            f"{len(result.models_untaggable)} had no usable signature."
        )
