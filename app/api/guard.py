"""Bearer token and request-size checks, done before any body is parsed or any work is started.

A pure ASGI middleware rather than a FastAPI dependency: a client without the
token gets 401 before its body is even read (a dependency would answer a
malformed body with 422 first), and an oversized body is refused as soon as
its declared length or its bytes so far pass the limit, chunked or not.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import error_response

DEFAULT_MAX_BODY_BYTES = 64 * 1024
# liveness and the API description stay readable without the token
OPEN_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def token_matches(header: str, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time (no timing oracle on the token)."""
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


class Guard:
    def __init__(self, app: ASGIApp, *, token: str = "", max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 open_paths: Collection[str] = OPEN_PATHS) -> None:  # fmt: skip
        self.app = app
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        needs_token = self.token and scope.get("path", "") not in self.open_paths
        if needs_token and not token_matches(headers.get("authorization", ""), self.token):
            await error_response(
                401, "missing or wrong bearer token (send Authorization: Bearer <LEGALQA_API_TOKEN>)",
                headers={"WWW-Authenticate": "Bearer"},
            )(scope, receive, send)  # fmt: skip
            return
        declared = headers.get("content-length")
        if declared is not None and not declared.strip().isdigit():
            await error_response(400, f"Content-Length header {declared!r} is not a number")(scope, receive, send)
            return
        if declared is not None and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        body = bytearray()
        while True:  # read the (small) body here, so the limit holds for chunked uploads too
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: disconnect notices, for streaming responses

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body_bytes
        await error_response(413, f"request body too large: the limit is {limit} bytes ({limit // 1024} KB)")(scope, receive, send)
