"""Shared fixtures: every test gets its own real MLflow store.

The ``tracking_uri`` fixture is the one place a test's store comes from: a fresh SQLite file in
``tmp_path`` (MLflow's embedded default). Tests that need a store request ``tracking_uri`` or
``client``; the autouse fixture makes sure nothing ever writes outside ``tmp_path``.
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


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch) -> Iterator[None]:
    """Run each test in its own directory with no MLflow state leaking in or out."""
    monkeypatch.chdir(tmp_path)
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


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch, _empty_store) -> Iterator[str]:
    """A real, empty MLflow store (SQLite in ``tmp_path``), set as the process default."""
    shutil.copyfile(_empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
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
