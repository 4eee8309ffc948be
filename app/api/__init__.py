"""HTTP API: the same answers as ``legalqa ask --json``, over HTTP, with an OpenAI-compatible endpoint.

``create_app(settings)`` builds the FastAPI app; ``legalqa api`` serves it with
uvicorn on loopback.  Modules, one job each: ``errors`` (one-line JSON errors),
``guard`` (bearer token and body size, before any work), ``holder`` (the one
lazily built pipeline, reopened after an ingest), ``schemas`` (request bodies),
``openai_compat`` (chat-completion and SSE chunk shapes), ``encoding`` (JSON bytes
that never fail to encode), ``server`` (routes),
``cli`` (``legalqa api``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # lazy, so `legalqa api --help` does not import FastAPI, the pipeline and Chroma
    if name == "create_app":
        from app.api.server import create_app

        return create_app
    raise AttributeError(f"module 'app.api' has no attribute {name!r}")
