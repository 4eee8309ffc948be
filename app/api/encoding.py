"""JSON and server-sent-event bytes that can always be sent.

JSON text may carry lone surrogates (``"\\ud800"``) that Python decodes into a
``str`` UTF-8 cannot encode; echoed back (a model name, a question) they made
the response fail after the answer was computed: a 500, or a stream cut off
with no body.  They are sent as U+FFFD instead; valid text is untouched.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.responses import JSONResponse

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


def dumps(content: Any) -> str:
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class JSONBody(JSONResponse):
    """Starlette's JSONResponse, minus the failure on lone surrogates."""

    def render(self, content: Any) -> bytes:
        return utf8(dumps(content))
