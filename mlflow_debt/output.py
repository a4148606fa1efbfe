"""Shared rendering helpers for every command's text output. Pure, light.

:func:`terminal_safe` is the one rule for putting a string from the tracking server (or echoed
user input) on a terminal: control characters are shown escaped, as ``git`` and ``ls`` do, so a
feature named ``"\\x1b[2J"`` cannot clear or rewrite the user's screen. JSON output is unaffected
(``json.dumps`` escapes control characters itself).
"""

from __future__ import annotations

import re

# C0 controls except none (tab and newline are escaped too: a name must stay on its row), DEL,
# C1 controls, and the Unicode line/paragraph separators and bidi overrides that reorder a line.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_safe(text: object) -> str:
    """``text`` as a string with every control character visibly escaped (``\\x1b``, ``\\n``)."""
    return _UNSAFE.sub(_escape, str(text))
