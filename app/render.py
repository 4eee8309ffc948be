"""Answer → text for terminals and Markdown for export; both always end with the warning."""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.types import Answer

_EMPHASIS = re.compile(r"\*\*|__")
# A user's question is data: in an export it stays on its one heading line, with no Markdown/HTML of its own.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")


def display_text(text: str) -> str:
    """Passage text as shown to people: Markdown emphasis markers removed."""
    return _EMPHASIS.sub("", text)


def quoted_question(question: str) -> str:
    """The question as one line of literal text in Markdown: control/bidi characters and newlines
    become spaces and Markdown/HTML syntax is escaped, so a question cannot add headings, quotes,
    rules, links or HTML to an export."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(_CONTROL.sub(" ", question).split()))


def stale_note(answer: Answer) -> str:
    if not answer.stale:
        return ""
    return (
        f"注意：资料 {', '.join(answer.stale)} 在建立索引后已被修改，引文可能已过时；"
        "请运行 `legalqa ingest` 更新索引，并用 `legalqa verify` 核对。"
    )


def to_text(answer: Answer, *, show_scores: bool = False) -> str:
    """Citations of user-added documents keep their （用户添加） mark (``Citation.source_mark``), since
    nobody vetted those documents as the bundled ones were."""
    lines = [answer.warning, ""]
    if answer.error:
        lines += [f"出错：{answer.error}", ""]
    if answer.stale:
        lines += [stale_note(answer), ""]
    lines.append(("【无可靠依据】" if answer.abstained else "【回答】") + "")
    lines.append(display_text(answer.text))
    if answer.unsupported_removed:
        lines.append(f"（已删除 {answer.unsupported_removed} 句无法在引文中核实的内容）")
    if answer.citations:
        lines += ["", "【引用】"]
        for c in answer.citations:
            score = f"  score={c.score:.3f}" if show_scores else ""
            lines.append(f"[{c.number}] {c.locator}{c.source_mark}  ({c.doc_id}:{c.start}-{c.end}){score}")
            if c.breadcrumb:
                lines.append(f"    {c.breadcrumb}")
            lines.append("    " + display_text(c.quote).replace("\n", "\n    "))
    lines += ["", answer.warning]
    return "\n".join(lines)


def to_markdown(answer: Answer) -> str:
    parts = [f"### 问：{quoted_question(answer.question)}", "", f"> **{answer.warning}**", ""]
    if answer.stale:
        parts += [f"> {stale_note(answer)}", ""]
    if answer.error:
        parts += [f"**出错：** {answer.error}", ""]
    if answer.abstained:
        parts.append("**【无可靠依据】**")
    parts += [display_text(answer.text), ""]
    if answer.unsupported_removed:
        parts += [f"_已删除 {answer.unsupported_removed} 句无法在引文中核实的内容_", ""]
    for c in answer.citations:
        quote = display_text(c.quote).replace("\n", "\n> ")
        parts += [f"**[{c.number}] {c.locator}{c.source_mark}**（`{c.file}` 字符 {c.start}–{c.end}，sha256 `{c.sha256[:12]}…`）", "", f"> {quote}", ""]
    parts += [f"_{answer.warning}_", ""]
    return "\n".join(parts)


def conversation_markdown(answers: Iterable[Answer], title: str = "法律问答记录") -> str:
    body = "\n---\n\n".join(to_markdown(a) for a in answers)
    return f"# {title}\n\n{body}"
