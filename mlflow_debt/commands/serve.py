"""``serve`` (the enforcement receiver) and ``serve install/uninstall/check`` (thin CLI)."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import click

from mlflow_debt.errors import EXIT_SERVER, InputError, MlflowDebtError
from mlflow_debt.options import tracking_uri_option

SERVE_EXAMPLES = """\b
Examples:
  export MLFLOW_DEBT_WEBHOOK_SECRET=$(openssl rand -hex 32)
  mlflow-debt serve --secret-env MLFLOW_DEBT_WEBHOOK_SECRET --port 8765
  mlflow-debt serve install --url https://mlflow.example.com/debt/webhook \\
      --secret-env MLFLOW_DEBT_WEBHOOK_SECRET
  mlflow-debt serve check
  mlflow-debt serve uninstall
"""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


if TYPE_CHECKING:  # click is generic only from 8.2 on; >=8.1 is supported
    _ParamType = click.ParamType[float]
else:
    _ParamType = click.ParamType


class Duration(_ParamType):
    name = "DURATION"

    def convert(self, value: object, param: object, ctx: object) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        m = _DURATION.match(str(value))
        if not m:
            self.fail(f"{value!r} is not a duration such as 3600, 30m, 1h or 0", param, ctx)  # type: ignore[arg-type]
        return float(m.group(1)) * _UNIT[m.group(2)]


def _secret(secret_env: str | None, insecure: bool) -> str | None:
    """The secret from the named environment variable (never from the command line)."""
    if secret_env:
        if insecure:
            raise InputError("Give either --secret-env or --insecure-no-secret, not both")
        value = os.environ.get(secret_env, "")
        if not value.strip():
            raise InputError(f"Environment variable {secret_env} (--secret-env) is not set")
        return value
    if not insecure:
        raise InputError(
            "A webhook secret is required: --secret-env VAR names the environment variable "
            "holding it (or --insecure-no-secret, for local testing only)"
        )
    return None


secret_env_option = click.option(
    "--secret-env",
    metavar="VAR",
    default=None,
    help="Name of the environment variable holding the webhook secret (never the secret itself).",
)
insecure_option = click.option(
    "--insecure-no-secret",
    is_flag=True,
    help="Run without a secret: deliveries are not authenticated (local testing only).",
)
name_option = click.option(
    "--name",
    default="mlflow-debt-enforce",
    show_default=True,
    help="The webhook's name on the tracking server (one per receiver).",
)


@click.group(invoke_without_command=True, epilog=SERVE_EXAMPLES)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@secret_env_option
@insecure_option
@click.option(
    "--reconcile-every",
    type=Duration(),
    default="1h",
    show_default=True,
    help="Also enforce every model with a policy at start and then this often (0: never), "
    "for deliveries that were lost.",
)
@click.option(
    "--settle",
    type=click.FloatRange(0, 600),
    default=1.0,
    show_default=True,
    help="Seconds a model must be quiet before its enforcement starts (bursts coalesce).",
)
@click.option(
    "--max-body",
    type=click.IntRange(1024),
    default=1024 * 1024,
    show_default=True,
    help="Largest accepted delivery, in bytes (413 beyond).",
)
@click.option(
    "--annotate/--no-annotate",
    default=True,
    show_default=True,
    envvar="MLFLOW_DEBT_ANNOTATE",
    show_envvar=True,
    help="After each enforcement (that model) and each reconcile (every model), write the "
    "report's findings as a `mlflow_debt.findings` tag on the registered models and versions "
    "they concern, and remove it where a finding is gone.",
)
@tracking_uri_option
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    secret_env: str | None,
    insecure_no_secret: bool,
    reconcile_every: float,
    settle: float,
    max_body: int,
    annotate: bool,
    tracking_uri: str | None,
) -> None:
    """Enforce each model's version limit the moment MLflow registers a version.

    Receives MLflow's webhooks (install them with `serve install`) on POST /webhook, verifies
    their signature, and for each model that has a policy (mlflow_debt.max_versions) runs the
    equivalent of `mlflow-debt prune --model NAME --yes`, recorded in the audit and undone with
    `mlflow-debt restore`. Models without a policy are never pruned. A newly registered
    version gets its source's feature tags; the report's findings go onto the models and
    versions they concern (mlflow_debt.findings; --no-annotate). GET /healthz, GET /status.
    Stops cleanly on SIGTERM. See docs/enforce.md.
    """
    if ctx.invoked_subcommand is not None:
        ctx.ensure_object(dict)
        ctx.obj["tracking_uri"] = tracking_uri
        return
    import logging

    from mlflow_debt.serve import app, enforce, service
    from mlflow_debt.store import get_client

    secret = _secret(secret_env, insecure_no_secret)
    client = get_client(tracking_uri)
    enforce.reachable(client)
    # The command line silences INFO logs; a service's own lines are its interface.
    logging.disable(logging.NOTSET)
    log = service.Log()
    if secret is None:
        log("service.insecure", level="warning", detail="deliveries are not authenticated")
    svc = service.Service(
        service.Settings(secret=secret, settle=settle, reconcile_every=reconcile_every),
        enforce=lambda name: enforce.enforce(client, name),
        reconcile_models=lambda: enforce.models_with_policy(client),
        log=log,
        tag_version=lambda name, version: enforce.tag_version(client, name, version),
        annotate=(lambda model: enforce.annotate(client, model)) if annotate else None,
    )
    try:
        app.run(svc, host, port, max_body)
    except OSError as exc:  # the port is taken, the host cannot be bound
        raise MlflowDebtError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _client(ctx: click.Context, tracking_uri: str | None) -> Any:
    from mlflow_debt.store import get_client

    return get_client(tracking_uri or (ctx.obj or {}).get("tracking_uri"))


@serve.command("install")
@click.option("--url", required=True, help="The receiver's URL as the tracking server reaches it.")
@secret_env_option
@insecure_option
@name_option
@tracking_uri_option
@click.pass_context
def install(
    ctx: click.Context,
    url: str,
    secret_env: str | None,
    insecure_no_secret: bool,
    name: str,
    tracking_uri: str | None,
) -> None:
    """Register the receiver's webhook on the tracking server (or update it; idempotent)."""
    from mlflow_debt.serve import webhooks

    secret = _secret(secret_env, insecure_no_secret)
    done = webhooks.install(_client(ctx, tracking_uri), name, url, secret)
    verb = "Registered" if done.created else "Updated"
    click.echo(
        f"{verb} webhook {name!r} ({done.webhook_id}) -> {done.url} for "
        f"{', '.join(webhooks.EVENTS)}."
    )


@serve.command("uninstall")
@name_option
@tracking_uri_option
@click.pass_context
def uninstall(ctx: click.Context, name: str, tracking_uri: str | None) -> None:
    """Remove the receiver's webhook from the tracking server."""
    from mlflow_debt.serve import webhooks

    n = webhooks.uninstall(_client(ctx, tracking_uri), name)
    click.echo(f"Removed webhook {name!r}." if n else f"No webhook {name!r}; nothing to remove.")


@serve.command("check")
@name_option
@tracking_uri_option
@click.pass_context
def check(ctx: click.Context, name: str, tracking_uri: str | None) -> None:
    """Have the tracking server send its test event; say whether the receiver verified it."""
    from mlflow_debt.serve import webhooks

    result = webhooks.check(_client(ctx, tracking_uri), name)
    if not result.verified:
        click.echo(f"Error: webhook {name!r} -> {result.url}: {result.detail}", err=True)
        ctx.exit(EXIT_SERVER)
    click.echo(f"OK: webhook {name!r} -> {result.url}: {result.detail}.")
