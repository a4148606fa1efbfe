"""Store strings are untrusted (issue 10, 3.4): nothing from the store reaches a terminal raw, and
Markdown output renders them as text (no HTML, no images, no links, no table breaks).

A real SQLite store whose feature names, consumer names and aliases are hostile; every command
that prints them (``features``, ``consumers``, ``impact``, ``report --format markdown``) is run
through click, in each text format. JSON carries the names unchanged.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.output import md_code, md_text, terminal_safe

from support.lineage import OLD_AGE, SESSIONS, make_run, register

CLEAR = "\x1b[2J"
OSC8 = "\x1b]8;;http://evil.example/\x07click me\x1b]8;;\x07"
TITLE = "\x1b]0;pwned\x07"
IMG = "<img src=x onerror=alert(1)>"
MD_IMG = "![](http://evil.example/pixel.png)"
MD_LINK = "[docs](http://evil.example/)"
PIPE = "a|b\nc"

HOSTILE_FEATURES = {
    f"age{CLEAR}": OLD_AGE,
    OSC8: SESSIONS,
    IMG: SESSIONS,
    MD_IMG: SESSIONS,
    MD_LINK: SESSIONS,
    PIPE: SESSIONS,
}
#: A consumer named by its run's consumer tag (any string; registered model names are stricter).
HOSTILE_CONSUMER = f"team{TITLE}<script>x</script>"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[str, str]:
    """(tracking URI, id of the run that trained on every hostile feature)."""
    path = tmp_path_factory.mktemp("hostile") / "mlflow.db"
    uri = f"sqlite:///{path}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run_id = make_run(client, "exp", HOSTILE_FEATURES)
    register(client, "churn_model", run_id)
    make_run(
        client,
        "exp",
        {f"age{CLEAR}": OLD_AGE, OSC8: SESSIONS},
        start=5,
        extra_tags={"mlflow_debt.consumer": HOSTILE_CONSUMER},
    )
    return uri, run_id


CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def outside_code(md: str) -> str:
    """``md`` without its code spans (in a code span nothing is markup: ``<img>`` is text)."""
    return re.sub(r"`[^`\n]*`", "", md)


def assert_terminal_safe(text: str) -> None:
    """No control character but the newlines that end lines; the sequences shown escaped."""
    assert CONTROL.search(text) is None, repr(text)
    assert "\\x1b" in text


# --- the helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (CLEAR, "\\x1b[2J"),
        ("a\nb\tc\r", "a\\nb\\tc\\r"),
        ("\u202eevil", "\\u202eevil"),
        ("größe", "größe"),
    ],
)
def test_terminal_safe_shows_control_characters(text, shown):
    assert terminal_safe(text) == shown


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        (IMG, "&lt;img src=x onerror=alert(1)&gt;"),
        (MD_IMG, "!\\[\\](http://evil.example/pixel.png)"),
        (MD_LINK, "\\[docs\\](http://evil.example/)"),
        ("a|b\nc", "a\\|b c"),
        ("x & y", "x &amp; y"),
        ("`code`", "\\`code\\`"),
        (CLEAR, "\\x1b\\[2J"),
        ("user_age", "user_age"),
    ],
)
def test_md_text_makes_store_strings_inert(text, rendered):
    assert md_text(text) == rendered


def test_md_code_falls_back_to_text_and_stays_terminal_safe():
    assert md_code("mlflow-debt impact user_age") == "`mlflow-debt impact user_age`"
    assert md_code("a`b") == "a\\`b"
    assert md_code(f"x{CLEAR}|y") == "`x\\x1b[2J\\|y`"


# --- the commands -----------------------------------------------------------------------------


def test_features_text_is_terminal_safe_and_json_is_unchanged(store):
    uri, run_id = store
    text = run("features", run_id, "--tracking-uri", uri)
    assert text.exit_code == 0
    assert_terminal_safe(text.stdout)
    assert "age\\x1b[2J" in text.stdout
    data = json.loads(run("features", run_id, "--tracking-uri", uri, "--format", "json").stdout)
    assert {f["name"] for f in data["features"]} == set(HOSTILE_FEATURES)


def test_consumers_text_is_terminal_safe(store):
    uri, _ = store
    result = run("consumers", "--tracking-uri", uri)
    assert result.exit_code == 0
    assert_terminal_safe(result.stdout)
    assert "\\x1b]8;;http://evil.example/\\x07click me" in result.stdout
    assert "team\\x1b]0;pwned\\x07" in result.stdout


def test_consumers_markdown_escapes_html_images_links_and_pipes(store):
    uri, _ = store
    result = run("consumers", "--tracking-uri", uri, "--format", "markdown")
    assert result.exit_code == 0
    md = result.stdout
    assert_terminal_safe(md)
    prose = outside_code(md)
    assert "<img" not in prose
    assert "<script" not in md
    assert "![](" not in prose
    assert "[docs](" not in prose
    assert "!\\[\\](http://evil.example/pixel.png)" in md
    assert "&lt;img src=x onerror=alert(1)&gt;" in md
    assert "a\\|b c" in md
    # Each table row has as many cell separators as its header.
    _assert_rows_have_header_width(md)


def test_consumers_json_carries_names_unchanged(store):
    uri, _ = store
    data = json.loads(run("consumers", "--tracking-uri", uri, "--format", "json").stdout)
    assert set(data["features"]) == set(HOSTILE_FEATURES)
    assert HOSTILE_CONSUMER in data["consumers"]


@pytest.mark.parametrize("feature", [f"age{CLEAR}", OSC8, IMG, MD_IMG, PIPE])
def test_impact_text_and_markdown(store, feature):
    uri, _ = store
    text = run("impact", feature, "--tracking-uri", uri)
    assert text.exit_code == 0
    assert CONTROL.search(text.stdout) is None
    assert "may invalidate" in text.stdout
    md = run("impact", feature, "--tracking-uri", uri, "--format", "markdown").stdout
    assert CONTROL.search(md) is None
    prose = outside_code(md)
    assert "<img" not in prose
    assert "<script" not in prose
    assert "![](" not in prose
    _assert_rows_have_header_width(md)


def test_impact_of_an_unknown_hostile_name_echoes_it_safely(store):
    uri, _ = store
    result = run("impact", f"nope{TITLE}", "--tracking-uri", uri)
    assert result.exit_code == 0
    assert "nope\\x1b]0;pwned\\x07" in result.stdout
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout


def test_report_markdown_is_terminal_safe_and_inert(store):
    uri, _ = store
    result = run("report", "--tracking-uri", uri, "--format", "markdown")
    assert result.exit_code == 0
    md = result.stdout
    assert CONTROL.search(md) is None, repr(md)
    prose = outside_code(md)
    assert "<img" not in prose
    assert "<script" not in prose
    assert "![](" not in prose
    # The Mermaid graph: one node per line, so a name cannot close the code fence.
    fence = md.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert all(line.startswith("  ") or line == "graph LR" for line in fence.splitlines())


def _assert_rows_have_header_width(md: str) -> None:
    width = None
    for line in md.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        cells = len(re.split(r"(?<!\\)\|", line))
        if width is None:
            width = cells
        assert cells == width, line
