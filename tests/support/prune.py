"""Factories for prune tests: real registered models whose versions carry real metrics.

Imported by the prune/retention test modules (pytest puts ``tests/`` on ``sys.path``). Versions
are made with ``MlflowClient`` calls (fast, but the same entities ``log_model`` makes): a run per
version, and either

* ``where="run"``: the metric on the source run, version source = a run artifact path, or
* ``where="model"``: an MLflow 3 LoggedModel carrying the metric, version source
  ``models:/m-...`` (what ``mlflow.<flavor>.log_model(registered_model_name=...)`` registers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient


@dataclass
class Made:
    name: str
    #: version number -> the run id behind it
    runs: dict[int, str] = field(default_factory=dict)
    #: version number -> LoggedModel id (``where="model"`` only)
    model_ids: dict[int, str] = field(default_factory=dict)
    sources: dict[int, str] = field(default_factory=dict)


def experiment_id(client: MlflowClient, name: str = "training") -> str:
    exp = client.get_experiment_by_name(name)
    return exp.experiment_id if exp else client.create_experiment(name)


def make_model(
    client: MlflowClient,
    name: str,
    values: Sequence[float | None],
    *,
    metric: str = "accuracy",
    where: str = "run",
    tags: dict[str, str] | None = None,
    version_tags: dict[int, dict[str, str]] | None = None,
    descriptions: dict[int, str] | None = None,
    experiment: str = "training",
) -> Made:
    """Register ``name`` with one version per value (version i has ``values[i-1]``; None: none).

    ``where`` is "run", "model" (LoggedModel) or "both" (the value on the LoggedModel, a different
    later one on the run: the LoggedModel's must win).
    """
    exp_id = experiment_id(client, experiment)
    try:
        client.create_registered_model(name, tags=tags)
    except MlflowException:  # it exists
        if tags:
            for k, v in tags.items():
                client.set_registered_model_tag(name, k, v)
    made = Made(name)
    for i, value in enumerate(values, start=1):
        run = client.create_run(exp_id, run_name=f"{name}-{i}")
        run_id = run.info.run_id
        vtags = (version_tags or {}).get(i)
        desc = (descriptions or {}).get(i)
        if where == "run":
            if value is not None:
                client.log_batch(run_id, metrics=[Metric(metric, value, 0, 0)], synchronous=True)
            source = f"{run.info.artifact_uri}/model"
            mv = client.create_model_version(
                name, source, run_id=run_id, tags=vtags, description=desc, await_creation_for=0
            )
        else:
            lm = client.create_logged_model(exp_id, name="model", source_run_id=run_id)
            if value is not None:
                client.log_metric(run_id, metric, value, model_id=lm.model_id)
            if where == "both":
                # The run's latest value differs (later step): the LoggedModel's must still win.
                client.log_metric(run_id, metric, -1.0, step=5)
            source = f"models:/{lm.model_id}"
            mv = client.create_model_version(
                name,
                source,
                run_id=run_id,
                tags=vtags,
                description=desc,
                model_id=lm.model_id,
                await_creation_for=0,
            )
            made.model_ids[int(mv.version)] = lm.model_id
        client.set_terminated(run_id)
        assert int(mv.version) == i or made.runs, "fixtures expect fresh models"
        made.runs[int(mv.version)] = run_id
        made.sources[int(mv.version)] = mv.source
    return made


def live_versions(client: MlflowClient, name: str) -> list[int]:
    """The live version numbers of ``name``, highest first."""
    quoted = f"'{name}'" if "'" not in name else f'"{name}"'
    found = client.search_model_versions(f"name = {quoted}")
    return sorted((int(v.version) for v in found), reverse=True)


@pytest.fixture
def mc(tracking_uri: str) -> MlflowClient:
    """A client on the test's store (conftest's ``tracking_uri``: SQLite, or a server backend)."""
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def fail_result_write(mocker, exc: BaseException) -> None:
    """Make the prune's result write (the tags ``mlflow_debt.result.*``) raise ``exc``: a prune
    that stops after deleting, before recording its outcome (fault injection only)."""
    from mlflow_debt.prune import audit, history

    real = audit.write_record

    def write(client, run_id, prefix, payload):
        if prefix == history.RESULT_TAG:
            raise exc
        return real(client, run_id, prefix, payload)

    mocker.patch.object(audit, "write_record", side_effect=write)


def make_legacy(client: MlflowClient, prune_id: str) -> None:
    """Turn a prune recorded in run tags into one recorded as audit schema 1 did it: the
    artifacts ``prune/plan.json`` and ``prune/result.json`` (where the experiment puts them)."""
    from mlflow_debt.prune import history

    tags = client.get_run(prune_id).data.tags
    plan = history.decode_parts(history.PLAN_TAG, tags)
    result = history.decode_parts(history.RESULT_TAG, tags)
    assert plan is not None
    doc = {"schema": 1, "prune_id": prune_id, "started": plan["started"]}
    client.log_dict(prune_id, {**doc, "records": plan["records"]}, history.PLAN_ARTIFACT)
    if result is not None:
        records = [
            {**r, "state": s, "detail": d}
            for r, (s, d) in zip(plan["records"], result["states"], strict=True)
        ]
        client.log_dict(prune_id, {**doc, "records": records}, history.RESULT_ARTIFACT)
    for key in tags:
        if key == history.SCHEMA_TAG or key.startswith((history.PLAN_TAG, history.RESULT_TAG)):
            client.delete_tag(prune_id, key)
