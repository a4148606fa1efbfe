"""The pure modules of consumers/ and report/ (and the shared renderers) import neither mlflow
nor numpy nor yaml at module level: each is imported alone in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = [
    "mlflow_debt.output",
    "mlflow_debt.gates",
    "mlflow_debt.consumers.analysis",
    "mlflow_debt.consumers.render",
    "mlflow_debt.capture.render",
    "mlflow_debt.capture.reads",
    "mlflow_debt.capture.provenance",
    "mlflow_debt.capture.common",
    "mlflow_debt.report.model",
    "mlflow_debt.report.checks",
    "mlflow_debt.report.assess",
    "mlflow_debt.report.text",
    "mlflow_debt.report.svg",
    "mlflow_debt.report.html",
    "mlflow_debt.report.render",
    "mlflow_debt.report.checks_config",
    "mlflow_debt.report.checks_loops",
    "mlflow_debt.report.annotate",
]
HEAVY = ("mlflow", "numpy", "yaml", "pandas", "sklearn")


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_nothing_heavy(module):
    code = f"import sys, {module}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_the_report_page_finds_its_stylesheet():
    """report.css is package data: the page inlines it."""
    from mlflow_debt.report.html import report_html
    from mlflow_debt.report.model import DebtReport, Graph

    page = report_html(DebtReport((), (), (), Graph((), ()), ()))
    assert "<style>\n:root {" in page
    assert "--accent:" in page
