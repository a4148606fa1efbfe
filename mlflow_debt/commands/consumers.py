"""Placeholder: consumers and impact (issue 4)."""

from __future__ import annotations

import click


@click.command()
def consumers() -> None:
    """Which models consume which feature (not yet implemented)."""
    raise click.UsageError("not implemented yet")


@click.command()
def impact() -> None:
    """The blast radius of changing one feature (not yet implemented)."""
    raise click.UsageError("not implemented yet")
