"""Help text is documentation: every command has help, examples, and a place in the README."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
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
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 130 |"):
        assert code in README
    from mlflow_debt import errors

    documented = (errors.__doc__ or "").splitlines()
    for code in (0, 1, 2, 3, 4, 130):
        assert any(line.startswith(f"* {code} ") for line in documented), code
    assert "bash scripts/demo.sh" in README
    assert "bash scripts/test.sh" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci


def test_the_top_level_help_names_every_engine_the_readme_names() -> None:
    """Capture covers scikit-learn, xgboost, lightgbm and Spark ML: ``--help`` says so too."""
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    help_text = " ".join(result.output.split())
    for engine in ("scikit-learn", "xgboost", "lightgbm", "Spark ML"):
        assert engine in README, engine
        assert engine in help_text, engine


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
    assert "features" in out.stdout
    assert "prune" in out.stdout


def test_the_everyday_tier_is_one_marker_expression_everywhere() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    (core,) = re.findall(r"^CORE='([^']+)'$", ci, re.MULTILINE)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"CORE := {core}\n" in makefile
    test_sh = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    for text in (README, test_sh):
        found = set(re.findall(r'-m "(not slow[^"]*)"', text))
        assert found == {core}, found
    assert "everyday" in test_sh


def test_every_report_check_is_documented() -> None:
    from mlflow_debt.report.model import CHECKS

    guide = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")
    for check in CHECKS:
        assert f"### `{check.id}` — {check.title}" in guide, check.id
        assert f"| `{check.id}` |" in README, check.id
    assert (ROOT / "docs" / "images" / "debt-report.png").exists()


# --- the documented JSON is the real JSON ---------------------------------------------------------
#
# Every ```json block in docs/*.md is an example of one command's output, tagged on the line
# before it with that command: ``<!-- contract: mlflow-debt consumers --format json -->``. Each is
# parsed and its keys are checked against the real output of that command on a real store (the
# example team's, with a pruned model and a declarations file), so "stable: extended, never
# broken" is tested. Values are examples; keys, nesting and value types are the contract.

CONTRACT = re.compile(
    r"<!-- contract: (?P<command>mlflow-debt [^>]*?) -->\s*\n```json\n(?P<body>.*?)\n```", re.DOTALL
)
DOCS = sorted((ROOT / "docs").glob("*.md"))


def json_examples() -> list[Any]:
    found = []
    for doc in DOCS:
        for match in CONTRACT.finditer(doc.read_text(encoding="utf-8")):
            line = doc.read_text(encoding="utf-8")[: match.start()].count("\n") + 1
            found.append(
                pytest.param(
                    match["command"], match["body"], id=f"{doc.name}:{line}:{match['command']}"
                )
            )
    return found


def test_every_json_example_in_the_docs_is_tagged_with_its_command() -> None:
    untagged = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        tagged = {m.start("body") for m in CONTRACT.finditer(text)}
        for fence in re.finditer(r"^```json\n", text, re.MULTILINE):
            if fence.end() not in tagged:
                untagged.append(f"{doc.name}:{text[: fence.start()].count(chr(10)) + 1}")
    assert not untagged, (
        f"```json blocks without a <!-- contract: mlflow-debt ... --> tag: {untagged}"
    )
    assert json_examples(), "no tagged JSON examples found"


DOCS_DECLARATIONS = """\
version: 1
features:
  user_age: [churn_model, ltv_model, fraud_model]
  session_count: [churn_model, recommender]
  plan: [churn_model]
"""


@pytest.fixture(scope="module")
def docs_store(tmp_path_factory) -> Path:
    """The store the examples describe: the example team (support.lineage), a model with more
    versions than its limit (one of them protected by an alias), and one pruned already, so
    every list the examples show has an element to compare with."""
    from mlflow.tracking import MlflowClient

    from support.lineage import team_scenario
    from support.prune import make_model

    path = tmp_path_factory.mktemp("docs") / "mlflow.db"
    uri = f"sqlite:///{path}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    team_scenario(client)
    make_model(client, "churn", [0.71, 0.74, 0.79, 0.83, 0.81, 0.65])
    client.set_registered_model_alias("churn", "champion", "6")
    make_model(client, "old_model", [0.5, 0.6, 0.7], experiment="old")
    result = CliRunner().invoke(
        cli, ["prune", "--model", "old_model", "--max-versions", "1", "--tracking-uri", uri]
    )
    assert result.exit_code == 0, result.output
    return path


def missing_keys(example: Any, real: Any, path: str = "$") -> list[str]:
    """Where ``example`` has a key, nesting or value type that ``real`` does not.

    A dict of the real output whose values are all objects and that lacks an example's key is a
    map keyed by data (model or feature names): the example's entry is checked against its
    entries. A list's example elements are each checked against some real element. ``"..."``
    keys mark an abridged example.
    """
    if isinstance(example, dict):
        return _missing_in_object(example, real, path)
    if isinstance(example, list):
        return _missing_in_list(example, real, path)
    return _wrong_type(example, real, path)


def _missing_in_object(example: dict[str, Any], real: Any, path: str) -> list[str]:
    if not isinstance(real, dict):
        return [f"{path}: documented as an object, is {type(real).__name__}"]
    problems = []
    for key, value in example.items():
        if key == "...":
            continue
        if key in real:
            problems += missing_keys(value, real[key], f"{path}.{key}")
        elif real and all(isinstance(v, dict) for v in real.values()):
            candidates = [missing_keys(value, v, f"{path}[{key!r}]") for v in real.values()]
            problems += min(candidates, key=len)
        else:
            problems.append(f"{path}.{key}: documented, not in the real output")
    return problems


def _missing_in_list(example: list[Any], real: Any, path: str) -> list[str]:
    if not isinstance(real, list):
        return [f"{path}: documented as a list, is {type(real).__name__}"]
    problems = []
    for i, item in enumerate(example):
        if not real:
            problems.append(f"{path}[{i}]: the real output's list is empty (docs store gap)")
            continue
        problems += min((missing_keys(item, r, f"{path}[{i}]") for r in real), key=len)
    return problems


def _wrong_type(example: Any, real: Any, path: str) -> list[str]:
    if example is None or real is None:
        return []
    for kind in [(bool,), (int, float), (str,)]:
        if isinstance(example, kind):
            if isinstance(real, kind) and not (isinstance(real, bool) and bool not in kind):
                return []
            return [f"{path}: documented as {type(example).__name__}, is {type(real).__name__}"]
    return []


@pytest.mark.parametrize(("command", "body"), json_examples())
def test_json_example_keys_match_the_real_output(
    command: str, body: str, docs_store: Path, tmp_path: Path
) -> None:
    example = json.loads(body)  # every example is valid JSON
    store = tmp_path / "mlflow.db"
    shutil.copyfile(docs_store, store)
    (tmp_path / "declared_consumers.yaml").write_text(DOCS_DECLARATIONS, encoding="utf-8")
    args = shlex.split(command)[1:]
    result = CliRunner().invoke(cli, [*args, "--tracking-uri", f"sqlite:///{store}"])
    assert result.exit_code in (0, 1), result.output
    real = json.loads(result.stdout)
    assert missing_keys(example, real) == []


# --- every shell example runs on the demo's store -------------------------------------------------
#
# A fenced ``bash``/``console`` block (or a bare one whose lines start with ``$ ``) that mentions
# ``mlflow-debt`` is an example: each of its commands runs, in order, on a copy of the demo's
# store (tests/support/demo.py, what ``scripts/demo.sh`` leaves), from a directory holding the
# example project's declarations file, and must exit 0 (0 or 1 with ``--fail-on``). A block that
# cannot run there (it needs a tracking server, a secret, a run id of yours, or shows another
# store's output) starts with the visible comment ``# illustrative: <why>``; its commands must still
# parse (real commands, real options). ``> FILE`` and ``| jq '.a.b'`` are followed.

SHELL_DOCS = [ROOT / "README.md", *DOCS]
ILLUSTRATIVE = re.compile(r"^(\$ )?# illustrative\b")
FENCE = re.compile(r"^```(?P<lang>\S*)[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def shell_blocks() -> list[Any]:
    found = []
    for doc in SHELL_DOCS:
        text = doc.read_text(encoding="utf-8")
        for fence in FENCE.finditer(text):
            lang, body = fence["lang"], fence["body"]
            lines = body.splitlines()
            console = lang == "console" or (
                lang == "" and any(line.startswith("$ ") for line in lines)
            )
            if not (lang in ("bash", "sh", "shell") or console) or "mlflow-debt" not in body:
                continue
            line = text[: fence.start()].count("\n") + 1
            illustrative = bool(lines) and bool(ILLUSTRATIVE.match(lines[0]))
            found.append(
                pytest.param(
                    commands(lines, console=console),
                    illustrative,
                    id=f"{doc.relative_to(ROOT)}:{line}",
                )
            )
    return found


def commands(lines: list[str], *, console: bool) -> list[str]:
    """The command lines of a block: ``$ ``-prefixed in a console block, continuations joined."""
    out: list[str] = []
    pending = ""
    for raw in lines:
        if console and not pending:
            if not raw.startswith("$ "):
                continue  # the command's output
            raw = raw[2:]
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if line and not line.startswith("#"):
            out.append(line)
    return out


def test_the_examples_are_found() -> None:
    blocks = {b.id: b.values for b in shell_blocks()}
    runnable = [i for i, (_, illustrative) in blocks.items() if not illustrative]
    assert len(runnable) >= 5, blocks
    assert any(i.startswith("README.md:") for i in runnable), blocks
    assert sum(len(lines) for lines, _ in blocks.values()) >= 30, blocks


def parse_command(args: list[str]) -> None:
    """Resolve ``args`` to a command and parse its options as click would; raise if wrong."""
    ctx = cli.make_context("mlflow-debt", list(args), resilient_parsing=False)
    while isinstance(ctx.command, click.Group) and ctx.protected_args + ctx.args:
        _, command, rest = ctx.command.resolve_command(ctx, [*ctx.protected_args, *ctx.args])
        assert command is not None, args
        ctx = command.make_context(command.name, rest, parent=ctx)


def split_pipeline(line: str) -> tuple[list[str], str | None, list[str] | None]:
    """``mlflow-debt ARGS [> FILE] [| jq FILTER]`` as (args, file, jq argv)."""
    words = shlex.split(line, comments=True)
    jq = None
    if "|" in words:
        at = words.index("|")
        words, jq = words[:at], words[at + 1 :]
    target = None
    if ">" in words:
        at = words.index(">")
        words, target = words[:at], words[at + 1]
    return words, target, jq


def jq_path(doc: Any, expression: str) -> Any:
    """The value at a ``.a.b`` jq path (the only filter the examples use); KeyError if absent."""
    for key in filter(None, expression.split(".")):
        doc = doc[key]
    return doc


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from support.demo import build_demo_store

    return build_demo_store(tmp_path_factory.mktemp("demo"))


@pytest.mark.parametrize(("lines", "illustrative"), shell_blocks())
def test_every_shell_example_parses(lines: list[str], illustrative: bool) -> None:
    for line in lines:
        if illustrative and not line.startswith("mlflow-debt "):
            continue  # export, docker, ...: not ours to check
        assert line.startswith("mlflow-debt "), f"not an mlflow-debt command: {line}"
        args, _, _ = split_pipeline(line)
        parse_command(args[1:])


@pytest.mark.slow
@pytest.mark.parametrize(("lines", "illustrative"), shell_blocks())
def test_every_shell_example_runs_on_the_demo_store(
    lines: list[str], illustrative: bool, demo_store: Path, tmp_path: Path, monkeypatch
) -> None:
    if illustrative:
        pytest.skip("marked '# illustrative' in the doc")
    store = tmp_path / "mlflow.db"
    shutil.copyfile(demo_store, store)
    (tmp_path / "example_project").mkdir()
    shutil.copyfile(
        ROOT / "example_project" / "declared_consumers.yaml",
        tmp_path / "example_project" / "declared_consumers.yaml",
    )
    # As in a fresh shell: no tracking or registry URI set in-process by an earlier test (MLflow
    # keeps one set by set_tracking_uri, even "", over the environment variable).
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    monkeypatch.setattr("mlflow.tracking._model_registry.utils._registry_uri", None)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    for line in lines:
        args, target, jq = split_pipeline(line)
        result = CliRunner().invoke(cli, args[1:])
        allowed = (0, 1) if "--fail-on" in args else (0,)
        assert result.exit_code in allowed, (line, result.output)
        if target:
            (tmp_path / target).write_text(result.stdout, encoding="utf-8")
        if jq:
            assert jq[0] == "jq", line
            jq_path(json.loads(result.stdout), jq[-1])
