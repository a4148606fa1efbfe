"""Is this delivery from our MLflow server, fresh, and about something we act on? (pure)

MLflow signs a delivery as ``v1,<base64 HMAC-SHA256 of "<delivery_id>.<timestamp>.<body>">``
in ``X-MLflow-Signature``, with ``X-MLflow-Delivery-Id`` and ``X-MLflow-Timestamp`` (Unix
seconds) beside it (``mlflow/webhooks/delivery.py``). A delivery older than :data:`MAX_AGE` is
a replay; so is one from further in the future than that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SIGNATURE_HEADER = "x-mlflow-signature"
TIMESTAMP_HEADER = "x-mlflow-timestamp"
DELIVERY_ID_HEADER = "x-mlflow-delivery-id"
SIGNATURE_VERSION = "v1"
#: Seconds a delivery stays valid (both directions, for clock skew).
MAX_AGE = 300
#: Longest accepted delivery id (MLflow sends a UUID).
MAX_ID = 128

#: The version tag that protects a version (mirrors mlflow_debt.prune.plan.KEEP_TAG; this module
#: stays free of the prune package).
KEEP_TAG = "mlflow_debt.keep"

#: Events that can make a version prunable: a new version, or a protection removed.
ENFORCING = frozenset(
    {
        "model_version.created",
        "model_version_alias.deleted",
        "model_version_tag.set",
        "model_version_tag.deleted",
    }
)
#: Every event MLflow 3.x can deliver; the others are accepted and ignored.
KNOWN = ENFORCING | {
    "registered_model.created",
    "model_version_alias.created",
    "prompt.created",
    "prompt_version.created",
    "prompt_tag.set",
    "prompt_tag.deleted",
    "prompt_version_tag.set",
    "prompt_version_tag.deleted",
    "prompt_alias.created",
    "prompt_alias.deleted",
    "budget_policy.exceeded",
}


class Rejected(Exception):
    """A delivery that is not accepted; ``status`` is the HTTP answer, ``reason`` for the log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Event:
    """One verified delivery: which event, and the model it concerns (if any)."""

    name: str
    model: str | None
    #: Whether it asks for an enforcement of ``model``.
    enforce: bool
    #: ``model_version.created``: the new version's number (its features are copied to it).
    version: str | None = None


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The signature MLflow sends for ``body`` (the same function, for tests and benchmarks)."""
    content = delivery_id.encode() + b"." + timestamp.encode() + b"." + body
    digest = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def verify(
    headers: Mapping[str, str], body: bytes, secret: str | None, now: float, max_age: int = MAX_AGE
) -> str:
    """The delivery id of an authentic, fresh delivery; else :class:`Rejected` (401).

    ``headers`` must have lower-case keys. Without a secret (``--insecure-no-secret``) only the
    timestamp is checked.
    """
    delivery_id = headers.get(DELIVERY_ID_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not delivery_id or len(delivery_id) > MAX_ID or not timestamp.isdigit():
        raise Rejected(401, "missing or malformed delivery headers")
    if secret is not None:
        given = headers.get(SIGNATURE_HEADER, "")
        expected = sign(secret, delivery_id, timestamp, body)
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("ascii")):
            raise Rejected(401, "bad signature")
    if abs(now - int(timestamp)) > max_age:
        raise Rejected(401, "stale timestamp")
    return delivery_id


def parse(body: bytes) -> Event:
    """The event a verified body describes; :class:`Rejected` (400) when malformed or unknown."""
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Rejected(400, "body is not JSON") from None
    except RecursionError:  # correctly signed, but nested deeper than the parser goes
        raise Rejected(400, "body is nested too deeply") from None
    if not isinstance(doc, dict):
        raise Rejected(400, "body is not a JSON object")
    entity, action, data = doc.get("entity"), doc.get("action"), doc.get("data")
    if not isinstance(entity, str) or not isinstance(action, str) or not isinstance(data, dict):
        raise Rejected(400, "body lacks entity, action or data")
    name = f"{entity}.{action}"
    if name not in KNOWN:
        raise Rejected(400, "unknown event")
    if name not in ENFORCING:
        return Event(name, None, enforce=False)
    model = data.get("name")
    if not isinstance(model, str) or not model or len(model) > 1000:
        raise Rejected(400, "event names no model")
    enforce = True
    if name.startswith("model_version_tag."):
        # Only the keep tag protects a version; other tags cannot make one prunable.
        enforce = data.get("key") == KEEP_TAG
    version = None
    if name == "model_version.created":
        number = str(data.get("version", ""))
        version = number if number.isdigit() and len(number) <= 18 else None
    return Event(name, model, enforce=enforce, version=version)
