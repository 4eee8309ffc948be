"""Streamlit pieces shared by the pages: notice, problem messages, an answer with its citation cards."""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from typing import Any

import streamlit as st

from app.answer import Answer, Citation
from app.render import context_lines, stale_note
from app.ui import backend, nav
from app.ui.backend import Problem
from app.ui.html import anchor_id, answer_body_html, citation_html, format_spans, kind_label
from app.warning import WARNING_CORE
from ingest.settings import Settings
from ingest.types import DocumentMeta

ANSWERER_LABELS = {"extractive": "摘录式（离线，逐句摘引原文）", "llm": "大模型生成（经引文核验）"}
ABSTAIN_TITLE = "资料库中没有可靠依据"

_STATIC_SCOPE = (
    "《民法典》《消费者权益保护法》《产品质量法》《电子商务法》《个人信息保护法》《网络安全法》《数据安全法》"
    "《著作权法》《生成式人工智能服务管理暂行办法》《深度合成管理规定》《算法推荐管理规定》《标识办法》"
)


def scope_lines(docs: list[DocumentMeta]) -> tuple[str, str]:
    """(statutes, other sources) as one line each, from the manifest when it can be read."""
    statutes = "".join(
        m.short_title if m.short_title.startswith("《") else f"《{m.short_title}》"
        for m in docs
        if m.kind == "statute"
    )
    others = "；".join(
        f"“{m.title}”" if kind_label(m.kind) in m.title else f"{kind_label(m.kind)}“{m.title}”"
        for m in docs
        if m.kind != "statute"
    )
    return (
        statutes or _STATIC_SCOPE,
        others
        or "大模型开放平台用户协议（智谱）；生成式人工智能产品责任学术论文；大模型服务故障赔偿博客文章",
    )


def notice(docs: list[DocumentMeta]) -> str:
    statutes, others = scope_lines(docs)
    n_other = sum(1 for m in docs if m.kind != "statute") or 3
    return (
        "**这是什么：** 一个查找法律依据的辅助工具，专门回答**生成式人工智能服务的民事责任**问题"
        "（服务故障赔偿、免责条款效力、AI 生成内容致损、产品缺陷、消费者权益等）。"
        "它只在下列资料中检索，回答时逐句摘引原文并用 [1] [2] 标注出处，点击出处即可核对原文。\n\n"
        f"- **法律法规：** {statutes}\n"
        f"- **{n_other} 份资料：** {others}\n\n"
        "**不是什么：** 它不是律师，回答**仅供参考，不构成法律意见**；"
        "不办理、也不解答许可证、备案、资质申请等行政审批事项；"
        "资料中找不到依据时，它会明确告诉您“资料库中没有可靠依据”，而不会编造答案。"
    )


def show_problem(problem: Problem) -> None:
    """A clear message with the command that fixes it; never a trace."""
    if problem.kind == "missing":
        st.error(
            "**还没有建立资料索引**，暂时无法回答问题。请在项目目录运行下面任一命令建立索引（约需一两分钟），然后刷新本页：",
            icon="🗂️",
        )
        st.code("legalqa ingest\n# 或\nmake ingest", language="bash")
    elif problem.kind == "mismatch":
        st.error(
            "**资料索引是用另一个向量模型（或另一版切分规则）建立的**，与当前设置不一致。请重建索引，然后刷新本页：",
            icon="🔁",
        )
        st.code("legalqa ingest --rebuild", language="bash")
    elif problem.kind == "settings":
        st.error("**配置有误**，请检查 .env 或环境变量：", icon="⚙️")
    else:
        st.error("**后端出错**，暂时无法回答。请稍后重试；如果问题持续，请联系管理员：", icon="🛠️")
    st.caption(f"详细信息：{problem.message}")


# every ASCII punctuation character: CommonMark shows a backslash-escaped one as itself
_MD_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def escape_markdown(text: str, limit: int = 600) -> str:
    """``text`` (a question, a title, a locator) as Markdown that shows exactly that text.

    Every ASCII punctuation character is escaped, not only the usual emphasis
    and link characters: otherwise a bare ``http://…`` or ``www.…`` still becomes
    a link (GFM autolinks), ``$…$`` formula and ``:red[…]`` colour markup still
    apply.  Line breaks stay line breaks.
    """
    shown = text if len(text) <= limit else text[:limit] + f"…（共 {len(text)} 字，已截断显示）"
    return _MD_PUNCTUATION.sub(r"\\\1", shown).replace("\r", "").replace("\n", "  \n")


def markdown_literal(text: str, limit: int = 200) -> str:
    """``text`` from outside (a URL parameter, a file name) as one inline code span inside Markdown.

    Inside a code span nothing is Markdown (no link, image, emphasis, autolink
    or HTML), and the text stays searchable as typed.  Line breaks and other
    control characters are flattened first, since a blank line would end the
    span and let the rest be parsed; the fence is longer than any run of
    backticks in the text.
    """
    flat = "".join(" " if ch.isspace() else ch if ch.isprintable() else "\ufffd" for ch in text)
    shown, cut = (flat, "") if len(flat) <= limit else (flat[:limit], f"…（共 {len(flat)} 字）")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", shown)), default=0) + 1)
    # CommonMark drops one space at each end when both ends have one: pad so the text stays exact
    edge = shown[:1] + shown[-1:]
    pad = " " if "`" in edge or (edge == "  " and shown.strip(" ")) else ""
    return f"{fence}{pad}{shown}{pad}{fence}{cut}" if shown else ""


DRAFT_LABEL = "正在生成……以下为草稿，尚未核对引文；核对完成后替换为正式回答。"


class DraftPreview:
    """What the LLM has written so far, in one placeholder above the spinner: the warning first, a
    label saying it is an unchecked draft, then the text as plain text (escaped: it is model output).

    Redrawn at most every ``every`` seconds, since each redraw is a message to the browser; the chat
    page clears it and draws the checked answer once ``Pipeline.ask`` returns."""

    def __init__(self, placeholder: Any, warning: str, every: float = 0.2) -> None:
        self.placeholder = placeholder
        self.warning = warning
        self.every = every
        self._last = float("-inf")

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        with self.placeholder.container():
            st.warning(self.warning)
            st.caption(DRAFT_LABEL)
            st.markdown(escape_markdown(text, limit=4000))

    def clear(self) -> None:
        self.placeholder.empty()


def render_answer(answer: Answer, *, msg_id: str, show_scores: bool, settings: Settings) -> None:
    """Warning first (always), then the error, abstention or answer with its citation cards.

    The answer starts with an empty anchor (``<msg_id>-top``) that the chat page scrolls to.
    """
    st.markdown(f'<div class="answer-top" id="{answer_top_id(msg_id)}"></div>', unsafe_allow_html=True)
    st.warning(answer.warning)
    if answer.stale:
        st.error(stale_note(answer), icon="⏳")
    for line in context_lines(answer):
        st.caption(escape_markdown(line))
    if answer.error:
        st.error(f"**出错了：** {answer.error}", icon="🚫")
        return
    if answer.abstained:
        st.info(f"**{ABSTAIN_TITLE}**\n\n{answer.text}", icon="🔍")
        if show_scores:
            _evidence(answer)
        return
    locators = {c.number: c.locator + c.source_mark for c in answer.citations}
    quotes = {c.number: c.quote for c in answer.citations}
    st.markdown(answer_body_html(answer.text, locators, msg_id, quotes), unsafe_allow_html=True)
    if answer.unsupported_removed:
        st.caption(f"已删除 {answer.unsupported_removed} 句无法在引文中核实的内容。")
    st.markdown(
        f"<div class='cite-title'>引用来源（{len(answer.citations)}） <span class='ask-note'>黄色标记为回答摘引的原句；点击“在原文中查看”可阅读上下文。</span></div>",
        unsafe_allow_html=True,
    )
    for c in answer.citations:
        citation_card(c, msg_id=msg_id, show_scores=show_scores, settings=settings)
    total = answer.timings.get("total_ms")
    label = ANSWERER_LABELS.get(answer.answerer, answer.answerer)
    took = f" · 用时 {total / 1000:.2f} 秒" if total else ""
    st.caption(f"回答方式：{label}{took} · ⚠️ {WARNING_CORE}，请核对所引原文。")
    if show_scores:
        _evidence(answer)


def answer_top_id(msg_id: str) -> str:
    return f"{msg_id}-top"


def citation_card(c: Citation, *, msg_id: str, show_scores: bool, settings: Settings) -> None:
    title = c.doc_title + c.source_mark
    with st.container(border=True):
        st.markdown(
            citation_html(
                number=c.number, locator=c.locator, title=title, breadcrumb=c.breadcrumb,
                quote_text=c.quote, start=c.start, spans=c.spans, anchor=anchor_id(msg_id, c.number),
            ),
            unsafe_allow_html=True,
        )  # fmt: skip
        left, right = st.columns([3, 2], vertical_alignment="center")
        left.page_link(
            nav.SOURCE,
            label="在原文中查看（含前后条文）",
            icon="📄",
            query_params=source_params(c),
        )
        ok, problem = backend.citation_check(
            c.file, c.sha256, c.start, c.end, c.quote, str(settings.corpus_dir)
        )
        right.caption("✅ 已与资料原文逐字核对一致" if ok else f"⚠️ 原文核对未通过：{problem}")
        if show_scores:
            st.caption(
                f"检索分数 score = {c.score:.4f} · 段落 {c.chunk_id} · `{c.file}` 字符 {c.start}–{c.end}"
            )


def source_params(c: Citation) -> dict[str, str]:
    params = {"doc": c.doc_id, "start": str(c.start), "end": str(c.end)}
    if c.spans:
        params["hl"] = format_spans(c.spans)
    return params


def _evidence(answer: Answer) -> None:
    with st.expander("检索证据（evidence）与各段分数", expanded=False):
        st.json(answer.evidence.as_dict() if answer.evidence else {}, expanded=True)
        if answer.retrieved:
            st.dataframe([asdict(r) for r in answer.retrieved], hide_index=True, width="stretch")
        if answer.timings:
            st.caption(" · ".join(f"{k} = {v:.0f}" for k, v in answer.timings.items()))
