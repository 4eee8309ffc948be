"""A follow-up about the last answer's sources: "你刚才说的第一条是什么意思？", "第二个引用呢", "[2]".

An answer numbers its sources ([1] 《消费者权益保护法》第五十三条 …); people point back at them by that
number, by the article number a source has ("刚才那个第二十五条" after 消保法第二十五条 was cited), or as
"这条" when there was one.  Read as written, "你刚才说的第一条" is the 民法典's 第一条 and "第二十二条里说的
提供者" the 民法典's 第二十二条.  Each pointer is replaced by the source's name ("《消费者权益保护法》第五十三条
是什么意思？", shown as what was searched) and the passage is looked up by the offsets the answer's citation
list gives.  The list is read from the conversation's assistant messages as ``app.render.to_text`` writes
them (the terminal, the browser and the OpenAI-style endpoint keep them); a client that sends only the
questions gets the pointer left out of the search, never read as an article of the 民法典.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from app.conversation import HistoryItem, Turn
from ingest.articles import ARTICLE_LABEL_RE, cn_to_int, to_int


@dataclass(frozen=True, slots=True)
class CitedPassage:
    """A source an answer cited, as its citation list shows it: "[2] 《用户协议》八、责任限制 第3条
    (agreement:9021-9107)"; ``start``/``end`` are the quote's offsets in the document."""

    number: int
    locator: str
    doc_id: str
    start: int
    end: int

    @property
    def article(self) -> int:
        """The statute article this source is (25 for 《消费者权益保护法》第二十五条), 0 for anything else."""
        m = _STATUTE_LOCATOR.match(self.locator)
        return cn_to_int(m.group(1)) if m and not m.group(2) else 0


# (start, end, number) of each article number in a question that no law's name ties to a statute
UnnamedArticles = Callable[[str], "list[tuple[int, int, int]]"]
Locate = Callable[[CitedPassage], "str | None"]

# one line of an answer's citation list as ``app.render.to_text`` writes it
_CITATION_LINE = re.compile(r"^\[(\d{1,3})\] (.+?)\s+\(([\w.-]+):(\d+)-(\d+)\)", re.MULTILINE)
_STATUTE_LOCATOR = re.compile(rf"^《[^》]+》{ARTICLE_LABEL_RE.pattern}$")
_ORDINAL = r"[0-9]{1,2}|[一二两三四五六七八九十]{1,3}"
# words that name a source of the answer after 第N条 too ("第2条引用"; "第2条规定" is an article)
_SOURCE = r"(?:引用|引文|来源|出处)"
# words that name one after 第N个 / 第N处 only ("第二个依据"; "第二个条款" of one's own contract is not)
_SOURCE_ITEM = r"(?:引用|引文|来源|出处|依据|法条|条文)"
# the asker pointing back at the answer, with 你 or the answer named: 你刚才说的, 你刚提到的, 回答里的
_BACK = (
    r"(?:(?:你|您)(?:刚才|刚刚|刚|前面|上面)?(?:说|提到|提|引用|引|列|给|讲|写)(?:的|到的|出的|用的|了的)"
    r"|(?:刚才|刚刚|上面|前面)(?:你|您)(?:说|提到|提|引用|引|列|给|讲|写)(?:的|到的|出的|用的)?"
    r"|(?:刚才|刚刚|前面)(?:说|提到|提|引用|引|列|讲)(?:的|到的|出的|用的)"
    r"|(?:回答|答案)(?:里|中)的?)"
)
# what a question that is nothing but a pointer may add: "那第三个呢", "第二个是啥意思", "再解释下第二个"
_ONLY_ASKS = (
    r"\s*(?:呢|是什么|是啥|是什么意思|是啥意思|什么意思|啥意思|说的?是?什么|讲的?是?什么|说的?啥|讲的?啥|"
    r"是什么内容|的原文|原文是什么|具体说说|详细说说)?\s*[？?。!！]?\s*$"
)
_LEAD = r"^\s*(?:那|那么|再|请)?(?:解释一下|解释下|说说|讲讲|展开说说|看看)?(?:上面|刚才|前面|你说的|你引用的)?(?:的|那个)?\s*"
LAST = -1  # 最后一个
ONLY = -2  # 这条, when the answer cited one source
AGREEMENT_CLAUSE = -3  # 那条协议条款: the agreement's clause the answer cited
_POINTER = re.compile(
    r"[\[［【]\s*(?P<bracket>[0-9]{1,2})\s*[\]］】]"  # [2]
    # 引用2, 引用二 (not 引用一段, 出处一定, 来源一直)
    rf"|{_SOURCE}\s*(?P<named>[0-9]{{1,2}}|[一二两三四五六七八九十]{{1,3}}(?=\s*(?:呢|说|讲|是|和|与|跟|、|[？?，,]|$)))"
    rf"|{_BACK}\s*第\s*(?P<back>{_ORDINAL})(?![0-9零〇一二两三四五六七八九十百千])\s*(?:条|个|处|项|点)?"  # 你刚才说的第一条
    rf"|第\s*(?P<noun>{_ORDINAL})\s*(?:(?:个|处){_SOURCE_ITEM}|条{_SOURCE})"  # 第二个引用, 第2条引用
    # 第一条和第三条引用: a pair named as sources once
    rf"|第\s*(?P<pair>{_ORDINAL})\s*(?:条|个)(?=\s*[和与、]\s*第\s*(?:{_ORDINAL})\s*(?:条|个)\s*{_SOURCE_ITEM})"
    # a question that is nothing but positions: 那第三个呢, 第一个和第三个有什么区别
    rf"|{_LEAD}第\s*(?P<item>{_ORDINAL})\s*个(?=(?:\s*[和与跟、]\s*第\s*(?:{_ORDINAL})\s*个)?"
    rf"(?:{_ONLY_ASKS}|\s*(?:有什么区别|有啥区别|的区别|区别在哪|分别)))"
    rf"|(?P<last>(?:倒数第一[个条]|最后(?:一个|一条|那个|那条))(?:{_SOURCE_ITEM}|(?={_ONLY_ASKS})))"
    rf"|(?P<agreement>^\s*(?:上面|刚才)?(?:那|这)一?条(?:协议条款|协议里的条款))"
    rf"|(?P<only>^\s*(?:那么?)?(?:这一?条|该条|那一?条)(?:规定|法条|条文)?(?=\s*(?:对|也|是|说|讲|适用|能|可以|有|的意思|什么|啥|呢|[？?，,])))"
)
# "…第1条和第2条", "引用1和2": the list goes on
_AND_NEXT = re.compile(
    rf"\s*[、和及与跟]\s*(?:第\s*({_ORDINAL})\s*(?:条|个|处|项|点)?{_SOURCE_ITEM}?|([0-9]{{1,2}})(?![0-9条个]))"
)


def citation_line(number: int, locator: str, doc_id: str, start: int, end: int) -> str:
    """One line of an answer's citation list, as the conversation keeps it and :func:`cited_passages` reads it."""
    return f"[{number}] {locator}  ({doc_id}:{start}-{end})"


def citation_listing(sources: Iterable[CitedPassage]) -> str:
    """A citation list for a message that has none in its text (an HTTP client's turn that sent the answer's
    citations beside its text), so a follow-up can point at them."""
    lines = [citation_line(s.number, s.locator, s.doc_id, s.start, s.end) for s in sources]
    return "\n\n【引用】\n" + "\n".join(lines) if lines else ""


def answer_texts(history: Iterable[HistoryItem]) -> list[str]:
    """The texts of the conversation's assistant messages, in order (none when it holds questions only)."""
    texts = []
    for item in history:
        if isinstance(item, Turn) and item.role == "assistant":
            texts.append(item.content)
        elif (
            isinstance(item, Mapping)
            and item.get("role") == "assistant"
            and isinstance(item.get("content"), str)
        ):
            texts.append(str(item["content"]))
    return texts


def cited_passages(answer_text: str) -> dict[int, CitedPassage]:
    """The numbered sources an answer's text lists (none when it has no citation list)."""
    return {
        int(m.group(1)): CitedPassage(
            int(m.group(1)), m.group(2).strip(), m.group(3), int(m.group(4)), int(m.group(5))
        )
        for m in _CITATION_LINE.finditer(answer_text)
    }


def last_cited(history: Sequence[HistoryItem]) -> list[CitedPassage]:
    """The sources the conversation's last answer with a citation list cited, in its order."""
    for text in reversed(answer_texts(history)):
        if cited := cited_passages(text):
            return list(cited.values())
    return []


def answer_references(question: str) -> list[tuple[int, int, int]]:
    """Where the question points at a source of an answer: (start, end, number); ``number`` is the
    source's number in the list, or ``LAST``, ``ONLY``, ``AGREEMENT_CLAUSE``."""
    out: list[tuple[int, int, int]] = []
    for m in _POINTER.finditer(question):
        if out and m.start() < out[-1][1]:
            continue  # read already as the list's next item ("第一个和第三个")
        kind = next(name for name, value in m.groupdict().items() if value)
        special = {"last": LAST, "only": ONLY, "agreement": AGREEMENT_CLAUSE}.get(kind)
        number = special or to_int(m.group(kind))
        if number:
            out.append((m.start(), m.end(), number))
        end = m.end()
        while kind in ("back", "item", "bracket", "named", "noun", "pair") and (
            more := _AND_NEXT.match(question, end)
        ):
            if number := to_int(more.group(1) or more.group(2)):
                out.append((more.start(), more.end(), number))
            end = more.end()
    return out


def read_pointers(
    question: str, history: Sequence[HistoryItem], locate: Locate, unnamed: UnnamedArticles
) -> tuple[str, tuple[str, ...]] | None:
    """The question with each pointer at an answer's sources replaced by that source's name, and the
    passages pointed at (chunk ids, by ``locate``); None when it points at none.

    An article number no law's name ties (``unnamed``) that a cited statute article has is that article
    ("刚才那个第二十五条" after 消保法第二十五条), before any reading as a position in the list.  A position
    is read in the last answer that lists it ("第二个引用呢" after an answer with one source is the one
    before's); one no answer lists, or any pointer without a citation list in the conversation, is left
    out of the question, never read as an article of the 民法典."""
    numbers = unnamed(question)
    references = answer_references(question)
    if not numbers and not references:
        return None  # most follow-ups: the conversation's answers are not read
    listings = [cited for text in reversed(answer_texts(history)) if (cited := cited_passages(text))]
    edits: list[tuple[int, int, CitedPassage | None]] = []
    for start, end, number in numbers:
        passage = next((p for cited in listings for p in cited.values() if p.article == number), None)
        if passage is not None:
            edits.append((start, end, passage))
    # a pointer over an article number of a cited source ("你刚才说的第九条") is that source, read so above
    pointers = [
        (start, end, number)
        for start, end, number in references
        if not any(s < end and start < e for s, e, _p in edits)
    ]
    # positions asked together ("引用1和2") are read in one answer: the last that lists them all
    positions = {number for _s, _e, number in pointers if number > 0}
    together = [cited for cited in listings if positions <= cited.keys()][:1]
    for start, end, number in pointers:
        edits.append((start, end, _listed(together or listings, number)))
    if not edits:
        return None
    text, ids = question, []
    for start, end, passage in sorted(edits, key=lambda edit: edit[0], reverse=True):
        name = passage.locator if passage else ""
        joined = bool(name) and question[start] in "、和及与跟,， "
        text = text[:start] + ("、" if joined else "") + name + text[end:]
        chunk_id = locate(passage) if passage else None
        ids += [chunk_id] if chunk_id else []
    return " ".join(text.split()) or question, tuple(dict.fromkeys(reversed(ids)))


def _listed(listings: Sequence[dict[int, CitedPassage]], number: int) -> CitedPassage | None:
    """The source a position points at, in the last answer that lists it."""
    if not listings:
        return None
    if number == LAST:
        return listings[0][max(listings[0])]
    if number == ONLY:
        return listings[0][1] if len(listings[0]) == 1 else None
    if number == AGREEMENT_CLAUSE:
        return next((p for p in listings[0].values() if p.doc_id == "agreement"), None)
    return next((cited[number] for cited in listings if number in cited), None)


def without_pointers(question: str) -> str:
    """The question with its pointers at an answer's sources left out: what it asks of them."""
    for start, end, _number in reversed(answer_references(question)):
        question = question[:start] + " " + question[end:]
    return question
