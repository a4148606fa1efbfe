"""``mlflow-debt consumers`` and ``mlflow-debt impact``: who reads which feature.

Thin: parse, call :func:`mlflow_debt.consumers.read.build_report`, render with
:mod:`mlflow_debt.consumers.render`. MLflow is imported only when a command runs, so ``--help``
stays
fast.
"""

from __future__ import annotations

import click

from mlflow_debt.errors import DebtFound, InputError
from mlflow_debt.options import experiment_option, format_option, tracking_uri_option

CONSUMERS_EPILOG = """\b
Examples:
  mlflow-debt consumers
  mlflow-debt consumers --experiment churn --feature user_age
  mlflow-debt consumers --declared consumers.yaml --fail-on undeclared
  mlflow-debt consumers --declared consumers.yaml --fail-on any --format markdown > report.md
  mlflow-debt consumers --declared consumers.yaml --format json | jq '.undeclared'
"""

IMPACT_EPILOG = """\b
Examples:
  mlflow-debt impact user_age
  mlflow-debt impact "orders:total_spend" --format json
  mlflow-debt impact session_count --experiment ranking --format markdown
"""

FAIL_ON = ("undeclared", "changed", "any")


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
    type=click.Choice(FAIL_ON),
    default=None,
    help="Exit 1 if the report finds this: undeclared consumers (needs --declared), changed "
    "definitions, or any of those and stale declarations. For CI.",
)
def consumers(
    tracking_uri: str | None,
    experiments: tuple[str, ...],
    features: tuple[str, ...],
    declared: str | None,
    fmt: str,
    fail_on: str | None,
) -> None:
    """Which models read which feature, and what changed under them.

    A consumer is a registered model whose live versions come from feature-tagged runs; other
    feature-tagged runs are grouped under their `mlflow_debt.consumer` tag, else their experiment.
    The report lists features read by the most consumers first (the highest "changing anything
    changes everything" risk), features whose definition (fingerprint) differs between
    consumers' latest runs, and - with --declared - consumers nobody declared and declarations
    nobody uses any more.
    """
    from mlflow_debt.consumers import declarations as decl
    from mlflow_debt.consumers import render
    from mlflow_debt.consumers.read import build_report
    from mlflow_debt.store import get_client

    if fail_on == "undeclared" and not declared:
        raise InputError("--fail-on undeclared needs --declared FILE")
    declarations = decl.load(declared) if declared else None
    report = build_report(
        get_client(tracking_uri), experiments, declarations, only_features=features
    )
    if report.empty:
        sentence = render.no_features_sentence(experiments)
        if fmt == "json":
            click.echo(render.dumps(render.report_json(report, declared)))
            click.echo(sentence, err=True)
        else:
            click.echo(sentence)
        return
    if fmt == "json":
        click.echo(render.dumps(render.report_json(report, declared)))
    elif fmt == "markdown":
        click.echo(render.report_markdown(report))
    else:
        click.echo(render.report_text(report))

    found = []
    if fail_on in ("undeclared", "any") and report.undeclared:
        found.append(f"{len(report.undeclared)} undeclared consumer(s)")
    if fail_on in ("changed", "any") and report.changed:
        found.append(f"{len(report.changed)} changed definition(s)")
    if fail_on == "any" and report.stale:
        found.append(f"{len(report.stale)} stale declaration(s)")
    if found:
        raise DebtFound(f"--fail-on {fail_on}: found " + ", ".join(found))


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
    from mlflow_debt.consumers import analysis as lineage
    from mlflow_debt.consumers import render
    from mlflow_debt.consumers.read import build_report
    from mlflow_debt.store import get_client

    report = build_report(get_client(tracking_uri), experiments)
    if report.empty:
        sentence = render.no_features_sentence(experiments)
        if fmt == "json":
            click.echo(render.dumps(render.impact_json(lineage.impact(report, feature))))
            click.echo(sentence, err=True)
        else:
            click.echo(sentence)
        return
    result = lineage.impact(report, feature)
    if fmt == "json":
        click.echo(render.dumps(render.impact_json(result)))
    elif fmt == "markdown":
        click.echo(render.impact_markdown(result))
    else:
        click.echo(render.impact_text(result))
