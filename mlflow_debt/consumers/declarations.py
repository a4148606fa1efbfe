"""Reading and validating the declarations file: which consumers may read which feature.

The file is YAML::

    version: 1            # optional; the only version so far
    scope: all            # optional; all (default): every feature read must be declared,
                          #           listed: only the features listed here are checked
    features:
      user_age: [churn_model, ltv_model, fraud_model]
      session_count:
        - churn_model
        - recommender
    outputs:              # optional; feature -> the registered model whose output it is
      churn_score: churn_model   # (``mlflow-debt report``'s correction-cascade check)

or, in the short form, features at the top level (feature -> list of consumers)::

    user_age: [churn_model, ltv_model, fraud_model]
    session_count: [churn_model, recommender]

How the two are told apart: a file with a ``features`` or a ``version`` key is in the versioned
form, and any other top-level key in it (besides ``scope`` and ``outputs``) is an unknown key,
reported with a did-you-mean. A file with neither is in the short form: each top-level key
besides ``scope`` and ``outputs`` is a feature and must map to a list of consumers; a key that
is a near-miss of a reserved word (``featurs:``, ``version_:``) is refused with a did-you-mean
rather than taken for a feature (declare such a feature under ``features:``). ``scope``
defaults to ``all`` in both forms.

Every problem is an :class:`~mlflow_debt.errors.InputError` whose message names the file and the
problem, so the CLI prints one line and exits 2. The file is hostile input: it is read only if it
is a regular file of at most :data:`MAX_BYTES`, it must be UTF-8 text, and its YAML may nest at
most :data:`MAX_DEPTH` levels and expand (aliases included) to at most :data:`MAX_NODES` nodes,
checked on the event stream before anything is built, so time and memory stay bounded. libyaml's
parser is used when PyYAML has it.
"""

from __future__ import annotations

import difflib
import errno
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from mlflow_debt.consumers.analysis import Declarations
from mlflow_debt.errors import InputError, NotFoundError

TOP_LEVEL_KEYS = ("version", "scope", "features", "outputs")
SCOPES = ("all", "listed")
VERSION = 1

#: Largest declarations file read: 2 MB holds about 45,000 features with three consumers each,
#: and PyYAML builds that in seconds (its constructors are Python even with libyaml).
MAX_BYTES = 2 * 1024 * 1024
#: Deepest nesting of lists and mappings (a valid file needs 3).
MAX_DEPTH = 64
#: Most YAML nodes the document may expand to, counting every use of an alias.
MAX_NODES = 1_000_000

#: libyaml's parser when PyYAML was built with it (about 10x faster), else the pure-Python one.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc]  # PyYAML ships no stubs: Any
    """A safe loader that refuses duplicate keys (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key; construct_mapping reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    return {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        dict: "a mapping",
        list: "a list",
    }.get(type(value), type(value).__name__)


def load(path: str | Path) -> Declarations:
    """The declarations in ``path``; any problem is an :class:`InputError` naming the file."""
    where = f"Declarations file {str(path)!r}"
    data = _read(Path(path), where)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{where} is not UTF-8 text") from None
    if "\x00" in text:
        raise InputError(f"{where} is a binary file (it holds NUL bytes), not YAML text")
    return parse(text, str(path))


def _read(p: Path, where: str) -> bytes:
    """The bytes of ``p``: a regular file of at most MAX_BYTES (no FIFO, device or directory)."""
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if p.is_symlink():
            raise NotFoundError(f"{where} is a symbolic link to nothing") from None
        raise NotFoundError(f"{where} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{where} is a symbolic link loop") from None
        raise InputError(f"{where} cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{where} is not a file (it is a directory)")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{where} is not a regular file")
    if st.st_size > MAX_BYTES:
        raise InputError(
            f"{where} is {_mb(st.st_size)}; declarations files are limited to {_mb(MAX_BYTES)}"
        )
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)  # the file may have grown since stat
    except OSError as exc:
        raise InputError(f"{where} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise InputError(
            f"{where} is over {_mb(MAX_BYTES)}; declarations files are limited to {_mb(MAX_BYTES)}"
        )
    return data


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _check_shape(text: str, where: str) -> None:  # noqa: C901  one event loop over one stack
    """Refuse YAML that nests deeper than MAX_DEPTH or expands past MAX_NODES, from its events.

    Linear in the size of the text and without recursion: aliases are counted by the size of
    the node they name (known when its anchor's node ends), never expanded.
    """
    sizes: dict[str, int] = {}
    # One frame per open collection: [nodes inside it so far, itself included; its anchor].
    stack: list[tuple[list[int], str | None]] = []
    total = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            (n,), anchor = stack.pop()
            if anchor:
                sizes[anchor] = n
            if stack:
                stack[-1][0][0] += n
            continue
        if isinstance(event, yaml.AliasEvent):
            n = sizes.get(event.anchor or "", 1)
        elif isinstance(event, yaml.ScalarEvent):
            n = 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if len(stack) >= MAX_DEPTH:
                raise InputError(
                    f"{where} nests lists or mappings more than {MAX_DEPTH} levels deep"
                )
            n = 1
        else:
            continue
        total += n
        if total > MAX_NODES:
            raise InputError(
                f"{where} expands to more than {MAX_NODES:,} YAML nodes (aliases included)"
            )
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append(([1], event.anchor))
        elif stack:
            stack[-1][0][0] += n


def _load(text: str, where: str) -> object:
    """The YAML document in ``text``, its shape checked first; any YAML error is one line."""
    try:
        _check_shape(text, where)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"{where} is not valid YAML{at}: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{where} is not valid YAML: {_one_line(exc)}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # A scalar the constructors refuse (a date like 2024-13-45), or a backstop.
        raise InputError(f"{where} is not valid YAML: {_one_line(exc)}") from None


def _declared(features: dict[Any, Any], where: str) -> dict[str, tuple[str, ...]]:
    """Feature name -> its consumers (stripped, deduplicated), each checked."""
    declared: dict[str, tuple[str, ...]] = {}
    for feature, consumers in features.items():
        if not isinstance(feature, str):
            raise InputError(
                f"{where}: feature name {feature!r} is {_kind(feature)}, not a string; quote it"
            )
        if not isinstance(consumers, list):
            raise InputError(
                f"{where}: feature {feature!r} must map to a list of consumer names, "
                f"not {_kind(consumers)}"
            )
        for name in consumers:
            if not isinstance(name, str) or not name.strip():
                raise InputError(
                    f"{where}: feature {feature!r} lists {name!r}, which is not a consumer name"
                )
        declared[feature] = tuple(dict.fromkeys(name.strip() for name in consumers))
    return declared


def parse(text: str, path: str = "<declarations>") -> Declarations:
    """Validate the YAML ``text`` of a declarations file called ``path`` (for messages)."""
    where = f"Declarations file {path!r}"
    if len(text) > MAX_BYTES:
        raise InputError(
            f"{where} is over {_mb(MAX_BYTES)}; declarations files are limited to {_mb(MAX_BYTES)}"
        )
    data = _load(text, where)

    if data is None:
        raise InputError(f"{where} is empty; expected a mapping with a 'features' key")
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a mapping with a 'features' key, not {_kind(data)}")
    short = _short_form(data, where)
    version = data.get("version", VERSION)
    if version != VERSION or isinstance(version, bool):
        raise InputError(f"{where}: unsupported version {version!r} (supported: {VERSION})")
    scope = data.get("scope", "all")
    if scope not in SCOPES:
        raise InputError(f"{where}: scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if "features" not in data and not short:
        raise InputError(f"{where} has no 'features' key (feature name -> list of consumers)")
    features = data.get("features")
    if features is None:
        features = {}
    if not isinstance(features, dict):
        raise InputError(
            f"{where}: 'features' must map feature names to lists of consumers, "
            f"not {_kind(features)}"
        )
    features = {**features, **short}  # one of the two is empty

    declared = _declared(features, where)
    return Declarations(declared, scope=scope, path=path, outputs=_outputs(data, where))


def _outputs(data: dict[str, Any], where: str) -> dict[str, str]:
    """The optional ``outputs`` mapping: feature name -> the model that produces it."""
    outputs = data.get("outputs") or {}
    if not isinstance(outputs, dict):
        raise InputError(
            f"{where}: 'outputs' must map feature names to model names, not {_kind(outputs)}"
        )
    result: dict[str, str] = {}
    for feature, model in outputs.items():
        if not isinstance(feature, str) or not isinstance(model, str) or not model.strip():
            raise InputError(
                f"{where}: outputs entry {feature!r}: {model!r} must map a feature name to a "
                "model name"
            )
        result[feature] = model.strip()
    return result


def _short_form(data: dict[Any, Any], where: str) -> dict[Any, Any]:
    """The features declared at the top level (``feature: [consumers]``); other keys refused.

    Versioned form (a ``features`` or ``version`` key): no top-level features, every other key
    is unknown. Short form: every key that is not reserved is a feature, unless it is a
    near-miss of a reserved key or does not map to a list.
    """
    versioned = "features" in data or "version" in data
    short: dict[Any, Any] = {}
    for key, value in data.items():
        if key in TOP_LEVEL_KEYS:
            continue
        close = difflib.get_close_matches(str(key), TOP_LEVEL_KEYS, n=1)
        if not versioned and isinstance(value, list) and not close:
            short[key] = value
            continue
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if versioned:
            allowed = f"allowed: {', '.join(TOP_LEVEL_KEYS)}; features go under 'features'"
        else:
            allowed = (
                f"allowed: {', '.join(TOP_LEVEL_KEYS)}, or a feature name mapped to a list of "
                "consumers"
            )
        raise InputError(f"{where}: unknown top-level key {key!r}{hint}; {allowed}")
    return short


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
