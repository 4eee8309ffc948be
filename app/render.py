"""Answer → text for terminals and Markdown for export; both always end with the warning."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from app.answer import Answer
from app.conversation import Turn
from app.pointers import citation_line

# Markdown the sources carry that readers see rendered, never typed: emphasis markers, and the brackets
# and target of a link whose text is its own target (智谱's "[service@zhipuai.cn](mailto:service@zhipuai.cn)"
# reads service@zhipuai.cn).  Any other link stays as typed: hiding its target would hide where it points.
_EMPHASIS = re.compile(r"\*\*|__")
_LINK = re.compile(r"\[([^\[\]\n]+)\]\(([^()\s]+)\)")
_ITEM = re.compile(r"[-*•]\s+(.*)")
_GROUP_HEADING = re.compile(r"\*\*([^*]+)\*\*[:：]?")
# an escaped [n] / [1, 2], unescaped again unless "(" or ":" follows (that would make it a link)
_MARKER = re.compile(r"\\\[(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\\\](?![(:])")
# what starts a Markdown block at the beginning of a line: 1. / 1) lists, - + bullets, === rules
_BLOCK_START = re.compile(r"^(\d{1,9})([.)])|^([-+=])")
# A user's question is data: in an export it stays on its one heading line, with no Markdown/HTML of its own.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")


def hidden_mask(text: str) -> bytearray | None:
    """Per character of ``text``, 1 where no reader sees it: emphasis markers, and the "[" and "](target)"
    of a link to an address or URL that is its own text; None when nothing is hidden.  The one definition
    of what is hidden; the browser drops these characters one by one (``app.ui.html.highlight``), so
    quoted spans keep their file offsets."""
    spans = [m.span() for m in _EMPHASIS.finditer(text)]
    for m in _LINK.finditer(text):
        target = m.group(2)
        if target.removeprefix("mailto:") == m.group(1) and ("@" in target or "://" in target):
            spans += [(m.start(), m.start(1)), (m.end(1), m.end())]
    if not spans:
        return None
    hidden = bytearray(len(text))
    for start, end in spans:
        hidden[start:end] = b"\x01" * (end - start)
    return hidden


def display_text(text: str) -> str:
    """Passage text as shown to people: Markdown emphasis markers removed, a self-named link as its text."""
    hidden = hidden_mask(text)
    if hidden is None:
        return text
    return "".join(ch for ch, h in zip(text, hidden, strict=True) if not h)


def quoted_question(question: str) -> str:
    """The question as one line of literal text in Markdown: control/bidi characters and newlines
    become spaces and Markdown/HTML syntax is escaped, so a question cannot add headings, quotes,
    rules, links or HTML to an export.  Nothing else changes: the record shows the question as it
    was typed (full-width punctuation, spacing), not the normalized form the pipeline searched."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _CONTROL.sub(" ", question).strip())


def markdown_text(text: str) -> str:
    """One line of answer or corpus text as Markdown that renders as exactly that text.

    Markdown syntax is escaped (a clause "1." or "- " at the start stays text instead of
    becoming a nested list; ``*``, ``<``, ``[...](...)`` stay characters); the [n] markers
    are kept readable.  Emphasis markers are dropped, as everywhere passages are shown.
    """
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", display_text(text).strip())
    escaped = _MARKER.sub(r"[\1]", escaped)
    return _BLOCK_START.sub(
        lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(1) else f"\\{m.group(3)}", escaped
    )


def answer_blocks(text: str) -> list[tuple[str, str]]:
    """An answer's lines as (kind, content): ``lead`` (the lines of the first paragraph: a provision's
    list opening and the item that decides the question are two), ``para``, ``heading`` (a ``**group**``
    line) or ``item`` (a ``- `` bullet), blank lines dropped.

    The one reading of the answerers' layout, shared by the browser (``app.ui.html``) and the
    Markdown export, so both show the same structure.
    """
    blocks: list[tuple[str, str]] = []
    opening = True  # no blank line yet after the first line
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            opening = opening and not blocks
            continue
        item, heading = _ITEM.match(line), _GROUP_HEADING.fullmatch(line)
        if item:
            blocks.append(("item", item.group(1)))
        elif heading:
            blocks.append(("heading", heading.group(1)))
        else:
            lead = opening and all(kind == "lead" for kind, _c in blocks)
            blocks.append(("lead" if lead else "para", line))
    return blocks


def _answer_markdown(text: str) -> list[str]:
    """Markdown lines of an answer: blank lines around group headings and lists, so a heading never
    folds into the bullet before it, and items escaped so a quoted "1." stays text."""
    lines: list[str] = []
    previous = ""
    for kind, content in answer_blocks(text):
        if lines and not (kind == "item" and previous == "item"):
            lines.append("")
        if kind == "heading":
            lines.append(f"#### {markdown_text(content)}")
        elif kind == "item":
            lines.append(f"- {markdown_text(content)}")
        else:
            lines.append(markdown_text(content))
        previous = kind
    return [*lines, ""]


def _quote_markdown(quote: str) -> list[str]:
    """A passage as a block quote, one paragraph per line of the source, each escaped."""
    lines = [markdown_text(line) for line in display_text(quote).splitlines() if line.strip()]
    return ["> " + "\n>\n> ".join(lines), ""] if lines else []


def stale_note(answer: Answer) -> str:
    if not answer.stale:
        return ""
    return (
        f"注意：资料 {', '.join(answer.stale)} 在建立索引后已被修改，引文可能已过时；"
        "请运行 `legalqa ingest` 更新索引，并用 `legalqa verify` 核对。"
    )


def context_lines(answer: Answer) -> list[str]:
    """What the reader must see before the answer: how a follow-up was read, and code's notes."""
    lines = [f"按上下文理解为：{' '.join(answer.searched.split())}"] if answer.searched else []
    return lines + [" ".join(note.split()) for note in answer.notes]


def to_text(answer: Answer, *, show_scores: bool = False) -> str:
    """Citations of user-added documents keep their （用户添加） mark (``Citation.source_mark``), since
    nobody vetted those documents as the bundled ones were."""
    lines = [answer.warning, ""]
    if answer.error:
        lines += [f"出错：{answer.error}", ""]
    if answer.stale:
        lines += [stale_note(answer), ""]
    if context_lines(answer):
        lines += [*context_lines(answer), ""]
    if not answer.error:  # an error is the whole answer: no "no reliable basis" block standing in for one
        lines.append("【无可靠依据】" if answer.abstained else "【回答】")
        lines.append(display_text(answer.text))
    if answer.unsupported_removed:
        lines.append(f"（已删除 {answer.unsupported_removed} 句无法在引文中核实的内容）")
    if answer.citations:
        lines += ["", "【引用】"]
        for c in answer.citations:
            score = f"  score={c.score:.3f}" if show_scores else ""
            lines.append(
                citation_line(c.number, f"{c.locator}{c.source_mark}", c.doc_id, c.start, c.end) + score
            )
            if c.breadcrumb:
                lines.append(f"    {c.breadcrumb}")
            lines.append("    " + display_text(c.quote).replace("\n", "\n    "))
    lines += ["", answer.warning]
    return "\n".join(lines)


def history_turns(questions: Sequence[str], answers: Sequence[Answer]) -> list[Turn]:
    """A conversation as the pipeline reads it: each question, then its answer as ``to_text`` shows it, so a
    follow-up can point at the answer's sources ("你刚才说的第一条"); questions alone when they do not pair up."""
    if len(questions) != len(answers):
        return [Turn("user", q) for q in questions]
    return [
        turn
        for q, a in zip(questions, answers, strict=True)
        for turn in (Turn("user", q), Turn("assistant", to_text(a)))
    ]


def to_markdown(answer: Answer, question: str | None = None) -> str:
    """One question and its answer as a Markdown record, warning first and last.

    ``question``: the question as the user typed it (``Answer.question`` is the normalized
    form); an error shows only the error, not the abstention text that stands in for an answer.
    """
    asked = answer.question if question is None else question
    parts = [f"### 问：{quoted_question(asked)}", "", f"> **{answer.warning}**", ""]
    if answer.stale:
        parts += [f"> {stale_note(answer)}", ""]
    for line in context_lines(answer):
        parts += [f"> {markdown_text(line)}", ""]
    if answer.error:
        parts += [f"**出错：** {markdown_text(' '.join(answer.error.split()))}", ""]
    else:
        if answer.abstained:
            parts += ["**【无可靠依据】**", ""]
        parts += _answer_markdown(answer.text)
    if answer.unsupported_removed:
        parts += [f"_已删除 {answer.unsupported_removed} 句无法在引文中核实的内容_", ""]
    if answer.citations:
        parts += ["#### 引用来源", ""]
    for c in answer.citations:
        where = f"（`{c.file}` 字符 {c.start}–{c.end}，sha256 `{c.sha256[:12]}…`）"
        parts += [f"**\\[{c.number}\\] {markdown_text(c.locator + c.source_mark)}**{where}", ""]
        parts += _quote_markdown(c.quote)
    parts += [f"_{answer.warning}_", ""]
    return "\n".join(parts)


def conversation_markdown(
    answers: Iterable[Answer], title: str = "法律问答记录", questions: Sequence[str] | None = None
) -> str:
    """The whole conversation; ``questions`` are the questions as typed, in order (see ``to_markdown``)."""
    answers = list(answers)
    typed = (
        list(questions) if questions is not None and len(questions) == len(answers) else [None] * len(answers)
    )
    body = "\n---\n\n".join(to_markdown(a, q) for a, q in zip(answers, typed, strict=True))
    return f"# {title}\n\n{body}"
