"""``--fail-on`` is one vocabulary for ``report`` and ``consumers`` (issue 10, 3.11), an empty
gate is a usage error, and ``report``'s ``--output`` suffix and ``--format`` agree (3.10)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.consumers.analysis import GATE_ALIASES, GATE_CHECKS
from mlflow_debt.errors import InputError
from mlflow_debt.gates import parse_fail_on
from mlflow_debt.report.model import CHECK_IDS

from support.lineage import DECLARED, team_scenario, write_declarations

STALE = DECLARED + "  legacy_flag: [churn_model]\n"


@pytest.fixture(scope="module")
def team_uri(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("team") / "mlflow.db"
    uri = f"sqlite:///{path}"
    team_scenario(MlflowClient(tracking_uri=uri, registry_uri=uri))
    return uri


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def assert_usage_error(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr


# --- the parser -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "ids"),
    [
        (("undeclared",), ("undeclared-consumer",)),
        (("changed",), ("entanglement",)),
        (("any",), GATE_CHECKS),
        (("stale-declaration,undeclared",), ("undeclared-consumer", "stale-declaration")),
        (("entanglement", "changed"), ("entanglement",)),
        (("entanglement,,stale-declaration",), ("entanglement", "stale-declaration")),
    ],
)
def test_consumers_vocabulary(values, ids):
    assert parse_fail_on(values, GATE_CHECKS, GATE_ALIASES) == ids


@pytest.mark.parametrize("value", ["", ",", ",,", " , "])
def test_an_empty_gate_is_an_error(value):
    with pytest.raises(InputError, match="names no check"):
        parse_fail_on((value,), CHECK_IDS)


# --- consumers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fail_on", "found"),
    [
        ("undeclared-consumer", "1 undeclared consumer(s)"),
        ("entanglement", "1 changed definition(s)"),
        ("stale-declaration", "1 stale declaration(s)"),
        ("undeclared", "1 undeclared consumer(s)"),
        ("changed", "1 changed definition(s)"),
        (
            "any",
            "1 undeclared consumer(s), 1 changed definition(s), 1 stale declaration(s)",
        ),
        ("entanglement,stale-declaration", "1 changed definition(s), 1 stale declaration(s)"),
    ],
)
def test_consumers_fail_on_takes_the_report_check_ids(team_uri, tmp_path, fail_on, found):
    decl = write_declarations(tmp_path, STALE)
    result = run("consumers", "--tracking-uri", team_uri, "--declared", decl, "--fail-on", fail_on)
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: --fail-on {fail_on}: found {found}\n"


@pytest.mark.parametrize("command", ["consumers", "report"])
@pytest.mark.parametrize("value", ["", ",,"])
def test_an_empty_fail_on_is_a_usage_error(team_uri, command, value):
    result = run(command, "--tracking-uri", team_uri, "--fail-on", value)
    assert_usage_error(result, "names no check")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-on", "stale-declaration"], "--fail-on stale-declaration needs --declared FILE"),
        (["--fail-on", "undeclared-consumer"], "--fail-on undeclared-consumer needs --declared"),
        (
            ["--fail-on", "entanglment"],
            "unknown check 'entanglment' (did you mean 'entanglement'?)",
        ),
        (["--fail-on", "version-limit"], "unknown check 'version-limit'"),
    ],
)
def test_consumers_fail_on_errors(team_uri, args, message):
    assert_usage_error(run("consumers", "--tracking-uri", team_uri, *args), message)


def test_consumers_entanglement_gate_needs_no_declarations(team_uri):
    result = run("consumers", "--tracking-uri", team_uri, "--fail-on", "entanglement")
    assert result.exit_code == 1
    assert result.stderr == "Error: --fail-on entanglement: found 1 changed definition(s)\n"


# --- report: the output suffix and --format ---------------------------------------------------


@pytest.mark.parametrize(
    ("output", "fmt"),
    [("x.html", "json"), ("x.md", "html"), ("x.json", "markdown"), ("X.HTM", "markdown")],
)
def test_report_suffix_and_format_must_agree(team_uri, tmp_path, output, fmt):
    path = tmp_path / output
    result = run("report", "--tracking-uri", team_uri, "--output", str(path), "--format", fmt)
    assert_usage_error(result, f"--format is {fmt}")
    assert not path.exists()


@pytest.mark.parametrize(
    ("output", "fmt", "starts"),
    [
        ("x.json", "json", "{"),
        ("x.html", "html", "<!DOCTYPE html>"),
        ("x.md", "markdown", "# ML technical debt report"),
        ("x.txt", "json", "{"),  # a suffix that names no format: --format decides
        ("report", "markdown", "# ML technical debt report"),
    ],
)
def test_report_suffix_and_format_that_agree(team_uri, tmp_path, output, fmt, starts):
    path = tmp_path / output
    result = run("report", "--tracking-uri", team_uri, "--output", str(path), "--format", fmt)
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8").startswith(starts)
