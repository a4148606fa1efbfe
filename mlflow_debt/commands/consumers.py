"""``mlflow-debt consumers`` and ``mlflow-debt impact``: who reads which feature.

Thin: parse, call :func:`mlflow_debt.consumers.read.build_report`, render with
:mod:`mlflow_debt.consumers.render`. MLflow is imported only when a command runs, so ``--help``
stays fast.
"""

from __future__ import annotations

import click

from mlflow_debt.errors import DebtFound
from mlflow_debt.options import experiment_option, format_option, tracking_uri_option
from mlflow_debt.output import terminal_safe

CONSUMERS_EPILOG = """\b
Examples:
  mlflow-debt consumers
  mlflow-debt consumers --experiment churn --feature user_age
  mlflow-debt consumers --declared consumers.yaml --fail-on undeclared-consumer
  mlflow-debt consumers --declared consumers.yaml --fail-on entanglement,stale-declaration
  mlflow-debt consumers --declared consumers.yaml --fail-on any --format markdown > report.md
  mlflow-debt consumers --declared consumers.yaml --format json | jq '.undeclared'
"""

IMPACT_EPILOG = """\b
Examples:
  mlflow-debt impact user_age
  mlflow-debt impact "orders:total_spend" --format json
  mlflow-debt impact session_count --experiment ranking --format markdown
"""


@click.command(epilog=CONSUMERS_EPILOG)
@tracking_uri_option
@experiment_option
@click.option(
    "--feature",
    "features",
    multiple=True,
    metavar="NAME",
    help="Only report this feature (repeatable). A feature nobody reads is named as such.",
)
@click.option(
    "--declared",
    metavar="FILE",
    default=None,
    help="YAML declarations file (feature -> consumers allowed to read it); enables the "
    "undeclared-consumer and stale-declaration checks.",
)
@format_option("text", "json", "markdown")
@click.option(
    "--fail-on",
    "fail_on",
    multiple=True,
    metavar="CHECK",
    help="Exit 1 if the report finds this (the report's check ids, repeatable or "
    "comma-separated): undeclared-consumer (needs --declared), entanglement (changed "
    "definitions), stale-declaration (needs --declared), or any. The older words undeclared "
    "and changed still work. For CI.",
)
def consumers(
    tracking_uri: str | None,
    experiments: tuple[str, ...],
    features: tuple[str, ...],
    declared: str | None,
    fmt: str,
    fail_on: tuple[str, ...],
) -> None:
    """Which models read which feature, and what changed under them.

    A consumer is a registered model whose live versions come from feature-tagged runs; other
    feature-tagged runs are grouped under their `mlflow_debt.consumer` tag, else their experiment.
    The report lists features read by the most consumers first (the highest "changing anything
    changes everything" risk), features whose definition (fingerprint) differs between
    consumers' latest runs, and - with --declared - consumers nobody declared and declarations
    nobody uses any more.
    """
    from mlflow_debt.consumers import analysis, render
    from mlflow_debt.consumers import declarations as decl
    from mlflow_debt.consumers.read import build_report
    from mlflow_debt.gates import parse_fail_on, require_declarations
    from mlflow_debt.store import get_client

    aliases = analysis.GATE_ALIASES
    gate = parse_fail_on(fail_on, analysis.GATE_CHECKS, aliases)
    require_declarations(fail_on, gate, analysis.NEED_DECLARED, bool(declared), aliases)
    declarations = decl.load(declared) if declared else None
    report = build_report(
        get_client(tracking_uri), experiments, declarations, only_features=features
    )
    out, note = render.render_report(report, fmt, declared, experiments)
    click.echo(out)
    if note:
        click.echo(note, err=True)
    if report.empty:
        return
    found = analysis.gate(report, gate)
    if found:
        raise DebtFound(terminal_safe(f"--fail-on {','.join(fail_on)}: found {', '.join(found)}"))


@click.command(epilog=IMPACT_EPILOG)
@click.argument("feature")
@tracking_uri_option
@experiment_option
@format_option("text", "json", "markdown")
def impact(feature: str, tracking_uri: str | None, experiments: tuple[str, ...], fmt: str) -> None:
    """The blast radius of changing FEATURE: its consumers, their versions and aliases.

    Prints the sentence a reviewer needs ("Editing 'user_age' may invalidate: ...") and, per
    consumer, its newest live version, aliases, latest run and the definition it trained on.
    A feature nobody reads is reported as such (with close matches) and exits 0: it has no
    recorded blast radius.
    """
    from mlflow_debt.consumers import analysis, render
    from mlflow_debt.consumers.read import build_report
    from mlflow_debt.store import get_client

    report = build_report(get_client(tracking_uri), experiments)
    out, note = render.render_impact(
        analysis.impact(report, feature), fmt, report.empty, experiments
    )
    click.echo(out)
    if note:
        click.echo(note, err=True)
