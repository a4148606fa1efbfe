"""What the sklearn hook (:mod:`.hook`) and the other engines' hooks (:mod:`.engines`) share: the
off switch and the import-hook helper. Both import this module; neither imports the other at
import or call time except ``hook.install``/``uninstall`` driving ``engines`` (one direction, no
import cycle). Imported inside every ``import mlflow``: stdlib only."""

from __future__ import annotations

import importlib.machinery
import os
import sys
from typing import Any

DISABLE_ENV = "MLFLOW_DEBT_DISABLE"


def disabled() -> bool:
    """Whether the user turned automatic capture off (``MLFLOW_DEBT_DISABLE=1``)."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def spec_from_others(
    me: object, fullname: str, path: Any, target: Any = None
) -> importlib.machinery.ModuleSpec | None:
    """The module spec the other ``sys.meta_path`` finders give for ``fullname`` (None: none).

    An import-hook finder (ours wait for ``sklearn.base``, pyspark, xgboost, lightgbm) asks the
    others for the real spec, then wraps its loader's ``exec_module`` to patch after it runs.
    """
    for finder in sys.meta_path:
        if finder is me or not hasattr(finder, "find_spec"):
            continue
        spec: importlib.machinery.ModuleSpec | None = finder.find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None
