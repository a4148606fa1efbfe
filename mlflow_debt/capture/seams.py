"""Where MLflow tells capture that a model was logged or a run ended (two public methods wrapped).

* ``mlflow.models.Model.log`` (the classmethod every flavor's ``log_model`` and autolog go
  through): the logged object is matched to its fit (by identity, else by the logged signature's
  input names, :func:`mlflow_debt.capture.attribution.match_by_names`), and the run's and the
  LoggedModel's tags are written before ``log_model`` returns.
* ``mlflow.MlflowClient.set_terminated`` (what ``mlflow.end_run()``, a ``with
  mlflow.start_run()`` block's exit, autolog's own runs and MLflow's exit handler call, in every
  MLflow 3 release, after the run left the fluent run stack): the run's features are written
  *before* the run is marked finished, so a watcher of its status, ``search_runs`` right after,
  ``os._exit`` or SIGTERM right after, all see them. A user's own
  ``MlflowClient().set_terminated(run_id)`` (any thread) completes that run the same way.

Both writes go through :func:`mlflow_debt.capture.writer.complete` (bounded by
``MLFLOW_DEBT_EXIT_TIMEOUT``, one warning on failure, never an exception into MLflow's call). Both
wrappers are installed at the first recorded fit (the recorder is not imported by ``import
mlflow``), keep the original's name, docstring and ``__wrapped__``, and :func:`uninstall` puts
the originals back when the class still holds our wrapper.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from typing import Any

from mlflow_debt.capture import attribution, samples, writer

_log_hook: dict[str, Any] = {}
_end_hook: dict[str, Any] = {}
_install_lock = threading.Lock()


# --- logged models --------------------------------------------------------------------------


def _logged_fit(
    args: tuple[Any, ...], kwargs: dict[str, Any], info: Any
) -> tuple[str, samples._Fit] | None:
    """The (run id, fit) that a ``log_model`` call logs: by the model's identity, else by the
    logged signature's input names in the run. Called under ``samples._lock``."""
    for value in itertools.chain(kwargs.values(), args):
        hit = samples._by_model.get(id(value))
        if hit is not None:
            return hit
    run_id = getattr(info, "run_id", None)  # no identity: the logged signature's input names
    run = samples._runs.get(run_id or "")
    if run is None:
        return None
    fit = attribution.match_by_names(run.fits, _signature_names(info))
    return None if fit is None else (run_id or "", fit)


def _on_model_logged(args: tuple[Any, ...], kwargs: dict[str, Any], info: Any) -> None:
    model_id = getattr(info, "model_id", None)
    if not model_id:
        return
    with samples._lock:
        found = _logged_fit(args, kwargs, info)
        if found is None:
            return
        run_id, fit = found
        if run_id == samples._OUTSIDE:  # fit before the run: it becomes the run's (logged) fit
            target = getattr(info, "run_id", None)
            if not target:
                return
            outside = samples._runs[samples._OUTSIDE]
            if fit in outside.fits:
                outside.fits.remove(fit)
            run = samples._runs.get(target)
            if run is None:  # the store of this log_model, not of the fit's moment
                import mlflow

                run = samples._runs[target] = samples._Run(mlflow.get_tracking_uri())
            run.fits.append(fit)
            samples._review[target] = None
            for key, (rid, f) in list(samples._by_model.items()):
                if f is fit and rid == samples._OUTSIDE:
                    samples._by_model[key] = (target, fit)
            run_id = target
        run = samples._runs.get(run_id)
        if run is None:  # forgotten (closed, nothing alive) while this object lived elsewhere
            import mlflow

            run = samples._runs[run_id] = samples._Run(mlflow.get_tracking_uri(), fits=[fit])
            samples._review[run_id] = None
        run.logged = fit
        run.to_models[model_id] = fit
    writer.complete([run_id], moment="after log_model", closed=False)


def _signature_names(info: Any) -> list[str]:
    try:
        names = info.signature.inputs.input_names()
    except Exception:  # noqa: BLE001  the user's model info: capture never fails log_model
        return []
    return [str(n) for n in names]


def _install_log_model_hook() -> None:
    """Wrap ``mlflow.models.Model.log`` (what every flavor's ``log_model`` and autolog call)."""
    try:
        from mlflow.models import Model
    except Exception:  # noqa: BLE001  a broken MLflow install must not break the user's code
        return
    original = Model.__dict__.get("log")
    if not isinstance(original, classmethod):
        return
    func = original.__func__

    def log(cls: Any, *args: Any, **kwargs: Any) -> Any:
        info = func(cls, *args, **kwargs)
        with contextlib.suppress(Exception):  # never fails the user's log_model
            _on_model_logged(args, kwargs, info)
        return info

    _copy_identity(log, func)
    wrapped = classmethod(log)
    Model.log = wrapped  # type: ignore[method-assign]
    _log_hook.update(cls=Model, original=original, wrapped=wrapped)


# --- a run's end ----------------------------------------------------------------------------


def _on_run_end(run_id: Any) -> None:
    if isinstance(run_id, str) and writer.needs_write(run_id):
        writer.complete([run_id], moment="at the end of the run")


def _install_end_hook() -> None:
    """Wrap ``MlflowClient.set_terminated``: the run's features are written, then it ends."""
    try:
        from mlflow.tracking.client import MlflowClient
    except Exception:  # noqa: BLE001  a broken MLflow install must not break the user's code
        return
    original = MlflowClient.__dict__.get("set_terminated")
    if not callable(original):
        return

    def set_terminated(self: Any, *args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(Exception):  # never fails the user's end_run
            _on_run_end(kwargs["run_id"] if "run_id" in kwargs else args[0] if args else None)
        return original(self, *args, **kwargs)

    _copy_identity(set_terminated, original)
    MlflowClient.set_terminated = set_terminated  # type: ignore[method-assign]
    _end_hook.update(cls=MlflowClient, original=original, wrapped=set_terminated)


def _copy_identity(wrapper: Any, func: Any) -> None:
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        with contextlib.suppress(Exception):
            setattr(wrapper, attr, getattr(func, attr))
    wrapper.__wrapped__ = func


def install() -> None:
    """Install both wrappers (once; cheap when done)."""
    if _log_hook and _end_hook:
        return
    with _install_lock:
        if not _log_hook:
            _install_log_model_hook()
        if not _end_hook:
            _install_end_hook()


def uninstall() -> None:
    """Put the originals back where the classes still hold our wrappers."""
    with _install_lock:
        for hook, name in ((_log_hook, "log"), (_end_hook, "set_terminated")):
            if hook and hook["cls"].__dict__.get(name) is hook["wrapped"]:
                setattr(hook["cls"], name, hook["original"])
            hook.clear()
