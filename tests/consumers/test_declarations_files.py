"""Declarations files can't crash it (issue 10, 3.3), and the short form works (3.6).

Every malformed file (nested thousands of levels deep, a billion-laughs alias bomb, 50 MB,
binary, non-UTF-8, a directory, a symlink loop) gives one line and exit 2 from both commands
that read it. The hostile ones run in a child process under a 1 GB address-space limit, so a
regression fails the test (MemoryError, a traceback) instead of taking the machine down.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlflow_debt.cli import cli
from mlflow_debt.consumers import declarations
from mlflow_debt.errors import InputError

from support.lineage import DECLARED

LIMIT = 1024 * 1024 * 1024  # bytes of address space for the child


def bomb() -> str:
    """Billion laughs: nine levels of nine aliases, 9**9 (387 million) strings when expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
        prev = name
    return "\n".join(lines) + "\nfeatures:\n  x: *i\n"


def big(size: int) -> str:
    line = "  feature_{}: [model_a, model_b, model_c]\n"
    n = size // len(line.format(0)) + 1
    return "features:\n" + "".join(line.format(i) for i in range(n))


HOSTILE_TEXT = {
    "deep-lists": "features: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep-flow-mappings": "features: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
    "deep-block-mappings": "features:\n" + "".join("  " * i + "a:\n" for i in range(1, 1000)),
    "deep-block-lists": "features:\n" + "".join("  " * i + "-\n" for i in range(1, 1000)),
    "billion-laughs": bomb(),
}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def run_child(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m mlflow_debt ARGS`` with 1 GB of address space (a hang guard of 120 s)."""
    env = {**os.environ, "MLFLOW_DEBT_DEBUG": ""}
    return subprocess.run(
        [sys.executable, "-m", "mlflow_debt", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
        env=env,
        check=False,
    )


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], path: Path) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith(f"Error: Declarations file '{path}'")


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/mlflow.db"


# --- hostile files, end to end ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("command", ["consumers", "report"])
@pytest.mark.parametrize("kind", [*HOSTILE_TEXT, "50-MB"])
def test_hostile_files_are_one_line_and_exit_2(tmp_path, store, command, kind):
    path = tmp_path / "consumers.yaml"
    if kind == "50-MB":
        path.write_text(big(50 * 1024 * 1024), encoding="utf-8")
    else:
        path.write_text(HOSTILE_TEXT[kind], encoding="utf-8")
    result = run_child(command, "--tracking-uri", store, "--declared", str(path))
    assert_one_line_exit_2(result, path)


# --- every kind of bad file, in process --------------------------------------------------------


def _write(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "consumers.yaml"
    if kind in HOSTILE_TEXT:
        path.write_text(HOSTILE_TEXT[kind], encoding="utf-8")
    elif kind == "too-big":
        path.write_text(big(declarations.MAX_BYTES + 1), encoding="utf-8")
    elif kind == "binary":
        path.write_bytes(b"features:\x00\x01\x02\x03 \x00")
    elif kind == "latin-1":
        path.write_bytes("features:\n  größe: [modell]\n".encode("latin-1"))
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink-loop":
        path.symlink_to(path)
    elif kind == "dangling-symlink":
        path.symlink_to(tmp_path / "gone.yaml")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "bad-date":
        path.write_text("features:\n  x: [2024-13-45 10:00:00]\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("deep-lists", "not valid YAML"),
        ("deep-block-mappings", "more than 64 levels deep"),
        ("deep-block-lists", "more than 64 levels deep"),
        ("billion-laughs", "expands to more than 1,000,000 YAML nodes"),
        ("too-big", "declarations files are limited to 2.0 MB"),
        ("binary", "is a binary file"),
        ("latin-1", "is not UTF-8 text"),
        ("directory", "is not a file (it is a directory)"),
        ("symlink-loop", "is a symbolic link loop"),
        ("dangling-symlink", "is a symbolic link to nothing"),
        ("fifo", "is not a regular file"),
    ],
)
def test_each_bad_file_is_one_input_error(tmp_path, kind, problem):
    path = _write(tmp_path, kind)
    with pytest.raises(InputError) as info:
        declarations.load(path)
    message = str(info.value)
    assert message.startswith(f"Declarations file '{path}'")
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize("kind", ["symlink-loop", "directory", "binary", "deep-block-lists"])
def test_bad_files_via_the_cli(tmp_path, store, kind):
    path = _write(tmp_path, kind)
    result = CliRunner().invoke(
        cli, ["consumers", "--tracking-uri", store, "--declared", str(path)]
    )
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"Error: Declarations file '{path}'")


def test_aliases_that_stay_small_are_fine():
    text = "features:\n  user_age: &team [churn_model, ltv_model]\n  plan: *team\n"
    d = declarations.parse(text, "f.yaml")
    assert d.features == {
        "user_age": ("churn_model", "ltv_model"),
        "plan": ("churn_model", "ltv_model"),
    }


def test_a_large_valid_file_under_the_limit_is_read(tmp_path):
    path = tmp_path / "consumers.yaml"
    path.write_text(big(declarations.MAX_BYTES // 4), encoding="utf-8")
    assert len(declarations.load(path).features) > 10_000


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "consumers.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + DECLARED.encode("utf-8"))
    assert "user_age" in declarations.load(path).features


# --- the short form (3.6) ---------------------------------------------------------------------


def test_short_form_is_features_with_scope_all():
    d = declarations.parse(
        "session_count: [churn_model, recommender]\nuser_age: [churn_model]\n", "f.yaml"
    )
    assert d.features == {
        "session_count": ("churn_model", "recommender"),
        "user_age": ("churn_model",),
    }
    assert d.scope == "all"


def test_short_form_may_set_scope_and_outputs():
    d = declarations.parse("scope: listed\nplan: [m]\noutputs:\n  m_score: m\n", "f.yaml")
    assert (d.features, d.scope, d.outputs) == ({"plan": ("m",)}, "listed", {"m_score": "m"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # A near-miss of a reserved key is a typo, not a feature.
        ("featurs: [a]\n", "unknown top-level key 'featurs' (did you mean 'features'?)"),
        ("scopes: [a]\n", "unknown top-level key 'scopes' (did you mean 'scope'?)"),
        # A top-level key that is not a list of consumers is not a feature.
        ("owners: me\n", "unknown top-level key 'owners'"),
        ("owners: {a: b}\n", "unknown top-level key 'owners'"),
        # In the versioned form every feature goes under 'features'.
        ("features: {}\nowners: [me]\n", "features go under 'features'"),
        ("version: 1\nuser_age: [m]\n", "unknown top-level key 'user_age'"),
        ("user_age: [m, 3]\n", "lists 3, which is not a consumer name"),
        ("2024: [m]\n", "feature name 2024 is a number, not a string; quote it"),
    ],
)
def test_short_form_problems(text, problem):
    with pytest.raises(InputError, match=None) as info:
        declarations.parse(text, "f.yaml")
    assert problem in str(info.value)


def test_short_form_gates_the_consumers_command(tmp_path):
    """The README's format works end to end: an undeclared consumer fails the gate."""
    from mlflow.tracking import MlflowClient

    from support.lineage import team_scenario

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    team_scenario(MlflowClient(tracking_uri=uri, registry_uri=uri))
    path = tmp_path / "consumers.yaml"
    path.write_text(
        "user_age: [churn_model, ltv_model, fraud_model]\n"
        "session_count: [churn_model, recommender]\n"
        "plan: [churn_model]\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli,
        ["consumers", "--tracking-uri", uri, "--declared", str(path), "--fail-on", "undeclared"],
    )
    assert result.exit_code == 1, result.output
    assert "Undeclared consumers (1)\n  session_count: ads_ranker" in result.stdout


@pytest.mark.parametrize("kind", ["deep-lists", "deep-flow-mappings", "billion-laughs"])
def test_the_pure_python_parser_is_bounded_too(monkeypatch, kind):
    """Without libyaml the shape check runs on PyYAML's own (non-recursive) parser."""
    import yaml

    monkeypatch.setattr(declarations, "_SafeLoader", yaml.SafeLoader)
    with pytest.raises(InputError) as info:
        declarations.parse(HOSTILE_TEXT[kind], "f.yaml")
    assert "levels deep" in str(info.value) or "YAML nodes" in str(info.value)
