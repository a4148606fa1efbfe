"""mlflow-debt: pay down the hidden technical debt of ML systems recorded in MLflow.

This package is imported by every ``import mlflow`` (through its run-context-provider entry point),
so it imports nothing heavy here: the public API is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["FeatureRecord", "FeatureSet", "flush", "get_features", "log_features"]

if TYPE_CHECKING:
    from mlflow_debt.api import flush, get_features, log_features
    from mlflow_debt.tags import FeatureRecord, FeatureSet


def __getattr__(name: str) -> Any:
    if name in {"log_features", "get_features", "flush"}:
        from mlflow_debt import api

        return getattr(api, name)
    if name in {"FeatureRecord", "FeatureSet"}:
        from mlflow_debt import tags

        return getattr(tags, name)
    raise AttributeError(f"module 'mlflow_debt' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names and the lazily loaded public API (``dir()``, completion, ``help``)."""
    return sorted(set(globals()) | set(__all__))
