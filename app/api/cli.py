"""``legalqa api``: serve the HTTP API with uvicorn, on loopback unless told otherwise."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def run(_command: str, argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="legalqa api",
        description="启动 HTTP API（/v1/ask、OpenAI 兼容的 /v1/chat/completions 等；回答仅供参考，不构成法律意见）。",
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1: loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                        help="uvicorn log level (default info); request bodies are never logged")  # fmt: skip
    args = parser.parse_args(argv)

    import uvicorn

    from app.api.server import TOKEN_ENV, create_app
    from ingest.settings import Settings

    app = create_app(Settings.from_env())  # bad settings fail here, as one line, before the port is bound
    token = app.state.token_required
    if args.host not in LOOPBACK and not token:
        print(f"legalqa api: listening on {args.host} without {TOKEN_ENV}: anyone who can reach it can use it", file=sys.stderr)
    print(
        f"\n  legalqa API: http://{args.host}:{args.port}/v1  (OpenAPI: /openapi.json; bearer token "
        f"{'required' if token else 'off'})\n  回答仅供参考，不构成法律意见。Ctrl+C 停止。\n",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, workers=1)
    return 0
