"""Policies stored as registered-model tags: set, unset, read."""

from __future__ import annotations

from collections.abc import Sequence

from mlflow.tracking import MlflowClient

from mlflow_debt import store
from mlflow_debt.errors import InputError
from mlflow_debt.output import terminal_safe
from mlflow_debt.prune import plan as retention
from mlflow_debt.prune.plan import Policy, PolicyError


def set_policy(client: MlflowClient, name: str, policy: Policy, *, metric_given: bool) -> None:
    """Store ``policy`` as ``name``'s tags (the metric tag only when a metric was given)."""
    store.ensure_reachable(client)
    store.registered_models(client, [name])
    tags = retention.policy_tags(policy)
    if not metric_given:
        tags.pop(retention.METRIC_TAG)
    with store.mlflow_errors(f'Tagging registered model "{terminal_safe(name)}"'):
        for key, value in tags.items():
            client.set_registered_model_tag(name, key, value)


def unset_policy(client: MlflowClient, name: str) -> None:
    store.ensure_reachable(client)
    rm = store.registered_models(client, [name])[0]
    with store.mlflow_errors(f'Untagging registered model "{terminal_safe(name)}"'):
        for key in (
            retention.MAX_VERSIONS_TAG,
            retention.METRIC_TAG,
            retention.LOWER_IS_BETTER_TAG,
        ):
            if key in (rm.tags or {}):
                client.delete_registered_model_tag(name, key)


def read_policies(client: MlflowClient, names: Sequence[str] = ()) -> dict[str, Policy | None]:
    """Each model's own policy from its tags (None: no limit). Malformed tags raise InputError."""
    store.ensure_reachable(client)
    models = store.registered_models(client, names)
    out: dict[str, Policy | None] = {}
    for rm in sorted(models, key=lambda m: m.name):
        try:
            out[rm.name] = retention.policy_from_tags(rm.name, dict(rm.tags or {}))
        except PolicyError as exc:
            raise InputError(terminal_safe(str(exc))) from None
    return out
