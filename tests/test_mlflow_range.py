"""The supported MLflow range (issue 21 §5): what differs between 3.1, 3.17 and 3.18 for us.

MLflow 3.18's client no longer retries a create answered with a 5xx, and words a 5xx answer
differently; 3.17 added per-version permissions whose refusal is a 403. These are the pure
rules; the real-server tests are tests/prune/test_create_faults.py and tests/test_version_denied.py.
"""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)

from mlflow_debt import store
from mlflow_debt.errors import ServerError

ANSWER_318 = (
    "API request to endpoint /api/2.0/mlflow/runs/create failed with error code 503 != 200. "
    "Response body: 'injected 503'"
)
RETRIED_317 = (
    "API request to http://127.0.0.1:5000/api/2.0/mlflow/runs/create failed with exception "
    "HTTPConnectionPool(host='127.0.0.1', port=5000): Max retries exceeded with url: "
    "/api/2.0/mlflow/runs/create (Caused by ResponseError('too many 503 error responses'))"
)


def test_a_5xx_answer_in_mlflow_318s_words_is_named_as_such() -> None:
    with pytest.raises(ServerError) as caught, store.mlflow_errors("Reading the prune history"):
        raise MlflowException(ANSWER_318, error_code=TEMPORARILY_UNAVAILABLE)
    assert "answered HTTP 503" in str(caught.value)
    assert "does not exist" not in str(caught.value)


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")


def flaky(*failures: BaseException):
    """A create that fails with ``failures`` in turn, then makes "made"; records its calls."""
    calls: list[str] = []

    def create() -> str:
        calls.append("create")
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return "made"

    return create, calls


def test_a_create_answered_503_and_not_made_is_made_again() -> None:
    create, calls = flaky(MlflowException(ANSWER_318, error_code=TEMPORARILY_UNAVAILABLE))
    assert store.create_once(create, lambda: None) == "made"
    assert calls == ["create", "create"]


def test_a_create_answered_503_but_made_is_found_not_made_twice() -> None:
    create, calls = flaky(MlflowException(ANSWER_318, error_code=TEMPORARILY_UNAVAILABLE))
    assert store.create_once(create, lambda: "found") == "found"
    assert calls == ["create"]


def test_a_broken_connection_is_looked_after_too() -> None:
    create, calls = flaky(ConnectionResetError("Connection aborted"))
    assert store.create_once(create, lambda: None) == "made"
    assert calls == ["create", "create"]


@pytest.mark.parametrize(
    "failure",
    [
        MlflowException(RETRIED_317, error_code=INTERNAL_ERROR),  # retried by MLflow already
        MlflowException("Permission denied", error_code=PERMISSION_DENIED),
        MlflowException("no such model", error_code=RESOURCE_DOES_NOT_EXIST),
        ValueError("a bug"),
    ],
)
def test_answers_and_exhausted_retries_are_raised_at_once(failure: BaseException) -> None:
    create, calls = flaky(failure)
    looked: list[str] = []
    with pytest.raises(type(failure)):
        store.create_once(create, lambda: looked.append("find"))
    assert calls == ["create"]
    assert looked == []


def test_the_retries_are_bounded_by_mlflows_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    down = MlflowException(ANSWER_318, error_code=TEMPORARILY_UNAVAILABLE)
    create, calls = flaky(down, down, down)
    with pytest.raises(MlflowException):
        store.create_once(create, lambda: None)
    assert calls == ["create", "create"]


def test_a_403_is_told_apart_by_its_code_only() -> None:
    assert store.is_denied(MlflowException("Permission denied", error_code=PERMISSION_DENIED))
    assert not store.is_denied(MlflowException("permission denied", error_code=INTERNAL_ERROR))
    assert not store.is_denied(PermissionError("denied"))
