"""Backfill: feature tags for runs recorded before mlflow-debt was installed.

What MLflow already knows about a run's inputs, in order of preference:

1. the schema of its training dataset input (``mlflow.log_input``, sklearn autolog): column names
   and types;
2. the input signature of a model logged from the run (a LoggedModel whose ``source_run_id`` is
   the run, read with ``mlflow.models.get_model_info``): column names and types.

Fingerprints are unknown (``?``) for both. Runs that already carry feature tags are skipped, so
running it twice changes nothing. mlflow-debt's own runs (the prune audit's) are not training
runs: they are neither tagged nor counted.

LoggedModels get the same: a LoggedModel with an input signature and no feature tags of its own is
tagged from its signature (``set_logged_model_tags``, source ``backfill:signature``), since a
version reads its LoggedModel's features before its run's. LoggedModels that carry feature tags
are left alone, so that is idempotent too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_debt import store, tags
from mlflow_debt.capture import profile as capture
from mlflow_debt.prune.history import OP_TAG
from mlflow_debt.tags import FeatureRecord

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

SOURCE_DATASET = "backfill:dataset"
SOURCE_SIGNATURE = "backfill:signature"


@dataclass
class BackfillResult:
    tagged_from_dataset: list[str] = field(default_factory=list)
    tagged_from_signature: list[str] = field(default_factory=list)
    untaggable: list[str] = field(default_factory=list)
    already_tagged: int = 0
    #: LoggedModels tagged from their own signature, and those without one (ids).
    models_from_signature: list[str] = field(default_factory=list)
    models_untaggable: list[str] = field(default_factory=list)
    models_already_tagged: int = 0

    @property
    def tagged(self) -> int:
        return len(self.tagged_from_dataset) + len(self.tagged_from_signature)


def records_from_colspec(schema_json: str) -> list[FeatureRecord] | None:
    """Records from a dataset/signature schema (``{"mlflow_colspec": [...]}`` or a bare list)."""
    try:
        spec: Any = json.loads(schema_json)
    except (TypeError, ValueError):
        return None
    if isinstance(spec, dict):
        spec = spec.get("mlflow_colspec")
    if not isinstance(spec, list):
        return None
    cols = [c for c in spec if isinstance(c, dict) and c.get("name") is not None]
    if not cols:
        return None
    return capture.describe_names(
        [c["name"] for c in cols], [str(c.get("type", tags.UNKNOWN)) for c in cols]
    )


def _from_dataset(run: Run) -> list[FeatureRecord] | None:
    inputs = getattr(run, "inputs", None)
    dataset_inputs = list(getattr(inputs, "dataset_inputs", None) or [])
    # Prefer the input tagged as the training set; else the first one with a usable schema.
    dataset_inputs.sort(
        key=lambda d: 0 if any(t.value in {"train", "training"} for t in d.tags) else 1
    )
    for d in dataset_inputs:
        records = records_from_colspec(d.dataset.schema or "")
        if records:
            return records
    return None


def _signature_records(client: MlflowClient, location: str) -> list[FeatureRecord] | None:
    """Records from the input signature of the model at ``location``; None without one."""
    import tempfile

    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    if not location:
        return None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = download_artifacts(
                artifact_uri=f"{location.rstrip('/')}/MLmodel",
                dst_path=tmp,
                tracking_uri=str(client.tracking_uri),
            )
            signature = Model.load(path).signature
    except Exception:  # noqa: BLE001  a model whose artifacts are gone tells us nothing
        return None
    if signature is None or signature.inputs is None:
        return None
    return records_from_colspec(json.dumps(signature.inputs.to_dict()))


def _from_signature(
    client: MlflowClient, models: Iterable[Any], known: dict[str, list[FeatureRecord] | None]
) -> list[FeatureRecord] | None:
    """The first usable signature among a run's LoggedModels (``known``: already read ones)."""
    for model in models:
        if model.model_id not in known:
            known[model.model_id] = _signature_records(client, str(model.artifact_location or ""))
        if known[model.model_id]:
            return known[model.model_id]
    return None


def _backfill_models(
    client: MlflowClient, models: list[Any], result: BackfillResult, dry_run: bool
) -> dict[str, list[FeatureRecord] | None]:
    """Tag each LoggedModel without feature tags from its signature; the signatures read."""
    known: dict[str, list[FeatureRecord] | None] = {}
    for model in models:
        if tags.has_features(model.tags or {}):
            result.models_already_tagged += 1
            continue
        records = _from_signature(client, [model], known)
        if records is None:
            result.models_untaggable.append(model.model_id)
            continue
        if not dry_run:
            store.set_logged_model_tags(
                client, model.model_id, tags.encode(records, SOURCE_SIGNATURE)
            )
        result.models_from_signature.append(model.model_id)
    return known


def backfill(
    client: MlflowClient, experiment_names: Iterable[str] = (), *, dry_run: bool = False
) -> BackfillResult:
    """Tag every untagged run (and LoggedModel) of the experiments with what MLflow knows."""
    exps = store.experiments(client, experiment_names)
    ids = [e.experiment_id for e in exps]
    result = BackfillResult()
    models = list(store.iter_logged_models(client, ids))
    known = _backfill_models(client, models, result, dry_run)
    by_run: dict[str, list[Any]] = {}
    for model in models:
        if model.source_run_id:
            by_run.setdefault(model.source_run_id, []).append(model)
    pending: list[Run] = []
    for run in store.iter_runs(client, ids):
        if OP_TAG in run.data.tags:
            continue  # mlflow-debt's own record (a prune's audit run), not a training run
        if tags.has_features(run.data.tags):
            result.already_tagged += 1
            continue
        records = _from_dataset(run)
        if records is None:
            pending.append(run)
            continue
        if not dry_run:
            store.set_run_tags(client, run.info.run_id, tags.encode(records, SOURCE_DATASET))
        result.tagged_from_dataset.append(run.info.run_id)
    for run in pending:
        records = _from_signature(client, by_run.get(run.info.run_id, []), known)
        if records is None:
            result.untaggable.append(run.info.run_id)
            continue
        if not dry_run:
            store.set_run_tags(client, run.info.run_id, tags.encode(records, SOURCE_SIGNATURE))
        result.tagged_from_signature.append(run.info.run_id)
    return result
