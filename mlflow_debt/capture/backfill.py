"""Backfill: feature tags for runs recorded before mlflow-debt was installed.

What MLflow already knows about a run's inputs, in order of preference:

1. the schema of its training dataset input (``mlflow.log_input``, sklearn autolog): column names
   and types;
2. the input signature of a model logged from the run (a LoggedModel whose ``source_run_id`` is
   the run, read with ``mlflow.models.get_model_info``): column names and types.

Fingerprints are unknown (``?``) for both. Runs that already carry feature tags are skipped, so
running it twice changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_debt import store, tags
from mlflow_debt.capture import profile as capture
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


def _logged_models_by_run(client: MlflowClient, experiment_ids: list[str]) -> dict[str, list[str]]:
    """source run id -> artifact locations of the LoggedModels made from it (paged, one pass)."""
    by_run: dict[str, list[str]] = {}
    for model in store.iter_logged_models(client, experiment_ids):
        if model.source_run_id:
            by_run.setdefault(model.source_run_id, []).append(model.artifact_location)
    return by_run


def _from_signature(client: MlflowClient, locations: Iterable[str]) -> list[FeatureRecord] | None:
    import tempfile

    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    for location in locations:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = download_artifacts(
                    artifact_uri=f"{location.rstrip('/')}/MLmodel",
                    dst_path=tmp,
                    tracking_uri=str(client.tracking_uri),
                )
                signature = Model.load(path).signature
        except Exception:  # a model whose artifacts are gone tells us nothing
            continue
        if signature is None or signature.inputs is None:
            continue
        records = records_from_colspec(json.dumps(signature.inputs.to_dict()))
        if records:
            return records
    return None


def backfill(
    client: MlflowClient, experiment_names: Iterable[str] = (), *, dry_run: bool = False
) -> BackfillResult:
    """Tag every untagged run of the experiments with what MLflow knows of its inputs."""
    exps = store.experiments(client, experiment_names)
    ids = [e.experiment_id for e in exps]
    result = BackfillResult()
    pending: list[Run] = []
    for run in store.iter_runs(client, ids):
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
    models = _logged_models_by_run(client, ids) if pending else {}
    for run in pending:
        records = _from_signature(client, models.get(run.info.run_id, []))
        if records is None:
            result.untaggable.append(run.info.run_id)
            continue
        if not dry_run:
            store.set_run_tags(client, run.info.run_id, tags.encode(records, SOURCE_SIGNATURE))
        result.tagged_from_signature.append(run.info.run_id)
    return result
