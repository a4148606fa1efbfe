"""Issue 18 §4: a run's features are in the store when MLflow says the run is done.

``mlflow.end_run()`` (a ``with mlflow.start_run()`` block's exit, autolog's end of its run,
``MlflowClient.set_terminated``) writes them before the run is marked finished, and a
``log_model`` writes its LoggedModel's before it returns, with no ``flush()``; so nothing is lost
to ``os._exit``, SIGTERM or a pool worker's exit right after. Most in fresh interpreters.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mlflow_debt import store, tags
from mlflow_debt.capture import recorder, samples, seams, writer
from mlflow_debt.errors import MlflowDebtWarning

ENV = {
    **os.environ,
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GIT_PYTHON_REFRESH": "quiet",
}
ENV.pop("MLFLOW_DEBT_DISABLE", None)

PRELUDE = """
import os, sys, time
import mlflow, numpy as np, pandas as pd
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
X = pd.DataFrame({"age": rng.normal(40, 10, 300), "visits": rng.poisson(5, 300) * 1.0})
y = (X.age > 40).astype(int)
"""


def run_script(
    code: str, tmp_path: Path, *, timeout: float = 180, **env: str
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env={**ENV, **env},
    )


def frame(n: int = 300) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.normal(40, 10, n), "visits": rng.poisson(5, n) * 1.0})
    return X, (X["age"] > 40).astype(int)


def features(client, run_id: str) -> tags.FeatureSet | None:
    return tags.decode(client.get_run(run_id).data.tags)


# --- fresh interpreters --------------------------------------------------------------------


@pytest.mark.slow
def test_tags_are_stored_when_the_with_block_exits_and_before_the_run_is_finished(
    tmp_path, client, tracking_uri
) -> None:
    """No flush(): the block's exit wrote them, the run's status says FINISHED with them, a
    notebook cell's search_runs() right after sees them, and the LoggedModel has its tags when
    log_model returns."""
    code = f"""
    mlflow.set_tracking_uri({tracking_uri!r})
    seen = {{}}
    from mlflow_debt.capture import recorder
    recorder.add_write_listener(
        lambda run_id, model_id, t: seen.setdefault(
            model_id or run_id, MlflowClient().get_run(run_id).info.status))
    with mlflow.start_run() as run:
        model = LogisticRegression().fit(X, y)
        info = mlflow.sklearn.log_model(model, name="m")
        print("model", len([k for k in MlflowClient().get_logged_model(info.model_id).tags
                            if k.startswith("mlflow_debt.")]))
    with mlflow.start_run() as second:
        LogisticRegression().fit(X[["age"]], y)
    runs = mlflow.search_runs()
    print("searched", runs["tags.mlflow_debt.n_features"].tolist())
    print("status", seen[run.info.run_id], seen[second.info.run_id])
    print("ids", run.info.run_id, second.info.run_id, info.model_id)
    """
    out = run_script(code, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    assert int(lines["model"]) >= 5  # schema, n_features, digest, source, f.000...
    assert sorted(eval(lines["searched"])) == ["1", "2"]
    assert lines["status"] == "RUNNING RUNNING"  # written before MLflow marked them finished
    run_id, second_id, model_id = lines["ids"].split()
    assert features(client, run_id).names == ["age", "visits"]
    assert features(client, second_id).names == ["age"]
    assert tags.decode(client.get_logged_model(model_id).tags).names == ["age", "visits"]
    assert "MlflowDebtWarning" not in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("how", ["os._exit", "SIGTERM"])
def test_a_process_killed_right_after_its_run_keeps_the_tags(
    tmp_path, client, tracking_uri, how: str
) -> None:
    code = f"""
    mlflow.set_tracking_uri({tracking_uri!r})
    with mlflow.start_run() as run:
        model = LogisticRegression().fit(X, y)
        info = mlflow.sklearn.log_model(model, name="m")
        LogisticRegression().fit(X[["visits"]], y)  # after log_model: for the run's end to write
    print(run.info.run_id, info.model_id, flush=True)
    if {how!r} == "os._exit":
        os._exit(0)
    time.sleep(120)
    """
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent(code))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=ENV,
    )
    try:
        line = proc.stdout.readline()
        if how == "SIGTERM":
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert line, proc.stderr.read()[-3000:]
    run_id, model_id = line.split()
    fs = features(client, run_id)
    assert fs is not None
    assert fs.names == ["age", "visits"]  # the logged model's fit
    assert "#" in client.get_run(run_id).data.tags["mlflow_debt.other_fits"]
    assert tags.decode(client.get_logged_model(model_id).tags).names == ["age", "visits"]


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_pool_workers_that_open_their_own_runs_keep_their_tags(
    tmp_path, client, tracking_uri, start_method: str
) -> None:
    """Four of four: a pool worker exits through os._exit right after its task (fork), and the
    parent never fitted (no recorder imported before the fork)."""
    code = f"""
    import multiprocessing as mp
    def task(i):
        mlflow.set_tracking_uri({tracking_uri!r})
        with mlflow.start_run() as run:
            LogisticRegression().fit(X[["age", "visits"][: 1 + i % 2]], y)
        return run.info.run_id
    if __name__ == "__main__":
        with mp.get_context({start_method!r}).Pool(4) as pool:
            print(" ".join(pool.map(task, range(4), chunksize=1)))
    """
    out = run_script(code, tmp_path, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    run_ids = out.stdout.split()
    assert len(set(run_ids)) == 4
    recorded = [features(client, r) for r in run_ids]
    assert [fs.names if fs else None for fs in recorded] == [
        ["age"],
        ["age", "visits"],
        ["age"],
        ["age", "visits"],
    ]


@pytest.mark.slow
def test_an_mlflow_run_child_that_never_ends_its_run_is_written_at_exit(tmp_path, client) -> None:
    """``mlflow run``'s child resumes the run through MLFLOW_RUN_ID and never calls end_run."""
    run = client.create_run("0")
    code = """
    for cols in (["age"], ["age", "visits"]):
        LogisticRegression().fit(X[cols], y)
    print("fit done")
    """
    out = run_script(
        code,
        tmp_path,
        MLFLOW_TRACKING_URI=mlflow.get_tracking_uri(),
        MLFLOW_RUN_ID=run.info.run_id,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    fs = features(client, run.info.run_id)
    assert fs is not None
    assert fs.names == ["age", "visits"]
    assert "MlflowDebtWarning" not in out.stderr


@pytest.mark.slow
def test_end_run_never_deadlocks(tmp_path, tracking_uri, client) -> None:
    """end_run from inside a fit, from another thread, from the writer thread itself (a write
    listener), at interpreter shutdown (a run nobody ended), in a forked child: all return."""
    code = f"""
    import threading, multiprocessing as mp
    from sklearn.base import BaseEstimator
    import mlflow_debt
    from mlflow_debt.capture import recorder
    mlflow.set_tracking_uri({tracking_uri!r})

    class EndsItsRun(BaseEstimator):
        def fit(self, X, y=None):
            LogisticRegression().fit(X, y)  # an inner fit
            mlflow.end_run()
            return self
        def predict(self, X):
            return np.zeros(len(X))

    start = time.monotonic()
    first = mlflow.start_run()
    LogisticRegression().fit(X, y)
    EndsItsRun().fit(X, y)  # ends the run it is in, from inside an outermost fit
    assert mlflow.active_run() is None

    with mlflow.start_run() as other:  # ended from another thread by the client
        LogisticRegression().fit(X, y)
        t = threading.Thread(target=MlflowClient().set_terminated, args=(other.info.run_id,))
        t.start(); t.join(30)
        assert not t.is_alive()

    ended = []
    def listener(run_id, model_id, written):  # on the writer's thread: end the run, flush
        if run_id and not ended:
            ended.append(run_id)
            MlflowClient().set_terminated(run_id)
            assert mlflow_debt.flush() is False  # the writer never waits for itself
    recorder.add_write_listener(listener)
    with mlflow.start_run() as third:
        LogisticRegression().fit(X, y)
        assert mlflow_debt.flush(30)
    assert ended == [third.info.run_id], ended

    def child(i):
        with mlflow.start_run() as run:
            LogisticRegression().fit(X, y)
        return run.info.run_id
    with mp.get_context("fork").Pool(2) as pool:
        children = pool.map(child, range(2))

    last = mlflow.start_run()  # never ended: MLflow's exit handler ends it
    LogisticRegression().fit(X[["visits"]], y)
    print(first.info.run_id, other.info.run_id, third.info.run_id, *children, last.info.run_id)
    print("elapsed", time.monotonic() - start)
    """
    out = run_script(code, tmp_path, timeout=150)
    assert out.returncode == 0, out.stderr[-3000:]
    ids, elapsed = out.stdout.strip().splitlines()
    assert float(elapsed.split()[1]) < 60
    for run_id in ids.split():
        assert features(client, run_id) is not None, run_id
    assert client.get_run(ids.split()[-1]).info.status == "FINISHED"
    assert "MlflowDebtWarning" not in out.stderr


# --- in this process --------------------------------------------------------------------------


@pytest.mark.usefixtures("tracking_uri")
def test_a_failed_write_at_the_end_of_the_run_is_one_warning_and_end_run_returns(
    client, mocker
) -> None:
    mocker.patch.object(store, "set_run_tags", side_effect=ConnectionError("store down"))
    X, y = frame()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with mlflow.start_run() as run:
            LogisticRegression().fit(X, y)
            LogisticRegression().fit(X[["age"]], y)
        # end_run returned: the run ended normally despite the failed write
    ours = [w for w in caught if issubclass(w.category, MlflowDebtWarning)]
    assert [str(w.message) for w in ours] == [
        f"mlflow-debt could not record the features of run {run.info.run_id}: "
        "ConnectionError: store down"
    ]
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    assert features(client, run.info.run_id) is None


@pytest.mark.usefixtures("tracking_uri")
def test_a_slow_store_at_the_end_of_the_run_is_bounded_by_the_exit_timeout(
    client, mocker, monkeypatch
) -> None:
    monkeypatch.setenv(writer.EXIT_TIMEOUT_ENV, "0.5")
    gate = threading.Event()
    real = store.set_run_tags

    def slow(*args, **kwargs):
        gate.wait(30)
        return real(*args, **kwargs)

    mocker.patch.object(store, "set_run_tags", side_effect=slow)
    X, y = frame()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.monotonic()
            with mlflow.start_run() as run:
                LogisticRegression().fit(X, y)
            waited = time.monotonic() - start
    finally:
        gate.set()  # the store answers: the write completes in the background
    assert waited < 5
    ours = [str(w.message) for w in caught if issubclass(w.category, MlflowDebtWarning)]
    assert len(ours) == 1
    assert re.match(r"mlflow-debt gave up after [01] s at the end of the run waiting", ours[0])
    assert run.info.run_id in ours[0]
    deadline = time.monotonic() + 20
    while features(client, run.info.run_id) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert features(client, run.info.run_id).names == ["age", "visits"]


@pytest.mark.usefixtures("tracking_uri")
def test_set_terminated_by_the_client_writes_the_run_first(client) -> None:
    """A run made and ended through MlflowClient (not fluent), its fits attributed through
    MLFLOW_RUN_ID: ending it writes the tags."""
    run = client.create_run("0")
    X, y = frame()
    os.environ["MLFLOW_RUN_ID"] = run.info.run_id
    try:
        LogisticRegression().fit(X, y)
    finally:
        del os.environ["MLFLOW_RUN_ID"]
    client.set_terminated(run.info.run_id)
    assert features(client, run.info.run_id).names == ["age", "visits"]


@pytest.mark.usefixtures("tracking_uri")
def test_write_listeners_see_each_run_and_logged_model_write(client) -> None:
    seen: list[tuple[str | None, str | None, str]] = []

    def listener(run_id, model_id, written):
        seen.append((run_id, model_id, written[tags.DIGEST_KEY]))

    def broken(*_args):
        raise RuntimeError("listener bug")

    recorder.add_write_listener(listener)
    recorder.add_write_listener(broken)
    try:
        X, y = frame()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with mlflow.start_run() as run:
                model = LogisticRegression().fit(X, y)
                info = mlflow.sklearn.log_model(model, name="m")
    finally:
        recorder.remove_write_listener(listener)
        recorder.remove_write_listener(broken)
    digest = features(client, run.info.run_id).digest
    assert (run.info.run_id, None, digest) in seen
    assert (run.info.run_id, info.model_id, digest) in seen
    broken_warnings = [w for w in caught if "listener bug" in str(w.message)]
    assert len(broken_warnings) == 1
    assert issubclass(broken_warnings[0].category, MlflowDebtWarning)


@pytest.mark.usefixtures("tracking_uri")
def test_autolog_runs_are_complete_when_the_fit_returns() -> None:
    """autolog makes and ends its own run around the fit: the notebook cell's next line sees it."""
    X, y = frame()
    mlflow.sklearn.autolog(log_models=False, silent=True)
    try:
        LogisticRegression().fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    runs = mlflow.search_runs(search_all_experiments=True)
    assert runs["tags.mlflow_debt.n_features"].tolist() == ["2"]


def test_the_seams_keep_mlflows_names_and_uninstall_cleanly() -> None:
    from mlflow.models import Model
    from mlflow.tracking.client import MlflowClient

    X, y = frame()
    LogisticRegression().fit(X, y)  # outside a run: installs the seams all the same
    assert MlflowClient.set_terminated.__name__ == "set_terminated"
    assert MlflowClient.set_terminated.__wrapped__.__module__ == "mlflow.tracking.client"
    assert Model.log.__func__.__qualname__ == "Model.log"
    wrapped = MlflowClient.__dict__["set_terminated"]
    seams.uninstall()
    try:
        assert MlflowClient.__dict__["set_terminated"] is wrapped.__wrapped__
        assert not hasattr(MlflowClient.set_terminated, "__wrapped__")
    finally:
        seams.install()
    assert MlflowClient.__dict__["set_terminated"] is not wrapped  # a new wrapper, same role


def test_a_run_without_fits_costs_the_end_nothing() -> None:
    assert not writer.needs_write("no-such-run")
    assert writer.complete(["no-such-run"]) is True
    with samples._lock:
        assert "no-such-run" not in samples._in_flight


@pytest.mark.usefixtures("tracking_uri")
def test_nested_runs_are_each_complete_when_they_end(client) -> None:
    X, y = frame()
    with mlflow.start_run() as parent:
        LogisticRegression().fit(X, y)
        with mlflow.start_run(nested=True) as child:
            LogisticRegression().fit(X[["visits"]], y)
        assert features(client, child.info.run_id).names == ["visits"]  # no flush()
    assert features(client, parent.info.run_id).names == ["age", "visits"]
