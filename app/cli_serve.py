"""``legalqa serve``: start the Streamlit app on the bundled defaults.

The command *becomes* the Streamlit server (``os.execve``) instead of running it
as a child: a ``SIGTERM`` or ``SIGINT`` sent to the pid that was started (by a
service manager, ``kill``, a test) then reaches Streamlit itself, which stops
and frees its port.  With a child process, ``SIGTERM`` ended only the parent
and left Streamlit holding the port, so the next ``serve`` failed.

Port and address follow Streamlit's own precedence, so its documented settings
keep working: ``--port``/``--server.port`` on the command line, then the
``STREAMLIT_SERVER_PORT`` environment variable, then ``.streamlit/config.toml``
(working directory, then home), then 8501.  The address defaults to loopback
(127.0.0.1) rather than Streamlit's all-interfaces default.  Other
``--section.option`` flags are passed to Streamlit unchanged.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

APP_FILE = Path(__file__).with_name("streamlit_app.py")
DEFAULT_PORT = 8501
DEFAULT_ADDRESS = "127.0.0.1"  # loopback only unless asked otherwise
_STREAMLIT_FLAG = re.compile(r"--[a-zA-Z]+\.[a-zA-Z]+(=.*)?")


@dataclass(frozen=True)
class ServeOptions:
    port: int
    address: str
    passthrough: tuple[str, ...] = ()  # other Streamlit --section.option flags, as given


def streamlit_command(port: int, address: str, passthrough: Sequence[str] = ()) -> list[str]:
    # app.serve_main is `python -m streamlit` plus a background preload of the first page's imports
    return [
        sys.executable, "-m", "app.serve_main", "run", str(APP_FILE),
        "--server.port", str(port),
        "--server.address", address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        *passthrough,
    ]  # fmt: skip


def _config_toml(cwd: Path, home: Path) -> dict[str, object]:
    """``[server]`` of Streamlit's config files; the working directory's overrides the home one."""
    merged: dict[str, object] = {}
    for path in (home / ".streamlit" / "config.toml", cwd / ".streamlit" / "config.toml"):
        try:
            server = tomllib.loads(path.read_text(encoding="utf-8")).get("server", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue  # Streamlit reports a broken config file itself when it starts
        if isinstance(server, dict):
            merged.update(server)
    return merged


def _port(value: object, source: str, parser: argparse.ArgumentParser) -> int:
    try:
        port = int(str(value).strip())
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        parser.error(f"{source}={value!r} is not a port number (1-65535)")
    return port


def parse_options(
    argv: Sequence[str],
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> ServeOptions:
    """Port, address and pass-through flags from the command line, environment and config files."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="legalqa serve",
        allow_abbrev=False,
        description="启动浏览器问答界面。其他 Streamlit 选项（如 --server.maxUploadSize 10）原样传给 Streamlit。",
    )
    parser.add_argument(
        "--port", help=f"port (default: STREAMLIT_SERVER_PORT, .streamlit/config.toml, {DEFAULT_PORT})"
    )
    parser.add_argument("--server.port", dest="server_port", help="same as --port (Streamlit's spelling)")
    parser.add_argument("--address", help=f"listen address (default {DEFAULT_ADDRESS}, loopback only)")
    parser.add_argument(
        "--server.address", dest="server_address", help="same as --address (Streamlit's spelling)"
    )
    args, rest = parser.parse_known_args(list(argv))
    passthrough: list[str] = []
    items = iter(rest)
    for arg in items:
        if not _STREAMLIT_FLAG.fullmatch(arg):
            parser.error(
                f"unrecognized argument {arg!r} (Streamlit options look like --section.option value)"
            )
        passthrough.append(arg)
        if "=" not in arg:
            value = next(items, None)
            if value is None:
                parser.error(f"{arg} needs a value")
            passthrough.append(value)
    if args.port is not None and args.server_port is not None and str(args.port) != str(args.server_port):
        parser.error(f"--port {args.port} and --server.port {args.server_port} disagree; give the port once")
    if args.address is not None and args.server_address is not None and args.address != args.server_address:
        parser.error(f"--address {args.address} and --server.address {args.server_address} disagree")
    toml = _config_toml(cwd or Path.cwd(), home or Path.home())
    for value, source in (
        (args.port, "--port"),
        (args.server_port, "--server.port"),
        (environ.get("STREAMLIT_SERVER_PORT") or None, "STREAMLIT_SERVER_PORT"),
        (toml.get("port"), "server.port in .streamlit/config.toml"),
    ):
        if value is not None:
            port = _port(value, source, parser)
            break
    else:
        port = DEFAULT_PORT
    address = next(
        (
            str(v)
            for v in (
                args.address,
                args.server_address,
                environ.get("STREAMLIT_SERVER_ADDRESS"),
                toml.get("address"),
            )
            if v
        ),
        DEFAULT_ADDRESS,
    )
    return ServeOptions(port=port, address=address, passthrough=tuple(passthrough))


def run(_command: str, argv: Sequence[str]) -> int:
    options = parse_options(argv)
    host = "localhost" if options.address == DEFAULT_ADDRESS else options.address
    print(f"\n  法律问答已启动：在浏览器打开 http://{host}:{options.port}\n"
          "  (Ctrl+C 停止；回答仅供参考，不构成法律意见)\n", flush=True)  # fmt: skip
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "ANONYMIZED_TELEMETRY": "False"}
    command = streamlit_command(options.port, options.address, options.passthrough)
    if os.name != "posix":  # no exec that keeps the pid: run as a child (Ctrl+C reaches both there)
        try:
            return subprocess.call(command, env=env)
        except KeyboardInterrupt:
            return 0
    sys.stderr.flush()
    os.execve(command[0], command, env)  # never returns: this process is now the Streamlit server
    return 0  # pragma: no cover
