"""The ``mlflow-debt`` command line: parse, call one core function, render, map errors to exits.

Subcommands live in :mod:`mlflow_debt.commands` and are imported only when run (or listed by
``--help``), so ``mlflow-debt --help`` never pays for ``import mlflow``.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from mlflow_debt.errors import EXIT_SERVER, EXIT_USAGE, MlflowDebtError

# name -> "module:attribute". Order is the order shown by --help.
COMMANDS: dict[str, str] = {
    "features": "mlflow_debt.commands.features:features",
    "backfill": "mlflow_debt.commands.features:backfill",
    "prune": "mlflow_debt.commands.prune:prune",
    "policy": "mlflow_debt.commands.prune:policy",
    "restore": "mlflow_debt.commands.prune:restore",
    "consumers": "mlflow_debt.commands.consumers:consumers",
    "impact": "mlflow_debt.commands.consumers:impact",
    "report": "mlflow_debt.commands.report:report",
    "serve": "mlflow_debt.commands.serve:serve",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlflowDebtError as exc:
            _fail(ctx, exc, exc.exit_code)
        except Exception as exc:
            # A safety net: MLflow/HTTP/database errors that escaped a store call's translation.
            if type(exc).__module__.split(".")[0] not in _SERVER_ERROR_MODULES:
                raise
            _fail(ctx, exc, EXIT_SERVER)


_SERVER_ERROR_MODULES = {"mlflow", "requests", "urllib3", "sqlalchemy"}


def _fail(ctx: click.Context, exc: BaseException, code: int) -> None:
    from mlflow_debt.store import one_line

    message = getattr(exc, "message", None) or str(exc)
    click.echo(f"Error: {one_line(message, limit=500)}", err=True)
    ctx.exit(code)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="mlflow-debt")
def cli() -> None:
    """Pay down the hidden technical debt of ML systems recorded in MLflow.

    Feature lineage is recorded automatically: with mlflow-debt installed, every MLflow run that
    fits a scikit-learn model tags the features it was trained on (set MLFLOW_DEBT_DISABLE=1 to
    turn that off). These commands read those tags and the model registry.

    Exit codes: 0 ok, 1 debt found (a --fail-on gate) or declined, 2 bad usage or input,
    3 MLflow or tracking-server error.
    """
    _bounded_http_retries()
    _quiet_store_setup_logs()


#: MLflow's client retries a failing HTTP request 7 times with a backoff factor of 2 (about four
#: minutes against a server that is down). A command-line user is better served by an answer in
#: seconds; transient errors (a 503, a restarting server) are still retried. The user's own
#: settings of these variables always win.
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


def _quiet_store_setup_logs() -> None:
    """No INFO logging while a command runs: MLflow logs its database set-up ("Creating initial
    MLflow database tables...", alembic's migrations) on a store's first use, and on the command
    line that is noise around our one-line messages. A process-wide switch, because alembic's
    ``fileConfig`` re-creates its logger's level and handler on every migration (MLflow 3.1
    migrates on every use); lifted again when the command ends (CliRunner, embedding)."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(lambda: logging.disable(previous))


def _bounded_http_retries() -> None:
    import os

    for name, value in HTTP_RETRY_DEFAULTS.items():
        os.environ.setdefault(name, value)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="mlflow-debt", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":  # pragma: no cover
    main()
