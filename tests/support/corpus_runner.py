"""Run one corpus script in this (fresh) interpreter, with capture on, and write the oracle.

Usage: ``python corpus_runner.py SCRIPT OUT_JSON [--own-runs]``

``MLFLOW_TRACKING_URI`` names the store. Without ``--own-runs`` the script runs inside one MLflow
run started here (scikit-learn's gallery examples know nothing of MLflow); with it the script
opens its own runs (MLflow's examples).

The oracle observes every *outermost* fit the script makes without touching the estimators'
classes (mlflow-debt patches those): scikit-learn's ``validate_data`` calls
``sklearn.utils.validation._check_feature_names(estimator, X, reset=True)`` at the start of
every estimator's fit, so that module function is wrapped before the script imports anything of
scikit-learn, and at each call the stack is walked outward to the outermost frame of a fit-like
method of an estimator. A fit whose caller is scikit-learn itself (``cross_val_score``'s clones,
a search's candidates in worker threads) is not the user's model (docs/lineage.md) and is
skipped. Each fit's read set is taken from the fitted object when the next outermost fit begins
(the previous one has returned) and at the end, with :func:`corpus_oracle.read_set`.

The JSON written: ``fits`` (class, entry point, run, names, ``n_in``, ``n_read``, predictor,
thread), ``attributed`` (run id -> index of the fit docs/lineage.md's attribution rule gives the
run's tags: the fit of the model last logged from the run, else the last predictor fit on the
main thread, else the last fit) and ``logged`` (LoggedModel id -> index of the fit whose object
``mlflow.sklearn.log_model`` was given), ``library_fits`` (how many fits scikit-learn made
itself, not counted as the script's), ``error`` (the script's exception, if any).
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_oracle import is_predictor, read_set  # the runner is run as a script

FIT_METHODS = frozenset({"fit", "fit_transform", "fit_predict", "partial_fit", "fit_resample"})
#: Frames between a caller and a fit that belong to wrappers, not to the caller.
_WRAPPER_MODULES = ("mlflow.", "mlflow_debt.", "sklearn.base", "sklearn.utils._set_output")
_LIBRARY_MODULES = ("sklearn.", "imblearn.")


@dataclass
class Fit:
    est: Any
    entry: str
    run: str | None
    y_given: bool
    main_thread: bool
    snapshot: dict[str, Any] | None = None

    def take_snapshot(self) -> None:
        rs = read_set(self.est)
        self.snapshot = {
            "cls": type(self.est).__name__,
            "entry": self.entry,
            "run": self.run,
            "names": None if rs.names is None else list(rs.names),
            "n_in": rs.n_in,
            "n_read": rs.n_read,
            "predictor": is_predictor(self.est, self.y_given),
            "main_thread": self.main_thread,
        }


@dataclass
class Observer:
    fits: list[Fit] = field(default_factory=list)
    current: tuple[int, int] | None = None  # (id of the outermost frame, id of its estimator)
    #: LoggedModel id -> (the object logged, the run it was logged in)
    logged: dict[str, tuple[Any, str | None]] = field(default_factory=dict)
    library_fits: int = 0  # fits scikit-learn made itself (cross_val_predict's clones...)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, frame: FrameType | None) -> None:
        from sklearn.base import BaseEstimator

        outermost: FrameType | None = None
        while frame is not None:
            if frame.f_code.co_name in FIT_METHODS and isinstance(
                frame.f_locals.get("self"), BaseEstimator
            ):
                outermost = frame
            frame = frame.f_back
        if outermost is None:
            return
        if _called_by_library(outermost.f_back):
            self.library_fits += 1
            return
        est = outermost.f_locals["self"]
        key = (id(outermost), id(est))
        with self.lock:
            if key == self.current:
                return
            self.current = key
            if self.fits and self.fits[-1].snapshot is None:
                self.fits[-1].take_snapshot()  # its fit has returned: this is a new outermost fit
            self.fits.append(
                Fit(
                    est,
                    outermost.f_code.co_name,
                    _active_run_id(),
                    outermost.f_locals.get("y") is not None,
                    threading.current_thread() is threading.main_thread(),
                )
            )


def _called_by_library(frame: FrameType | None) -> bool:
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if not name.startswith(_WRAPPER_MODULES) and name != "functools":
            return name.startswith(_LIBRARY_MODULES)
        frame = frame.f_back
    return False


def _active_run_id() -> str | None:
    import mlflow

    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def install(observer: Observer) -> None:
    """Wrap the one function every estimator's fit calls, and ``mlflow.sklearn.log_model``."""
    import mlflow.sklearn
    import sklearn.utils.validation as validation

    original = validation._check_feature_names

    def _check_feature_names(estimator: Any, X: Any, *, reset: bool) -> Any:
        if reset:
            observer.observe(sys._getframe(1))
        return original(estimator, X, reset=reset)

    validation._check_feature_names = _check_feature_names
    flavor: Any = mlflow.sklearn  # a lazily loaded module to type checkers
    log_model = flavor.log_model

    def _log_model(sk_model: Any, *args: Any, **kwargs: Any) -> Any:
        info = log_model(sk_model, *args, **kwargs)
        observer.logged[str(info.model_id)] = (sk_model, _active_run_id())
        return info

    flavor.log_model = _log_model


def attribute(fits: list[Fit], logged: dict[str, tuple[Any, str | None]]) -> dict[str, Any]:
    """docs/lineage.md's attribution rule over the observed fits, per run and per LoggedModel."""

    def fit_of(obj: Any) -> int | None:
        for i in range(len(fits) - 1, -1, -1):
            est = fits[i].est
            if (
                est is obj
                or getattr(obj, "best_estimator_", None) is est
                # autolog logs a search's best_estimator_, refit inside the search's own fit
                or getattr(est, "best_estimator_", None) is obj
            ):
                return i
        return None

    logged_fit = {model_id: fit_of(obj) for model_id, (obj, _) in logged.items()}
    # a model fit outside any run and logged in one is that run's (docs/lineage.md)
    runs = {f.run for f in fits} | {run for _, run in logged.values()}
    attributed: dict[str, int | None] = {}
    for run in sorted(r for r in runs if r is not None):
        mine = [i for i, f in enumerate(fits) if f.run == run]
        from_logged = [i for m, i in logged_fit.items() if i is not None and logged[m][1] == run]
        main = [i for i in mine if fits[i].main_thread and _snapshot(fits[i])["predictor"]]
        chosen = from_logged or main or mine
        attributed[run] = chosen[-1] if chosen else None
    return {"attributed": attributed, "logged": logged_fit}


def _snapshot(fit: Fit) -> dict[str, Any]:
    if fit.snapshot is None:
        fit.take_snapshot()
    assert fit.snapshot is not None
    return fit.snapshot


def main(argv: list[str]) -> int:
    script, out = Path(argv[1]).resolve(), Path(argv[2])
    own_runs = "--own-runs" in argv[3:]
    import mlflow

    observer = Observer()
    install(observer)
    sys.path.insert(0, str(script.parent))
    sys.argv = [str(script)]
    error = None
    run = None if own_runs else mlflow.start_run()
    try:
        runpy.run_path(str(script), run_name="__main__")
    except BaseException:  # noqa: BLE001  the script's own failure is reported, not raised
        error = traceback.format_exc(limit=-3)
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
    for fit in observer.fits:
        if fit.snapshot is None:
            fit.take_snapshot()
    result = {
        "script": script.name,
        "run": run.info.run_id if run is not None else None,
        "fits": [f.snapshot for f in observer.fits],
        "library_fits": observer.library_fits,
        "error": error,
        **attribute(observer.fits, observer.logged),
    }
    out.write_text(json.dumps(result, indent=1))
    os.environ.pop("MLFLOW_RUN_ID", None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
