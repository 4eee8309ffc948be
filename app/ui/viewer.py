"""Source viewer page: a cited passage highlighted among its neighbouring articles/clauses, or a whole document.

Query parameters: ``doc`` (doc_id), ``start``/``end`` (file offsets of the
passage), ``hl`` (quoted spans ``s-e,s-e``), ``full=1`` (whole document).

Anyone can craft such a link, and titles and file names come from files, so
none of that text reaches Markdown unescaped: a ``?doc=`` of Markdown must not
put a link, an image (a request to another site) or a bold claim next to this
tool's warning.  Passages themselves are HTML-escaped in ``app.ui.html``.
"""

from __future__ import annotations

import streamlit as st

from app.ui import backend, nav
from app.ui.backend import Problem
from app.ui.components import escape_markdown, markdown_literal, show_problem
from app.ui.html import chunks_html, document_label, kind_label, parse_int, parse_spans, scroll_script
from app.warning import WARNING
from ingest.types import Chunk


def render() -> None:
    loaded = backend.settings_and_pipeline()
    if isinstance(loaded, Problem):
        st.markdown("## 📄 原文查看")
        show_problem(loaded)
        return
    settings, pipeline = loaded
    grouped = backend.doc_chunks(pipeline)
    qp = st.query_params
    doc_id = qp.get("doc", "")
    if doc_id not in grouped:
        _choose_document(grouped, settings, pipeline, doc_id)
        return
    chunks = grouped[doc_id]
    meta = backend.document_meta(settings, doc_id, pipeline)
    title = meta.title if meta else chunks[0].doc_title
    st.markdown(f"### 📄 {escape_markdown(title)}")
    facts = [escape_markdown(kind_label(chunks[0].kind, bool(meta and meta.user_added)))]
    if meta and meta.effective:
        facts.append(f"生效日期 {escape_markdown(meta.effective)}")
    facts.append(f"文件 {markdown_literal(chunks[0].file)}")
    st.caption(" · ".join(facts))

    start, end = parse_int(qp.get("start")), parse_int(qp.get("end"))
    full = qp.get("full") == "1"
    targets = [c for c in chunks if start is not None and end is not None and c.start < end and start < c.end]
    links = st.columns(3)
    links[0].page_link(nav.CHAT, label="返回问答", icon="💬")
    links[1].page_link(nav.CORPUS, label="在资料库中浏览本文件", icon="📚", query_params={"doc": doc_id})
    if start is not None and not targets:
        st.warning("链接中的位置不在本文件的已索引段落内（文件可能已更新）；下面显示全文。")
    if not targets or start is None or end is None:
        _whole(chunks, None, ())
        return
    spans = parse_spans(qp.get("hl"))
    base = {"doc": doc_id, "start": str(start), "end": str(end)} | ({"hl": qp.get("hl", "")} if spans else {})
    first = targets[0]
    crumb = f"　（{first.breadcrumb_text}）" if first.breadcrumb_text else ""
    st.markdown(f"**引用段落：{escape_markdown(first.locator)}**{escape_markdown(crumb)}")
    if full:
        links[2].page_link(nav.SOURCE, label="只看引用段落及前后条文", icon="🔎", query_params=base)
        st.markdown("[↓ 跳到引用段落](#target-full)")
        _whole(chunks, (start, end), spans, anchor="target-full")
        st.html(scroll_script("target-full"), unsafe_allow_javascript=True)
        return
    links[2].page_link(
        nav.SOURCE, label="阅读全文（定位到此段）", icon="📖", query_params=base | {"full": "1"}
    )
    around = st.columns([2, 3])[0].select_slider(
        "前后各显示段落数", options=[0, 1, 2, 3, 5, 10], value=3, key="around"
    )
    window, more_before, more_after = backend.context_window(chunks, start, end, int(around))
    with st.container(border=True):
        if more_before:
            st.caption("⋯ 上文略 ⋯")
        st.markdown(chunks_html(window, target=(start, end), spans=spans), unsafe_allow_html=True)
        if more_after:
            st.caption("⋯ 下文略 ⋯")
    st.caption("浅黄底色为被引用的段落，黄色标记为回答摘引的原句。" + WARNING)
    if around >= 3:
        st.html(scroll_script("target"), unsafe_allow_javascript=True)


def _whole(
    chunks: tuple[Chunk, ...],
    target: tuple[int, int] | None,
    spans: tuple[tuple[int, int], ...],
    *,
    anchor: str = "target",
) -> None:
    st.caption(f"全文共 {len(chunks)} 个段落。")
    with st.container(border=True):
        st.markdown(chunks_html(chunks, target=target, spans=spans, anchor=anchor), unsafe_allow_html=True)


def _choose_document(
    grouped: dict[str, tuple[Chunk, ...]], settings: object, pipeline: object, asked: str
) -> None:
    st.markdown("## 📄 原文查看")
    if asked:
        st.warning(f"资料库中没有编号为 “{markdown_literal(asked)}” 的文件。")
    st.info("从问答页的引文卡片点击“在原文中查看”即可打开对应位置；也可以直接选择一份文件阅读全文：")
    for meta in backend.documents(settings, pipeline):  # type: ignore[arg-type]
        if meta.doc_id in grouped:
            st.page_link(
                nav.SOURCE,
                label=escape_markdown(document_label(meta)),
                icon="📄",
                query_params={"doc": meta.doc_id},
            )
