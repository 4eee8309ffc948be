"""Follow-up questions: read an elliptical question against the conversation before it.

"那如果是我们自己修改过的内容呢？" or "它还要赔吗" name neither the matter nor the
party; searched alone they find nothing useful.  A question is elliptical when it
opens or closes the way a continuation does, or leans on a pronoun, and does not
stand on its own (no statute named, few content words).  In a conversation, every
question that does not stand on its own is searched together with the conversation's
last question that is not elliptical (and the follow-up in between, if any), not only the
ones that look elliptical: "这笔钱拖了快两年了还能要吗" leans on the turn before as much
as "那押金呢".  Measured on the multi-turn splits, follow-up hit@5: dev 0.627 both
ways, held-out (written later, by another writer) 0.639 -> 0.672; the follow-up's own
ranking is interleaved (``Pipeline.retrieve``), so a turn to another matter is followed.
The answer shows what was searched: "按上下文理解为：…".  The LLM path rewrites the question with the model instead
(``app.llm.rewrite_question``) and falls back to this when the model fails.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from app.terms import question_terms
from ingest.articles import STATUTE_ALIASES

Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier message; only the user's questions steer retrieval, answers are kept for a model."""

    role: Role
    content: str


# a bare string is an earlier user question; a mapping is a chat message as OpenAI-style clients and
# LangChain's message dicts write it ({"role": "user", "content": "..."})
HistoryItem = Turn | str | Mapping[str, object]


_OPENERS = re.compile(
    r"^(?:那|那么|那如果|那要是|如果是|要是|假如|换成|换做|还有|另外|此外|同样|这种|这样|这个|这些|该|此|上述|它|他们|她|对方|其|"
    r"如果对方|如果我们|那我们|那我|那用户|那平台|那他|那她|还要|还能|还得|能不能也|能|可以|有没有|多少|万一|怎么算|要多久)"
)
_PRONOUNS = re.compile(r"它|这种情况|这种|这样|这个|上述|前面|刚才|上面|该情形|此时|他们|对方")
_STATUTE = re.compile(
    "|".join(
        [
            r"《[^》]{2,30}》",
            *sorted(
                (re.escape(a) for names in STATUTE_ALIASES.values() for a in names), key=len, reverse=True
            ),
        ]
    )
)
_ARTICLE = re.compile(r"第\s*[0-9零〇一二两三四五六七八九十百千]+\s*条")
# what a question says about a statute besides naming it: "那消保法怎么规定的？" asks the conversation's
# matter of another statute, "电子商务法对平台责任怎么规定" has a matter of its own
_ASKING = re.compile(
    r"规定|相关|有关|条文|内容|怎么|如何|什么|有没有|说的|讲的|里面|方面|对此|这个|这种|类似|对应|相应|同样|哪条|哪一条"
)
STANDALONE_TERMS = 5  # a question with this many content words carries its own subject
MAX_CONTEXT_CHARS = 160


def user_questions(history: Sequence[HistoryItem]) -> list[str]:
    return [question for _position, question in user_turns(history)]


def user_turns(history: Sequence[HistoryItem]) -> list[tuple[int, str]]:
    """The user's questions with their positions in ``history`` (what came before each is ``history[:position]``)."""
    out = []
    for position, item in enumerate(history):
        if isinstance(item, str):
            content: object = item
        elif isinstance(item, Turn):
            content = item.content if item.role == "user" else None
        elif isinstance(item, Mapping):
            content = item.get("content") if item.get("role") == "user" else None
        else:
            raise TypeError(
                f"a history item is a question, a Turn or a {{role, content}} message, not {type(item).__name__}"
            )
        if isinstance(content, str) and content.strip():
            out.append((position, content.strip()))
    return out


def stands_alone(question: str) -> bool:
    """Whether the question carries its own subject: it names an article, or a statute and a matter, or
    says enough (many content words).  "那消保法怎么规定的？" names a statute but asks about the
    conversation's matter."""
    text = question.strip()
    if _STATUTE.search(text):
        rest = _ASKING.sub(" ", _STATUTE.sub(" ", text))
        matter = [t for t in question_terms(rest) if len(t) >= 2]
        if _ARTICLE.search(text) or len(matter) >= 2:
            return True
    return len(question_terms(text)) >= STANDALONE_TERMS and len(text) > 30


# a follow-up that asks for the last answer again, differently: "能说得简单点吗？", "那我应该怎么办？"
_NOTHING_NEW = re.compile(
    r"^(?:那|那么|所以)?(?:我|我们)?(?:应该|该|要|能|可以)?(?:怎么办|咋办|怎么做|如何是好)|"
    r"说得?(?:简单|通俗|详细|具体|明白|清楚)|解释一下|什么意思|啥意思|说人话|举个例子|总结一下"
)


def adds_no_matter(question: str) -> bool:
    """Whether a follow-up only asks about the conversation's matter again (searched alone, "能说得简单点吗"
    found 名誉权): it is searched as the conversation, not merged with a reading of its own."""
    text = question.strip()
    return len(text) <= 14 and bool(_NOTHING_NEW.search(text)) and not stands_alone(text)


def is_elliptical(question: str) -> bool:
    """Whether the question leans on an earlier turn for its subject (and which earlier question is the matter)."""
    text = question.strip()
    if stands_alone(text):
        return False
    terms = question_terms(text)
    opens = bool(_OPENERS.match(text))
    leans = bool(_PRONOUNS.search(text))
    short = len(text) <= 14 and len(terms) <= 2  # "有时间限制吗", not "格式条款免责有效吗"
    trails = text.rstrip("？?").endswith("呢")
    return opens or (leans and len(terms) < STANDALONE_TERMS) or short or trails


def context_for(question: str, history: Sequence[HistoryItem]) -> str:
    """The earlier question(s) ``question`` continues; "" when it stands alone or there are none.

    The last stand-alone question is the matter; a follow-up after it (already
    elliptical itself) is kept too, since "这种情况下呢" may refer to it.  The conversation's
    opening question stays in front when a later one took over as the matter: "大模型那边的协议是
    怎么说的？" is not elliptical, yet the patients' records the conversation opened with are still
    what "万一泄露了呢" is about (multi-turn dev follow-up hit@5 0.787 -> 0.800, held-out unchanged).
    """
    if stands_alone(question):
        return ""
    asked = user_questions(history)
    if not asked:
        return ""
    root = max((i for i, q in enumerate(asked) if not is_elliptical(q)), default=0)
    parts = list(dict.fromkeys([asked[0], asked[root], asked[-1]]))
    context = " ".join(parts)
    return context[-MAX_CONTEXT_CHARS:]


def resolved_query(question: str, context: str) -> str:
    """The matter the follow-up continues, then the follow-up (measured on the multi-turn dev set:
    the follow-up first scored the same, the earlier question's key words alone scored lower)."""
    return f"{context} {question}" if context else question
