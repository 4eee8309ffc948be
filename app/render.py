"""Answer → text for terminals and Markdown for export; both always end with the warning."""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.types import Answer

_EMPHASIS = re.compile(r"\*\*|__")


def display_text(text: str) -> str:
    """Passage text as shown to people: Markdown emphasis markers removed."""
    return _EMPHASIS.sub("", text)


def to_text(answer: Answer, *, show_scores: bool = False) -> str:
    lines = [answer.warning, ""]
    if answer.error:
        lines += [f"出错：{answer.error}", ""]
    lines.append(("【无可靠依据】" if answer.abstained else "【回答】") + "")
    lines.append(display_text(answer.text))
    if answer.unsupported_removed:
        lines.append(f"（已删除 {answer.unsupported_removed} 句无法在引文中核实的内容）")
    if answer.citations:
        lines += ["", "【引用】"]
        for c in answer.citations:
            score = f"  score={c.score:.3f}" if show_scores else ""
            lines.append(f"[{c.number}] {c.locator}  ({c.doc_id}:{c.start}-{c.end}){score}")
            if c.breadcrumb:
                lines.append(f"    {c.breadcrumb}")
            lines.append("    " + display_text(c.quote).replace("\n", "\n    "))
    lines += ["", answer.warning]
    return "\n".join(lines)


def to_markdown(answer: Answer) -> str:
    parts = [f"### 问：{answer.question}", "", f"> **{answer.warning}**", ""]
    if answer.error:
        parts += [f"**出错：** {answer.error}", ""]
    if answer.abstained:
        parts.append("**【无可靠依据】**")
    parts += [display_text(answer.text), ""]
    if answer.unsupported_removed:
        parts += [f"_已删除 {answer.unsupported_removed} 句无法在引文中核实的内容_", ""]
    for c in answer.citations:
        quote = display_text(c.quote).replace("\n", "\n> ")
        parts += [f"**[{c.number}] {c.locator}**（`{c.file}` 字符 {c.start}–{c.end}，sha256 `{c.sha256[:12]}…`）", "", f"> {quote}", ""]
    parts += [f"_{answer.warning}_", ""]
    return "\n".join(parts)


def conversation_markdown(answers: Iterable[Answer], title: str = "法律问答记录") -> str:
    body = "\n---\n\n".join(to_markdown(a) for a in answers)
    return f"# {title}\n\n{body}"
