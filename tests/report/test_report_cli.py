"""`mlflow-debt report` end to end: formats, files, the --fail-on gate, bad input, hostile names.

Marked ``backends``: tests on ``tracking_uri`` also run against a real
``mlflow server`` (SQLite and PostgreSQL behind it).
"""

from __future__ import annotations

import html
import json
import re

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.report.model import CHECK_IDS
from mlflow_debt.report.text import md_text

from support.lineage import NEW_AGE, OLD_AGE, PLAN, SESSIONS, make_run, write_declarations
from support.report import clean_version

pytestmark = pytest.mark.backends  # store tests also run against the servers

XSS = "<script>alert(1)</script>"
IMG = '<img src=x onerror="window.__xss=1">'

DECLARED = """\
version: 1
scope: listed
features:
  user_age: [churn_model, ltv_model]
"""


def debt_scenario(client: MlflowClient) -> None:
    """A small team with one piece of debt per check (except the prune history)."""
    client.create_registered_model("churn_model", tags={"mlflow_debt.max_versions": "1"})
    clean_version(
        client,
        "churn_model",
        {"user_age": OLD_AGE, "plan": SESSIONS},
        experiment="churn",
        metrics={"accuracy": 0.8},
    )
    clean_version(
        client,
        "churn_model",
        {"user_age": NEW_AGE, "plan": SESSIONS},
        experiment="churn",
        start=50,
        metrics={"accuracy": 0.9},
    )
    # ltv_model's previous run still computed legacy_flag; its latest does not.
    make_run(
        client,
        "ltv",
        {"user_age": OLD_AGE, "legacy_flag": PLAN},
        start=5,
        extra_tags={"mlflow_debt.consumer": "ltv_model"},
    )
    clean_version(client, "ltv_model", {"user_age": OLD_AGE}, experiment="ltv", start=10)
    clean_version(
        client,
        "ads_ranker",
        {"churn_model_score": SESSIONS, XSS: SESSIONS, IMG: SESSIONS},
        experiment="ads",
        start=20,
        commit=None,
    )
    clean_version(client, "fraud_model", None, experiment="fraud", start=30)


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """The debt scenario on SQLite, built once for this module's read-only tests."""
    path = tmp_path_factory.mktemp("debt") / "mlflow.db"
    uri = f"sqlite:///{path}"
    debt_scenario(MlflowClient(tracking_uri=uri, registry_uri=uri))
    return uri


def report(uri: str, *args: str):
    return run("report", "--tracking-uri", uri, *args)


def as_json(uri: str, *args: str) -> dict:
    result = report(uri, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- the page ---------------------------------------------------------------------------------


def test_html_report_is_one_self_contained_page(tracking_uri, client, tmp_path):
    debt_scenario(client)
    out = tmp_path / "report.html"
    result = report(tracking_uri, "--output", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert re.fullmatch(
        r"Wrote .*report\.html: \d+ of \d+ checks failed, \d+ findings .*\n", result.stderr
    )
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>")
    assert "<svg" in page
    assert not re.search(r"(src|href)=\"https?://", page)  # no CDN, no network
    # One SVG node per feature and per model of the graph.
    doc = as_json(tracking_uri)
    for node in doc["graph"]["nodes"]:
        assert f'data-name="{html.escape(node["name"], quote=True)}"' in page, node
    names = {n["name"] for n in doc["graph"]["nodes"]}
    assert {"user_age", "churn_model_score", XSS, "churn_model", "ads_ranker"} <= names
    # Hostile names are text, never markup.
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert html.escape(XSS) in page
    for check_id in CHECK_IDS:
        assert f'id="{check_id}"' in page


def test_markdown_json_and_html_carry_the_same_findings(store):
    doc = as_json(store)
    md = report(store, "--format", "markdown").stdout
    page = report(store, "--format", "html").stdout
    found = [f for c in doc["checks"] for f in c["findings"]]
    assert {f["check"] for f in found} == set(CHECK_IDS) - {
        "stale-declaration",
        "prune-history",
        "undeclared-consumer",
        "configuration-debt",  # planted in test_report_sculley.py
        "feedback-loop",
    }
    assert doc["summary"]["findings"] == len(found)
    for f in found:
        assert md_text(f["message"]) in md, f["message"]
        assert (
            html.escape(f["message"], quote=True) in page
            or html.escape(f["message"], quote=False) in page
        )
    # Every check has its section in both, with its status.
    for c in doc["checks"]:
        assert f"(`{c['id']}`) — " in md
    assert md.count("| 🔴 high |") + md.count("| 🟠 medium |") + md.count("| 🟡 low |") == len(
        found
    )
    # Markdown stays inert too: no raw HTML from the store.
    assert "<script>" not in md
    assert "&lt;script&gt;" in md


def test_json_summary_scores_and_top_three(store):
    doc = as_json(store)
    assert doc["schema"] == 1
    scores = {s["model"]: s for s in doc["summary"]["scores"]}
    assert set(scores) == {"churn_model", "ltv_model", "ads_ranker", "fraud_model"}
    assert "version-limit" in scores["churn_model"]["failed"]
    assert scores["ads_ranker"]["failed"] == ["correction-cascade", "reproducibility"] or set(
        scores["ads_ranker"]["failed"]
    ) == {"correction-cascade", "reproducibility"}
    assert all(s["passed"] + len(s["failed"]) == s["applicable"] for s in scores.values())
    top = doc["summary"]["top"]
    assert len(top) == 3
    assert top[0]["check"] == "entanglement"
    assert top[0]["severity"] == "high"
    assert len({t["check"] for t in top}) == 3


def test_format_follows_the_output_suffix(store, tmp_path):
    for name, check in [
        ("r.json", lambda t: json.loads(t)["schema"] == 1),
        ("r.md", lambda t: t.startswith("# ML technical debt report")),
        ("r.html", lambda t: "<svg" in t),
    ]:
        result = report(store, "-o", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        assert check((tmp_path / name).read_text(encoding="utf-8")), name
    assert report(store).stdout.startswith("# ML technical debt report")  # stdout: markdown


@pytest.mark.parametrize("name", ["report.pdf", "report.txt", "report"])
def test_a_file_whose_suffix_names_no_format_needs_format(store, tmp_path, name):
    """One rule: --format, else the suffix; HTML is never written into a .pdf."""
    out = tmp_path / name
    result = report(store, "--output", str(out))
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: --output {str(out)!r}: cannot tell the format from "), line
    assert line.endswith("use .html, .md or .json, or give --format html|markdown|json"), line
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    result = report(store, "--output", str(out), "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("# ML technical debt report")


def test_the_help_states_the_one_format_rule():
    text = run("report", "--help").stdout
    flat = " ".join(text.split())
    assert "another suffix needs --format" in flat
    assert "standard output gets markdown" in flat
    assert "else markdown" not in flat


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_report_files_follow_the_umask(store, tmp_path, umask, mode):
    import os
    import stat

    old = os.umask(umask)
    try:
        out = tmp_path / "r.json"
        assert report(store, "--output", str(out)).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == mode
        # Replacing an existing report gives it the same permissions.
        out.chmod(0o600)
        assert report(store, "--output", str(out)).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == mode
    finally:
        os.umask(old)


def test_model_and_experiment_selection(store):
    doc = as_json(store, "--model", "ltv_model")
    assert [s["model"] for s in doc["summary"]["scores"]] == ["ltv_model"]
    assert doc["scope"]["models"] == ["ltv_model"]
    found = [f for c in doc["checks"] for f in c["findings"]]
    assert found
    assert all("ltv_model" in f["models"] for f in found)
    doc = as_json(store, "--experiment", "ltv")
    assert doc["scope"]["experiments"] == ["ltv"]


# --- the gate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [
        ("entanglement", 1),
        ("version-limit", 1),
        ("correction-cascade", 1),
        ("lineage-gap", 1),
        ("reproducibility", 1),
        ("undeclared-consumer", 0),
        ("prune-history", 0),
        ("stale-declaration", 0),
        ("underutilized-feature,prune-history", 1),
        ("stale-declaration,prune-history", 0),
        ("any", 1),
    ],
)
def test_fail_on_each_check_id(store, tmp_path, fail_on, code):
    declared = write_declarations(tmp_path, DECLARED)
    out = tmp_path / "r.html"
    result = report(store, "--declared", declared, "--fail-on", fail_on, "-o", str(out))
    assert result.exit_code == code, result.output
    assert out.exists()  # the report is written before the gate fails
    if code:
        assert result.stderr.splitlines()[-1].startswith("Error: --fail-on: found ")
    else:
        assert "Error" not in result.stderr


def test_fail_on_names_what_it_found(store):
    result = report(
        store, "--format", "json", "--fail-on", "entanglement", "--fail-on", "reproducibility"
    )
    assert result.exit_code == 1
    assert (
        result.stderr.strip() == "Error: --fail-on: found 1 in entanglement, 1 in reproducibility"
    )
    json.loads(result.stdout)  # the report itself is intact


def test_fail_on_a_check_that_passes_exits_zero(tracking_uri, client):
    clean_version(client, "churn_model", ["user_age"])
    result = report(tracking_uri, "--fail-on", "any", "--format", "json")
    assert result.exit_code == 0, result.output


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--fail-on", "entanglment"],
            "unknown check 'entanglment' (did you mean 'entanglement'?)",
        ),
        (
            ["--fail-on", "undeclared-consumer"],
            "--fail-on undeclared-consumer needs --declared FILE",
        ),
        (["--model", "nope"], 'Registered model "nope" does not exist'),
        (["--experiment", "nope"], "Experiment 'nope' does not exist"),
        (["--declared", "missing.yaml"], "Declarations file 'missing.yaml' does not exist"),
        (["--output", "no/such/dir/r.html"], "directory 'no/such/dir' does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(store, args, message):
    result = report(store, *args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: "), line
    assert message in line, line
    assert "Traceback" not in result.output


def test_an_empty_store_reports_what_it_could_not_judge(tracking_uri):
    result = report(tracking_uri, "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert "No run carries feature tags: nothing to draw." in result.stdout
    assert "➖ skipped" in result.stdout


def test_unreachable_server_is_exit_3():
    result = report("http://127.0.0.1:9")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: Cannot reach the tracking server")
