"""The one module that talks to MLflow for runs: clients, paged reads, tag writes, error mapping.

Everything here uses MLflow's public client API only (``MlflowClient``), so it works the same on the
embedded SQLite default and on a shared ``mlflow server``. Reads are paged; nothing here issues one
call per run. Registry reads and writes for pruning live in :mod:`mlflow_debt.prune.registry`.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.entities import RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_debt.errors import InputError, MlflowDebtError, NotFoundError, ServerError
from mlflow_debt.redact import redact

if TYPE_CHECKING:
    from mlflow.entities import Experiment, ModelVersion, Run

#: MLflow's maximum page size for ``search_runs``.
RUNS_PAGE = 50_000
#: ``search_model_versions`` pages (MLflow caps a page at 10,000 on most stores).
VERSIONS_PAGE = 10_000

_INPUT_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "BAD_REQUEST", "NOT_FOUND"}


def get_client(tracking_uri: str | None = None) -> MlflowClient:
    """A client for ``tracking_uri`` (or MLflow's configured default); the registry follows it."""
    if tracking_uri:
        return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    return MlflowClient()


def tracking_uri_of(client: MlflowClient) -> str:
    """The client's tracking URI, with any password removed, for messages."""
    return redact(str(client.tracking_uri))


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


def _error_message(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, MlflowException) else f"{type(exc).__name__}: {exc}"
    text = str(text)
    if _UNREACHABLE.search(text):
        url = _REQUEST_URL.search(text)
        where = f" at {url.group(1)}" if url else ""
        reason = "timed out" if "timed out" in text.lower() else "connection failed"
        if "refused" in text.lower():
            reason = "connection refused"
        return redact(f"cannot reach the MLflow tracking server{where} ({reason})")
    return one_line(text)


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
        code = str(getattr(exc, "error_code", "") or "")
        if code == "RESOURCE_DOES_NOT_EXIST":
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


def get_run(client: MlflowClient, run_id: str) -> Run:
    """The run ``run_id``; an unknown id is a :class:`NotFoundError` naming it."""
    try:
        with mlflow_errors(f"Reading run {run_id!r}"):
            return client.get_run(run_id)
    except InputError:  # NotFoundError included: MLflow answers either for a malformed id
        raise NotFoundError(f"Run {run_id!r} does not exist") from None


def experiments(client: MlflowClient, names: Iterable[str] = ()) -> list[Experiment]:
    """The named experiments (all active ones when ``names`` is empty); unknown names fail."""
    names = list(names)
    with mlflow_errors("Listing experiments"):
        if not names:
            found: list[Experiment] = []
            token = None
            while True:
                page = client.search_experiments(max_results=1000, page_token=token)
                found.extend(page)
                token = page.token
                if not token:
                    return found
        result = []
        for name in names:
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise NotFoundError(f"Experiment {name!r} does not exist")
            result.append(exp)
        return result


def iter_runs(
    client: MlflowClient,
    experiment_ids: list[str],
    filter_string: str = "",
    page_size: int = RUNS_PAGE,
) -> Iterator[Run]:
    """Every active run of ``experiment_ids`` matching ``filter_string``, page by page."""
    if not experiment_ids:
        return
    token = None
    while True:
        with mlflow_errors("Reading runs"):
            page = client.search_runs(
                experiment_ids,
                filter_string=filter_string,
                max_results=page_size,
                page_token=token,
            )
        yield from page
        token = page.token
        if not token:
            return


def iter_model_versions(
    client: MlflowClient, filter_string: str = "", page_size: int = VERSIONS_PAGE
) -> Iterator[ModelVersion]:
    """Every live model version matching ``filter_string``, page by page."""
    token = None
    while True:
        with mlflow_errors("Reading model versions"):
            page = client.search_model_versions(
                filter_string or None, max_results=page_size, page_token=token
            )
        yield from page
        token = page.token
        if not token:
            return


#: MLflow's maximum page for ``search_logged_models``.
LOGGED_MODELS_PAGE = 1_000


def iter_logged_models(client: MlflowClient, experiment_ids: list[str]) -> Iterator[Any]:
    """Every LoggedModel of ``experiment_ids``, page by page (none on an MLflow without them)."""
    search = getattr(client, "search_logged_models", None)
    if search is None or not experiment_ids:
        return
    token = None
    while True:
        with mlflow_errors("Reading logged models"):
            page = search(
                experiment_ids=experiment_ids, max_results=LOGGED_MODELS_PAGE, page_token=token
            )
        yield from page
        token = page.token
        if not token:
            return


def set_run_tags(client: MlflowClient, run_id: str, tags: dict[str, str]) -> None:
    """Write ``tags`` on ``run_id`` in as few calls as MLflow allows (it splits batches itself)."""
    if not tags:
        return
    with mlflow_errors(f"Tagging run {run_id!r}"):
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()], synchronous=True)


def set_logged_model_tags(client: MlflowClient, model_id: str, tags: dict[str, str]) -> None:
    """Write ``tags`` on the LoggedModel ``model_id`` (MLflow 3's model entity)."""
    if not tags:
        return
    with mlflow_errors(f"Tagging logged model {model_id!r}"):
        client.set_logged_model_tags(model_id, tags)


def main_thread_run_id() -> str | None:
    """The fluent run active on the main thread, for a fit made in another thread.

    MLflow keeps the active run per thread, so ``mlflow.active_run()`` is None in a thread started
    inside ``with mlflow.start_run():``. MLflow has no public call for the main thread's run; this
    reads the fluent run stack (the one non-public read in this module), guarded: None if MLflow
    changes it.
    """
    try:
        from mlflow.tracking import fluent

        values = fluent._active_run_stack.get_all_thread_values()
        stack = values.get(threading.main_thread().ident or 0) or []
        return stack[-1].info.run_id if stack else None
    except Exception:
        return None


def active_run_id() -> str | None:
    """The run training code is logging to: the active fluent run, else ``MLFLOW_RUN_ID``.

    Under ``mlflow run`` the parent process creates the run and the child resumes it through
    ``MLFLOW_RUN_ID``; a script that never calls ``start_run`` still trains "in" that run.
    """
    run = mlflow.active_run()
    if run is not None:
        return run.info.run_id
    from mlflow.environment_variables import MLFLOW_RUN_ID

    return MLFLOW_RUN_ID.get() or None
