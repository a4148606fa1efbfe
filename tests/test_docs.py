"""Help text is documentation: every command has help, examples, and a place in the README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlflow_debt.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help_with_examples_and_is_in_the_readme(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output or name == "policy"
    assert f"mlflow-debt {name}" in README


def test_the_readme_documents_exit_codes_and_the_two_commands() -> None:
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert code in README
    assert "bash scripts/demo.sh" in README and "bash scripts/test.sh" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci


@pytest.mark.slow
def test_help_works_without_importing_mlflow() -> None:
    """`mlflow-debt --help` must be instant: subcommands load lazily."""
    code = (
        "import sys; from mlflow_debt.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('mlflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")
    assert "features" in out.stdout and "prune" in out.stdout


def test_every_report_check_is_documented() -> None:
    from mlflow_debt.report.model import CHECKS

    guide = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")
    for check in CHECKS:
        assert f"### `{check.id}` — {check.title}" in guide, check.id
        assert f"| `{check.id}` |" in README, check.id
    assert (ROOT / "docs" / "images" / "debt-report.png").exists()
