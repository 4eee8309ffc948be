"""The corpus page's upload section: legal staff add their own document in two steps.

1. 解析预览: the file is checked and parsed (``ingest.documents.prepare_document``),
   nothing is written; the page shows how it was cut (locator and first
   characters of every clause or article) so a wrongly structured file is
   caught before it can be cited.
2. 确认添加: ``ingest.corpus_edit.add_document`` writes the file and manifest
   entry and ingests, as one transaction.

Any problem is one line (``无法添加：…`` naming the field, or the file and line).
The preview is tied to the exact inputs it was made from: changing any field or
the file hides it, so what is confirmed is always what was previewed.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from app.ui import backend
from app.ui.html import kind_label
from ingest.documents import AddRequest, PreparedDocument, indexing_note
from ingest.errors import LegalQAError
from ingest.settings import Settings

KINDS = ("agreement", "statute", "paper", "blog")
PREPARED = "add_prepared"  # session key: (signature of the inputs, PreparedDocument)
DONE = "add_done"  # session key: the success message shown after the page reloads
HEAD_CHARS = 40


def render(settings: Settings) -> None:
    done = st.session_state.pop(DONE, None)
    if done:
        st.success(done, icon="✅")
    with st.expander("➕ 添加自己的文件（法务人员）", expanded=PREPARED in st.session_state):
        st.caption(
            "上传 UTF-8 文本文件（.md 或 .txt）：协议按“一、…”章节和“1.”条款、法规按“第一条”切分。"
            "先预览解析结果，确认后才写入资料库并建立索引；引用它的回答都会标注“用户添加”。"
        )
        left, right = st.columns(2)
        kind = left.selectbox("文件类型", KINDS, format_func=kind_label, key="add_kind")
        title = right.text_input("标题", key="add_title", placeholder="如：星河智能大模型服务用户协议")
        cols = st.columns(3)
        short = cols[0].text_input("引用简称（可选）", key="add_short", placeholder="如：星河协议")
        effective = cols[1].text_input("生效日期（法规必填）", key="add_effective", placeholder="YYYY-MM-DD")
        doc_id = cols[2].text_input("文件 id（可选）", key="add_id", placeholder="小写字母、数字和 -，默认取自文件名")
        provenance = st.text_input("来源说明（可选）", key="add_provenance", placeholder="如：公司法务部 2025 年版")
        upload = st.file_uploader("选择文件", type=["md", "txt"], key="add_file")
        if upload is None:
            st.session_state.pop(PREPARED, None)
            return
        data = upload.getvalue()
        request = AddRequest(kind, title, doc_id, short, effective, provenance)
        signature = hashlib.sha256(repr((request, upload.name)).encode() + data).hexdigest()
        if st.button("解析预览", key="add_preview"):
            _prepare(settings, data, upload.name, request, signature)
        entry = st.session_state.get(PREPARED)
        if entry is None or entry[0] != signature:
            return
        prepared: PreparedDocument = entry[1]
        _preview(prepared)
        if st.button("确认添加并建立索引", key="add_confirm", type="primary"):
            _commit(settings, prepared)


def _prepare(settings: Settings, data: bytes, name: str, request: AddRequest, signature: str) -> None:
    from ingest.documents import prepare_document

    st.session_state.pop(PREPARED, None)
    try:
        prepared = prepare_document(settings, data, name, request)
    except LegalQAError as exc:
        _error(str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - a clear line, never a trace
        _error(f"{type(exc).__name__}: {exc}")
        return
    st.session_state[PREPARED] = (signature, prepared)


def _preview(prepared: PreparedDocument) -> None:
    meta = prepared.meta
    facts = [
        kind_label(meta.kind, user_added=True),
        f"{meta.articles} 条" if meta.articles else "",
        f"{len(prepared.chunks)} 个段落",
        f"生效日期 {meta.effective}" if meta.effective else "",
        f"将保存为 `{meta.file}`（id `{meta.doc_id}`）",
    ]
    st.markdown(f"**解析结果：{meta.short_title}**（{meta.title}）")
    st.caption(" · ".join(f for f in facts if f))
    if prepared.resumed:
        st.caption("这份文件已在资料库中，但上次添加被中断、尚未建立索引：确认后只建立索引。")
    if indexing_note(prepared):
        st.caption(indexing_note(prepared))
    if prepared.front_matter_added:
        st.caption("文件没有 front matter：已按标题和生效日期生成（标题、生效日期、条数）。")
    for block in prepared.skipped:
        st.caption(f"不作为回答依据：{block.end - block.start} 字 — {block.reason}")
    rows = [
        {"定位": c.locator, "段落 id": c.chunk_id, "开头": _head(c.text), "字数": c.end - c.start}
        for c in prepared.chunks
    ]
    st.dataframe(rows, hide_index=True, width="stretch", height=min(36 * (len(rows) + 1) + 4, 420))


def _commit(settings: Settings, prepared: PreparedDocument) -> None:
    from ingest.corpus_edit import add_document

    try:
        with st.spinner("正在写入资料库并建立索引…"):
            report = add_document(settings, prepared)
    except LegalQAError as exc:
        _error(str(exc))
        return
    except Exception as exc:  # noqa: BLE001
        _error(f"{type(exc).__name__}: {exc}")
        return
    st.session_state.pop(PREPARED, None)
    backend.forget_manifest()
    meta = prepared.meta
    st.session_state[DONE] = (
        f"已添加“{meta.title}”（{kind_label(meta.kind, user_added=True)}）："
        f"{report.chunks_per_document.get(meta.doc_id, len(prepared.chunks))} 个段落已建立索引，现在可以就它提问。"
    )
    st.rerun()


def _error(message: str) -> None:
    st.error(f"无法添加：{' '.join(message.split())}", icon="🚫")


def _head(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= HEAD_CHARS else flat[:HEAD_CHARS] + "…"
