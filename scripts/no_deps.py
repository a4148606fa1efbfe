"""Install packages with ``--no-deps``, then their other requirements: ``no_deps.py REQ...``.

How MLflow 3.18 installs from an index that has ``mlflow`` and ``mlflow-skinny`` 3.18.0 but not
``mlflow-tracing`` 3.18.0, which ``mlflow`` pins: ``mlflow-skinny`` carries the tracing modules,
so the MLflow family's own packages are taken as given (the ones named here) and the older
``mlflow-tracing`` is removed first (its files overlap ``mlflow-skinny``'s). Every other
requirement of the named packages is installed as pip resolves it. Run by ``scripts/test.sh``
(``NO_DEPS=...``) with the virtualenv's Python.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def family(name: str) -> bool:
    """MLflow's own packages (mlflow, mlflow-skinny, mlflow-tracing): never pulled in here."""
    key = name.lower().replace("_", "-")
    return key == "mlflow" or key.startswith("mlflow-")


def main(requirements: list[str]) -> None:
    names = [Requirement(r).name for r in requirements]
    installed = []
    for name in ["mlflow-tracing", *names]:
        try:
            distribution(name)
        except PackageNotFoundError:
            continue
        installed.append(name)
    if installed:  # a clean slate: no file of an older MLflow package left behind
        pip("uninstall", "--quiet", "--yes", *installed)
    pip("install", "--quiet", "--no-deps", *requirements)
    others: list[str] = []
    for name in names:
        for raw in distribution(name).requires or []:
            req = Requirement(raw)
            if family(req.name) or (req.marker and not req.marker.evaluate({"extra": ""})):
                continue
            others.append(str(req))
    if others:
        pip("install", "--quiet", *sorted(set(others)))


if __name__ == "__main__":
    main(sys.argv[1:])
