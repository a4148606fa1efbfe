"""Native xgboost and lightgbm training: ``xgboost.train`` and ``lightgbm.train`` record features.

Imported only once ``xgboost`` / ``lightgbm`` has been (by :mod:`mlflow_debt.capture.engines`).
The module attributes ``xgboost.train``/``xgboost.training.train`` and
``lightgbm.train``/``lightgbm.engine.train`` are replaced by a wrapper with the same signature;
the libraries' scikit-learn wrappers (``XGBClassifier.fit``, ``LGBMClassifier.fit``) keep their
own reference to the original and are recorded by the scikit-learn hook, once.

* **lightgbm**: ``Dataset(df)`` keeps the DataFrame until it is constructed (inside ``train``),
  so the wrapper takes the same snapshot the scikit-learn hook takes (a strided copy of at most
  10,000 rows) before training: names, pandas dtypes and fingerprints exactly as for pandas.
* **xgboost**: ``DMatrix(df)`` keeps only the feature names and types (``float``, ``int``,
  ``i`` (indicator), ``q``, ``c`` (categorical)), which are the dtype recorded. Fingerprints are
  computed from a strided slice of at most 10,000 rows of the DMatrix itself (its values as
  float32, missing values as null); a categorical (``c``) feature holds codes there, so its
  fingerprint is unknown (``?``).

A DMatrix/Dataset built from an array without names, or with positional names (``0``, ``1``,
...), is not recorded: one :class:`~mlflow_debt.capture.hook.MlflowDebtWarning` says so.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from mlflow_debt.capture import engines
from mlflow_debt.tags import UNKNOWN, FeatureRecord

#: engine -> [(module, attribute)] patched
_state: dict[str, list[tuple[Any, str]]] = {}
#: Every wrapper made -> what it wraps (an autolog revert can put an old wrapper back).
_ours: dict[Any, Any] = {}
_TARGETS = {"xgboost": ("xgboost.training", "train"), "lightgbm": ("lightgbm.engine", "train")}


def patch(engine: str, package: Any) -> None:
    if engine in _state:
        return
    module_name, attr = _TARGETS[engine]
    module = sys.modules[module_name]
    original = getattr(module, attr)
    if original in _ours:
        wrapper, original = original, _ours[original]
    else:
        wrapper = _wrap(engine, original)
        _ours[wrapper] = original
    done = []
    for owner in (module, package):
        if getattr(owner, attr, None) in (original, wrapper):
            setattr(owner, attr, wrapper)
            done.append((owner, attr))
    _state[engine] = done


def unpatch(engine: str) -> None:
    for owner, attr in _state.pop(engine, []):
        current = getattr(owner, attr, None)
        if current in _ours:
            while current in _ours:
                current = _ours[current]
            setattr(owner, attr, current)


def _wrap(engine: str, train: Callable[..., Any]) -> Callable[..., Any]:
    prepare = _prepare_lightgbm if engine == "lightgbm" else None
    finish = _finish_xgboost if engine == "xgboost" else _finish_lightgbm

    @functools.wraps(train)
    def train_and_record(*args: Any, **kwargs: Any) -> Any:
        if not engines.active():
            return train(*args, **kwargs)
        with engines.outermost(engine) as outer:
            data = args[1] if len(args) > 1 else kwargs.get("dtrain", kwargs.get("train_set"))
            taken = None
            if outer and prepare is not None:
                taken = _quietly(prepare, data)
            booster = train(*args, **kwargs)
        if outer:
            engines.safely(engine, finish, data, booster, taken)
        return booster

    return train_and_record


def _quietly(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001  foreign objects: capture never fails the user's fit
        return None


def _run_id() -> str | None:
    from mlflow_debt import store

    return store.active_run_id()


def _positional(names: list[str]) -> bool:
    """Names that say only where a column is (``0, 1, ...``; lightgbm's ``Column_0, ...``)."""
    given = [str(n) for n in names]
    return given in (
        [str(i) for i in range(len(names))],
        [f"Column_{i}" for i in range(len(names))],
    )


def _unnamed(run_id: str, engine: str, what: str) -> None:
    engines.warn_once(
        run_id,
        f"{engine}:unnamed",
        f"mlflow-debt: {engine}.train was given {what}, so its features were not recorded. "
        "Build it from a pandas DataFrame with named columns, or call "
        "mlflow_debt.log_features(X, names=[...]).",
    )


# --- lightgbm ---------------------------------------------------------------------------------


def _prepare_lightgbm(dataset: Any) -> Any:
    if _run_id() is None:
        return None
    data = getattr(dataset, "data", None)
    if type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "columns"):
        from mlflow_debt.capture import profile

        return profile.snapshot(data)[0]
    return ("names", dataset)


def _finish_lightgbm(dataset: Any, booster: Any, taken: Any) -> None:  # noqa: ARG001  both finishers take what train returns
    run_id = _run_id()
    if run_id is None:
        return
    from mlflow_debt.capture import profile

    if isinstance(taken, tuple):  # not built from a DataFrame
        names = list(booster.feature_name()) if booster is not None else []
        if not names or _positional(names):
            _unnamed(run_id, "lightgbm", "a Dataset without column names")
            return
        records = profile.describe_names(names)
    elif taken is not None:
        if _positional(list(taken.columns)):
            _unnamed(run_id, "lightgbm", "a DataFrame with positional column names")
            return
        records = profile.describe_sample(taken)
    else:
        return
    engines.record(records, "lightgbm:train", booster)


# --- xgboost ----------------------------------------------------------------------------------


def _finish_xgboost(dmatrix: Any, booster: Any, taken: Any) -> None:  # noqa: ARG001  both finishers take what train returns
    run_id = _run_id()
    if run_id is None:
        return
    names = list(getattr(dmatrix, "feature_names", None) or [])
    if not names or _positional(names):
        _unnamed(run_id, "xgboost", "a DMatrix without column names")
        return
    types = list(getattr(dmatrix, "feature_types", None) or [UNKNOWN] * len(names))
    sample = _xgboost_sample(dmatrix, names)
    from mlflow_debt.capture import profile

    records = []
    described = profile.describe_sample(sample) if sample is not None else []
    for i, (name, ftype) in enumerate(zip(names, types)):
        fp = described[i].fingerprint if described and ftype != "c" else UNKNOWN
        records.append(FeatureRecord(str(name), str(ftype or UNKNOWN), fp))
    engines.record(records, "xgboost:train", booster)


def _xgboost_sample(dmatrix: Any, names: list[str]) -> Any:
    """At most MAX_ROWS evenly strided rows of the DMatrix as a DataFrame (missing -> NaN)."""
    import numpy as np
    import pandas as pd

    from mlflow_debt.capture import profile

    n = int(dmatrix.num_row())
    step = max(1, -(-n // profile.MAX_ROWS))
    rows = np.arange(0, n, step, dtype=np.int64)
    part = dmatrix.slice(rows) if step > 1 else dmatrix
    csr = part.get_data()
    dense = np.full(csr.shape, np.nan, dtype="float64")
    coo = csr.tocoo()
    dense[coo.row, coo.col] = coo.data
    return pd.DataFrame(dense, columns=[str(c) for c in names])
