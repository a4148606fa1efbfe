"""Contracts of the command line at every edge (issue 10, section 3): exit codes, interrupts, store
errors on one line, secrets masked in every URI form, stores that cannot be used failing fast.

Real stores and real processes: commands run as ``mlflow-debt`` subprocesses where what reaches the
real stderr (MLflow's log lines) or a signal matters; a hanging server is a socket that accepts and
never answers; faults (an unexpected exception) are injected with pytest-mock only.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_debt.cli import COMMANDS, cli, main
from mlflow_debt.redact import redact

from support.prune import make_model

CLI = [sys.executable, "-m", "mlflow_debt"]
#: Documented exit codes (README, errors.py), pinned as numbers: they are an interface.
EXIT_INTERNAL, EXIT_INTERRUPTED = 4, 130
HTTP_ENV = (
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a real ``mlflow-debt`` process: MLflow's defaults, ours on top."""
    env = {k: v for k, v in os.environ.items() if k not in HTTP_ENV}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", GIT_PYTHON_REFRESH="quiet")
    env.pop("MLFLOW_DEBT_DEBUG", None)
    env.update(extra)
    return env


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# --- 3.1 exit codes ------------------------------------------------------------------------------


@pytest.mark.usefixtures("tracking_uri")
def test_an_unexpected_exception_is_one_line_and_exit_4(mocker) -> None:
    mocker.patch("mlflow_debt.store.get_client", side_effect=ZeroDivisionError("division by zero"))
    result = CliRunner().invoke(cli, ["features", "0" * 32])
    assert result.exit_code == EXIT_INTERNAL
    assert stderr_lines(result.output) == [
        "Error: internal error in mlflow-debt: ZeroDivisionError: division by zero; "
        "set MLFLOW_DEBT_DEBUG=1 for the traceback"
    ]


@pytest.mark.usefixtures("tracking_uri")
def test_mlflow_debt_debug_shows_the_traceback_and_still_exits_4(mocker, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_DEBT_DEBUG", "1")
    mocker.patch("mlflow_debt.store.get_client", side_effect=KeyError("oops"))
    result = CliRunner().invoke(cli, ["features", "0" * 32])
    assert result.exit_code == 4
    assert "Traceback (most recent call last)" in result.output
    assert (
        result.output.rstrip().splitlines()[-1].startswith("Error: internal error in mlflow-debt")
    )


def test_the_console_entry_point_maps_an_escaped_exception_to_4(mocker, capsys) -> None:
    """Outside a command (here: while resolving it) the entry point is the safety net."""
    mocker.patch("mlflow_debt.cli.LazyGroup.get_command", side_effect=RuntimeError("bug"))
    with pytest.raises(SystemExit) as exit_info:
        main(["features", "abc"])
    assert exit_info.value.code == 4
    assert stderr_lines(capsys.readouterr().err) == [
        "Error: internal error in mlflow-debt: RuntimeError: bug; "
        "set MLFLOW_DEBT_DEBUG=1 for the traceback"
    ]


def test_usage_errors_keep_click_exit_2_through_the_entry_point(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["prune", "--no-such-flag"])
    assert exit_info.value.code == 2
    assert "No such option" in capsys.readouterr().err


@contextlib.contextmanager
def prompt_process(tracking_uri: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``mlflow-debt prune`` on a terminal (a pty), stopped at its ``Delete N versions?`` prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*CLI, "prune", "--max-versions", "1", "--tracking-uri", tracking_uri],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=cli_env(),
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while b"Delete 2 versions?" not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            assert proc.poll() is None, seen.decode(errors="replace")
            with contextlib.suppress(OSError):
                seen += os.read(master, 4096)
        yield proc, master
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)


def read_all(master: int) -> str:
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("key", ["ctrl-c", "ctrl-d"])
def test_interrupt_at_the_confirmation_prompt_is_130_and_deletes_nothing(
    key: str, tracking_uri: str, client: MlflowClient
) -> None:
    make_model(client, "churn", [0.7, 0.8, 0.9])
    with prompt_process(tracking_uri) as (proc, master):
        if key == "ctrl-c":
            proc.send_signal(signal.SIGINT)
        else:
            os.write(master, b"\x04")
        assert proc.wait(timeout=60) == EXIT_INTERRUPTED
        output = read_all(master)
    assert "Interrupted." in output
    assert "Aborted!" not in output
    assert "Traceback" not in output
    assert len(client.search_model_versions("name = 'churn'")) == 3


@pytest.mark.slow
@pytest.mark.parametrize(("answer", "code", "left"), [(b"y\n", 0, 1), (b"n\n", 1, 3)])
def test_the_prompt_on_a_terminal_takes_yes_and_no(
    answer: bytes, code: int, left: int, tracking_uri: str, client: MlflowClient
) -> None:
    """The terminal prompt (our own select-based read, so Ctrl-C works beside native threads)."""
    make_model(client, "churn", [0.7, 0.8, 0.9])
    with prompt_process(tracking_uri) as (proc, master):
        os.write(master, answer)
        assert proc.wait(timeout=120) == code
        read_all(master)
    assert len(client.search_model_versions("name = 'churn'")) == left


# --- a server that hangs: accepts connections, never answers -------------------------------------


@contextlib.contextmanager
def hanging_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


@pytest.mark.slow
def test_a_hanging_server_is_given_up_on_within_about_30_s() -> None:
    with hanging_server() as url:
        t0 = time.monotonic()
        try:
            proc = subprocess.run(
                [*CLI, "consumers", "--tracking-uri", url],
                capture_output=True,
                text=True,
                env=cli_env(),
                timeout=90,
            )
        except subprocess.TimeoutExpired:
            pytest.fail("still waiting for a server that never answers after 90 s")
        elapsed = time.monotonic() - t0
    assert proc.returncode == 3, proc.stderr
    assert elapsed < 45, elapsed
    lines = stderr_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: "), proc.stderr
    assert "timed out" in lines[0]


@pytest.mark.slow
def test_ctrl_c_while_waiting_on_a_server_is_130_interrupted() -> None:
    with hanging_server() as url:
        proc = subprocess.Popen(
            [*CLI, "consumers", "--tracking-uri", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        time.sleep(4)  # well inside the first request
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert stderr_lines(err) == ["Interrupted."]


# --- 3.5 / 3.8 a database that cannot be used ----------------------------------------------------


@pytest.mark.slow
def test_postgres_with_nothing_listening_is_one_line_exit_3_within_15_s() -> None:
    """Today: 46 lines of MLflow's SQLAlchemy warnings over 103 s before the error."""
    uri = f"postgresql+psycopg://mlflow:p%40ss:w/rd@127.0.0.1:{free_port()}/mlflow"
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [*CLI, "consumers", "--tracking-uri", uri],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a PostgreSQL URI with nothing listening is still retried after 60 s")
    assert time.monotonic() - t0 < 15
    assert proc.returncode == 3, proc.stderr
    lines = stderr_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: Cannot connect to the tracking database")
    assert "MLFLOW_DEBT_DB_CONNECT_TIMEOUT" in lines[0]
    assert "p%40ss" not in proc.stderr
    assert "w/rd" not in proc.stderr


@pytest.mark.postgres
def test_a_wrong_database_password_is_one_line_exit_3_and_stays_secret() -> None:
    """A real PostgreSQL server that refuses the password: the probe's answer, not MLflow's
    retries, and the password masked."""
    base = os.environ.get("MLFLOW_DEBT_TEST_POSTGRES_URI")
    if not base:
        pytest.skip("PostgreSQL not configured: set MLFLOW_DEBT_TEST_POSTGRES_URI")
    from sqlalchemy.engine import make_url

    uri = make_url(base).set(password="n0t:th3@pass").render_as_string(hide_password=False)
    t0 = time.monotonic()
    result = CliRunner().invoke(cli, ["consumers", "--tracking-uri", uri])
    assert time.monotonic() - t0 < 15
    assert result.exit_code == 3, result.output
    lines = stderr_lines(result.output)
    assert len(lines) == 1, result.output
    assert "Cannot connect to the tracking database" in lines[0]
    assert "th3" not in result.output
    assert "n0t" not in result.output


def test_mysql_without_a_driver_is_one_line_exit_3_naming_what_to_install() -> None:
    pytest.importorskip("sqlalchemy")
    try:
        import MySQLdb  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("mysqlclient is installed here")
    result = CliRunner().invoke(
        cli, ["consumers", "--tracking-uri", "mysql://root:hunter2@127.0.0.1:3306/mlflow"]
    )
    assert result.exit_code == 3, result.output
    lines = stderr_lines(result.output)
    assert len(lines) == 1
    assert "Traceback" not in result.output
    assert "pip install mysqlclient" in lines[0]
    assert "mysql+DRIVER://" in lines[0]
    assert "hunter2" not in result.output


def test_the_database_connect_timeout_must_be_a_number(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_DEBT_DB_CONNECT_TIMEOUT", "soon")
    uri = f"postgresql+psycopg://u:pw@127.0.0.1:{free_port()}/db"
    result = CliRunner().invoke(cli, ["consumers", "--tracking-uri", uri])
    assert result.exit_code == 2
    assert "MLFLOW_DEBT_DB_CONNECT_TIMEOUT must be a whole number of seconds" in result.output


# --- 3.10 a mistyped SQLite store ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["consumers"], ["report"], ["prune", "--max-versions", "1", "--dry-run"], ["features", "x"]],
    ids=["consumers", "report", "prune-dry-run", "features"],
)
def test_a_sqlite_store_that_does_not_exist_is_exit_2_and_is_not_created(
    args: list[str], tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path}/no/such/dir/mlflow.db"
    result = CliRunner().invoke(cli, [*args, "--tracking-uri", uri])
    assert result.exit_code == 2, result.output
    assert stderr_lines(result.output) == [
        f"Error: No MLflow store at {uri}: {tmp_path}/no/such/dir/mlflow.db does not exist "
        "(check --tracking-uri / MLFLOW_TRACKING_URI)"
    ]
    assert not (tmp_path / "no").exists()


def test_mlflows_default_store_must_exist_too(monkeypatch, tmp_path: Path) -> None:
    from mlflow.tracking._tracking_service import utils

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(utils, "_tracking_uri", None)  # MLflow's own default, as in a fresh shell
    import mlflow

    if not mlflow.get_tracking_uri().startswith("sqlite:"):  # MLflow 3.1's default: ./mlruns
        pytest.skip(f"this MLflow's default store is {mlflow.get_tracking_uri()}, not SQLite")
    result = CliRunner().invoke(cli, ["consumers"])
    assert result.exit_code == 2, result.output
    assert f"No MLflow store at sqlite:///{tmp_path}/mlflow.db" in result.output
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.usefixtures("tracking_uri")
def test_an_existing_sqlite_store_still_works() -> None:
    result = CliRunner().invoke(cli, ["consumers", "--format", "json"])
    assert result.exit_code == 0, result.output


def test_the_library_api_opens_stores_as_mlflow_does(tmp_path: Path) -> None:
    """Outside a command (capture, ``get_features``) nothing is checked: the user's code's
    behaviour is MLflow's."""
    from mlflow_debt import store

    uri = f"sqlite:///{tmp_path}/fresh.db"
    store.get_client(uri).search_experiments()
    assert (tmp_path / "fresh.db").exists()


# --- 3.7 secrets in every URI form ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "shown"),
    [
        ("http://ghp_abc123@mlflow.internal", "ghp_abc123", "http://***@mlflow.internal"),
        ("https://alice:s3cret@host:5000/x", "s3cret", "https://alice:***@host:5000/x"),
        ("http://alice:p@ss@host", "p@ss", "http://alice:***@host"),
        ("http://alice:pa/ss@host/api", "pa/ss", "http://alice:***@host/api"),
        ("http://alice:pa:ss@host", "pa:ss", "http://alice:***@host"),
        ("http://alice:pa#ss@host", "pa#ss", "http://alice:***@host"),
        ("postgresql://mlflow:pw@db:5432/mlflow", "pw@", "postgresql://mlflow:***@db:5432/mlflow"),
        ("postgresql+psycopg://u:a@b/c#d@db/m", "a@b/c#d", "postgresql+psycopg://u:***@db/m"),
        ("mysql+pymysql://root:toor@db/mlflow", "toor", "mysql+pymysql://root:***@db/mlflow"),
        ("mssql+pyodbc://sa:Secr3t!@db/mlflow", "Secr3t!", "mssql+pyodbc://sa:***@db/mlflow"),
        (
            "mssql+pyodbc://?odbc_connect=DRIVER%3Dx%3BPWD%3Dhunter2%3BUID%3Dsa",
            "hunter2",
            "mssql+pyodbc://?odbc_connect=DRIVER%3Dx%3BPWD%3D***%3BUID%3Dsa",
        ),
        ("postgresql://db/mlflow?password=hunter2&x=1", "hunter2", "postgresql://db/mlflow?"),
        ("at (http://tok@h:5000) failed", "tok@", "at (http://***@h:5000) failed"),
    ],
)
def test_redact_masks_every_uri_form(text: str, secret: str, shown: str) -> None:
    masked = redact(f"Error: cannot reach {text}; retried")
    assert secret not in masked
    assert shown in masked


def test_redact_leaves_uris_without_credentials_alone() -> None:
    for text in ("sqlite:///tmp/mlflow.db", "http://127.0.0.1:5000/api/2.0", "runs:/abc/model"):
        assert redact(text) == text


@pytest.mark.parametrize(
    "uri",
    ["http://ghp_tokentoken@127.0.0.1:9", "http://alice:p@ss:w@127.0.0.1:9"],
    ids=["token-userinfo", "password-with-at-and-colon"],
)
def test_an_unreachable_server_never_prints_the_userinfo(uri: str, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = CliRunner().invoke(cli, ["features", "abc", "--tracking-uri", uri])
    assert result.exit_code == 3, result.output
    assert "tokentoken" not in result.output
    assert "ss:w" not in result.output
    assert len(stderr_lines(result.output)) == 1


@pytest.mark.server
def test_the_report_header_masks_a_token_given_as_userinfo(mlflow_server_url: str) -> None:
    uri = mlflow_server_url.replace("http://", "http://ghp_tokentoken@", 1)
    result = CliRunner().invoke(cli, ["report", "--format", "json", "--tracking-uri", uri])
    assert result.exit_code in (0, 1), result.output
    assert "tokentoken" not in result.output
    scope = json.loads(result.stdout)["scope"]
    assert scope["tracking_uri"] == mlflow_server_url.replace("http://", "http://***@", 1)


# --- section 2: --help shows each command's whole one-line summary -------------------------------


def test_help_shows_each_commands_whole_summary() -> None:
    result = CliRunner().invoke(cli, ["--help"], terminal_width=80)
    assert result.exit_code == 0
    listing = " ".join(result.output.partition("Commands:")[2].split())
    for name in COMMANDS:
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None
        assert command.help
        summary = command.get_short_help_str(10_000)  # the whole first sentence
        assert f"{name} {summary}" in listing, name
    assert "..." not in listing


@pytest.mark.usefixtures("tracking_uri")
def test_log_lines_shown_with_debug_are_masked_too(mocker, monkeypatch, caplog) -> None:
    """MLflow's log lines are hidden during a command; with MLFLOW_DEBT_DEBUG=1 they are shown,
    and a URI in them is masked like everything else we print."""
    import logging

    monkeypatch.setenv("MLFLOW_DEBT_DEBUG", "1")
    uri = "postgresql://mlflow:hunter2@db.internal/mlflow"

    def engine_fails(*_args: object, **_kwargs: object) -> None:
        logging.getLogger("mlflow.store.db.utils").warning("engine for %s failed", uri)
        raise ZeroDivisionError("a bug")

    mocker.patch("mlflow_debt.store.get_client", side_effect=engine_fails)
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(cli, ["features", "0" * 32])
    assert result.exit_code == 4
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("mlflow")]
    assert messages == ["engine for postgresql://mlflow:***@db.internal/mlflow failed"]


@pytest.mark.usefixtures("tracking_uri")
def test_without_debug_no_log_line_is_even_made(mocker, caplog) -> None:
    import logging

    def engine_fails(*_args: object, **_kwargs: object) -> None:
        logging.getLogger("mlflow.store.db.utils").warning("SQLAlchemy engine could not be created")
        raise ConnectionRefusedError("connection refused")

    mocker.patch("mlflow_debt.store.get_client", side_effect=engine_fails)
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(cli, ["features", "0" * 32])
    assert [r for r in caplog.records if r.name.startswith("mlflow")] == []
    assert len(stderr_lines(result.output)) == 1
    assert logging.root.manager.disable == logging.NOTSET  # lifted when the command ended
