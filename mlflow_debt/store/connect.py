"""Clients and store checks: a client for a tracking URI, the fail-fast checks of a store the
command line is about to open, and the reachability probe of an HTTP server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_debt.errors import InputError, ServerError
from mlflow_debt.redact import redact
from mlflow_debt.store.errors import _error_message, one_line

if TYPE_CHECKING:
    pass


def get_client(tracking_uri: str | None = None) -> MlflowClient:
    """A client for ``tracking_uri`` (or MLflow's configured default); the registry follows it.

    Under the command line (:func:`check_stores`) the store is checked first (:func:`check_store`).
    """
    if _CHECK_STORES:
        check_settings()
        check_store(tracking_uri or mlflow.get_tracking_uri())
    try:
        if tracking_uri:
            return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        return MlflowClient()
    except MlflowException as exc:
        if not _CHECK_STORES or "scheme" not in str(exc.message).lower():
            raise
        # MLflow knows no store for the URI's scheme: bad input, not an unreachable server.
        shown = redact(tracking_uri or mlflow.get_tracking_uri())
        raise InputError(
            f"Cannot use the tracking URI {shown}: {_error_message(exc)} "
            "(check --tracking-uri / MLFLOW_TRACKING_URI)"
        ) from None


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


def check_settings() -> None:
    """MLflow's own settings (``MLFLOW_*`` environment variables) that MLflow cannot parse:
    :class:`InputError` (exit 2) naming the variable, before MLflow trips over one mid-command.

    Each set variable is parsed exactly as MLflow parses it (its ``get()``), so what MLflow
    accepts is accepted: ``MLFLOW_HTTP_REQUEST_TIMEOUT=abc`` and ``MLFLOW_TRACKING_INSECURE_TLS=
    maybe`` are refused, and so is ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=0.1`` (MLflow reads a
    whole number).
    """
    import os

    from mlflow import environment_variables as settings

    for value in vars(settings).values():
        # Each setting is an object with its variable's ``name`` and MLflow's parser ``get()``.
        name = getattr(value, "name", None)
        if not isinstance(name, str) or name not in os.environ or not callable(value.get):
            continue
        try:
            value.get()
        except (ValueError, TypeError) as exc:
            raise InputError(
                f"The MLflow setting {value.name}={os.environ[value.name]!r} is not valid: "
                f"{one_line(exc, limit=200)}"
            ) from None


def check_store(uri: str) -> None:
    """Fail fast, in one line, on a tracking URI that cannot be used.

    * A port that is not a number from 1 to 65535: :class:`InputError`, exit 2.
    * ``sqlite:///path``: the file must exist (a typo must not become a new, empty store that
      passes every gate), be a SQLite database (a 0-byte or truncated file is not an empty
      store): :class:`InputError`, exit 2; and be readable (:class:`ServerError`, exit 3, at
      once rather than after MLflow's minutes of retries).
    * ``postgresql://``, ``mysql://``, ``mssql://``: the driver must be importable and the
      database must accept a connection within ``MLFLOW_DEBT_DB_CONNECT_TIMEOUT`` seconds
      (default 10), instead of MLflow's minutes of retries: :class:`ServerError`, exit 3.

    Nothing is read; the probe connection is closed at once.
    """
    backend = uri.partition(":")[0].partition("+")[0].lower()
    if backend in _DATABASES or backend in ("http", "https"):
        _check_port(uri)
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
    try:
        with path.open("rb") as f:
            header = f.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise ServerError(
            f"Cannot read the MLflow store {redact(uri)}: {path}: {exc.strerror or exc}"
        ) from None
    if header != _SQLITE_HEADER:
        what = "is empty (0 bytes)" if not header else "is not a SQLite database"
        raise InputError(
            f"No MLflow store at {redact(uri)}: {path} {what}; a mistyped or truncated file is "
            "not an empty store (check --tracking-uri / MLFLOW_TRACKING_URI)"
        )


#: The first 16 bytes of every SQLite 3 database file (an empty 0-byte file has none).
_SQLITE_HEADER = b"SQLite format 3\x00"


def _check_port(uri: str) -> None:
    shown_port = _bad_port(uri)
    if shown_port is not None:
        raise InputError(
            f"Cannot use the tracking URI {redact(uri)}: its port {shown_port!r} is not a "
            "number from 1 to 65535"
        )


def _bad_port(uri: str) -> str | None:
    """The URI's port as written when it is not a number from 1 to 65535, else None.

    The host is what follows the userinfo's *last* "@", as the database drivers and SQLAlchemy
    read it, so a password holding ":" or "/" is never taken for a port.
    """
    rest = uri.partition("://")[2]
    if not rest:
        return None
    userinfo_and_host = rest.split("?", 1)[0].split("#", 1)[0]
    host = userinfo_and_host.rpartition("@")[2].partition("/")[0]
    if host.startswith("["):  # [ipv6]:port
        host = host.partition("]")[2]
    if ":" not in host:
        return None
    raw = host.rpartition(":")[2]
    if raw.isdigit() and 1 <= int(raw) <= 65535:
        return None
    return raw


def _password_has_at(uri: str) -> bool:
    """Whether the URI's password (userinfo up to its last "@", after the first ":") holds an
    unescaped "@". A user name may (``user@server`` on some clouds): SQLAlchemy reads that."""
    netloc = uri.partition("://")[2].partition("/")[0]
    userinfo = netloc.rpartition("@")[0]
    return "@" in userinfo.partition(":")[2]


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
    at_in_password = InputError(
        f"Cannot use the tracking URI {shown}: its password holds an '@'; write it "
        "percent-encoded as %40 (SQLAlchemy, which MLflow hands the URI, ends the password at "
        "its first '@' and would take the rest of it for the host name)"
    )
    try:
        url = make_url(uri)
        dialect = url.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:  # malformed, unknown driver
        if _password_has_at(uri):  # the error would quote the password's tail as a port
            raise at_in_password from None
        raise InputError(f"Cannot use the tracking URI {shown}: {_error_message(exc)}") from None
    if "@" in (url.host or ""):
        # The password's tail as the host name: never connect to it, never print it.
        raise at_in_password
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


def ensure_reachable(client: MlflowClient, timeout: float = 10.0) -> None:
    """Fail fast, with one clear line, when an HTTP tracking server cannot be reached at all.

    MLflow's client retries a refused connection with backoff for minutes before giving up.
    This is one probe, not a retry layer: any HTTP answer (even 401/404) counts as reachable,
    and TLS trouble is left to MLflow's own settings.
    """
    uri = str(client.tracking_uri or "")
    if not uri.startswith(("http://", "https://")) or uri in _REACHABLE:
        return
    import requests
    from mlflow.environment_variables import (
        MLFLOW_TRACKING_INSECURE_TLS,
        MLFLOW_TRACKING_SERVER_CERT_PATH,
    )

    verify: bool | str = not MLFLOW_TRACKING_INSECURE_TLS.get()
    if verify and MLFLOW_TRACKING_SERVER_CERT_PATH.get():
        verify = str(MLFLOW_TRACKING_SERVER_CERT_PATH.get())
    try:
        requests.get(uri.rstrip("/") + "/health", timeout=timeout, verify=verify)
    except requests.exceptions.SSLError:
        return
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        reason = type(exc).__name__
        inner = getattr(exc, "args", None)
        if inner and "refused" in str(inner[0]).lower():
            reason = "connection refused"
        raise ServerError(
            f"Cannot reach the tracking server at {one_line(uri)} ({reason})"
        ) from None
    _REACHABLE.add(uri)


#: Servers that answered once in this process: probed once, not before every call.
_REACHABLE: set[str] = set()


@contextlib.contextmanager
def default_tracking_uri(client: MlflowClient) -> Iterator[None]:
    """Point MLflow's default tracking URI at ``client``'s store for the duration.

    MLflow's SQL registry resolves a ``models:/m-...`` source through ``MlflowClient()`` (the
    *default* tracking URI), so registering against a store given by ``--tracking-uri`` would
    look the LoggedModel up in the wrong store.
    """
    before = mlflow.get_tracking_uri()
    target = str(client.tracking_uri)
    if before == target:
        yield
        return
    mlflow.set_tracking_uri(target)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)
