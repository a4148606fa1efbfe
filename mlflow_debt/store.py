"""The one module that talks to MLflow: clients, paged reads, batched look-ups, error mapping.

Everything here uses MLflow's public client API only (``MlflowClient``), so it works the same on the
embedded SQLite default and on a shared ``mlflow server``. Every paged search goes through
:func:`paged`; every look-up of runs or LoggedModels by id through one batched ``... IN (...)``
search (:func:`runs_by_ids`, :func:`logged_models_by_ids`); page and batch sizes are defined here
once. Nothing here issues one call per run.

"Not found" is decided by MLflow's error codes only (:data:`NOT_FOUND_CODES`), never by the text
of an exception: a 500 or a 403 is a server error (exit 3) whatever its message says.

Why one module of ~700 lines: it is the seam the rest of the package is tested against (faults
are injected here, and a grep for ``page_token`` must find only this
file). Its sections (clients and store checks, error mapping, paging, by-id batches, registry
readers, writes) are small and share the error mapping; split it into a ``store/`` package
when a section outgrows that.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import mlflow
from mlflow.entities import Metric, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_debt.errors import InputError, MlflowDebtError, NotFoundError, ServerError
from mlflow_debt.output import terminal_safe
from mlflow_debt.redact import redact

if TYPE_CHECKING:
    from mlflow.entities import Experiment, LoggedModel, Run
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel
    from mlflow.store.entities.paged_list import PagedList

T = TypeVar("T")
R = TypeVar("R")

#: MLflow's maximum page size for ``search_runs``.
RUNS_PAGE = 50_000
#: ``search_runs`` pages when streaming many runs: big enough that paging costs little (measured
#: on 20,000 runs: 5,000 cost ~8% more time than one page, 10,000 nothing measurable), small
#: enough that a page of Run objects does not set peak memory (one 20,000-run page: ~1.2 GiB).
STREAM_RUNS_PAGE = 10_000
#: ``search_model_versions`` pages (MLflow caps a page at 10,000 on most stores).
VERSIONS_PAGE = 10_000
#: MLflow's maximum page for ``search_registered_models``.
MODELS_PAGE = 1_000
#: MLflow's maximum page for ``search_experiments``.
EXPERIMENTS_PAGE = 1_000
#: MLflow's maximum page for ``search_logged_models``.
LOGGED_MODELS_PAGE = 1_000
#: Ids per batched ``... IN (...)`` look-up.
ID_BATCH = 500
#: Default thread-pool size against an HTTP server; 1 (sequential) for local stores.
HTTP_WORKERS = 8

#: MLflow's error codes that mean "no such thing" (the only ones that do).
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})
_INPUT_CODES = NOT_FOUND_CODES | {"INVALID_PARAMETER_VALUE", "BAD_REQUEST"}


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
#: urllib3's words when every retry got an HTTP error status (a 500/503 is not "unreachable").
_STATUS_RETRIES = re.compile(r"too many (\d{3}) error responses")


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


def default_workers(client: MlflowClient) -> int:
    """How many calls to have in flight: a pool for HTTP servers, sequential for local stores."""
    uri = str(client.tracking_uri or "")
    return HTTP_WORKERS if uri.startswith(("http://", "https://")) else 1


def pmap(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(x) for x in items]``, on ``workers`` threads when more than one; order kept."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)))
    try:
        return list(pool.map(fn, items))
    finally:
        # On an error or Ctrl-C, start nothing new (a plain `with` would run the whole queue).
        pool.shutdown(wait=True, cancel_futures=True)


def both(f: Callable[[], T], g: Callable[[], R]) -> tuple[T, R]:
    """``(f(), g())`` with ``g`` on a second thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        later = pool.submit(g)
        return f(), later.result()


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def batch_size(n: int, workers: int) -> int:
    """Ids per batched look-up of ``n`` ids on ``workers`` threads."""
    # Sequentially, fewer and larger calls are cheapest; with a pool, split the work so every
    # worker gets a share.
    if workers <= 1:
        return ID_BATCH
    return max(50, min(ID_BATCH, math.ceil(n / (2 * workers))))


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


# --------------------------------------------------------------------------------------------
# Search filters


def quote(value: str) -> str:
    """``value`` as a string literal in an MLflow search filter.

    MLflow's filter grammar has no escape: a value holding both ``'`` and ``"`` cannot be
    written, which is an :class:`InputError` naming it.
    """
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise InputError(f"Names containing both ' and \" are not supported: {value!r}")


def quotable(value: str) -> bool:
    """Whether :func:`quote` can write ``value``."""
    return "'" not in value or '"' not in value


def in_filter(field: str, ids: Iterable[str]) -> str:
    """``field IN ('a', 'b', ...)``."""
    return f"{field} IN (" + ", ".join(quote(i) for i in ids) + ")"


# --------------------------------------------------------------------------------------------
# Paged reads


def paged(search: Callable[[str | None], PagedList[T]], action: str) -> Iterator[T]:
    """Every item of a paged MLflow search: ``search(page_token)`` until the token runs out.

    The one pagination loop of the package; each page's call is wrapped in
    :func:`mlflow_errors` with ``action``.
    """
    token: str | None = None
    while True:
        with mlflow_errors(action):
            page = search(token)
        yield from page
        token = page.token
        if not token:
            return


def get_run(client: MlflowClient, run_id: str) -> Run:
    """The run ``run_id``; an unknown id is a :class:`NotFoundError` naming it."""
    try:
        with mlflow_errors(f"Reading run {run_id!r}"):
            return client.get_run(run_id)
    except InputError:  # NotFoundError included: MLflow answers either for a malformed id
        raise NotFoundError(f"Run {run_id!r} does not exist") from None


def iter_experiments(
    client: MlflowClient, view_type: int = ViewType.ACTIVE_ONLY
) -> Iterator[Experiment]:
    """Every experiment (active ones by default; ``ViewType.ALL`` for deleted ones too)."""
    return paged(
        lambda token: client.search_experiments(
            view_type=view_type, max_results=EXPERIMENTS_PAGE, page_token=token
        ),
        "Listing experiments",
    )


def experiments(client: MlflowClient, names: Iterable[str] = ()) -> list[Experiment]:
    """The named experiments (all active ones when ``names`` is empty); unknown names fail."""
    names = list(names)
    if not names:
        return list(iter_experiments(client))
    result = []
    for name in names:
        with mlflow_errors("Listing experiments"):
            exp = client.get_experiment_by_name(name)
        if exp is None:
            raise NotFoundError(f"Experiment {name!r} does not exist")
        result.append(exp)
    return result


def experiment_names(client: MlflowClient) -> dict[str, str]:
    """id -> name of every experiment, deleted ones included (a version's run may live in one)."""
    return {e.experiment_id: e.name for e in iter_experiments(client, ViewType.ALL)}


def experiment_ids(client: MlflowClient) -> list[str]:
    """Every experiment id, deleted ones included."""
    return list(experiment_names(client))


def iter_runs(
    client: MlflowClient,
    experiment_ids: Sequence[str],
    filter_string: str = "",
    page_size: int = RUNS_PAGE,
    *,
    order_by: Sequence[str] | None = None,
    view_type: int = ViewType.ACTIVE_ONLY,
    action: str = "Reading runs",
) -> Iterator[Run]:
    """Every run of ``experiment_ids`` matching ``filter_string`` (active ones), page by page."""
    if not experiment_ids:
        return iter(())
    ids = list(experiment_ids)
    return paged(
        lambda token: client.search_runs(
            ids,
            filter_string=filter_string,
            run_view_type=view_type,
            max_results=page_size,
            order_by=list(order_by) if order_by else None,
            page_token=token,
        ),
        action,
    )


def runs_by_ids(
    client: MlflowClient,
    experiment_ids: Sequence[str],
    run_ids: Iterable[str],
    *,
    view_type: int = ViewType.ACTIVE_ONLY,
    action: str = "Reading runs",
) -> list[Run]:
    """The runs ``run_ids`` of ``experiment_ids``: batched ``attributes.run_id IN (...)`` searches.

    Pass at most :data:`ID_BATCH` ids for one search (callers running batches side by side
    chunk with :func:`chunks`); more are split here.
    """
    ids = sorted(set(run_ids))
    found: list[Run] = []
    if not ids or not experiment_ids:
        return found
    for batch in chunks(ids, ID_BATCH):
        found.extend(
            iter_runs(
                client,
                experiment_ids,
                in_filter("attributes.run_id", batch),
                page_size=len(batch),
                view_type=view_type,
                action=action,
            )
        )
    return found


def iter_model_versions(
    client: MlflowClient, filter_string: str = "", page_size: int = VERSIONS_PAGE
) -> Iterator[ModelVersion]:
    """Every live model version matching ``filter_string``, page by page."""
    return paged(
        lambda token: client.search_model_versions(
            filter_string or None, max_results=page_size, page_token=token
        ),
        "Reading model versions",
    )


def versions_of(client: MlflowClient, name: str) -> list[ModelVersion]:
    """Every live version of the registered model ``name``."""
    return list(iter_model_versions(client, f"name = {quote(name)}"))


def iter_registered_models(client: MlflowClient) -> Iterator[RegisteredModel]:
    """Every registered model, page by page."""
    return paged(
        lambda token: client.search_registered_models(max_results=MODELS_PAGE, page_token=token),
        "Listing registered models",
    )


def registered_models(
    client: MlflowClient, names: Sequence[str] = (), workers: int = 1
) -> list[RegisteredModel]:
    """The named registered models (all of them when ``names`` is empty); unknown names fail."""
    if not names:
        return list(iter_registered_models(client))

    def get(name: str) -> RegisteredModel:
        try:
            with mlflow_errors(f'Reading registered model "{terminal_safe(name)}"'):
                return client.get_registered_model(name)
        except NotFoundError:
            raise NotFoundError(
                f'Registered model "{terminal_safe(name)}" does not exist'
            ) from None

    return pmap(get, list(dict.fromkeys(names)), workers)


def aliases(rm: RegisteredModel) -> dict[str, int]:
    """alias -> version of a registered model (the one way aliases are read).

    Versions read by ``search_model_versions`` carry no aliases; the registered model does
    (its ``aliases`` is a dict alias -> version, the version a string on some stores).
    """
    return {alias: int(version) for alias, version in (rm.aliases or {}).items()}


def aliases_by_version(rm: RegisteredModel) -> dict[int, list[str]]:
    """version -> its aliases, of a registered model."""
    out: dict[int, list[str]] = {}
    for alias, version in aliases(rm).items():
        out.setdefault(version, []).append(alias)
    return out


def iter_logged_models(
    client: MlflowClient,
    experiment_ids: Sequence[str],
    filter_string: str | None = None,
    page_size: int = LOGGED_MODELS_PAGE,
) -> Iterator[LoggedModel]:
    """Every LoggedModel of ``experiment_ids``, page by page (none on an MLflow without them)."""
    search = getattr(client, "search_logged_models", None)
    if search is None or not experiment_ids:
        return iter(())
    ids = list(experiment_ids)
    return paged(
        lambda token: search(
            experiment_ids=ids,
            filter_string=filter_string,
            max_results=page_size,
            page_token=token,
        ),
        "Reading logged models",
    )


def logged_models_by_ids(
    client: MlflowClient, experiment_ids: Sequence[str], model_ids: Iterable[str]
) -> list[LoggedModel]:
    """The LoggedModels ``model_ids``: batched ``model_id IN (...)`` searches."""
    ids = sorted(set(model_ids))
    found: list[LoggedModel] = []
    for batch in chunks(ids, ID_BATCH):
        found.extend(
            iter_logged_models(
                client, experiment_ids, in_filter("model_id", batch), page_size=len(batch)
            )
        )
    return found


_MODEL_ID_SOURCE = re.compile(r"^models:/(m-[0-9a-f]+)/?$")


def model_id_of(mv: ModelVersion) -> str | None:
    """The LoggedModel behind a version: its ``model_id``, else parsed from ``models:/m-...``."""
    if getattr(mv, "model_id", None):
        return str(mv.model_id)
    m = _MODEL_ID_SOURCE.match(mv.source or "")
    return m.group(1) if m else None


def latest_values(metrics: Iterable[Metric]) -> dict[str, float]:
    """key -> latest value (MLflow's rule: highest step, then newest, then largest)."""
    best: dict[str, tuple[int, int, float]] = {}
    for m in metrics:
        cand = (int(m.step or 0), int(m.timestamp or 0), float(m.value))
        if m.key not in best or cand > best[m.key]:
            best[m.key] = cand
    return {k: v[2] for k, v in best.items()}


# --------------------------------------------------------------------------------------------
# Writes


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


def main_thread_run_id() -> str | None:
    """The fluent run active on the main thread, for a fit made in another thread.

    MLflow keeps the active run per thread, so ``mlflow.active_run()`` is None in a thread started
    inside ``with mlflow.start_run():``. MLflow has no public call for the main thread's run; this
    reads the fluent run stack (the one non-public read in this module), guarded: None if MLflow
    changes it.
    """
    stacks = _run_stacks()
    stack = (stacks or {}).get(threading.main_thread().ident or 0) or []
    return stack[-1].info.run_id if stack else None


def _run_stacks() -> dict[int, Any] | None:
    """Each thread's fluent run stack (the one non-public read in this module), None if MLflow
    changed it."""
    try:
        from mlflow.tracking import fluent

        return dict(fluent._active_run_stack.get_all_thread_values())
    except Exception:  # noqa: BLE001  MLflow's private run stack: any change means unknown
        return None


def open_run_ids() -> set[str] | None:
    """The fluent runs active in any thread of this process, and ``MLFLOW_RUN_ID``'s; None if
    unknown (the same guarded read of MLflow's run stack as :func:`main_thread_run_id`)."""
    stacks = _run_stacks()
    if stacks is None:
        return None
    try:
        ids = {str(r.info.run_id) for stack in stacks.values() for r in (stack or [])}
    except Exception:  # noqa: BLE001  MLflow's private run objects: any change means unknown
        return None
    from mlflow.environment_variables import MLFLOW_RUN_ID

    if MLFLOW_RUN_ID.get():
        ids.add(str(MLFLOW_RUN_ID.get()))
    return ids


def active_run_id() -> str | None:
    """The run training code is logging to: the active fluent run, else ``MLFLOW_RUN_ID``.

    Under ``mlflow run`` the parent process creates the run and the child resumes it through
    ``MLFLOW_RUN_ID``; a script that never calls ``start_run`` still trains "in" that run.
    """
    run = mlflow.active_run()
    if run is not None:
        return str(run.info.run_id)
    from mlflow.environment_variables import MLFLOW_RUN_ID

    return MLFLOW_RUN_ID.get() or None
