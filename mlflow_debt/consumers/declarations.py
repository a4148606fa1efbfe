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

Every problem is an :class:`~mlflow_debt.errors.InputError` whose message names the file and the
problem, so the CLI prints one line and exits 2.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from mlflow_debt.consumers.analysis import Declarations
from mlflow_debt.errors import InputError, NotFoundError

TOP_LEVEL_KEYS = ("version", "scope", "features", "outputs")
SCOPES = ("all", "listed")
VERSION = 1


class _UniqueKeyLoader(yaml.SafeLoader):
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
        return super().construct_mapping(node, deep=deep)


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
    p = Path(path)
    where = f"Declarations file {str(path)!r}"
    if not p.exists():
        raise NotFoundError(f"{where} does not exist")
    if not p.is_file():
        raise InputError(f"{where} is not a file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{where} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{where} cannot be read: {exc.strerror or exc}") from None
    return parse(text, str(path))


def parse(text: str, path: str = "<declarations>") -> Declarations:
    """Validate the YAML ``text`` of a declarations file called ``path`` (for messages)."""
    where = f"Declarations file {path!r}"
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"{where} is not valid YAML{at}: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{where} is not valid YAML: {exc}") from None

    if data is None:
        raise InputError(f"{where} is empty; expected a mapping with a 'features' key")
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a mapping with a 'features' key, not {_kind(data)}")
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(str(key), TOP_LEVEL_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(
                f"{where}: unknown top-level key {key!r}{hint}; "
                f"allowed: {', '.join(TOP_LEVEL_KEYS)}"
            )
    version = data.get("version", VERSION)
    if version != VERSION or isinstance(version, bool):
        raise InputError(f"{where}: unsupported version {version!r} (supported: {VERSION})")
    scope = data.get("scope", "all")
    if scope not in SCOPES:
        raise InputError(f"{where}: scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if "features" not in data:
        raise InputError(f"{where} has no 'features' key (feature name -> list of consumers)")
    features = data["features"]
    if features is None:
        features = {}
    if not isinstance(features, dict):
        raise InputError(
            f"{where}: 'features' must map feature names to lists of consumers, "
            f"not {_kind(features)}"
        )

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
