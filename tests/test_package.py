"""The package as a package: every module imports on its own, the pure core stays pure, the
metadata is what PyPI accepts.

Each import check runs in a fresh interpreter: within this test session every module is already
imported, so a cycle or a heavy top-level import would go unnoticed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mlflow_debt"


def all_modules() -> list[str]:
    """Every module of the package, from the source tree (``__main__`` would run the CLI)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


#: The functional core (issue 10): no MLflow, numpy or YAML at module level, so it is quick to
#: import and testable without a store. Names that do not exist (yet) are skipped, not failed:
#: the list is the layout's, modules join it as they land.
PURE_MODULES = [
    "mlflow_debt.prune.plan",
    "mlflow_debt.prune.render",
    "mlflow_debt.consumers.analysis",
    "mlflow_debt.consumers.render",
    "mlflow_debt.report.checks",
    "mlflow_debt.report.model",
    "mlflow_debt.report.assess",
    "mlflow_debt.report.text",
    "mlflow_debt.report.html",
    "mlflow_debt.report.svg",
    "mlflow_debt.report.annotate",
    "mlflow_debt.capture.fingerprint",
    "mlflow_debt.capture.attribution",
    "mlflow_debt.capture.reads",
    "mlflow_debt.capture.provenance",
    "mlflow_debt.capture.common",
    "mlflow_debt.output",
    "mlflow_debt.errors",
    "mlflow_debt.redact",
]
HEAVY = ("mlflow", "numpy", "yaml")


def fresh_python(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"},
    )


@pytest.mark.slow
@pytest.mark.parametrize("module", all_modules())
def test_circular_imports(module: str) -> None:
    """pip-tools' test: each module imports first, alone, with every warning an error."""
    proc = fresh_python(f"import {module}", "-W", "error")
    assert proc.returncode == 0, proc.stderr


def test_the_module_list_finds_the_package() -> None:
    modules = all_modules()
    assert "mlflow_debt.cli" in modules
    assert "mlflow_debt.store" in modules
    assert all(importlib.util.find_spec(m) is not None for m in modules)


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_modules_import_neither_mlflow_nor_numpy_nor_yaml(module: str) -> None:
    """One quick interpreter each (no MLflow is imported: that is the point)."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} does not exist (yet)")
    code = f"import sys, {module}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    proc = fresh_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [], f"{module} imports {proc.stdout.strip()} at module level"


def test_the_hook_and_the_engines_import_no_circle() -> None:
    """Issue 21 §6: ``capture/engines.py`` never imports ``capture/hook.py`` (the hook drives the
    engines; what both need lives in ``capture/common.py``)."""
    import ast

    tree = ast.parse((PACKAGE / "capture" / "engines.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert not {m for m in imported if m.endswith("capture.hook")}, imported
    proc = fresh_python(
        "import sys, mlflow_debt.capture.engines; print('mlflow_debt.capture.hook' in sys.modules)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


@pytest.mark.slow  # fresh interpreters importing mlflow and sklearn
def test_import_mlflow_loads_only_the_hook_not_the_recorder() -> None:
    """The plugin is a guest in every ``import mlflow``: the hook is installed, the recorder (and
    the tag schema, dataclasses and the fork handlers with it) waits for the first fit."""
    code = (
        "import sys, mlflow\n"
        "from mlflow_debt.capture import hook\n"
        "print(hook.installed(), sorted(m for m in sys.modules if m.startswith('mlflow_debt')))\n"
    )
    proc = fresh_python(code)
    assert proc.returncode == 0, proc.stderr
    installed, _, modules = proc.stdout.strip().partition(" ")
    assert installed == "True"
    assert "mlflow_debt.capture.recorder" not in modules
    assert "mlflow_debt.tags" not in modules


@pytest.mark.slow  # fresh interpreters importing mlflow and sklearn
def test_first_fits_in_several_threads_at_once_all_work(tmp_path) -> None:
    """The recorder is imported by the first fit: threads whose first fits start together must
    each see it whole (one of them imports it while the others wait), never half-imported."""
    code = (
        "import threading, mlflow, numpy as np, pandas as pd\n"
        "from sklearn.linear_model import LinearRegression\n"
        f"mlflow.set_tracking_uri('sqlite:///{tmp_path.as_posix()}/m.db')\n"
        "X = pd.DataFrame({'a': np.arange(50.0), 'b': np.arange(50.0) % 7})\n"
        "y = X['a'] * 2\n"
        "start, errors = threading.Barrier(8), []\n"
        "def fit():\n"
        "    start.wait()\n"
        "    try:\n"
        "        LinearRegression().fit(X, y)\n"
        "    except BaseException as exc:\n"
        "        errors.append(repr(exc))\n"
        "with mlflow.start_run():\n"
        "    threads = [threading.Thread(target=fit) for _ in range(8)]\n"
        "    [t.start() for t in threads]\n"
        "    [t.join() for t in threads]\n"
        "print(errors)\n"
    )
    proc = fresh_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


# --- metadata -------------------------------------------------------------------------------------


try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_classifier_is_one_pypi_accepts() -> None:
    trove = pytest.importorskip("trove_classifiers", reason="the dev extra installs it")
    classifiers = PYPROJECT["project"]["classifiers"]
    assert not [c for c in classifiers if c not in trove.classifiers]
    for needed in (
        "Typing :: Typed",
        "Environment :: Console",
        "Programming Language :: Python :: 3.10",
    ):
        assert needed in classifiers


def test_the_version_is_written_once() -> None:
    import mlflow_debt

    project = PYPROJECT["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "mlflow_debt.__version__"}
    from importlib.metadata import version

    assert version("mlflow-debt") == mlflow_debt.__version__


def test_the_license_file_matches_the_license_expression() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_test_extra_holds_no_maintainer_tools() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    names = {req.split("[")[0].split(">")[0].split("=")[0].strip() for req in extras["test"]}
    assert not names & {"ruff", "mypy", "playwright", "pytest-cov", "build", "twine"}
    assert "mlflow-debt[test]" in extras["dev"]


def test_dir_lists_the_lazily_loaded_public_api() -> None:
    """``dir(mlflow_debt)`` (completion, ``help``) shows what ``__all__`` promises, unloaded."""
    out = fresh_python(
        "import mlflow_debt, sys; print(sorted(dir(mlflow_debt)));"
        " print('mlflow_debt.api' in sys.modules)"
    )
    assert out.returncode == 0, out.stderr
    names, loaded = out.stdout.strip().splitlines()
    for name in ("log_features", "get_features", "flush", "FeatureSet", "FeatureRecord"):
        assert repr(name) in names, names
    assert "__version__" in names
    assert loaded == "False"  # listing the names does not import them
