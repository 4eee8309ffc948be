"""Request bodies, validated by FastAPI (a bad field is a 422 naming it) and described in /openapi.json.

``/v1/ask`` is strict (an unknown field is a typo worth reporting);
``/v1/chat/completions`` accepts and ignores OpenAI parameters it has no use for
(temperature, top_p, user…), so existing clients work unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

MAX_K = 50
MAX_TURNS = 100


class CitedSource(BaseModel):
    """A citation of an earlier answer, as ``/v1/ask`` returned it (its other fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    number: int = Field(ge=1)
    locator: str
    doc_id: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class Turn(BaseModel):
    """One earlier message of a conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant", "system"]
    content: str
    citations: list[CitedSource] | None = Field(
        default=None,
        description="an assistant turn's `citations` as /v1/ask returned them, so a follow-up can point at "
        "its sources (“你刚才说的第一条”, “第二个引用呢”)",
    )


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="the question (at most LEGALQA_MAX_QUESTION_CHARS characters)")
    history: list[Turn] | None = Field(
        default=None,
        max_length=MAX_TURNS,
        description="earlier turns, as {role, content} messages or as the earlier questions (strings, as "
        "Python's ask(history=[...]) takes them); an elliptical follow-up is read against them "
        "(see `question_context`)",
    )
    k: int | None = Field(
        default=None, ge=1, le=MAX_K, description="passages to retrieve (default LEGALQA_TOP_K)"
    )
    answerer: str | None = Field(default=None, description="extractive or llm (default LEGALQA_ANSWERER)")

    @field_validator("history", mode="before")
    @classmethod
    def _questions_are_user_turns(cls, value: object) -> object:
        """An earlier question given as a bare string is the user's turn (as Python's ``ask`` takes it)."""
        if isinstance(value, list):
            return [{"role": "user", "content": item} if isinstance(item, str) else item for item in value]
        return value


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    # a string, or OpenAI's list of content parts (only {"type": "text", "text": ...} parts are understood)
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(default="legalqa", description="any name; echoed in the response")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_TURNS)
    stream: bool = False
    stream_options: StreamOptions | None = Field(
        default=None, description="`include_usage`: a last stream chunk with the usage, as OpenAI sends it"
    )
    n: int | None = Field(default=1, description="choices to return: only 1 is supported")
    k: int | None = Field(default=None, ge=1, le=MAX_K, description="legalqa extension: passages to retrieve")
    answerer: str | None = Field(default=None, description="legalqa extension: extractive or llm")

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        """There is one answer to a question: asking for more is refused, not silently served one."""
        if value not in (None, 1):
            raise PydanticCustomError("n_unsupported", "only 1 is supported")
        return value
