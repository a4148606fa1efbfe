"""``serve``'s two registry writes, against a real ``mlflow server`` delivering real webhooks to a
real receiver process: a version registered elsewhere (another process, the UI) gets its
source's feature tags, and the report's findings go onto the models and versions they concern
(``mlflow_debt.findings``), and away again when the finding is gone.

The test process registers with capture off (``MLFLOW_DEBT_DISABLE=1``), as a process without
mlflow-debt would: only the receiver tags.
"""

from __future__ import annotations

import uuid

import pytest
from mlflow.tracking import MlflowClient

from mlflow_debt import tags

from support.lineage import NEW_AGE, OLD_AGE, SESSIONS, feature_tags, make_run
from support.serve import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.server]

KEY = tags.FINDINGS_KEY


@pytest.fixture(autouse=True)
def _capture_off(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_DEBT_DISABLE", "1")


def register(client: MlflowClient, name: str, run_id: str, **kw) -> str:
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    source = kw.pop("source", f"runs:/{run_id}/model")
    mv = client.create_model_version(name, source, run_id=run_id, await_creation_for=0, **kw)
    return str(mv.version)


def vtags(client: MlflowClient, name: str, version: str) -> dict[str, str]:
    return dict(client.get_model_version(name, version).tags)


def names(tag_map: dict[str, str]) -> list[str]:
    fs = tags.decode(tag_map)
    assert fs is not None
    return fs.names


def test_new_versions_get_their_sources_features_and_findings(hc: MlflowClient, receivers):
    r = receivers()
    a, b = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    run_a = make_run(hc, "serve-a", {"user_age": OLD_AGE, "session_count": SESSIONS})
    va = register(hc, a, run_a)
    got = wait_until(lambda: (t := vtags(hc, a, va)).get(tags.FEATURES_FROM_KEY) and t)
    assert names(got) == ["user_age", "session_count"]
    assert got[tags.FEATURES_FROM_KEY] == f"runs:/{run_a}"

    # A LoggedModel source wins over its run: its own features.
    exp = hc.get_run(run_a).info.experiment_id
    lm = hc.create_logged_model(
        exp,
        name="m",
        source_run_id=run_a,
        tags=feature_tags({"session_count": SESSIONS, "user_age": OLD_AGE}),
    )
    va2 = register(hc, a, run_a, source=f"models:/{lm.model_id}", model_id=lm.model_id)
    got2 = wait_until(lambda: (t := vtags(hc, a, va2)).get(tags.FEATURES_FROM_KEY) and t)
    assert names(got2) == ["session_count", "user_age"]
    assert got2[tags.FEATURES_FROM_KEY] == f"models:/{lm.model_id}"

    # A version whose features someone set by hand is left as it is.
    own = feature_tags({"hand": "?"}, "by hand")
    va3 = register(hc, a, run_a, tags=own)

    # model b reads user_age in another definition: entangled, written on b and its version.
    hc.create_registered_model(b, description="owned by risk")
    hc.set_registered_model_tag(b, "team", "risk")
    run_b = make_run(hc, "serve-b", {"user_age": NEW_AGE})
    vb = register(hc, b, run_b)
    hc.set_registered_model_alias(b, "champion", vb)
    entangled = "entangled: user_age (2 definitions across 2 consumers)"
    text = wait_until(
        lambda: entangled in (t := hc.get_registered_model(b).tags.get(KEY, "")) and t
    )
    assert text.startswith(entangled)  # the most severe first
    wait_until(lambda: entangled in vtags(hc, b, vb).get(KEY, ""))
    # Still exactly the user's features (its findings tag is ours).
    assert {k: v for k, v in vtags(hc, a, va3).items() if k != KEY} == own

    # The finding is gone (b re-trained on a's definition): the next event removes the tags.
    run_b2 = make_run(hc, "serve-b", {"user_age": OLD_AGE}, start=10)
    vb2 = register(hc, b, run_b2)
    wait_until(lambda: "entangled" not in hc.get_registered_model(b).tags.get(KEY, ""))
    # vb keeps only what is its own (no code version, no artifact, no metric).
    wait_until(lambda: "entangled" not in vtags(hc, b, vb).get(KEY, ""))
    assert vtags(hc, b, vb)[KEY].startswith("not reproducible: ")
    assert "entangled" not in vtags(hc, b, vb2).get(KEY, "")
    rm = hc.get_registered_model(b)
    assert rm.description == "owned by risk"
    assert rm.tags["team"] == "risk"
    assert {k: str(v) for k, v in rm.aliases.items()} == {"champion": vb}
    status = r.status()
    assert status["versions_tagged"] >= 4
    assert status["annotations"] >= 4
    events = {line["event"] for line in r.lines()}
    assert {"version.tagged", "annotate.done"} <= events


def test_no_annotate_still_tags_versions(hc: MlflowClient, receivers):
    r = receivers(args=("--no-annotate",))
    a, b = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    va = register(hc, a, make_run(hc, "off-a", {"user_age": OLD_AGE}))
    vb = register(hc, b, make_run(hc, "off-b", {"user_age": NEW_AGE}))
    wait_until(lambda: tags.SCHEMA_KEY in vtags(hc, b, vb) and tags.SCHEMA_KEY in vtags(hc, a, va))
    wait_until(lambda: r.status()["enforcements"] + r.status()["left_alone"] >= 2)
    assert KEY not in hc.get_registered_model(b).tags
    assert KEY not in vtags(hc, b, vb)
    assert "annotate.done" not in {line["event"] for line in r.lines()}
