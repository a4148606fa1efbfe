"""Shared fixtures: every test gets its own real MLflow store.

The ``tracking_uri`` fixture is the one place a test's store comes from: a fresh SQLite file in
``tmp_path`` (MLflow's embedded default). Tests that need a store request ``tracking_uri`` or
``client``; the autouse fixture makes sure nothing ever writes outside ``tmp_path``.

Backends: in the modules marked ``backends`` (``pytestmark = pytest.mark.backends``) every test
that uses the store runs three times: ``[sqlite]`` (the file store), ``[server]`` (a real ``mlflow
server`` over HTTP, on SQLite, marked ``server``) and ``[postgres]`` (the same on PostgreSQL, marked
``postgres``). The servers are started once per session and emptied before each test
(``tests/support/server.py``). A test that cannot run over HTTP is marked ``sqlite_only``.
PostgreSQL comes from ``MLFLOW_DEBT_TEST_POSTGRES_URI``
(``.ci/run`` sets it); without it the postgres tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# No telemetry, no network: set before mlflow is imported anywhere in the test session.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import mlflow
from mlflow.tracking import MlflowClient

# The shared fixtures and helpers (tests/support/) get pytest's assert rewriting, once for all.
pytest.register_assert_rewrite("support")
from support.server import (  # noqa: E402  rewritten: registered first
    MlflowServer,
    postgres_database,
    reset_store,
)

#: Fixture modules of tests/support/ whose fixtures every test module can request.
pytest_plugins = ["support.prune", "support.serve"]

#: Tests in ``backends`` modules that stay on SQLite, with why (their owners can remove them).
SQLITE_ONLY: set[str] = set()  # "test_module.py::test_name"


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("server", id="server", marks=[pytest.mark.server]),
    pytest.param("postgres", id="postgres", marks=[pytest.mark.server, pytest.mark.postgres]),
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    # ``mc`` (tests/support/prune.py) is a client on ``tracking_uri``.
    if "tracking_uri" not in names and "mc" not in names:
        return
    if not metafunc.definition.get_closest_marker("backends"):
        return
    if metafunc.definition.get_closest_marker("sqlite_only"):
        return
    if f"{Path(metafunc.module.__file__).name}::{metafunc.function.__name__}" in SQLITE_ONLY:
        return
    if "backend" not in names:
        names.append("backend")
    metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch) -> Iterator[None]:
    """Run each test in its own directory with no MLflow state leaking in or out."""
    monkeypatch.chdir(tmp_path)
    # mlflow.set_experiment() keeps the experiment in a module global (and MLFLOW_EXPERIMENT_ID):
    # a test that calls it must not send the next test's runs to an experiment of its store.
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("MLFLOW_DEBT_DISABLE", raising=False)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture(scope="session")
def _empty_store(tmp_path_factory) -> Path:
    """A migrated, empty SQLite store, made once: copying it beats re-running the migrations."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` (2 workers, SQLite store, proxied artifacts) for the session."""
    work = tmp_path_factory.mktemp("server")
    server = MlflowServer(f"sqlite:///{work}/mlflow.db", work).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A database of this test session's own on the PostgreSQL server named by the environment.

    Each session creates (and drops) a fresh database, so two test runs on one machine (a
    developer's and CI's, or pytest-xdist workers) never empty each other's store.
    """
    with postgres_database("mlflow_debt") as uri:
        yield uri


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory, postgres_uri: str) -> Iterator[MlflowServer]:
    """The same server on PostgreSQL, the production backend."""
    work = tmp_path_factory.mktemp("pgserver")
    server = MlflowServer(postgres_uri, work).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_server_url(mlflow_server: MlflowServer) -> str:
    """The session server's URL."""
    return mlflow_server.url


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Which store ``tracking_uri`` gives: "sqlite", "server" or "postgres"."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def tracking_uri(
    request: pytest.FixtureRequest, tmp_path, monkeypatch, _empty_store, backend: str
) -> Iterator[str]:
    """A real, empty MLflow store, set as the process default.

    SQLite in ``tmp_path`` by default; with ``backend`` "server"/"postgres" the shared session
    server's URL, emptied first.
    """
    if backend == "sqlite":
        shutil.copyfile(_empty_store, tmp_path / "mlflow.db")
        uri = f"sqlite:///{tmp_path}/mlflow.db"
    else:
        fixture = "mlflow_server" if backend == "server" else "postgres_server"
        server: MlflowServer = request.getfixturevalue(fixture)
        uri = server.url
        reset_store(MlflowClient(tracking_uri=uri, registry_uri=uri))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri("")
    mlflow.set_registry_uri("")


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    """A client on the test's store."""
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
