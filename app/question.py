"""Check a user's question before any work is done on it."""

from __future__ import annotations

import re
import unicodedata

from ingest.errors import LegalQAError


class QuestionError(LegalQAError):
    """The question cannot be answered as typed; the message says why."""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WORDISH = re.compile(r"[\w\u4e00-\u9fff]")


def clean_question(raw: object, max_chars: int) -> str:
    """Return the question stripped of control characters, or raise QuestionError."""
    if not isinstance(raw, str):
        raise QuestionError("问题必须是文本。")
    text = unicodedata.normalize("NFKC", _CONTROL.sub(" ", raw))
    text = re.sub(r"[ \t\u3000]+", " ", text).strip()
    if not text:
        raise QuestionError("问题为空：请输入您想咨询的法律问题。")
    if len(text) > max_chars:
        raise QuestionError(f"问题过长（{len(text)} 字）：请控制在 {max_chars} 字以内，只保留与法律问题相关的内容。")
    if not _WORDISH.search(text):
        raise QuestionError("问题只包含标点或符号：请用文字描述您的问题。")
    return text


_ROLE_TURN = re.compile(
    r"^\s*(?:系统|system|助手|assistant|ai|bot|开发者|developer|管理员|admin)\s*[:：>]"
    r"|^\s*\[/?(?:INST|SYS)\]|^\s*#{2,}\s*(?:system|instruction)",
    re.IGNORECASE,
)
_USER_TURN = re.compile(r"^\s*(?:用户|user|human|问题|question)\s*[:：>]\s*", re.IGNORECASE)
_CHATML = re.compile(r"<\|im_start\|>\s*(\w+)|<\|im_end\|>", re.IGNORECASE)


def retrieval_query(question: str) -> str:
    """The part of a question worth searching for: fake system/assistant turns are dropped.

    Such turns are an injection pattern, not part of what the user asks; left in,
    they pull retrieval towards passages about "rules" and "sources".  The
    question shown to a model is never rewritten, only fenced.
    """
    kept: list[str] = []
    role = "user"
    for line in re.split(r"[\n\r]+", question):
        header = _CHATML.search(line)
        if header:
            role = (header.group(1) or role).lower()
            line = _CHATML.sub("", line)
        if _ROLE_TURN.match(line):
            role = "other"
            continue
        if _USER_TURN.match(line):
            role = "user"
            line = _USER_TURN.sub("", line)
        if role in ("user", "human") and line.strip():
            kept.append(line.strip())
    return " ".join(kept) or question
