"""Usage errors are one line on stderr with a hint, exit 2 (issue 21 §3), for every command.

The cases are generated from the command tree itself (an unknown option for every command, a bad
value for every option that parses one, every missing required argument and option), so a new
command or option is covered without editing this file.
"""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from mlflow_debt.cli import cli


def _tree(
    group: click.Group, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(group)
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found.extend(_tree(command, (*path, name)))
    return found


def _needs(command: click.Command) -> list[str]:
    """Values that satisfy the command's required arguments (to reach its options)."""
    return ["x" for p in command.params if isinstance(p, click.Argument) and p.required]


def _cases() -> list[tuple[str, list[str]]]:
    cases: list[tuple[str, list[str]]] = [("unknown command", ["no-such-command"])]
    cases.append(("unknown top-level option", ["--no-such-option"]))
    for path, command in _tree(cli):
        shown = " ".join(path)
        cases.append((f"{shown}: unknown option", [*path, "--no-such-option"]))
        for param in command.params:
            if not isinstance(param, click.Option) or param.is_flag or param.hidden:
                continue
            if isinstance(param.type, (click.types.IntParamType, click.types.FloatParamType)):
                bad = "not-a-number"
            elif isinstance(param.type, click.Choice):
                bad = "not-a-choice"
            else:
                continue
            cases.append(
                (f"{shown}: bad {param.opts[0]}", [*path, *_needs(command), param.opts[0], bad])
            )
        if any(p.required for p in command.params):
            cases.append((f"{shown}: missing required", list(path)))
    return cases


CASES = _cases()


def test_the_cases_cover_the_tree():
    # Every command, every option that parses a value: well over the 27 the issue counted.
    assert len(CASES) >= 27


@pytest.mark.parametrize("args", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_a_usage_error_is_one_line_with_a_hint(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "--help'" in lines[0]
    assert result.stdout == ""


def test_the_console_script_prints_the_same_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "mlflow_debt", "prune", "--max-versions", "many"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "Error: Invalid value for '--max-versions': 'many' is not a valid integer range. "
        "(see 'mlflow-debt prune --help')"
    ]


def test_a_group_without_its_command_still_shows_its_help():
    result = CliRunner().invoke(cli, ["policy"])
    assert "policy [OPTIONS] COMMAND" in result.output
    assert "set" in result.output
