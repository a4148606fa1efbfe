"""The live read of ``consumers`` gives the answers of a plain full scan, on generated stores.

Hypothesis draws small stores: experiments whose names collide with models and consumer tags,
runs at tied start times, with mlflow-debt tags, Feast tags, both or none, consumer tags (blank
ones too), deleted runs, LoggedModels with and without features of their own, versions
registered from runs or from LoggedModels, deleted (retired) versions and aliases. Each is built
in a real SQLite store and read both ways (``support.full_scan`` is the reference).
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import mlflow
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from mlflow.tracking import MlflowClient

from mlflow_debt.consumers import read
from mlflow_debt.consumers.analysis import Declarations, Report
from mlflow_debt.consumers.read import build_report
from mlflow_debt.tags import FeatureRecord, encode

from support.full_scan import full_scan

NAMES = ["a", "b", "m0", "m1"]
FEATURES = ["x", "y", "z"]
FPS = ["num:+:mp1.0:s1.0:na0", "num:+:mp2.0:s1.0:na0", "num:+:mp1.0:s1.0:na0:pabc123", "?"]

run_spec = st.fixed_dictionaries(
    {
        "exp": st.integers(0, 2),
        "start": st.sampled_from([1_000, 2_000, 3_000, 4_000]),
        "family": st.sampled_from(["own", "own", "feast", "both", "none"]),
        "features": st.dictionaries(st.sampled_from(FEATURES), st.sampled_from(FPS), max_size=3),
        "consumer": st.sampled_from([None, None, "m0", "t1", "a", " ", "t2"]),
        "deleted": st.booleans(),
        # LoggedModels of the run: None, or whether it carries features of its own
        "logged": st.lists(st.booleans(), max_size=2),
    }
)
version_spec = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["m0", "m1"]),
        "run": st.integers(0, 7),
        "logged": st.integers(0, 1),  # which LoggedModel of the run, if it has one
        "use_model": st.booleans(),
        "delete": st.booleans(),
    }
)
store_spec = st.fixed_dictionaries(
    {
        "exps": st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True),
        "runs": st.lists(run_spec, max_size=8),
        "versions": st.lists(version_spec, max_size=5),
        "aliases": st.lists(
            st.tuples(st.sampled_from(["m0", "m1"]), st.integers(1, 3)), max_size=2
        ),
        "declared": st.none()
        | st.dictionaries(
            st.sampled_from(FEATURES),
            st.lists(st.sampled_from([*NAMES, "t1"]), max_size=2),
            max_size=2,
        ),
        "only": st.lists(st.sampled_from(FEATURES), max_size=1),
        "subset": st.booleans(),
    }
)


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "empty.db"
    uri = f"sqlite:///{path}"
    MlflowClient(uri, uri).search_experiments()  # runs the migrations once
    return path


def _tags(spec: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    records = [FeatureRecord(f, "float64", fp) for f, fp in spec["features"].items()]
    if spec["family"] in ("own", "both"):
        out.update(encode(records, "t"))
    if spec["family"] in ("feast", "both"):
        out["feast.feature_refs"] = ",".join(f"v:{f}" for f in spec["features"])
    if spec["consumer"] is not None:
        out["mlflow_debt.consumer"] = spec["consumer"]
    return out


def _build(client: MlflowClient, spec: dict[str, Any]) -> None:  # noqa: C901  one recipe
    exp_ids = [client.create_experiment(n) for n in spec["exps"]]
    runs: list[tuple[str, list[str]]] = []
    for r in spec["runs"]:
        exp = exp_ids[r["exp"] % len(exp_ids)]
        run = client.create_run(exp, start_time=r["start"], tags=_tags(r))
        rid = run.info.run_id
        models = []
        for own in r["logged"]:
            lm_tags = encode([FeatureRecord(f, "float64", FPS[0]) for f in r["features"]], "t")
            lm = client.create_logged_model(exp, source_run_id=rid, tags=lm_tags if own else {})
            models.append(lm.model_id)
        runs.append((rid, models))
    if not runs:
        return
    made: list[tuple[str, int, bool]] = []
    for v in spec["versions"]:
        rid, models = runs[v["run"] % len(runs)]
        try:
            client.get_registered_model(v["model"])
        except Exception:  # noqa: BLE001  not there yet
            client.create_registered_model(v["model"])
        model_id = models[v["logged"] % len(models)] if models and v["use_model"] else None
        source = f"models:/{model_id}" if model_id else f"runs:/{rid}/model"
        mv = client.create_model_version(v["model"], source, run_id=rid, model_id=model_id)
        if model_id:
            lm = client.get_logged_model(model_id)
            if "mlflow.modelVersions" not in lm.tags:  # what registering records
                client.set_logged_model_tags(
                    model_id, {"mlflow.modelVersions": f'[{{"name": "{v["model"]}"}}]'}
                )
        made.append((v["model"], int(mv.version), v["delete"]))
    for model, version, delete in made:
        if delete:
            client.delete_model_version(model, str(version))
    live = {(m, n) for m, n, d in made if not d}
    for model, version in spec["aliases"]:
        if (model, version) in live:
            client.set_registered_model_alias(model, "champion", str(version))
    for r, (rid, _models) in zip(spec["runs"], runs, strict=True):
        if r["deleted"]:
            client.delete_run(rid)


def _answer(report: Report) -> dict[str, Any]:
    out = asdict(report)
    out.pop("runs_read")  # what each read costs, not what it answers
    return out


@settings(
    max_examples=int(os.environ.get("LIVE_READ_EXAMPLES", "40")),
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=store_spec)
def test_the_live_read_answers_as_the_full_scan(
    spec: dict[str, Any], empty_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / f"store-{uuid.uuid4().hex}.db"
    shutil.copy(empty_db, path)
    uri = f"sqlite:///{path}"
    client = MlflowClient(uri, uri)
    # MLflow resolves a ``models:/m-...`` version source through the *default* store.
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        _build(client, spec)
    finally:
        mlflow.set_tracking_uri(previous)
    declared = None
    if spec["declared"] is not None:
        declared = Declarations({f: tuple(c) for f, c in spec["declared"].items()})
    exps = spec["exps"][:1] if spec["subset"] else []
    expected = full_scan(client, exps, declared, spec["only"])
    actual = build_report(client, exps, declared, spec["only"])
    assert _answer(actual) == _answer(expected)
    # With pages of one or two runs, every way the newest-first reads stop is taken.
    tiny = {
        "FIRST_STREAM_PAGE": 1,
        "STREAM_PER_EXPERIMENT": 0,
        "STREAM_PAGES": 1,
        "SCAN_FIRST_PAGE": 1,
        "SCAN_LAST_PAGE": 2,
    }
    saved = {k: getattr(read, k) for k in tiny}
    try:
        for k, v in tiny.items():
            setattr(read, k, v)
        paged = build_report(client, exps, declared, spec["only"])
    finally:
        for k, v in saved.items():
            setattr(read, k, v)
    assert _answer(paged) == _answer(expected)
    path.unlink()
