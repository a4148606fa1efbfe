"""The one module that talks to MLflow for runs: clients, paged reads, tag writes, error mapping.

Everything here uses MLflow's public client API only (``MlflowClient``), so it works the same on the
embedded SQLite default and on a shared ``mlflow server``. Reads are paged; nothing here issues one
call per run. Registry reads and writes for pruning live in :mod:`mlflow_debt.prune.registry`.
"""

from __future__ import annotations

import contextlib
import re
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
    """A client for ``tracking_uri`` (or MLflow's configured default); the registry follows it.

    Under the command line (:func:`check_stores`) the store is checked first (:func:`check_store`).
    """
    if _CHECK_STORES:
        check_store(tracking_uri or mlflow.get_tracking_uri())
    if tracking_uri:
        return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    return MlflowClient()


#: Set by the command line while a command runs; library callers (capture, ``get_features``) open
#: stores exactly as MLflow does.
_CHECK_STORES = False

#: Seconds a database tracking URI gets to accept a connection; the user can raise it.
DB_CONNECT_TIMEOUT_ENV = "MLFLOW_DEBT_DB_CONNECT_TIMEOUT"
DB_CONNECT_TIMEOUT_DEFAULT = 10

#: SQLAlchemy backends MLflow's SQL store supports (sqlite is checked as a file).
_DATABASES = {"postgresql", "mysql", "mssql"}

#: DB-API module -> what ``pip install`` gives it.
_DRIVER_PACKAGES = {
    "psycopg": "'psycopg[binary]'",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "asyncpg": "asyncpg",
    "mysqldb": "mysqlclient",
    "pymysql": "PyMySQL",
    "mysqlconnector": "mysql-connector-python",
    "mariadbconnector": "mariadb",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
}

#: The connect-timeout argument of each driver, in seconds.
_TIMEOUT_ARGS = {
    "psycopg": "connect_timeout",
    "psycopg2": "connect_timeout",
    "pg8000": "timeout",
    "mysqldb": "connect_timeout",
    "pymysql": "connect_timeout",
    "mysqlconnector": "connection_timeout",
    "pyodbc": "timeout",
    "pymssql": "login_timeout",
}


def check_stores(enabled: bool) -> None:
    """Switch :func:`check_store` on for every :func:`get_client` (the command line does)."""
    global _CHECK_STORES
    _CHECK_STORES = enabled


def check_store(uri: str) -> None:
    """Fail fast, in one line, on a tracking URI that cannot be used.

    * ``sqlite:///path``: the file must exist (a typo must not become a new, empty store that
      passes every gate): :class:`InputError`, exit 2.
    * ``postgresql://``, ``mysql://``, ``mssql://``: the driver must be importable and the
      database must accept a connection within ``MLFLOW_DEBT_DB_CONNECT_TIMEOUT`` seconds
      (default 10), instead of MLflow's minutes of retries: :class:`ServerError`, exit 3.

    Nothing is read; the probe connection is closed at once.
    """
    backend = uri.partition(":")[0].partition("+")[0].lower()
    if backend == "sqlite":
        _check_sqlite_file(uri)
    elif backend in _DATABASES:
        _check_database(uri)


def _check_sqlite_file(uri: str) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        database = make_url(uri).database
    except (ArgumentError, ValueError):  # MLflow says what is wrong with it
        return
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise InputError(
            f"No MLflow store at {redact(uri)}: {path} {what} "
            "(check --tracking-uri / MLFLOW_TRACKING_URI)"
        )


def _connect_timeout() -> int:
    import os

    raw = os.environ.get(DB_CONNECT_TIMEOUT_ENV, "").strip()
    if not raw:
        return DB_CONNECT_TIMEOUT_DEFAULT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"{DB_CONNECT_TIMEOUT_ENV} must be a whole number of seconds, not {raw!r}")
    return value


def _check_database(uri: str) -> None:
    import sqlalchemy
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
    from sqlalchemy.pool import NullPool

    shown = redact(uri)
    try:
        url = make_url(uri)
        dialect = url.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:  # malformed, unknown driver
        raise InputError(f"Cannot use the tracking URI {shown}: {_error_message(exc)}") from None
    driver = str(getattr(dialect, "driver", "") or "")
    try:
        # SQLAlchemy 2 names it import_dbapi; 1.4 (MLflow's oldest) dbapi.
        import_dbapi: Any = getattr(dialect, "import_dbapi", None) or dialect.dbapi
        import_dbapi()
    except ImportError as exc:
        package = _DRIVER_PACKAGES.get(driver, f"the {driver} driver")
        raise ServerError(
            f"Cannot use the tracking URI {shown}: its database driver is not installed "
            f"({exc}); pip install {package}, or name an installed driver in the URI "
            f"({url.get_backend_name()}+DRIVER://...)"
        ) from None
    timeout = _connect_timeout()
    arg = _TIMEOUT_ARGS.get(driver)
    engine = sqlalchemy.create_engine(
        url, poolclass=NullPool, connect_args={arg: timeout} if arg else {}
    )
    try:
        with engine.connect():
            pass
    except (SQLAlchemyError, OSError) as exc:
        reason = one_line(getattr(exc, "orig", None) or exc, limit=200)
        where = f"{url.host or 'localhost'}:{url.port}" if url.port else (url.host or "localhost")
        raise ServerError(
            f"Cannot connect to the tracking database {shown} at {where}: {reason} (check that "
            f"the database server is running and reachable and the user, password and database "
            f"name; the connect timeout is {timeout} s, {DB_CONNECT_TIMEOUT_ENV} raises it)"
        ) from None
    finally:
        engine.dispose()


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
    """Write ``tags`` on the LoggedModel ``model_id`` (one call)."""
    if not tags:
        return
    with mlflow_errors(f"Tagging logged model {model_id!r}"):
        client.set_logged_model_tags(model_id, tags)


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
