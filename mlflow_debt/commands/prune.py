"""Placeholder: prune, policy and restore (issue 3)."""

from __future__ import annotations

import click


@click.command()
def prune() -> None:
    """Keep only the top-N versions of each registered model (not yet implemented)."""
    raise click.UsageError("not implemented yet")


@click.group()
def policy() -> None:
    """Manage per-model version limits (not yet implemented)."""


@click.command()
def restore() -> None:
    """Re-register pruned versions (not yet implemented)."""
    raise click.UsageError("not implemented yet")
