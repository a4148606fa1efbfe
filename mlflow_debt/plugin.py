"""The entry point MLflow loads in every process that imports it.

MLflow instantiates :class:`DebtRunContextProvider` while ``import mlflow`` runs (the
``mlflow.run_context_provider`` entry-point group). We use that moment to install the sklearn hook
(:mod:`mlflow_debt.capture.hook`), which records features at fit time: the provider's own tags
reach only runs made by ``mlflow.start_run()``, not those made by ``mlflow run``.

A guest in every ``import mlflow`` (the tracking server's workers too): nothing heavy is imported,
nothing is read or written, and no exception escapes.
"""

from __future__ import annotations

import warnings

try:
    from mlflow.tracking.context.abstract_context import RunContextProvider
except Exception:  # pragma: no cover - a broken mlflow install must not break more
    RunContextProvider = object  # type: ignore[assignment,misc]


class DebtRunContextProvider(RunContextProvider):
    """Installs feature capture when MLflow loads its plugins; adds no tags of its own."""

    def __init__(self) -> None:
        try:
            from mlflow_debt.capture import hook as sklearn_hook

            if not sklearn_hook.disabled():
                sklearn_hook.install()
        except Exception as exc:  # pragma: no cover - defensive
            warnings.warn(f"mlflow-debt is disabled: {exc}", stacklevel=2)

    def in_context(self) -> bool:
        return False

    def tags(self) -> dict[str, str]:
        return {}
