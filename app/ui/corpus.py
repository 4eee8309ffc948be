"""Corpus browser page: the document list with provenance, reading by 编/章/节, jump to an article,
and the upload section where legal staff add their own documents (``app.ui.upload``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from app.citations_ref import StatuteNames, section_path
from app.ui import backend, nav, upload
from app.ui.backend import Problem
from app.ui.components import show_problem
from app.ui.html import chunks_html, document_label, kind_label, provenance_line, scroll_script
from ingest.numerals import int_to_cn
from ingest.types import Chunk, DocumentMeta

ALL = "（全部）"
_LEVEL = re.compile(r"^第[零〇一二两三四五六七八九十百千0-9]+(分编|编|章|节)")
# what each level of the "按结构阅读" pickers is called, by document kind (statutes: from the options)
LEVEL_NAMES = {
    "agreement": ("协议部分", "条款（含分项）"),
    "paper": ("章节", "小节", "子小节"),
    "blog": ("小标题",),
}
# the jump box, by document kind: (heading, placeholder)
JUMPS = {
    "statute": ("跳转到条文", "输入条号，如 1202、第1202条、第一千二百零二条 或 消保法55条"),
    "agreement": ("跳转到条款", "输入条款编号，如 8.1、8.3.2 或 第八条第1款"),
    "paper": ("跳转到章节", "输入章节编号，如 2.1 或 4.2.2"),
}


def render() -> None:
    st.markdown("## 📚 资料库")
    loaded = backend.settings_and_pipeline()
    if isinstance(loaded, Problem):
        show_problem(loaded)
        return
    settings, pipeline = loaded
    names = pipeline.retriever().names
    grouped = backend.doc_chunks(pipeline)
    docs = [m for m in backend.documents(settings, pipeline) if m.doc_id in grouped]
    st.caption("本工具只依据下列文件作答。每个文件都记录了来源，法律法规注明了生效日期。")
    _table(docs, grouped)
    _read(docs, grouped, names)
    st.subheader("添加文件", divider="gray")
    upload.render(settings)


def _read(docs: Sequence[DocumentMeta], grouped: dict[str, tuple[Chunk, ...]], names: StatuteNames) -> None:
    st.subheader("阅读文件", divider="gray")
    ids = [m.doc_id for m in docs]
    wanted = st.query_params.get("doc", "")
    by_id = {m.doc_id: m for m in docs}
    doc_id = st.selectbox(
        "选择文件",
        ids,
        index=ids.index(wanted) if wanted in ids else 0,
        format_func=lambda d: document_label(by_id[d]),
        key="corpus_doc",
    )
    if not doc_id:
        return
    meta, chunks = by_id[doc_id], grouped[doc_id]
    st.caption(f"{kind_label(meta.kind, meta.user_added)} · {len(chunks)} 个段落")
    st.caption(provenance_line(meta))
    st.page_link(nav.SOURCE, label="阅读全文", icon="📖", query_params={"doc": doc_id})
    if meta.kind in JUMPS:
        _jump(meta, chunks, names)
    _browse(meta, chunks)


def _table(docs: Sequence[DocumentMeta], grouped: dict[str, tuple[Chunk, ...]]) -> None:
    rows = [
        {
            "简称": m.short_title,
            "名称": m.title,
            "类型": kind_label(m.kind),
            "添加方式": f"用户添加 {m.added_on}".strip() if m.user_added else "内置",
            "生效日期": m.effective or "—",
            "段落数": len(grouped.get(m.doc_id, ())),
            "来源": provenance_line(m),
        }
        for m in docs
    ]
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        height=36 * (len(rows) + 1) + 4,
        column_config={
            "来源": st.column_config.TextColumn("来源", width="large", help="文件的出处、版本和文件名"),
            "段落数": st.column_config.NumberColumn("段落数", format="%d", width="small"),
        },
    )


def find_article(chunks: Sequence[Chunk], number: int, sub: int = 0) -> list[Chunk]:
    label = f"第{int_to_cn(number)}条" + (f"之{int_to_cn(sub)}" if sub else "")
    return [c for c in chunks if c.article == label]


def find_clause(chunks: Sequence[Chunk], doc_id: str, path: tuple[int, ...]) -> list[Chunk]:
    """An agreement's section, clause or item by its numbers: (8,) 八、…, (8, 3) its clause 3, (8, 3, 2) item ②.

    The agreement parser names chunks ``<doc>/<section>/<clause>/<item>``, for added agreements too.
    """
    key = f"{doc_id}/" + "/".join(map(str, path))
    return [c for c in chunks if c.chunk_id == key or c.chunk_id.startswith(key + "/")]


def find_section(chunks: Sequence[Chunk], path: tuple[int, ...]) -> list[Chunk]:
    """A paper's numbered section with its subsections: (2,) → 2.1, 2.2 …; (4, 2, 2) → 4.2.2."""
    key = ".".join(map(str, path))
    return [c for c in chunks if c.section == key or c.section.startswith(key + ".")]


@dataclass(frozen=True)
class Jump:
    hits: list[Chunk]
    problem: str = ""  # one line for the user when nothing was found


def jump_target(query: str, meta: DocumentMeta, chunks: Sequence[Chunk], names: StatuteNames) -> Jump:
    """The passages a jump-box entry points to in this document.

    Statute articles go through the project's article-reference parser (the one questions
    use), so 1202, 第1202条, 第一千二百零二条 and 消保法55条 all work; agreement clauses and
    paper sections through ``section_path`` (8.1, 第八条第1款, 2.1).
    """
    text = query.strip()
    if meta.kind == "statute":
        # a bare number is an article of this statute: "1202" → "第1202条", "消保法55" → "消保法55条"
        asked = text if "条" in text else text + "条"
        if not asked.startswith("第") and not names.mentions(asked):
            asked = "第" + asked
        refs = names.article_refs(asked, default_doc=meta.doc_id)
        if len(refs) != 1:
            return Jump([], f"“{text}”不是条号。请输入如 1202、第一千二百零二条 或 消保法55条。")
        ref = refs[0]
        if ref.doc_id != meta.doc_id:
            return Jump([], f"“{text}”是另一部法律的条文，请先在上方“选择文件”中选中那部法律。")
        hits = find_article(chunks, ref.number, ref.suffix)
        total = f"（本文件共 {meta.articles} 条）" if meta.articles else ""
        return Jump(hits, "" if hits else f"{meta.short_title}中没有第{ref.number}条{total}。")
    path = section_path(text)
    if path is None:
        example = "8.1 或 第八条第1款" if meta.kind == "agreement" else "2.1 或 4.2.2"
        return Jump([], f"“{text}”不是编号。请输入如 {example}。")
    hits = find_clause(chunks, meta.doc_id, path) if meta.kind == "agreement" else find_section(chunks, path)
    shown = ".".join(map(str, path))
    return Jump(hits, "" if hits else f"{meta.short_title}中没有编号为 {shown} 的部分。")


def _jump(meta: DocumentMeta, chunks: tuple[Chunk, ...], names: StatuteNames) -> None:
    heading, placeholder = JUMPS[meta.kind]
    st.markdown(f"**{heading}**")
    raw = st.text_input(
        "编号",
        key=f"jump_{meta.doc_id}",
        placeholder=placeholder,
        help="阿拉伯数字或中文数字均可。",
    )
    if not raw.strip():
        return
    jump = jump_target(raw, meta, chunks, names)
    if not jump.hits:
        st.warning(jump.problem)
        return
    hits = jump.hits
    start, end = hits[0].start, hits[-1].end
    crumb = f"（{hits[0].breadcrumb_text}）" if hits[0].breadcrumb_text else ""
    st.success(f"找到 {hits[0].locator}{crumb}", icon="📌")
    window, _before, _after = backend.context_window(chunks, start, end, 2)
    with st.container(border=True, height=420):
        st.markdown(chunks_html(window, target=(start, end), anchor="article"), unsafe_allow_html=True)
    if st.session_state.get("last_jump") != (meta.doc_id, raw):  # scroll once, not on every rerun
        st.session_state["last_jump"] = (meta.doc_id, raw)
        st.html(scroll_script("article"), unsafe_allow_javascript=True)
    st.page_link(
        nav.SOURCE,
        label=f"在原文中查看 {hits[0].locator}",
        icon="📄",
        query_params={"doc": meta.doc_id, "start": str(start), "end": str(end)},
    )


def level_name(options: Sequence[str], depth: int = 0, kind: str = "statute") -> str:
    """The label of one structure picker: 编/章/节 for statutes (read from the options), else by kind and depth,
    so no two pickers on the page share a name."""
    m = _LEVEL.match(options[0]) if options else None
    if m:
        return m.group(1)
    names = LEVEL_NAMES.get(kind, ())
    return names[depth] if depth < len(names) else f"第{depth + 1}级"


def _browse(meta: DocumentMeta, chunks: tuple[Chunk, ...]) -> None:
    doc_id = meta.doc_id
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
        choice = cols[depth % 3].selectbox(level_name(children, depth, meta.kind), options, key=key)
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
