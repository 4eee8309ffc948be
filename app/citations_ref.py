"""Statute and agreement references in free text, as retrieval and verification use them.

Statute article references (民法典第1202条, 消保法55条, 第一千二百零二条) and the one
``ArticleRef`` type live in ``ingest.articles``; they are re-exported here for the modules
that import them from ``app``.  What is ``app``'s own: the user agreement's clause
references ("用户协议第八部分第6条").
"""

from __future__ import annotations

import re

from ingest.articles import STATUTE_ALIASES, ArticleRef, StatuteNames, to_int

__all__ = ["STATUTE_ALIASES", "ArticleRef", "StatuteNames", "agreement_clause_refs"]

_CN_SECTION = "一二三四五六七八九十"
_AGREEMENT_CLAUSE = re.compile(
    rf"协议[^，。？！\n]{{0,6}}?第?([{_CN_SECTION}]{{1,3}}|[0-9]{{1,2}})(?:部分|章|节|、|条款)[^，。？！\n]{{0,8}}?第?([0-9]{{1,2}}|[{_CN_SECTION}]{{1,3}})(?:条|款|项)"
)


def agreement_clause_refs(text: str) -> list[tuple[int, int]]:
    """(section, clause) pairs for "用户协议第八部分第6条" / "协议八、责任限制第3条"."""
    out = []
    for m in _AGREEMENT_CLAUSE.finditer(text):
        section, clause = to_int(m.group(1)), to_int(m.group(2))
        if section and clause:
            out.append((section, clause))
    return out
