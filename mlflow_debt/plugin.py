"""The entry point MLflow loads in every process that imports it.

MLflow instantiates :class:`DebtRunContextProvider` while ``import mlflow`` runs (the
``mlflow.run_context_provider`` entry-point group). We use that moment to install the sklearn hook
(:mod:`mlflow_debt.capture.hook`), which records features at fit time: the provider's own tags
reach only runs made by ``mlflow.start_run()``, not those made by ``mlflow run``.

A guest in every ``import mlflow`` (the tracking server's workers too): nothing heavy is imported,
nothing is read or written, and no exception escapes. This module does not import mlflow:
``import mlflow_debt.plugin`` before ``import mlflow`` must not start a circular import that
leaves capture off. MLflow's registry only calls ``in_context()`` and ``tags()`` on a provider, so
the class needs no MLflow base class; it is registered as a virtual subclass of MLflow's
``RunContextProvider`` when MLflow instantiates it (by then ``mlflow.tracking`` is importable).
"""

from __future__ import annotations

import warnings


class DebtRunContextProvider:
    """Installs feature capture when MLflow loads its plugins; adds no tags of its own."""

    def __init__(self) -> None:
        try:
            from mlflow_debt.capture import hook as sklearn_hook

            if not sklearn_hook.disabled():
                sklearn_hook.install()
        except Exception as exc:  # noqa: BLE001  # pragma: no cover - never fails the user's mlflow
            try:
                from mlflow_debt.errors import MlflowDebtWarning

                warnings.warn(f"mlflow-debt is disabled: {exc}", MlflowDebtWarning, stacklevel=2)
            except Exception:  # noqa: BLE001  the plugin never fails the user's import of mlflow
                pass
        try:  # isinstance(provider, RunContextProvider) holds, as for a subclass
            from mlflow.tracking.context.abstract_context import RunContextProvider

            RunContextProvider.register(DebtRunContextProvider)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001  the plugin never fails the user's import of mlflow
            pass

    def in_context(self) -> bool:
        return False

    def tags(self) -> dict[str, str]:
        return {}
