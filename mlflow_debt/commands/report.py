"""``mlflow-debt report``: one page that shows a team its ML technical debt.

Thin: parse, call :func:`mlflow_debt.report.read.build`, render with
:mod:`mlflow_debt.report.text` or :mod:`mlflow_debt.report.html`, write, gate.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import click

from mlflow_debt.errors import DebtFound, InputError
from mlflow_debt.options import experiment_option, tracking_uri_option
from mlflow_debt.output import terminal_safe
from mlflow_debt.report.model import CHECK_IDS, Thresholds

REPORT_EPILOG = """\b
Examples:
  mlflow-debt report --output report.html
  mlflow-debt report --declared consumers.yaml --output report.html
  mlflow-debt report --model churn_model --format markdown > debt.md
  mlflow-debt report --format json | jq '.summary.scores'
  mlflow-debt report --declared consumers.yaml --fail-on undeclared-consumer,entanglement
  mlflow-debt report --fail-on any --output report.html   # CI: exit 1 on any finding
  mlflow-debt report --log --output report.html   # daily CI: MLflow charts the trend
  mlflow-debt report --annotate --output report.html   # findings on the registry too
"""

FORMATS = ("html", "markdown", "json")  # report.render.FORMATS (not imported: --help stays light)
_SUFFIX_FORMAT = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
}
#: Checks that need the declarations file.
_NEED_DECLARED = ("undeclared-consumer", "stale-declaration")


def _format(fmt: str | None, output: str | None) -> str:
    """The one rule: ``--format`` if given; else a file's suffix (.html/.htm, .md/.markdown,
    .json); standard output is Markdown. A file whose suffix names no format (``report.pdf``,
    ``report``) needs ``--format``, and a suffix that names another format than ``--format``
    is refused: both are usage errors, and nothing is written."""
    to_file = bool(output) and output != "-"
    suffix = Path(output).suffix.lower() if to_file and output else ""
    implied = _SUFFIX_FORMAT.get(suffix)
    if fmt and implied and fmt != implied:
        raise InputError(
            f"--output {output!r} is a {suffix} file but --format is {fmt}; "
            f"use a {fmt} suffix or --format {implied}"
        )
    if fmt:
        return fmt
    if not to_file:
        return "markdown"
    if implied is None:
        raise InputError(
            f"--output {output!r}: cannot tell the format from "
            f"{f'the suffix {suffix!r}' if suffix else 'a name without a suffix'}; "
            "use .html, .md or .json, or give --format html|markdown|json"
        )
    return implied


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a reader never sees half a report), with
    the permissions any new file of the user gets (0666 less the umask; mkstemp's are 0600)."""
    target = Path(path)
    parent = target.parent
    if not parent.is_dir():
        raise InputError(f"Cannot write {path!r}: directory {str(parent)!r} does not exist")
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as exc:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise InputError(f"Cannot write {path!r}: {exc.strerror or exc}") from None


@click.command(epilog=REPORT_EPILOG)
@tracking_uri_option
@experiment_option
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="NAME",
    help="Only findings and scores about this registered model (repeatable; default: all).",
)
@click.option(
    "--declared",
    metavar="FILE",
    default=None,
    help="YAML declarations file (as for `consumers`); enables the undeclared-consumer and "
    "stale-declaration checks, and its optional `outputs` mapping feeds correction-cascade.",
)
@click.option(
    "--output",
    "-o",
    metavar="FILE",
    default=None,
    help="Write the report to FILE (default: standard output). Without --format its suffix "
    "picks the format (.html/.htm, .md/.markdown, .json); another suffix needs --format.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="html (one self-contained page), markdown or json (a stable interface, see the "
    "README). Default: from --output's suffix; standard output gets markdown.",
)
@click.option(
    "--fail-on",
    "fail_on",
    multiple=True,
    metavar="CHECK",
    help="Exit 1 if this check has findings (check ids, repeatable or comma-separated; "
    "`any` for every check). The report is written first. For CI.",
)
@click.option(
    "--log",
    "log_run",
    is_flag=True,
    default=False,
    help="Also record the report as a run of the `mlflow-debt` experiment: a metric per check "
    "(findings) and per model (checks passed), overall figures, report.html and report.json "
    "as artifacts. MLflow's run charts then show the debt over time.",
)
@click.option(
    "--fan-out",
    type=click.IntRange(min=2),
    default=Thresholds.fan_out,
    show_default=True,
    help="A feature read by this many consumers is high fan-out (highlighted).",
)
@click.option(
    "--many-versions",
    type=click.IntRange(min=1),
    default=Thresholds.many_versions,
    show_default=True,
    help="Flag models without a version limit above this many live versions.",
)
@click.option(
    "--annotate",
    is_flag=True,
    help="Also write each finding as a short `mlflow_debt.findings` tag on the registered "
    "models and versions it concerns (removed where the finding is gone); no other tag, "
    "description or alias is touched.",
)
@click.option(
    "--since",
    metavar="WHEN",
    default="90d",
    show_default=True,
    help="History window of the legacy-feature check: runs started since WHEN (days: 90 or "
    "90d, weeks: 12w, hours: 48h, counted back from the newest feature-tagged run; or a date: "
    "2026-01-31); `all` for every run.",
)
def report(
    tracking_uri: str | None,
    experiments: tuple[str, ...],
    models: tuple[str, ...],
    declared: str | None,
    output: str | None,
    fmt: str | None,
    fail_on: tuple[str, ...],
    log_run: bool,
    fan_out: int,
    many_versions: int,
    annotate: bool,
    since: str,
) -> None:
    """One page with the ML technical debt recorded in MLflow, and a CI gate.

    Runs every check - entanglement, undeclared-consumer, stale-declaration, version-limit,
    lineage-gap, reproducibility, configuration-debt, underutilized-feature, correction-cascade,
    feedback-loop, prune-history - over one pass of the runs and the model registry, and shows
    a score per registered model (checks passed / applicable) and the three most urgent items.
    docs/report.md documents each check: what it detects, why it is debt, and how to pay it
    down. --log records the report as a run, so MLflow's run charts plot the debt over time.
    """
    from mlflow_debt.consumers import declarations as decl
    from mlflow_debt.gates import parse_fail_on, require_declarations
    from mlflow_debt.report import read as report_io
    from mlflow_debt.report.assess import gate as find_gated
    from mlflow_debt.report.render import render
    from mlflow_debt.report.text import summary_line
    from mlflow_debt.store import get_client

    gate = parse_fail_on(fail_on, CHECK_IDS)
    require_declarations(fail_on, gate, _NEED_DECLARED, bool(declared))
    fmt = _format(fmt, output)
    declarations = decl.load(declared) if declared else None
    thresholds = Thresholds(fan_out=fan_out, many_versions=many_versions)
    report_io.since_ms(since)  # a bad value is exit 2 before anything is read
    client = get_client(tracking_uri)
    result = report_io.build(client, experiments, models, declarations, thresholds, since=since)
    text = render(result, fmt)
    if output and output != "-":
        _write(output, text)
        click.echo(terminal_safe(f"Wrote {output}: {summary_line(result)}"), err=True)
    else:
        click.echo(text, nl=False)
    if log_run:
        from mlflow_debt.report.log import log_report

        logged = log_report(client, result)
        click.echo(
            terminal_safe(
                f"Logged run {logged.run_name!r} ({logged.run_id}, {logged.metrics} metrics) "
                f"in experiment 'mlflow-debt' (id {logged.experiment_id})"
                + (f": {logged.url}" if logged.url else "")
            ),
            err=True,
        )
    if annotate:
        from mlflow_debt.report.publish import publish

        done = publish(client, result, models)
        click.echo(
            f"Annotated the registry: {done.written} findings tag(s) written, "
            f"{done.removed} removed.",
            err=True,
        )
    found = find_gated(result, gate)
    if found:
        raise DebtFound(f"--fail-on: found {found}")
