"""One root exception and the few children the CLI words differently.

Every expected failure is an :class:`MlflowDebtError`; the CLI prints its message on one line and
exits with its ``exit_code``. Exit codes are a documented interface (see the README):

* 0 success
* 1 a check found debt (CI gate) or the user declined
* 2 bad usage or input (unknown run, model, metric, malformed file)
* 3 MLflow or tracking-server error (unreachable, 5xx, permission, database unusable)
* 4 internal error: a bug in mlflow-debt (one line; ``MLFLOW_DEBT_DEBUG=1`` shows the traceback)
* 130 interrupted (Ctrl-C, also at a confirmation prompt)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_DEBT_FOUND = 1
EXIT_USAGE = 2
EXIT_SERVER = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130

#: Set to 1 to see the traceback of an internal error (exit 4).
DEBUG_ENV = "MLFLOW_DEBT_DEBUG"


class MlflowDebtError(Exception):
    """Root of every error mlflow-debt raises on purpose."""

    exit_code: int = EXIT_USAGE


class InputError(MlflowDebtError):
    """The user asked for something that does not exist or is malformed (exit 2)."""

    exit_code = EXIT_USAGE


class NotFoundError(InputError):
    """A run, model, version or experiment that does not exist (exit 2)."""


class ServerError(MlflowDebtError):
    """The tracking server or store failed or could not be reached (exit 3)."""

    exit_code = EXIT_SERVER


class DebtFound(MlflowDebtError):
    """A gate (``--fail-on``) found what it names (exit 1)."""

    exit_code = EXIT_DEBT_FOUND


class Declined(MlflowDebtError):
    """The user answered no at a confirmation prompt (exit 1)."""

    exit_code = EXIT_DEBT_FOUND


class MlflowDebtWarning(UserWarning):
    """A problem mlflow-debt met while recording lineage; the user's code carried on.

    Every warning the plugin emits is one of these (filter them with
    ``warnings.filterwarnings("ignore", category=MlflowDebtWarning)``), at most one per run and
    cause, and a filter that turns them into errors never makes a user's ``fit`` fail.
    """
