"""The ``mlflow-debt`` command line: parse, call one core function, render, map errors to exits.

Subcommands live in :mod:`mlflow_debt.commands` and are imported only when run (or listed by
``--help``), so ``mlflow-debt --help`` never pays for ``import mlflow``.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from mlflow_debt.errors import (
    DEBUG_ENV,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_SERVER,
    MlflowDebtError,
)

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

#: ``--help`` shows each command's whole first sentence, never one cut off at the column width.
SHORT_HELP_LIMIT = 1_000


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002  click's Group interface
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: ARG002  click's Group interface
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(SHORT_HELP_LIMIT)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _HELP_ERRORS:
            raise  # a group run without a command: its help, as click shows it
        except click.UsageError as exc:
            raise OneLineUsageError.of(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlflowDebtError as exc:
            _fail(ctx, exc, exc.exit_code)
        except click.UsageError as exc:  # a subcommand's options, or one its code raised
            if isinstance(exc, (OneLineUsageError, *_HELP_ERRORS)):
                raise
            raise OneLineUsageError.of(exc) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            raise  # the reader of stdout went away (``| head``): click's standalone handling
        except Exception as exc:  # noqa: BLE001  the last-resort handler: exit 3 or 4, one line
            # MLflow/HTTP/database errors that escaped a store call's translation are exit 3;
            # anything else is a bug in mlflow-debt (exit 4).
            if type(exc).__module__.split(".")[0] in _SERVER_ERROR_MODULES:
                _fail(ctx, exc, EXIT_SERVER)
            _internal_error(exc)
            ctx.exit(EXIT_INTERNAL)


_SERVER_ERROR_MODULES = {"mlflow", "requests", "urllib3", "sqlalchemy"}


#: click 8.2+ raises this usage error to show a group's help when no command is given.
_HELP_ERRORS: tuple[type[Exception], ...] = tuple(
    e for e in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if e is not None
)


class OneLineUsageError(click.UsageError):
    """A usage error shown as the README promises every error: one line on stderr (exit 2),
    ending in the hint where help is, instead of click's usage block, hint line and blank line.
    """

    @classmethod
    def of(cls, exc: click.UsageError) -> OneLineUsageError:
        return cls(exc.format_message(), exc.ctx)  # exit 2, as every usage error

    def show(self, file: Any = None) -> None:
        from mlflow_debt.redact import redact  # not store's one_line: no mlflow import for this

        hint = ""
        if self.ctx is not None and self.ctx.command.get_help_option(self.ctx) is not None:
            hint = f" (see '{self.ctx.command_path} --help')"
        message = redact(" ".join(self.format_message().split()))
        click.echo(f"Error: {message}{hint}", file=file, err=True)


def _fail(ctx: click.Context, exc: BaseException, code: int) -> None:
    from mlflow_debt.store import one_line

    message = getattr(exc, "message", None) or str(exc)
    click.echo(f"Error: {one_line(message, limit=500)}", err=True)
    ctx.exit(code)


def _internal_error(exc: BaseException) -> None:
    """A bug in mlflow-debt: one line (exit 4, never 1, which means "debt found"); the
    traceback only with ``MLFLOW_DEBT_DEBUG=1``."""
    from mlflow_debt.redact import redact

    if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
        import traceback

        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        click.echo(redact(text), err=True, nl=False)
    detail = " ".join(f"{type(exc).__name__}: {exc}".split())
    detail = redact(detail)
    if len(detail) > 300:
        detail = detail[:299] + "…"
    click.echo(
        f"Error: internal error in mlflow-debt: {detail}; set {DEBUG_ENV}=1 for the traceback",
        err=True,
    )


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="mlflow-debt")
def cli() -> None:
    """Pay down the hidden technical debt of ML systems recorded in MLflow.

    Feature lineage is recorded automatically: with mlflow-debt installed, every MLflow run that
    fits a scikit-learn, xgboost, lightgbm or Spark ML (pyspark.ml) model tags the features it was
    trained on (set MLFLOW_DEBT_DISABLE=1 to turn that off). These commands read those tags and
    the model registry.

    Exit codes: 0 ok, 1 debt found (a --fail-on gate) or declined, 2 bad usage or input,
    3 MLflow or tracking-server error, 4 internal error, 130 interrupted.
    """
    _bounded_http_retries()
    _quiet_store_setup_logs()


#: MLflow's client retries a failing HTTP request 7 times with a backoff factor of 2 and waits
#: 120 s for each answer (minutes against a server that is down or hangs). A command-line user is
#: better served by an answer in seconds: at most 3 tries of 10 s each, so a server that accepts
#: connections and never answers is given up on after about 30 s (3 x 10 s + 2 s of backoff);
#: transient errors (a 503, a restarting server) are still retried. The user's own settings of
#: these variables always win (raise the timeout for a server that is slow to answer big reads).
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def _quiet_store_setup_logs() -> None:
    """No log lines from MLflow (or alembic, SQLAlchemy, urllib3) while a command runs.

    MLflow logs its database set-up ("Creating initial MLflow database tables...", alembic's
    migrations) and, for a store it cannot use, WARNING/ERROR lines with the whole exception
    (46 of them for a PostgreSQL server that is down); on the command line that is noise around
    our one-line message, which says the same. A process-wide switch, because alembic's
    ``fileConfig`` re-creates its logger's level and handler on every migration (MLflow 3.1
    migrates on every use); lifted again when the command ends (CliRunner, embedding). With
    ``MLFLOW_DEBT_DEBUG=1`` the lines are shown, credentials masked like everything we print.
    """
    import logging

    from mlflow_debt.redact import redact

    previous_disable = logging.root.manager.disable
    previous_factory = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous_factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  a foreign log record: never break the logging of it
            return record
        record.msg, record.args = redact(message), None
        return record

    logging.setLogRecordFactory(redacting_factory)
    debug = os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")
    logging.disable(logging.NOTSET if debug else logging.CRITICAL)

    def restore() -> None:
        logging.disable(previous_disable)
        logging.setLogRecordFactory(previous_factory)

    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(restore)


def _bounded_http_retries() -> None:
    for name, value in HTTP_RETRY_DEFAULTS.items():
        os.environ.setdefault(name, value)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: click's standalone mode, except that an interrupt (Ctrl-C
    anywhere, Ctrl-C or Ctrl-D at a prompt) exits 130 with ``Interrupted.`` instead of click's
    ``Aborted!`` and 1, and an unexpected exception is an internal error (exit 4)."""
    try:
        try:
            code = cli.main(args=argv, prog_name="mlflow-debt", standalone_mode=False)
        except click.exceptions.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except (click.Abort, KeyboardInterrupt, EOFError):
            _interrupted()
        except BrokenPipeError:
            # As click's standalone mode does: no traceback, no second error on exit.
            wrapper: Any = click.utils.PacifyFlushWrapper
            sys.stdout = wrapper(sys.stdout)
            code = 1
        except Exception as exc:  # noqa: BLE001  the last-resort handler: one line, exit 4
            _internal_error(exc)
            code = EXIT_INTERNAL
        sys.exit(code if isinstance(code, int) else 0)
    except KeyboardInterrupt:  # a second Ctrl-C while the first one is handled
        _interrupted()


def _interrupted() -> None:
    try:
        click.echo("Interrupted.", err=True)
    finally:
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    main()
