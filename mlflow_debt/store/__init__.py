"""The one layer that talks to MLflow: clients, paged reads, batched look-ups, error mapping.

Everything here uses MLflow's public client API only (``MlflowClient``), so it works the same on the
embedded SQLite default and on a shared ``mlflow server``. Every paged search goes through
:func:`paged`; every look-up of runs or LoggedModels by id through one batched ``... IN (...)``
search (:func:`runs_by_ids`, :func:`logged_models_by_ids`); page and batch sizes are defined
once (:mod:`.paging`). Nothing here issues one call per run.

The package is split by what it reads; callers use ``from mlflow_debt import store`` and
``store.NAME`` (faults are injected on this package's names, and a grep for ``page_token`` must
find only :mod:`.paging` and the readers here):

* :mod:`.errors`: MLflow/HTTP/database failures as one-line errors ("not found" by error code only);
* :mod:`.connect`: clients, the fail-fast store checks, the reachability probe;
* :mod:`.paging`: page and batch sizes, filter quoting, the pagination loop, the thread pool;
* :mod:`.runs`: experiments, runs, run tags, the training process's fluent run;
* :mod:`.registry`: registered models, versions, aliases;
* :mod:`.logged_models`: LoggedModels and their tags;
* :mod:`.registry_tags`: tags on versions and registered models (one call per key), and the
  one-object reads that version tagging needs.
* :mod:`.writes`: creates that converge whether or not MLflow's client retried them, and a 403 on
  one object told apart (MLflow 3.17's per-version permissions).
* :mod:`.newest`: newest-first run pages that stop early, ever-registered source runs.
"""

from __future__ import annotations

from mlflow_debt.store.connect import (
    DB_CONNECT_TIMEOUT_DEFAULT as DB_CONNECT_TIMEOUT_DEFAULT,
)
from mlflow_debt.store.connect import (
    DB_CONNECT_TIMEOUT_ENV as DB_CONNECT_TIMEOUT_ENV,
)
from mlflow_debt.store.connect import (
    check_store as check_store,
)
from mlflow_debt.store.connect import (
    check_stores as check_stores,
)
from mlflow_debt.store.connect import (
    default_tracking_uri as default_tracking_uri,
)
from mlflow_debt.store.connect import (
    ensure_reachable as ensure_reachable,
)
from mlflow_debt.store.connect import (
    get_client as get_client,
)
from mlflow_debt.store.connect import (
    tracking_uri_of as tracking_uri_of,
)
from mlflow_debt.store.errors import (
    NOT_FOUND_CODES as NOT_FOUND_CODES,
)
from mlflow_debt.store.errors import (
    error_code as error_code,
)
from mlflow_debt.store.errors import (
    is_not_found as is_not_found,
)
from mlflow_debt.store.errors import (
    mlflow_errors as mlflow_errors,
)
from mlflow_debt.store.errors import (
    one_line as one_line,
)
from mlflow_debt.store.logged_models import (
    iter_logged_models as iter_logged_models,
)
from mlflow_debt.store.logged_models import (
    logged_models_by_ids as logged_models_by_ids,
)
from mlflow_debt.store.logged_models import (
    set_logged_model_tags as set_logged_model_tags,
)
from mlflow_debt.store.newest import (
    FIRST_PAGE as FIRST_PAGE,
)
from mlflow_debt.store.newest import (
    LAST_PAGE as LAST_PAGE,
)
from mlflow_debt.store.newest import (
    MODEL_VERSIONS_TAG as MODEL_VERSIONS_TAG,
)
from mlflow_debt.store.newest import (
    registered_sources as registered_sources,
)
from mlflow_debt.store.newest import (
    run_pages_newest_first as run_pages_newest_first,
)
from mlflow_debt.store.newest import (
    was_registered as was_registered,
)
from mlflow_debt.store.paging import (
    EXPERIMENTS_PAGE as EXPERIMENTS_PAGE,
)
from mlflow_debt.store.paging import (
    HTTP_WORKERS as HTTP_WORKERS,
)
from mlflow_debt.store.paging import (
    ID_BATCH as ID_BATCH,
)
from mlflow_debt.store.paging import (
    LOGGED_MODELS_PAGE as LOGGED_MODELS_PAGE,
)
from mlflow_debt.store.paging import (
    MODELS_PAGE as MODELS_PAGE,
)
from mlflow_debt.store.paging import (
    RUNS_PAGE as RUNS_PAGE,
)
from mlflow_debt.store.paging import (
    STREAM_RUNS_PAGE as STREAM_RUNS_PAGE,
)
from mlflow_debt.store.paging import (
    VERSIONS_PAGE as VERSIONS_PAGE,
)
from mlflow_debt.store.paging import (
    batch_size as batch_size,
)
from mlflow_debt.store.paging import (
    both as both,
)
from mlflow_debt.store.paging import (
    chunks as chunks,
)
from mlflow_debt.store.paging import (
    default_workers as default_workers,
)
from mlflow_debt.store.paging import (
    in_filter as in_filter,
)
from mlflow_debt.store.paging import (
    paged as paged,
)
from mlflow_debt.store.paging import (
    pmap as pmap,
)
from mlflow_debt.store.paging import (
    quotable as quotable,
)
from mlflow_debt.store.paging import (
    quote as quote,
)
from mlflow_debt.store.registry import (
    aliases as aliases,
)
from mlflow_debt.store.registry import (
    aliases_by_version as aliases_by_version,
)
from mlflow_debt.store.registry import (
    iter_model_versions as iter_model_versions,
)
from mlflow_debt.store.registry import (
    iter_registered_models as iter_registered_models,
)
from mlflow_debt.store.registry import (
    model_id_of as model_id_of,
)
from mlflow_debt.store.registry import (
    registered_models as registered_models,
)
from mlflow_debt.store.registry import (
    versions_of as versions_of,
)
from mlflow_debt.store.registry_tags import (
    delete_model_version_tags as delete_model_version_tags,
)
from mlflow_debt.store.registry_tags import (
    delete_registered_model_tag as delete_registered_model_tag,
)
from mlflow_debt.store.registry_tags import (
    get_model_version as get_model_version,
)
from mlflow_debt.store.registry_tags import (
    logged_model_tags as logged_model_tags,
)
from mlflow_debt.store.registry_tags import (
    run_tags as run_tags,
)
from mlflow_debt.store.registry_tags import (
    set_model_version_tags as set_model_version_tags,
)
from mlflow_debt.store.registry_tags import (
    set_registered_model_tag as set_registered_model_tag,
)
from mlflow_debt.store.runs import (
    active_run_id as active_run_id,
)
from mlflow_debt.store.runs import (
    experiment_ids as experiment_ids,
)
from mlflow_debt.store.runs import (
    experiment_names as experiment_names,
)
from mlflow_debt.store.runs import (
    experiments as experiments,
)
from mlflow_debt.store.runs import (
    get_run as get_run,
)
from mlflow_debt.store.runs import (
    iter_experiments as iter_experiments,
)
from mlflow_debt.store.runs import (
    iter_runs as iter_runs,
)
from mlflow_debt.store.runs import (
    latest_values as latest_values,
)
from mlflow_debt.store.runs import (
    main_thread_run_id as main_thread_run_id,
)
from mlflow_debt.store.runs import (
    open_run_ids as open_run_ids,
)
from mlflow_debt.store.runs import (
    runs_by_ids as runs_by_ids,
)
from mlflow_debt.store.runs import (
    set_run_tags as set_run_tags,
)
from mlflow_debt.store.writes import (
    create_once as create_once,
)
from mlflow_debt.store.writes import (
    is_denied as is_denied,
)
