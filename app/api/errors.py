"""Every error the API returns is JSON with a one-line ``error.message``, never a traceback.

The shape follows OpenAI's (``{"error": {"message", "type", "param", "code"}}``)
so OpenAI clients raise their usual typed exceptions with our message; the
not-legal-advice warning rides along on errors too, as on every other body.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.encoding import JSONBody
from app.warning import WARNING

log = logging.getLogger("legalqa.api")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    503: "service_unavailable",
}


# pydantic error types meaning "the body is missing or is not a JSON object"
_NOT_AN_OBJECT = {"missing", "dict_type", "model_attributes_type", "model_type"}


class ApiError(Exception):
    """An error a client can act on: HTTP status, one-line message and the offending field."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = one_line(message)
        self.param = param
        self.headers = headers


def one_line(message: str) -> str:
    return " ".join(str(message).split())


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": one_line(message),
            "type": _TYPES.get(status, "api_error"),
            "param": param,
            "code": status,
        },
        "warning": WARNING,
    }


def error_response(
    status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None
) -> JSONBody:
    return JSONBody(error_body(status, message, param), status_code=status, headers=headers)


def validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """The first validation problem as ``field: what is wrong`` (and how many more there are)."""
    errors = list(exc.errors())
    if not errors:
        return "invalid request", None
    first = errors[0]
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        pos = next((p for p in first.get("loc", ()) if isinstance(p, int)), None)
        where = f" at character {pos}" if pos is not None else ""
        return f"body: not valid JSON ({detail}{where})".replace(" ()", ""), "body"
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    field = ".".join(loc) or "body"
    if field == "body" and first.get("type") in _NOT_AN_OBJECT:
        message = "body: must be a JSON object (sent with Content-Type: application/json)"
    else:
        message = f"{field}: {first.get('msg', 'invalid value')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return message, field


def unreadable_body(exc: StarletteHTTPException) -> str:
    """FastAPI's 400 "There was an error parsing the body" for a body ``json.loads`` could not even
    decode, reworded like malformed JSON's 422 (``body: ...``): the client learns what to fix.  Empty for
    any other error."""
    cause = exc.__cause__
    if exc.status_code != 400:
        return ""
    if isinstance(cause, UnicodeDecodeError):
        byte = cause.object[cause.start : cause.start + 1].hex()
        return f"body: not UTF-8 JSON (byte 0x{byte} at position {cause.start}); send JSON encoded as UTF-8"
    if isinstance(cause, RecursionError):
        return "body: not valid JSON (nested too deeply)"
    return ""


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONBody:
        return error_response(exc.status, exc.message, exc.param, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONBody:
        message, field = validation_message(exc)
        return error_response(422, message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONBody:
        unreadable = unreadable_body(exc)
        if unreadable:
            return error_response(422, unreadable, "body")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path} (see /openapi.json)"
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONBody:
        # the trace goes to the server log only; the client gets one line naming the kind of failure
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); see the server log")
