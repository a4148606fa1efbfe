"""Error mapping: MLflow, HTTP and database failures as one-line :class:`MlflowDebtError`.

"Not found" is decided by MLflow's error codes only (:data:`NOT_FOUND_CODES`), never by the text
of an exception: a 500 or a 403 is a server error (exit 3) whatever its message says.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mlflow.exceptions import MlflowException

from mlflow_debt.errors import InputError, MlflowDebtError, NotFoundError, ServerError
from mlflow_debt.redact import redact

if TYPE_CHECKING:
    pass


#: MLflow's error codes that mean "no such thing" (the only ones that do).
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})
_INPUT_CODES = NOT_FOUND_CODES | {"INVALID_PARAMETER_VALUE", "BAD_REQUEST"}


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line, credentials redacted, cut to ``limit`` characters."""
    line = " ".join(str(text).split())
    line = redact(line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


_UNREACHABLE = re.compile(
    r"Max retries exceeded|Failed to establish a new connection|Connection refused|"
    r"Name or service not known|Read timed out|Connection aborted|RemoteDisconnected",
    re.IGNORECASE,
)
_REQUEST_URL = re.compile(r"API request to (\S+?)/api/")
#: urllib3's words when every retry got an HTTP error status (a 500/503 is not "unreachable").
_STATUS_RETRIES = re.compile(r"too many (\d{3}) error responses")
#: MLflow 3.18's words for a 5xx answer without an MLflow error body (retried or not: it no
#: longer retries a write that is not safe to repeat on a 5xx).
_STATUS_ANSWER = re.compile(r"failed with error code (5\d\d) != \d{3}")


def _error_message(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, MlflowException) else f"{type(exc).__name__}: {exc}"
    text = str(text)
    url = _REQUEST_URL.search(text)
    where = f" at {url.group(1)}" if url else ""
    status = _STATUS_RETRIES.search(text)
    if status:
        return redact(
            f"the MLflow tracking server{where} answered HTTP {status.group(1)} "
            "(server error, after retries)"
        )
    answer = _STATUS_ANSWER.search(text)
    if answer:
        return redact(
            f"the MLflow tracking server{where} answered HTTP {answer.group(1)} (server error)"
        )
    if _UNREACHABLE.search(text):
        reason = "timed out" if "timed out" in text.lower() else "connection failed"
        if "refused" in text.lower():
            reason = "connection refused"
        return redact(f"cannot reach the MLflow tracking server{where} ({reason})")
    return one_line(text)


def error_code(exc: BaseException) -> str:
    """MLflow's error code of ``exc`` ("" for other exceptions)."""
    return str(getattr(exc, "error_code", "") or "") if isinstance(exc, MlflowException) else ""


def is_not_found(exc: BaseException) -> bool:
    """Whether ``exc`` is MLflow saying the thing does not exist (by its code, never its text)."""
    return error_code(exc) in NOT_FOUND_CODES


@contextlib.contextmanager
def mlflow_errors(action: str) -> Iterator[None]:
    """Turn MLflow, HTTP and database failures inside the block into :class:`MlflowDebtError`.

    ``action`` says what was being done (``"reading runs"``); it starts the message.
    """
    try:
        yield
    except MlflowDebtError:
        raise
    except MlflowException as exc:
        code = error_code(exc)
        if code in NOT_FOUND_CODES:
            raise NotFoundError(f"{action}: {_error_message(exc)}") from exc
        if code in _INPUT_CODES:
            raise InputError(f"{action}: {_error_message(exc)}") from exc
        raise ServerError(f"{action}: {_error_message(exc)}") from exc
    except (OSError, ConnectionError) as exc:  # requests' errors derive from OSError
        raise ServerError(f"{action}: {_error_message(exc)}") from exc
    except Exception as exc:
        # SQLAlchemy errors from an unreadable/locked store, urllib3 errors, ...
        if type(exc).__module__.split(".")[0] in {"sqlalchemy", "urllib3", "requests"}:
            raise ServerError(f"{action}: {_error_message(exc)}") from exc
        raise


# --------------------------------------------------------------------------------------------
# Reachability and concurrency
