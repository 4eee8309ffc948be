"""Corpus browser page: the document list with provenance, reading by 编/章/节, jump to an article,
and the upload section where legal staff add their own documents (``app.ui.upload``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import streamlit as st

from app.ui import backend, nav, upload
from app.ui.backend import Problem
from app.ui.components import show_problem
from app.ui.html import SCROLL_JS, chunks_html, kind_label, parse_article_query
from ingest.numerals import int_to_cn
from ingest.types import Chunk, DocumentMeta

ALL = "（全部）"
_LEVEL = re.compile(r"^第[零〇一二两三四五六七八九十百千0-9]+(分编|编|章|节)")


def render() -> None:
    st.markdown("## 📚 资料库")
    loaded = backend.settings_and_pipeline()
    if isinstance(loaded, Problem):
        show_problem(loaded)
        return
    settings, pipeline = loaded
    grouped = backend.doc_chunks(pipeline)
    docs = [m for m in backend.documents(settings, pipeline) if m.doc_id in grouped]
    st.caption("本工具只依据下列文件作答。每个文件都记录了来源，法律法规注明了生效日期。")
    _table(docs, grouped)
    _read(docs, grouped)
    st.subheader("添加文件", divider="gray")
    upload.render(settings)


def _read(docs: Sequence[DocumentMeta], grouped: dict[str, tuple[Chunk, ...]]) -> None:
    st.subheader("阅读文件", divider="gray")
    ids = [m.doc_id for m in docs]
    wanted = st.query_params.get("doc", "")
    by_id = {m.doc_id: m for m in docs}
    doc_id = st.selectbox(
        "选择文件",
        ids,
        index=ids.index(wanted) if wanted in ids else 0,
        format_func=lambda d: f"{by_id[d].title}（{kind_label(by_id[d].kind, by_id[d].user_added)}）",
        key="corpus_doc",
    )
    if not doc_id:
        return
    meta, chunks = by_id[doc_id], grouped[doc_id]
    facts = [
        kind_label(meta.kind, meta.user_added),
        f"生效日期 {meta.effective}" if meta.effective else "",
        f"文件 `{meta.file}`",
        f"{len(chunks)} 个段落",
    ]
    st.caption(" · ".join(f for f in facts if f))
    if meta.provenance:
        st.caption(f"来源：{meta.provenance}")
    st.page_link(nav.SOURCE, label="阅读全文", icon="📖", query_params={"doc": doc_id})
    if meta.kind == "statute":
        _jump(meta, chunks)
    _browse(doc_id, chunks)


def _table(docs: Sequence[DocumentMeta], grouped: dict[str, tuple[Chunk, ...]]) -> None:
    rows = [
        {
            "简称": m.short_title,
            "名称": m.title,
            "类型": kind_label(m.kind),
            "添加方式": f"用户添加 {m.added_on}".strip() if m.user_added else "内置",
            "生效日期": m.effective or "—",
            "段落数": len(grouped.get(m.doc_id, ())),
            "来源": m.provenance,
        }
        for m in docs
    ]
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        height=36 * (len(rows) + 1) + 4,
        column_config={
            "来源": st.column_config.TextColumn("来源", width="large", help="文件的出处与核对说明"),
            "段落数": st.column_config.NumberColumn("段落数", format="%d", width="small"),
        },
    )


def find_article(chunks: Sequence[Chunk], number: int, sub: int = 0) -> list[Chunk]:
    label = f"第{int_to_cn(number)}条" + (f"之{int_to_cn(sub)}" if sub else "")
    return [c for c in chunks if c.article == label]


def _jump(meta: DocumentMeta, chunks: tuple[Chunk, ...]) -> None:
    st.markdown("**跳转到条文**")
    raw = st.text_input(
        "条文序号",
        key=f"jump_{meta.doc_id}",
        placeholder="输入条号，如 1202、第1202条 或 第一千二百零二条",
        help="阿拉伯数字或中文数字均可。",
    )
    if not raw.strip():
        return
    parsed = parse_article_query(raw)
    if parsed is None:
        st.warning(f"“{raw}”不是条号。请输入数字，如 1202 或 第一千二百零二条。")
        return
    hits = find_article(chunks, *parsed)
    if not hits:
        total = f"（本文件共 {meta.articles} 条）" if meta.articles else ""
        st.warning(f"{meta.short_title}中没有第{parsed[0]}条{total}。")
        return
    start, end = hits[0].start, hits[-1].end
    crumb = f"（{hits[0].breadcrumb_text}）" if hits[0].breadcrumb_text else ""
    st.success(f"找到 {hits[0].locator}{crumb}", icon="📌")
    window, _before, _after = backend.context_window(chunks, start, end, 2)
    with st.container(border=True, height=420):
        st.markdown(chunks_html(window, target=(start, end), anchor="article"), unsafe_allow_html=True)
    if st.session_state.get("last_jump") != (meta.doc_id, raw):  # scroll once, not on every rerun
        st.session_state["last_jump"] = (meta.doc_id, raw)
        st.html(SCROLL_JS % "article", unsafe_allow_javascript=True)
    st.page_link(
        nav.SOURCE,
        label=f"在原文中查看 {hits[0].locator}",
        icon="📄",
        query_params={"doc": meta.doc_id, "start": str(start), "end": str(end)},
    )


def level_name(options: Sequence[str]) -> str:
    m = _LEVEL.match(options[0]) if options else None
    return m.group(1) if m else "部分"


def _browse(doc_id: str, chunks: tuple[Chunk, ...]) -> None:
    st.markdown(
        "**按结构阅读**" + ("（选择编、章、节）" if any(c.kind == "statute" for c in chunks[:1]) else "")
    )
    prefix: tuple[str, ...] = ()
    selected = list(chunks)
    cols = st.columns(3)
    depth = 0
    while True:
        children = list(dict.fromkeys(c.breadcrumb[depth] for c in selected if len(c.breadcrumb) > depth))
        if not children:
            break
        options = children if depth == 0 else [ALL, *children]
        key = f"lvl_{doc_id}_{depth}_{hashlib.sha1('/'.join(prefix).encode()).hexdigest()[:8]}"
        choice = cols[depth % 3].selectbox(level_name(children), options, key=key)
        if choice == ALL:
            break
        prefix = (*prefix, choice)
        selected = [c for c in selected if len(c.breadcrumb) > depth and c.breadcrumb[depth] == choice]
        depth += 1
    if not selected:
        st.info("这一部分没有可显示的段落。")
        return
    st.caption(f"共 {len(selected)} 个段落。")
    with st.container(border=True):
        st.markdown(
            chunks_html(selected, previous_breadcrumb=prefix[:-1] if prefix else ()), unsafe_allow_html=True
        )
