"""Fakes that implement the real interfaces and record what they received."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult


class UnexpectedCall(AssertionError):
    """The code under test called the model more often than the test scripted."""


class ScriptedChatModel(BaseChatModel):
    """A strict LangChain chat model: replies from a script, fails on any unscripted call."""

    script: list[str]
    history: list[list[BaseMessage]] = []

    def __init__(self, replies: Iterable[str], **kwargs: Any) -> None:
        super().__init__(script=list(replies), history=[], **kwargs)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.history.append(list(messages))
        if not self.script:
            raise UnexpectedCall(f"unexpected call #{len(self.history)}: the script is exhausted")
        reply = self.script.pop(0)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        """The same scripted reply, in pieces of three characters (as a provider streams tokens)."""
        self.history.append(list(messages))
        if not self.script:
            raise UnexpectedCall(f"unexpected call #{len(self.history)}: the script is exhausted")
        reply = self.script.pop(0)
        for i in range(0, len(reply), 3):
            yield ChatGenerationChunk(message=AIMessageChunk(content=reply[i : i + 3]))
