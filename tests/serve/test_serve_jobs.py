"""The receiver's two jobs beside enforcement, on the Service itself (no I/O): a version named
by ``model_version.created`` is tagged before its model is enforced, findings are annotated after
each enforcement and each reconcile, and a failure of either is logged without stopping the
worker or retrying the prune."""

from __future__ import annotations

from typing import Any

from test_serve import Recorder, delivery, make_service, wait_for

from mlflow_debt.serve import verify
from mlflow_debt.serve.service import Service


def with_jobs(svc: Service, tag: Any, annotate: Any) -> Service:
    svc._tag_version = tag
    svc._annotate = annotate
    return svc


def test_parse_names_the_created_version():
    _, body = delivery(version="7")
    assert verify.parse(body).version == "7"
    _, body = delivery("model_version_tag.set", key="x", version="7")
    assert verify.parse(body).version is None
    _, body = delivery(version="7; drop")
    assert verify.parse(body).version is None


def test_versions_are_tagged_first_then_enforced_then_annotated():
    order: list[tuple[str, ...]] = []
    rec = Recorder()

    def enforce(model: str) -> Any:
        order.append(("enforce", model))
        return rec(model)

    class Done:
        status = "tagged"
        written = 5
        removed = 0

    svc, lines = make_service(enforce)
    with_jobs(
        svc,
        lambda m, v: order.append(("tag", m, v)) or Done(),
        lambda m: order.append(("annotate", str(m))) or Done(),
    )
    svc.start()
    try:
        for v in ("3", "4", "3"):
            svc.accept(*delivery(version=v))
        wait_for(lambda: ("annotate", "churn") in order)
        assert order == [
            ("tag", "churn", "3"),
            ("tag", "churn", "4"),
            ("enforce", "churn"),
            ("annotate", "churn"),
        ]
        svc.reconcile()
        assert order[-1] == ("annotate", "None")  # every model after a reconcile
        st = svc.status()
        assert st["versions_tagged"] == 2
        assert st["annotations"] == 10
    finally:
        assert svc.stop(5)
    assert {"version.tagged", "annotate.done"} <= {line["event"] for line in lines}


def test_failures_are_logged_and_the_worker_goes_on():
    rec = Recorder()
    calls: list[str] = []

    def fail(*args: Any) -> Any:
        calls.append(repr(args))
        raise RuntimeError("503 Service Unavailable")

    svc, lines = make_service(rec)
    with_jobs(svc, fail, fail)
    svc.start()
    try:
        svc.accept(*delivery(version="1"))
        wait_for(lambda: len(calls) == 2)
        svc.accept(*delivery(model="other"))
        wait_for(lambda: rec.calls == ["churn", "other"])
        wait_for(lambda: len(calls) == 3)
    finally:
        assert svc.stop(5)
    assert rec.calls == ["churn", "other"]  # the prune was not retried for them
    events = [line["event"] for line in lines]
    assert "version.tag_failed" in events
    assert "annotate.failed" in events
    assert svc.status()["last_error"].startswith("annotating: ")
