"""``legalqa serve``: stopping it frees the port, and the port follows Streamlit's conventions.

The slow tests start the real server on a free loopback port and signal only the
pid that was started (as ``kill``, systemd or a terminal's Ctrl+C does), never its
process group: when that pid only wrapped a Streamlit child, ``SIGTERM`` left the
child running and holding the port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli_serve import DEFAULT_ADDRESS, DEFAULT_PORT, parse_options, streamlit_command
from evals.bench.processes import wait_until_healthy
from tests.helpers import clean_env, free_port

# -- where the port comes from (fast) ----------------------------------------------


def test_port_precedence_follows_streamlit(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    for folder in (home, cwd):
        (folder / ".streamlit").mkdir(parents=True)
    opts = parse_options([], environ={}, cwd=cwd, home=home)
    assert (opts.port, opts.address, opts.passthrough) == (DEFAULT_PORT, DEFAULT_ADDRESS, ())
    (home / ".streamlit" / "config.toml").write_text("[server]\nport = 8601\n", encoding="utf-8")
    assert parse_options([], environ={}, cwd=cwd, home=home).port == 8601
    (cwd / ".streamlit" / "config.toml").write_text(
        "[server]\nport = 8602\naddress = '0.0.0.0'\n", encoding="utf-8"
    )
    local = parse_options([], environ={}, cwd=cwd, home=home)
    assert (local.port, local.address) == (8602, "0.0.0.0")
    env = {"STREAMLIT_SERVER_PORT": "8603", "STREAMLIT_SERVER_ADDRESS": "127.0.0.2"}
    from_env = parse_options([], environ=env, cwd=cwd, home=home)
    assert (from_env.port, from_env.address) == (8603, "127.0.0.2")
    assert parse_options(["--server.port", "8604"], environ=env, cwd=cwd, home=home).port == 8604
    assert parse_options(["--server.port=8605"], environ=env, cwd=cwd, home=home).port == 8605
    assert parse_options(["--port", "8606", "--address", "127.0.0.1"], environ=env, cwd=cwd, home=home) == (
        parse_options(["--port", "8606"], environ={}, cwd=tmp_path, home=tmp_path)
    )


def test_other_streamlit_flags_pass_through_and_come_last(tmp_path: Path) -> None:
    opts = parse_options(
        ["--port", "8700", "--server.maxUploadSize", "5", "--theme.base=dark"],
        environ={},
        cwd=tmp_path,
        home=tmp_path,
    )
    assert opts.passthrough == ("--server.maxUploadSize", "5", "--theme.base=dark")
    command = streamlit_command(opts.port, opts.address, opts.passthrough)
    assert command[command.index("--server.port") + 1] == "8700"
    assert command[-3:] == ["--server.maxUploadSize", "5", "--theme.base=dark"]


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        ([], {"STREAMLIT_SERVER_PORT": "http"}, "STREAMLIT_SERVER_PORT='http' is not a port number"),
        (["--port", "70000"], {}, "--port='70000' is not a port number"),
        (["--port", "8501", "--server.port", "8502"], {}, "disagree"),
        (["--verbose"], {}, "unrecognized argument '--verbose'"),
        (["--server.maxUploadSize"], {}, "--server.maxUploadSize needs a value"),
    ],
)
def test_bad_port_or_flag_is_one_clear_line(
    argv: list[str], environ: dict[str, str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_options(argv, environ=environ, cwd=tmp_path, home=tmp_path)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# -- signals on a real server (slow) -------------------------------------------------


def _start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app", "serve", *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: lets the test see any process left behind
        )


def _wait_healthy(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 90) -> None:
    if wait_until_healthy(f"http://127.0.0.1:{port}", proc, timeout):
        return
    pytest.fail(
        f"server did not start on port {port} (exit {proc.poll()}):\n{log.read_text(errors='replace')}"
    )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _port_free(port: int) -> bool:
    """Nobody listens, and a new server can bind it (with SO_REUSEADDR, as Streamlit's server does)."""
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stop_with(proc: subprocess.Popen[bytes], sig: signal.Signals, port: int, log: Path) -> None:
    """Send ``sig`` to the started pid only; it must exit, leave no process and free the port within seconds."""
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while (_group_alive(proc.pid) or not _port_free(port)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(proc.pid), (
            f"a process of `legalqa serve` survived {sig.name}:\n{log.read_text()}"
        )
        assert _port_free(port), f"port {port} still taken 5 s after {sig.name}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


@pytest.mark.slow
def test_sigterm_stops_server_frees_port_and_a_second_serve_starts(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    # the port comes from Streamlit's environment variable alone (no --port)
    first = _start([], clean_env(STREAMLIT_SERVER_PORT=str(port)), tmp_path, log)
    _wait_healthy(first, port, log)
    assert f"http://localhost:{port}" in log.read_text()
    _stop_with(first, signal.SIGTERM, port, log)
    second = _start(["--port", str(port)], clean_env(), tmp_path, log)
    _wait_healthy(second, port, log)
    _stop_with(second, signal.SIGTERM, port, log)


@pytest.mark.slow
def test_sigint_stops_server_and_frees_port(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _start(["--server.port", str(port)], clean_env(), tmp_path, log)
    _wait_healthy(proc, port, log)
    _stop_with(proc, signal.SIGINT, port, log)
