"""MLflow 3.1's filter grammar has no ``IS NULL``: the newest-first reads apply such clauses
themselves when the server refuses them (the 3.1 core tier runs the whole suite that way)."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.tracking import MlflowClient

from mlflow_debt import store
from mlflow_debt.errors import InputError
from mlflow_debt.store import newest


@pytest.fixture
def refusing_client(tmp_path, mocker):
    newest._IS_NULL["supported"] = None
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    exp = client.create_experiment("e")
    for i, consumer in enumerate(["a", None, "b", None]):
        tags = {"mlflow_debt.schema": "1"}
        if consumer:
            tags["mlflow_debt.consumer"] = consumer
        client.create_run(exp, start_time=1000 + i, tags=tags)
    real = MlflowClient.search_runs

    def search_runs(self, *args, **kwargs):
        if "IS NULL" in (kwargs.get("filter_string") or ""):
            raise MlflowException("Invalid clause(s) in filter string", INVALID_PARAMETER_VALUE)
        return real(self, *args, **kwargs)

    mocker.patch.object(MlflowClient, "search_runs", autospec=True, side_effect=search_runs)
    yield client, exp
    newest._IS_NULL["supported"] = None
    mlflow.set_tracking_uri("")


def test_is_null_clauses_refused_by_the_server_are_applied_here(refusing_client) -> None:
    client, exp = refusing_client
    flt = "tags.`mlflow_debt.schema` LIKE '%' AND tags.`mlflow_debt.consumer` IS NULL"
    pages = list(store.run_pages_newest_first(client, [exp], flt, first_page=1, last_page=1))
    runs = [r for page in pages for r in page]
    assert [r.info.start_time for r in runs] == [1003, 1001]
    assert all("mlflow_debt.consumer" not in r.data.tags for r in runs)
    assert newest._IS_NULL["supported"] is False


def test_other_bad_filters_still_fail(refusing_client) -> None:
    client, exp = refusing_client
    with pytest.raises(InputError):
        list(store.run_pages_newest_first(client, [exp], "tags.`x` IS NULL"))
