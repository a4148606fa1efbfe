"""Reading and validating the declarations file."""

from __future__ import annotations

import pytest

from mlflow_debt.consumers import declarations
from mlflow_debt.errors import InputError, NotFoundError

from support.lineage import DECLARED


def test_reads_the_team_file(tmp_path):
    path = tmp_path / "consumers.yaml"
    path.write_text(DECLARED, encoding="utf-8")
    d = declarations.load(path)
    assert d.features == {
        "user_age": ("churn_model", "ltv_model", "fraud_model"),
        "session_count": ("churn_model", "recommender"),
        "plan": ("churn_model",),
    }
    assert d.scope == "all"
    assert d.path == str(path)


@pytest.mark.parametrize(
    ("text", "features", "scope"),
    [
        ("features:\n", {}, "all"),
        ("features: {}\nscope: listed\n", {}, "listed"),
        ("features:\n  x: []\n", {"x": ()}, "all"),
        # Names with YAML-special characters, quoted; duplicates in a list collapse.
        (
            'features:\n  "orders:total, 7d": [a, " b ", a]\n',
            {"orders:total, 7d": ("a", "b")},
            "all",
        ),
        ("features:\n  '2024': [m]\n", {"2024": ("m",)}, "all"),
        ("features:\n  größe: [modell]\n", {"größe": ("modell",)}, "all"),
    ],
)
def test_valid_files(text, features, scope):
    d = declarations.parse(text, "f.yaml")
    assert d.features == features
    assert d.scope == scope


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("features: [user_age\n", "is not valid YAML at line 2, column 1"),
        ("features:\n  a: [x]\n  a: [y]\n", "duplicate key 'a'"),
        ("", "is empty"),
        ("- user_age\n", "must be a mapping with a 'features' key, not a list"),
        ("featurs:\n  a: [x]\n", "unknown top-level key 'featurs' (did you mean 'features'?)"),
        ("features: {}\nuser_age: [m]\n", "unknown top-level key 'user_age'"),
        ("version: 2\nfeatures: {}\n", "unsupported version 2"),
        ("scope: some\nfeatures: {}\n", "scope must be one of all, listed, not 'some'"),
        ("version: 1\n", "has no 'features' key"),
        ("features: [a, b]\n", "'features' must map feature names to lists of consumers"),
        ("features:\n  user_age: churn_model\n", "'user_age' must map to a list of consumer names"),
        (
            "features:\n  user_age:\n",
            "'user_age' must map to a list of consumer names, not nothing",
        ),
        ("features:\n  user_age: {a: 1}\n", "not a mapping"),
        ("features:\n  user_age: [a, 3]\n", "lists 3, which is not a consumer name"),
        ("features:\n  user_age: [a, '']\n", "lists '', which is not a consumer name"),
        ("features:\n  2024: [a]\n", "feature name 2024 is a number, not a string; quote it"),
    ],
)
def test_each_problem_is_one_input_error_naming_the_file(text, problem):
    with pytest.raises(InputError) as info:
        declarations.parse(text, "team/consumers.yaml")
    message = str(info.value)
    assert message.startswith("Declarations file 'team/consumers.yaml'")
    assert problem in message
    assert "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(NotFoundError, match=r"Declarations file '.*nope.yaml' does not exist"):
        declarations.load(tmp_path / "nope.yaml")


def test_a_directory_is_not_a_file(tmp_path):
    with pytest.raises(InputError, match="is not a file"):
        declarations.load(tmp_path)


def test_binary_file(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_bytes(b"\xff\xfe\x00features")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        declarations.load(path)
