"""Writes MLflow's client does not make safe for us: creates, and a 403 on one object.

MLflow 3.18's client no longer retries a write that is not safe to repeat (create a run, an
experiment, a registered model or a version) when it is answered with a 5xx or the connection
breaks after the request was sent: only 408/429 and connection failures before sending. Behind
a flaky proxy the caller sees the 503, and the create may or may not have happened. Older
clients retried it, so a create whose answer was lost could happen twice.

:func:`create_once` makes such a create converge on either client: on a failure that may be
transient it first looks for what the create would have made (``find``), and only creates again
when nothing is there; at most ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` times more, with
``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``'s backoff. A failure MLflow's client already retried to the
end (``Max retries exceeded``) or that is an answer (403, 404, 400) is raised at once.

:func:`is_denied` tells a 403 (MLflow 3.17's per-version permissions, an explicit deny) from
everything else, by MLflow's error code only.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import TypeVar

from mlflow.exceptions import MlflowException

from mlflow_debt.store.errors import error_code

T = TypeVar("T")

#: MLflow's error code for HTTP 403 (also what a plain-text 403 from an auth proxy becomes).
DENIED_CODES = frozenset({"PERMISSION_DENIED"})
#: Error codes of answers that say the create may not have happened for a passing reason.
_TRANSIENT_CODES = frozenset(
    {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"}
)
#: MLflow's client retried it already, to the end: again would only double the wait.
_RETRIED = re.compile(r"Max retries exceeded|too many \d{3} error responses", re.IGNORECASE)


def is_denied(exc: BaseException) -> bool:
    """Whether ``exc`` is the tracking server refusing this one call (HTTP 403)."""
    return error_code(exc) in DENIED_CODES


def may_be_transient(exc: BaseException) -> bool:
    """A 5xx or a broken connection that MLflow's client did not retry to the end."""
    if _RETRIED.search(str(exc)):
        return False
    if isinstance(exc, MlflowException):
        return error_code(exc) in _TRANSIENT_CODES
    return isinstance(exc, (OSError, ConnectionError))


def _setting(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, "") or default))
    except ValueError:
        return default


def create_once(create: Callable[[], T], find: Callable[[], T | None]) -> T:
    """``create()``, once: after a transient failure, ``find()`` what it made before retrying.

    ``find`` returns the object the create would have made, or None when there is none; it is
    only called after a failure, so the common path costs nothing more.
    """
    tries = int(_setting("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 2))
    backoff = _setting("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 1)
    attempt = 0
    while True:
        try:
            return create()
        except Exception as exc:
            if attempt >= tries or not may_be_transient(exc):
                raise
            attempt += 1
            time.sleep(min(backoff * 2 ** (attempt - 1), 10.0))
            made = find()
            if made is not None:
                return made
