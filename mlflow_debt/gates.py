"""``--fail-on``: the one vocabulary of check ids that gates ``report`` and ``consumers``. Pure.

Both commands take check ids (``entanglement``, ``undeclared-consumer``, ...), repeatable or
comma-separated, and ``any`` for every check they run. ``consumers`` also keeps its older words
(``undeclared``, ``changed``) as aliases. An empty value (``--fail-on ''``, ``,,``) is a usage
error: it would otherwise silently disable the gate.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from mlflow_debt.errors import InputError

ANY = "any"


def parse_fail_on(
    values: Sequence[str],
    known: Sequence[str],
    aliases: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """The check ids named by ``--fail-on`` values, in ``known`` order, without repeats.

    ``known``: the check ids the command runs; ``aliases``: other accepted words -> check id.
    Raises :class:`InputError` (exit 2) for an empty value or an unknown word.
    """
    aliases = aliases or {}
    words = [*known, *aliases, ANY]
    chosen: set[str] = set()
    for value in values:
        items = [v.strip() for v in value.split(",")]
        if not any(items):
            raise InputError(
                f"--fail-on {value!r} names no check; checks: {', '.join(known)}, or {ANY}"
            )
        for item in items:
            if not item:
                continue  # "a,,b" is a typo of "a,b"; "" and ",," alone are refused above
            if item == ANY:
                chosen.update(known)
            elif item in known:
                chosen.add(item)
            elif item in aliases:
                chosen.add(aliases[item])
            else:
                close = difflib.get_close_matches(item, words, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise InputError(
                    f"--fail-on: unknown check {item!r}{hint}; checks: {', '.join(known)}, or {ANY}"
                )
    return tuple(c for c in known if c in chosen)


def words(values: Sequence[str]) -> list[str]:
    """The words of ``--fail-on`` values, as given (comma-separated values split)."""
    return [w.strip() for value in values for w in value.split(",") if w.strip()]


def names_any(values: Sequence[str]) -> bool:
    """Whether ``any`` is among the ``--fail-on`` values."""
    return any(v.strip() == ANY for value in values for v in value.split(","))


def require_declarations(
    values: Sequence[str],
    gate: Sequence[str],
    need: Sequence[str],
    declared: bool,
    aliases: Mapping[str, str] | None = None,
) -> None:
    """Refuse a gate on a check that needs ``--declared`` when no file is given.

    ``any`` is exempt: it means every check that can run. The message names the word as given.
    """
    if declared or names_any(values) or not any(c in gate for c in need):
        return
    aliases = aliases or {}
    word = next(w for w in words(values) if aliases.get(w, w) in need)
    raise InputError(f"--fail-on {word} needs --declared FILE")
