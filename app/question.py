"""Check a user's question before any work is done on it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ingest.errors import LegalQAError


class QuestionError(LegalQAError):
    """The question cannot be answered as typed; the message says why."""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WORDISH = re.compile(r"[\w\u4e00-\u9fff]")
# Invisible format characters (zero-width spaces and joiners, BOM, soft hyphen, bidi controls):
# removed outright, so "第3\u200b0条" is 第30条 and a pasted question matches what it shows.
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def clean_question(raw: object, max_chars: int) -> str:
    """Return the question stripped of control characters, or raise QuestionError."""
    if not isinstance(raw, str):
        raise QuestionError("问题必须是文本。")
    text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", _CONTROL.sub(" ", raw)))
    text = re.sub(r"[ \t\u3000]+", " ", text).strip()
    if not text:
        raise QuestionError("问题为空：请输入您想咨询的法律问题。")
    if len(text) > max_chars:
        raise QuestionError(
            f"问题过长（{len(text)} 字）：请控制在 {max_chars} 字以内，只保留与法律问题相关的内容。"
        )
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


# the asker says the matter changes: "换个话题，我被公司辞退了…" is read alone, and searched without the preamble
# (left in, its words made "换个话题，劳动合同法第三十九条是什么" a question with a matter of its own)
_TOPIC_CHANGE = re.compile(
    r"^(?:换个话题|换个问题|另外问(?:一下|个)?|再问(?:一个|个)?(?:别的|其他)|问个别的|还有个别的|顺便问(?:一下|个))"
    r"[，,：:。.!！\s]*"
)


def changes_topic(question: str) -> bool:
    """Whether the question opens by saying the matter changes ("换个话题，…")."""
    return bool(_TOPIC_CHANGE.match(question.strip()))


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
    searched = " ".join(kept) or question
    return _TOPIC_CHANGE.sub("", searched, count=1) or searched


@dataclass(frozen=True, slots=True)
class Question:
    """A question prepared once by the pipeline; each stage reads the field it needs.

    ``text`` is what the user typed, cleaned (a model sees this, fenced); ``query`` is what
    retrieval and the extractive answerer search with: fake system turns dropped and, for an
    elliptical follow-up ("那如果是我们自己改过的内容呢？"), the earlier question it continues.
    ``context`` is that earlier question ("" when the question stands alone).
    """

    text: str
    query: str
    context: str = ""
    # the question as searched on its own, a bare article number tied to the source the conversation
    # last named ("第二十五条呢" after 消保法: "消保法第二十五条呢"); "" when that is the text as asked
    own: str = ""
    # the question only names provisions ("民法典第1195条内容", "用户协议第八条"): they are quoted whole
    lookup_only: bool = False
    # the passages of the last answer the question points at ("你刚才说的第一条"), by chunk id
    cited: tuple[str, ...] = ()

    @property
    def asked(self) -> str:
        """What the user asks, on its own: fake turns dropped, a bare article number tied to its source."""
        return self.own or retrieval_query(self.text)

    @property
    def resolved(self) -> bool:
        """True when the conversation changed what is searched (shown as "按上下文理解为：…")."""
        return bool(self.context or self.own)


def as_question(question: Question | str) -> Question:
    """Answerers accept a bare string too (tests, notebooks): it is its own query."""
    return question if isinstance(question, Question) else Question(question, question)
