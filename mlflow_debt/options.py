"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _check_stores(
    ctx: click.Context,
    param: click.Parameter,  # noqa: ARG001  click's callback signature
    value: str | None,
) -> str | None:
    """A command that runs opens its store checked: a SQLite file that does not exist is an
    error (not a new empty store), a database URI is tried with a bounded connect timeout."""
    if not ctx.resilient_parsing:
        from mlflow_debt import store

        store.check_stores(True)
        ctx.call_on_close(lambda: store.check_stores(False))
    return value


def tracking_uri_option(f: F) -> F:
    return click.option(
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        default=None,
        metavar="URI",
        callback=_check_stores,
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else MLflow's default: "
        "sqlite:///mlflow.db in the current directory).",
    )(f)


def experiment_option(f: F) -> F:
    return click.option(
        "--experiment",
        "experiments",
        multiple=True,
        metavar="NAME",
        help="Only runs of this experiment (repeatable; default: all active experiments).",
    )(f)


def format_option(*choices: str) -> Callable[[F], F]:
    def decorator(f: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(list(choices)),
            default=choices[0],
            show_default=True,
            help="Output format. JSON is a stable interface (see the README).",
        )(f)

    return decorator


def confirm(question: str) -> bool:
    """Ask ``question [y/N]`` on stderr; True for yes. EOF (Ctrl-D) and Ctrl-C raise click.Abort.

    Unlike ``click.confirm`` (readline's blocking ``input()``), the answer is awaited in short
    ``select`` waits, so Ctrl-C is seen even when a library has started native threads (polars,
    Spark, BLAS) and the kernel delivers SIGINT to one of them instead of the main thread.
    """
    import select
    import sys

    stdin = sys.stdin
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file: click's own prompt
        return bool(click.confirm(question, err=True))
    click.echo(f"{question} [y/N]: ", err=True, nl=False)
    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)  # signals are handled between waits
        if ready:
            break
    line = stdin.readline()
    if not line:  # EOF: Ctrl-D
        click.echo(err=True)
        raise click.Abort
    return line.strip().lower() in {"y", "yes"}
