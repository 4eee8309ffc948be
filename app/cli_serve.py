"""``legalqa serve``: start the Streamlit app on the bundled defaults."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

APP_FILE = Path(__file__).with_name("streamlit_app.py")


def streamlit_command(port: int, address: str) -> list[str]:
    # app.serve_main is `python -m streamlit` plus a background preload of the first page's imports
    return [
        sys.executable, "-m", "app.serve_main", "run", str(APP_FILE),
        "--server.port", str(port),
        "--server.address", address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip


def run(_command: str, argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="legalqa serve", description="启动浏览器问答界面。")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--address", default="127.0.0.1", help="listen address (default loopback only)")
    args = parser.parse_args(argv)
    print(f"\n  法律问答已启动：在浏览器打开 http://{'localhost' if args.address == '127.0.0.1' else args.address}:{args.port}\n"
          "  (Ctrl+C 停止；回答仅供参考，不构成法律意见)\n", flush=True)  # fmt: skip
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "ANONYMIZED_TELEMETRY": "False"}
    try:
        return subprocess.call(streamlit_command(args.port, args.address), env=env)
    except KeyboardInterrupt:
        return 0
