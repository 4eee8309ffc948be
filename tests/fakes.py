"""Fakes that implement the real interfaces and record what they received."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult


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

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.history.append(list(messages))
        if not self.script:
            raise UnexpectedCall(f"unexpected call #{len(self.history)}: the script is exhausted")
        reply = self.script.pop(0)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])
