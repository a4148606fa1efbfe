"""Keep credentials out of everything mlflow-debt prints: the one place that masks them.

Every message, report header, JSON field and log line we print goes through :func:`redact`:

* any userinfo of a URI: ``http://ghp_token@host`` -> ``http://***@host``,
  ``postgresql://user:password@db/mlflow`` -> ``postgresql://user:***@db/mlflow``, also when the
  password holds ``@``, ``/``, ``:`` or ``#`` (userinfo runs to the *last* ``@`` of the URI);
* credentials given as query parameters (``?password=...``, ``PWD=...;`` in an ODBC string,
  also URL-encoded: ``PWD%3D...%3B``).
"""

from __future__ import annotations

import re

MASK = "***"

# A URI: scheme://, then a run of characters that cannot end it (no whitespace or quotes). The
# userinfo is everything up to the last "@" of that run, so a password holding "@", "/", ":" or
# "#" is masked whole; over-masking a query's "@" is the safe side.
_URI = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>[^\s\"'<>`]+)")
_SECRET_PARAM = re.compile(
    r"(?P<key>(?:^|(?<=[?&;=\s,(\"'])|(?<=%3B)|(?<=%26))"
    r"(?:password|passwd|pwd|token|access_token|secret|api_key)(?:=|%3D))"
    r"(?P<value>(?:(?!%3B)[^&;\s\"'])+)",
    re.IGNORECASE,
)


def _mask_uri(match: re.Match[str]) -> str:
    scheme, rest = match["scheme"], match["rest"]
    userinfo, at, host = rest.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        # "user:password" keeps its user name; a lone token ("ghp_xxx@") is the secret itself.
        masked = f"{user}:{MASK}" if colon and user else MASK
        rest = f"{masked}@{host}"
    return scheme + rest


def redact(text: str) -> str:
    """``text`` with every URI's userinfo and every credential parameter replaced by ``***``."""
    text = _URI.sub(_mask_uri, text)
    return _SECRET_PARAM.sub(lambda m: f"{m['key']}{MASK}", text)
