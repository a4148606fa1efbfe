"""What the Spark, xgboost and lightgbm tests need: the engine, or a visible reason it is absent.

Locally a missing engine (pyspark, Java, xgboost, lightgbm) skips its tests with the reason; under
``CI=true`` it fails them, so CI can never go green without having run them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _absent(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def java_missing() -> str | None:
    """Why Spark cannot start here, or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed: pip install -e '.[test]'"
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))) and not (
        shutil.which("java")
    ):
        return "Java is not installed (apt-get install openjdk-17-jre-headless; .ci/run does)"
    return None


def require(module: str) -> Any:
    """Import ``module`` or skip (fail under CI) saying it is missing."""
    if importlib.util.find_spec(module) is None:
        _absent(f"{module} is not installed: pip install -e '.[test]'")
    return importlib.import_module(module)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[2] SparkSession for the test session, with small memory settings."""
    reason = java_missing()
    if reason:
        _absent(reason)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("mlflow-debt-tests")
        .config("spark.driver.memory", "768m")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
