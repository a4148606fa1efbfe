"""The report in the format asked for: JSON and Markdown (:mod:`.text`) or HTML (:mod:`.html`).

Pure. The one module that knows all three renderers, so that neither page module imports the
other (``html`` and ``text`` share only :mod:`.model`).
"""

from __future__ import annotations

from mlflow_debt.output import dumps
from mlflow_debt.report.html import report_html
from mlflow_debt.report.model import DebtReport
from mlflow_debt.report.text import report_json, report_markdown

#: ``--format`` values.
FORMATS = ("html", "markdown", "json")


def render(report: DebtReport, fmt: str) -> str:
    """The report in ``fmt`` (``json``, ``markdown`` or ``html``), ready to write."""
    if fmt == "json":
        return dumps(report_json(report)) + "\n"
    if fmt == "markdown":
        return report_markdown(report)
    return report_html(report)
