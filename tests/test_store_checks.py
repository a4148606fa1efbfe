"""Stores and settings that cannot be used fail fast, in one line, with the right exit code, and
keep secrets (issue 21 §2-§3): an unreadable, empty or foreign SQLite file, a password holding
"@", an unknown scheme, a bad port, an MLflow setting MLflow cannot parse, a webhook URL's
password."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import cli
from mlflow_debt.serve import webhooks


def one_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


# --- SQLite files ----------------------------------------------------------------------------


def test_a_0_byte_sqlite_file_is_not_an_empty_store_that_passes_the_gates(tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = invoke("report", "--fail-on", "any", "--tracking-uri", uri)
    assert result.exit_code == 2, result.output
    assert "is empty (0 bytes)" in one_error(result)
    assert (tmp_path / "mlflow.db").stat().st_size == 0  # not turned into a store


def test_a_file_that_is_not_sqlite_is_exit_2(tmp_path):
    (tmp_path / "notes.db").write_text("meeting notes, not a database\n")
    result = invoke("consumers", "--tracking-uri", f"sqlite:///{tmp_path}/notes.db")
    assert result.exit_code == 2, result.output
    assert "is not a SQLite database" in one_error(result)


def test_a_fresh_store_made_by_mlflow_itself_is_valid(tmp_path):
    uri = f"sqlite:///{tmp_path}/fresh.db"
    MlflowClient(tracking_uri=uri).search_experiments()  # MLflow creates and migrates it
    result = invoke("restore", "--list", "--tracking-uri", uri)
    assert result.exit_code == 0, result.output
    assert "No prune has been recorded." in result.stdout


def test_an_unreadable_sqlite_file_fails_at_once_without_mlflow(tmp_path, mocker):
    """Root reads a mode-000 file: the read failure is injected here (a real one, as another
    user, is the next test); what is asserted is that MLflow's store is never opened."""
    (tmp_path / "mlflow.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 84)
    real_open = Path.open

    def deny(self, *args, **kwargs):
        if self.name == "mlflow.db":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    mocker.patch.object(Path, "open", deny)
    opened = mocker.patch.object(MlflowClient, "__init__", side_effect=AssertionError("opened"))
    result = invoke("restore", "--list", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db")
    assert result.exit_code == 3, result.output
    assert "Cannot read the MLflow store" in one_error(result)
    assert "Permission denied" in one_error(result)
    opened.assert_not_called()


NOBODY = textwrap.dedent(
    """
    import os, sys, time
    import mlflow_debt.commands.prune, mlflow_debt.prune.audit, mlflow_debt.prune.render
    import mlflow, sqlalchemy.engine, urllib.parse, pathlib, pwd
    from mlflow_debt.cli import main
    os.setgid(pwd.getpwnam("nobody").pw_gid)
    os.setuid(pwd.getpwnam("nobody").pw_uid)  # the interpreter cannot import from here on
    main(["restore", "--list", "--tracking-uri", sys.argv[1]])
    """
)


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to the user nobody: needs root")
def test_a_mode_000_store_read_by_another_user_fails_within_seconds():
    """Before: 110 s of MLflow's retries. The process reads it as ``nobody``, for whom mode 000
    is really unreadable (root reads it anyway)."""
    where = Path(tempfile.mkdtemp(prefix="mlflow-debt-nobody-"))
    try:
        where.chmod(0o755)
        store = where / "mlflow.db"
        MlflowClient(tracking_uri=f"sqlite:///{store}").search_experiments()
        store.chmod(0o000)
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", NOBODY, f"sqlite:///{store}"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        )
        assert time.monotonic() - t0 < 30
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr.splitlines() == [
            f"Error: Cannot read the MLflow store sqlite:///{store}: {store}: Permission denied"
        ]
    finally:
        shutil.rmtree(where, ignore_errors=True)


# --- URIs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://mlflow:Secr3t@Tail9@127.0.0.1:1/mlflow",
        "postgresql+psycopg://mlflow:Secr3t@Tail9:7799@127.0.0.1/mlflow",
        "mysql://root:Hunt3r@Tail9@127.0.0.1:1/mlflow",
    ],
    ids=["at-in-password", "at-and-colon", "mysql"],
)
def test_a_password_holding_at_is_exit_2_and_never_printed(uri):
    result = invoke("consumers", "--tracking-uri", uri)
    assert result.exit_code == 2, result.output
    line = one_error(result)
    assert "percent-encoded as %40" in line
    password = uri.partition("://")[2].rpartition("@")[0].partition(":")[2]
    for piece in ("Secr3t", "Hunt3r", "Tail9", "7799"):
        assert piece not in result.output, piece
    assert password


def test_a_user_name_holding_at_is_left_to_the_driver():
    from mlflow_debt.store import connect

    assert not connect._password_has_at("postgresql://admin@server:pw@db.example/mlflow")
    assert connect._password_has_at("postgresql://admin:p@w@db.example/mlflow")


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("foo://bar", "unsupported URI"),
        ("http://127.0.0.1:99999", "port '99999'"),
        ("http://127.0.0.1:port", "port 'port'"),
        ("https://user:pw@127.0.0.1:0/", "port '0'"),
        ("postgresql://u:pw@127.0.0.1:5x/db", "port '5x'"),
    ],
)
def test_an_unknown_scheme_or_a_bad_port_is_exit_2_not_3(uri, says):
    t0 = time.monotonic()
    result = invoke("consumers", "--tracking-uri", uri)
    assert result.exit_code == 2, result.output
    line = one_error(result)
    assert says in line
    assert "pw" not in line
    assert time.monotonic() - t0 < 10


# --- MLflow's settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MLFLOW_HTTP_REQUEST_TIMEOUT", "abc"),
        ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.1"),  # MLflow reads a whole number
        ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "two"),
        ("MLFLOW_TRACKING_INSECURE_TLS", "maybe"),
    ],
)
@pytest.mark.usefixtures("tracking_uri")
def test_an_mlflow_setting_mlflow_cannot_parse_is_exit_2_naming_it(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    result = invoke("restore", "--list")
    assert result.exit_code == 2, result.output
    line = one_error(result)
    assert f"The MLflow setting {name}={value!r} is not valid" in line
    assert "internal error" not in line


@pytest.mark.usefixtures("tracking_uri")
def test_settings_mlflow_accepts_are_accepted(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "TRUE")
    assert invoke("restore", "--list").exit_code == 0


# --- serve install --------------------------------------------------------------------------------


def test_a_webhook_urls_password_is_never_echoed():
    url = "http://hook:Sup3r-s3cret@receiver.internal:8765/webhook"
    assert webhooks.shown_url(url) == "http://hook:***@receiver.internal:8765/webhook"
    with pytest.raises(Exception, match=r"\*\*\*") as info:
        webhooks.validate_url("ftp://hook:Sup3r-s3cret@receiver.internal/")
    assert "Sup3r" not in str(info.value)
