"""Keep credentials out of everything mlflow-debt prints."""

from __future__ import annotations

import re

# scheme://user:password@host  ->  scheme://user:***@host
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@"
)


def redact(text: str) -> str:
    """Replace the password of every ``user:password@`` URI in ``text`` with ``***``."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
