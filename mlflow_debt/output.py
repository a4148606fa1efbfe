"""Shared rendering helpers for every command's output. Pure, light (standard library only).

One rule each, used by every command:

- :func:`terminal_safe` puts a string from the tracking server (or echoed user input) on a
  terminal: control characters are shown escaped, as ``git`` and ``ls`` do, so a feature named
  ``"\\x1b[2J"`` cannot clear or rewrite the user's screen.
- :func:`text_table` lays out a text table (cells made terminal-safe first, so widths are right).
- :func:`dumps` writes JSON: indented, non-ASCII kept as is (``ensure_ascii=False``: a feature
  called ``größe`` stays readable), control characters escaped by :mod:`json` itself. JSON output
  is never passed through :func:`terminal_safe`: it is data, and its strings round-trip.
- :func:`md_text`, :func:`md_code` and :func:`md_table` make store strings inert in Markdown:
  no HTML (``<img onerror=…>``), no images or links (``![](http://…)``), no table breaks, no
  raw control characters.
- :func:`html_escape` for HTML text and attributes alike.
- :func:`plural` (``"3 features"``) and :func:`shell_quote` (fix commands are copy-pasted).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence

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


# --- text -------------------------------------------------------------------------------------


def text_table(rows: Sequence[Sequence[object]], indent: str = "  ") -> list[str]:
    """``rows`` (the first one is usually the header) as left-aligned, padded lines."""
    if not rows:
        return []
    cells = [[terminal_safe(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return [
        (indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))).rstrip()
        for r in cells
    ]


def plural(n: int, word: str, many: str | None = None, *, grouped: bool = False) -> str:
    """``"1 feature"``, ``"3 features"`` (``many``: an irregular plural; ``grouped``: 1,000)."""
    number = f"{n:,}" if grouped else str(n)
    return f"{number} {word if n == 1 else many or word + 's'}"


_SHELL_SAFE = re.compile(r"^[\w@%+=:,./-]+$")


def shell_quote(word: str) -> str:
    """``word`` quoted for a POSIX shell when it needs it (``''`` for the empty word)."""
    if _SHELL_SAFE.match(word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


# --- JSON -------------------------------------------------------------------------------------


def dumps(data: object) -> str:
    """``data`` as the JSON every command prints (one policy: indent 2, non-ASCII kept)."""
    return json.dumps(data, indent=2, ensure_ascii=False)


# --- HTML -------------------------------------------------------------------------------------


def html_escape(value: object) -> str:
    """``value`` as HTML text or attribute value (store strings are untrusted)."""
    return html.escape(str(value), quote=True)


# --- Markdown ---------------------------------------------------------------------------------

# Characters that start links, images, code spans or table cells, or escape the next one
# (``<`` and ``&``, which start HTML and entities, become entities). Emphasis is left alone:
# ``user_age`` stays readable, and ``*`` or ``_`` cannot fetch or run anything.
_MD_SPECIAL = re.compile(r"([\\`\[\]|])")


def md_text(text: object) -> str:
    """Store text made inert in Markdown (GitHub's included): literal when rendered.

    HTML is escaped (``<img src=x onerror=…>`` shows as text), link and image brackets,
    backticks and ``|`` are backslash-escaped (no remote fetch, no table break),
    newlines become spaces and other control characters are shown escaped.
    """
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", s).replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return terminal_safe(s)


def md_code(text: str) -> str:
    """A command as inline code; text holding backticks or newlines falls back to md_text."""
    if not text:
        return ""
    if "`" in text or "\n" in text or "\r" in text:
        return md_text(text)
    # In a code span nothing is markup; only ``|`` would still end a table cell.
    return "`" + terminal_safe(text).replace("|", "\\|") + "`"


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table of already-rendered cells (escape store strings with md_text first)."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out
