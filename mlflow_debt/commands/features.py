"""Placeholder: features and backfill (issue 2)."""

from __future__ import annotations

import click


@click.command()
def features() -> None:
    """Print the features a run was trained on (not yet implemented)."""
    raise click.UsageError("not implemented yet")


@click.command()
def backfill() -> None:
    """Tag older runs with features from what MLflow already has (not yet implemented)."""
    raise click.UsageError("not implemented yet")
