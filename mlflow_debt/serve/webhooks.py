"""``serve install/uninstall/check``: the receiver's webhook on the tracking server.

Webhooks are an MLflow server feature: added in MLflow 3.3.0, stored only by SQL backends (a
server on a file store has none) and delivered only by ``mlflow server`` (a client writing a
local store directly delivers nothing). The server validates the URL: its scheme must be in
``MLFLOW_WEBHOOK_ALLOWED_SCHEMES`` (default ``https``) and, unless
``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true``, it must resolve to public addresses.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_debt.errors import InputError, NotFoundError, ServerError
from mlflow_debt.output import terminal_safe
from mlflow_debt.redact import redact
from mlflow_debt.serve import verify
from mlflow_debt.store import one_line

#: The webhook's default name (``--name``): how install finds it again.
DEFAULT_NAME = "mlflow-debt-enforce"
#: The events the receiver acts on.
EVENTS = sorted(verify.ENFORCING)
#: The MLflow release that added webhooks.
WEBHOOKS_SINCE = "3.3.0"
DESCRIPTION = "mlflow-debt serve: enforces each model's mlflow_debt.max_versions policy."


@dataclass
class Installed:
    webhook_id: str
    #: The receiver's URL for printing: any password in it masked (``redact``).
    url: str
    created: bool


def _require_server(client: MlflowClient) -> None:
    uri = str(client.tracking_uri or "")
    if not uri.startswith(("http://", "https://")):
        raise InputError(
            "Webhooks are delivered by an `mlflow server` with a SQL backend: point "
            "--tracking-uri at its http(s) URL, not at a local store"
        )


@contextlib.contextmanager
def _webhook_errors(action: str) -> Iterator[None]:
    try:
        yield
    except MlflowException as exc:
        raise _translate(action, exc) from None
    except NotImplementedError:
        raise _no_support(action, "its backend store is a file store") from None
    except OSError as exc:
        raise ServerError(f"{action}: {one_line(exc)}") from None


def _no_support(action: str, why: str) -> ServerError:
    return ServerError(
        f"{action}: the tracking server has no webhook support ({why}); webhooks need "
        f"MLflow >= {WEBHOOKS_SINCE} with a SQL backend store"
    )


def _translate(action: str, exc: MlflowException) -> Exception:
    code = str(getattr(exc, "error_code", "") or "")
    text = one_line(exc.message)
    low = text.lower()
    if code == "ENDPOINT_NOT_FOUND" or ("404" in low and "not found" in low and "webhook" in low):
        return _no_support(action, f"it is older than MLflow {WEBHOOKS_SINCE}")
    if "does not support" in low or "notimplemented" in low or "filestore" in low:
        return _no_support(action, "its backend store is a file store")
    if code in ("UNAUTHENTICATED", "PERMISSION_DENIED") or any(
        s in low for s in ("401", "403", "unauthorized", "forbidden", "permission")
    ):
        return ServerError(f"{action}: the tracking server refused the credentials ({text})")
    if "scheme" in low:
        return InputError(
            f"{action}: {text} (the server's MLFLOW_WEBHOOK_ALLOWED_SCHEMES; use an https URL "
            "through your reverse proxy)"
        )
    if "private" in low or "public" in low or "resolve" in low:
        return InputError(
            f"{action}: {text} (the server refuses private addresses unless "
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true, for local testing only)"
        )
    if code == "RESOURCE_DOES_NOT_EXIST":
        return NotFoundError(f"{action}: {text}")
    if code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"):
        return InputError(f"{action}: {text}")
    return ServerError(f"{action}: {text}")


def find(client: MlflowClient, name: str) -> list[Any]:
    """Every webhook called ``name`` (one, normally)."""
    _require_server(client)
    found: list[Any] = []
    token = None
    while True:
        try:
            with _webhook_errors("Listing webhooks"):
                page = client.list_webhooks(max_results=100, page_token=token)
        except ServerError as exc:
            if "500" in str(exc) and _registry_works(client):
                # A server on a file store answers every webhook call with a bare HTTP 500.
                raise _no_support(
                    "Listing webhooks",
                    "it answers webhook calls with HTTP 500, as a server on a file store does",
                ) from None
            raise
        found.extend(w for w in page if w.name == name)
        token = page.token
        if not token:
            return found


def _registry_works(client: MlflowClient) -> bool:
    try:
        client.search_registered_models(max_results=1)
    except Exception:  # noqa: BLE001  a probe: any failure means no registry
        return False
    return True


def shown_url(url: str) -> str:
    """``url`` fit to print: its userinfo's password masked, control characters visible."""
    return terminal_safe(redact(url))


def validate_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--url must be an http(s) URL with a host, got {shown_url(url)!r}")
    if not parts.path or parts.path == "/":
        url = url.rstrip("/") + "/webhook"
    return url


def install(client: MlflowClient, name: str, url: str, secret: str | None) -> Installed:
    """Create the webhook, or bring the existing one of that name up to date (idempotent)."""
    url = validate_url(url)
    existing = find(client, name)
    with _webhook_errors(f"Registering webhook {name!r}"):
        if existing:
            hook = existing[0]
            client.update_webhook(
                hook.webhook_id,
                url=url,
                events=list(EVENTS),  # type: ignore[arg-type]
                description=DESCRIPTION,
                secret=secret,
                status="ACTIVE",
            )
            for extra in existing[1:]:
                client.delete_webhook(extra.webhook_id)
            return Installed(str(hook.webhook_id), shown_url(url), created=False)
        hook = client.create_webhook(
            name,
            url,
            list(EVENTS),  # type: ignore[arg-type]
            description=DESCRIPTION,
            secret=secret,
        )
        return Installed(str(hook.webhook_id), shown_url(url), created=True)


def uninstall(client: MlflowClient, name: str) -> int:
    """Delete the webhook(s) called ``name``; how many there were."""
    hooks = find(client, name)
    with _webhook_errors(f"Deleting webhook {name!r}"):
        for hook in hooks:
            client.delete_webhook(hook.webhook_id)
    return len(hooks)


@dataclass
class CheckResult:
    #: The webhook's URL for printing (password masked).
    url: str
    verified: bool
    status: int | None
    detail: str


def check(client: MlflowClient, name: str) -> CheckResult:
    """Have the server send its test event; did the receiver verify it?"""
    hooks = find(client, name)
    if not hooks:
        raise NotFoundError(f"No webhook called {name!r}: run `mlflow-debt serve install` first")
    hook = hooks[0]
    with _webhook_errors(f"Testing webhook {name!r}"):
        result = client.test_webhook(hook.webhook_id, event="model_version.created")
    status = result.response_status or None
    body = result.response_body or ""
    verified = bool(result.success) and '"verified":true' in body.replace(" ", "")
    if verified:
        detail = "the receiver verified the test delivery"
    elif status == 401:
        detail = "the receiver rejected the signature: its --secret-env differs from install's"
    elif status:
        detail = f"the receiver answered HTTP {status}"
    else:
        detail = one_line(result.error_message or "no answer", limit=300)
    return CheckResult(shown_url(str(hook.url)), verified, status, detail)
