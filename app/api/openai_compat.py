"""The OpenAI chat-completions shapes, so existing OpenAI clients can ask legalqa.

The assistant message is ``app.render.to_text``: the answer with its [n]
markers, the numbered citation list and the warning (first and last line), so
a client that shows only ``content`` still shows the sources and the warning.
The structured citations (locator, quote, file offsets, sha256) are in an extra
``citations`` field, on the response or on the final stream chunk.  A stream
sends the finished extractive answer as a few chunks, paragraph by paragraph.

``usage`` counts characters, not tokens: no tokenizer runs here (the answer is
extracted, not generated).  ``prompt_tokens`` is the characters of every
message's text, ``completion_tokens`` those of the assistant content; for
Chinese text a character is roughly one token of common tokenizers, so the
figures suit budgeting and logging, not billing.

``/v1/models`` lists ``MODEL_NAMES``; chat completions accept any model name and
echo it back, so clients configured with another name keep working.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from app.answer import Answer
from app.api.encoding import dumps, utf8
from app.api.errors import ApiError
from app.api.schemas import ChatMessage
from app.render import to_text
from app.warning import WARNING

_PARAGRAPH_END = re.compile(r"(?<=\n\n)")
# what /v1/models lists (any name is accepted by chat completions, and echoed)
MODEL_NAMES = ("legalqa",)


def message_text(message: ChatMessage, where: str) -> str:
    """A message's text: its string content, or its text parts joined."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for i, part in enumerate(content):
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise ApiError(422, f"{where}.content.{i}: only text parts are supported (got type {part.get('type')!r})",
                           param=f"{where}.content")  # fmt: skip
        texts.append(part["text"])
    return "\n".join(texts)


def split_conversation(messages: Sequence[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """(the last user message, the messages before it as history turns)."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None:
        raise ApiError(
            422, "messages: no message with role 'user' (its content is the question)", param="messages"
        )
    question = message_text(messages[last], f"messages.{last}")
    history = [
        {"role": m.role, "content": message_text(m, f"messages.{i}")} for i, m in enumerate(messages[:last])
    ]
    return question, history


def _citations(answer: Answer) -> list[dict[str, Any]]:
    return answer.to_dict()["citations"]


def _envelope(kind: str, model: str, completion_id: str, created: int) -> dict[str, Any]:
    return {"id": completion_id, "object": kind, "created": created, "model": model}


def new_completion_id() -> tuple[str, int]:
    return f"chatcmpl-{uuid.uuid4().hex}", int(time.time())


def usage(messages: Sequence[ChatMessage], content: str) -> dict[str, int]:
    """OpenAI's ``usage``, counted in characters (see the module docstring for why and how close)."""
    prompt = sum(len(message_text(m, f"messages.{i}")) for i, m in enumerate(messages))
    return {"prompt_tokens": prompt, "completion_tokens": len(content), "total_tokens": prompt + len(content)}


def completion(answer: Answer, model: str, messages: Sequence[ChatMessage]) -> dict[str, Any]:
    completion_id, created = new_completion_id()
    content = to_text(answer)
    return {
        **_envelope("chat.completion", model, completion_id, created),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage(messages, content),
        "citations": _citations(answer),
        "abstained": answer.abstained,
        "warning": answer.warning,
    }


def completion_chunks(
    answer: Answer, model: str, messages: Sequence[ChatMessage], *, include_usage: bool = False
) -> Iterator[dict[str, Any]]:
    """Role first, then the content a paragraph at a time, then an empty delta with the citations; with
    ``include_usage`` (``stream_options``), a last chunk with no choices and the usage, as OpenAI sends it."""
    completion_id, created = new_completion_id()
    content = to_text(answer)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **_envelope("chat.completion.chunk", model, completion_id, created),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for piece in _PARAGRAPH_END.split(content):
        if piece:
            yield chunk({"content": piece})
    yield {
        **chunk({}, "stop"),
        "citations": _citations(answer),
        "abstained": answer.abstained,
        "warning": answer.warning,
    }
    if include_usage:
        yield {**chunk({}), "choices": [], "usage": usage(messages, content)}


def model_card(model_id: str) -> dict[str, Any]:
    """OpenAI's Model object; ``created`` is 0: the answers come from the corpus and code, not from a
    model released on some date."""
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "legalqa"}


def model_list() -> dict[str, Any]:
    return {"object": "list", "data": [model_card(name) for name in MODEL_NAMES], "warning": WARNING}


def server_sent_events(chunks: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for c in chunks:
        yield utf8(f"data: {dumps(c)}\n\n")
    yield b"data: [DONE]\n\n"
