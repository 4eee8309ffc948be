"""The corpus browser's pure helpers, on the real corpus parsed in memory (no index, no Streamlit run).

Section nesting in the reading view, picker labels, document titles, the user-facing
provenance line and the jump box for statutes, agreement clauses and paper sections.
"""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app.citations_ref import StatuteNames, section_path
from app.ui.corpus import LEVEL_NAMES, jump_target, level_name
from app.ui.html import chunks_html, document_label, provenance_line
from ingest.manifest import load_documents
from ingest.parsers import parse_document
from ingest.types import USER_ADDED_MARK, Chunk, DocumentMeta

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture(scope="module")
def corpus() -> dict[str, tuple[DocumentMeta, tuple[Chunk, ...]]]:
    return {d.doc_id: (d.meta, parse_document(d).chunks) for d in load_documents(CORPUS)}


@pytest.fixture(scope="module")
def names(corpus: dict[str, tuple[DocumentMeta, tuple[Chunk, ...]]]) -> StatuteNames:
    """Statute names as the retriever builds them from the index (title and 《short title》)."""
    titles: dict[str, list[str]] = {}
    for _meta, chunks in corpus.values():
        for c in chunks:
            if c.article:
                titles.setdefault(c.doc_id, [c.doc_title, c.locator.split("》")[0] + "》"])
    return StatuteNames(titles)


class Sections(HTMLParser):
    """For each passage text: the headings of the sections (div.doc-sec) it is nested in."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.stack: list[list[str]] = []  # per open div: [class, heading text]
        self.in_heading = False
        self.passages: list[tuple[tuple[str, ...], str]] = []
        self.in_text = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "div":
            return
        css = dict(attrs).get("class") or ""
        self.stack.append([css, ""])
        self.in_heading = css.startswith("doc-h")
        self.in_text = css == "passage-text"

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self.stack.pop()
            self.in_heading = self.in_text = False

    def handle_data(self, data: str) -> None:
        if self.in_heading:
            self.stack[-2][1] += data  # the heading names its enclosing section
        elif self.in_text:
            headings = tuple(h for css, h in self.stack if css.startswith("doc-sec"))
            self.passages.append((headings, data))

    def headings_of(self, start: str) -> tuple[str, ...]:
        return next(h for h, text in self.passages if text.startswith(start))


def test_a_sub_heading_closes_where_its_items_end(corpus) -> None:  # noqa: ANN001
    _meta, chunks = corpus["agreement"]
    section = [c for c in chunks if c.breadcrumb[:1] == ("八、责任限制",)]
    view = Sections(chunks_html(section))
    assert view.headings_of("3. 您理解") == ("八、责任限制",)
    assert view.headings_of("① 不保证") == ("八、责任限制", "第3条")
    assert view.headings_of("⑤ 不保证") == ("八、责任限制", "第3条")
    assert view.headings_of("4. 除非另有") == ("八、责任限制",)  # back out of 第3条
    assert view.headings_of("7.") == ("八、责任限制",)
    whole = chunks_html(chunks)
    assert whole.count("<div") == whole.count("</div>")
    statute = Sections(chunks_html(corpus["civil-code"][1][1195:1210]))
    assert any("第四章　产品责任" in h for h in statute.headings_of("第一千二百零二条"))


def test_structure_pickers_have_distinct_meaningful_names() -> None:
    for kind, labels in LEVEL_NAMES.items():
        assert len(set(labels)) == len(labels) and "部分" not in labels, kind
    assert level_name(["序言", "一、定义"], 0, "agreement") != level_name(["第8条"], 1, "agreement")
    assert (
        level_name(["第一编　总则"], 0, "statute") == "编" and level_name(["第一章　x"], 1, "statute") == "章"
    )
    assert level_name(["1. 引言"], 0, "paper") == "章节" and level_name(["2.1. x"], 1, "paper") == "小节"


def test_document_label_names_the_kind_once(corpus) -> None:  # noqa: ANN001
    paper = corpus["paper"][0]
    assert document_label(paper) == "生成式人工智能的产品责任适用（学术论文）"
    assert document_label(corpus["agreement"][0]) == "大模型开放平台用户协议（智谱）"  # already says 用户协议
    assert document_label(corpus["blog"][0]).endswith("?（博客文章）")
    added = replace(corpus["agreement"][0], title="星河协议", added_by="user")
    assert document_label(added) == f"星河协议（用户协议）{USER_ADDED_MARK}"


def test_provenance_line_is_chinese_source_version_and_file_without_developer_notes(corpus) -> None:  # noqa: ANN001
    for meta, _chunks in corpus.values():
        line = provenance_line(meta)
        assert meta.source and line.startswith(f"来源：{meta.source}"), meta.doc_id
        assert line.endswith(f"文件：{meta.file}")
        for developer_text in ("byte-identical", "shared corpus", "@", "copied", "normaliz"):
            assert developer_text not in line, (meta.doc_id, developer_text)
        assert len(re.findall(r"[A-Za-z]", line.replace(meta.file, ""))) < 40, line  # a few names, no prose
    assert "版本：现行文本，2021-01-01 起施行" in provenance_line(corpus["civil-code"][0])
    assert "版本：2024-06-03 版" in provenance_line(corpus["agreement"][0])
    added = replace(
        corpus["agreement"][0],
        source="",
        provenance="公司法务部 2025 年版",
        added_by="user",
        added_on="2025-03-01",
    )
    assert provenance_line(added).startswith("来源：公司法务部 2025 年版 · 版本：法务人员于 2025-03-01 添加")


@pytest.mark.parametrize(
    ("doc_id", "query", "first", "count"),
    [
        ("civil-code", "1202", "civil-code/1202", 1),
        ("civil-code", "第1202条", "civil-code/1202", 1),
        ("civil-code", "第一千二百零二条", "civil-code/1202", 1),
        ("civil-code", "民法典第1202条", "civil-code/1202", 1),
        ("consumer-protection-law", "消保法55条", "consumer-protection-law/55", 1),
        ("consumer-protection-law", "55", "consumer-protection-law/55", 1),
        ("consumer-protection-law", "《消费者权益保护法》第五十五条", "consumer-protection-law/55", 1),
        ("agreement", "8.1", "agreement/8/1", 1),
        ("agreement", "第八条第1款", "agreement/8/1", 1),
        ("agreement", "8.3", "agreement/8/3", 6),  # the clause and its items ①–⑤
        ("agreement", "8.3.2", "agreement/8/3/2", 1),
        ("agreement", "第八部分第3条第②项", "agreement/8/3/2", 1),
        ("paper", "2.1", "paper/2.1/1", 1),
        ("paper", "4.2", "paper/4.2.1/1", 3),
        ("paper", "第4.3.1节", "paper/4.3.1/1", 2),
    ],
)
def test_jump_box_finds_articles_clauses_and_sections(corpus, names, doc_id, query, first, count) -> None:  # noqa: ANN001
    meta, chunks = corpus[doc_id]
    jump = jump_target(query, meta, chunks, names)
    assert not jump.problem and [c.chunk_id for c in jump.hits][:1] == [first] and len(jump.hits) == count


@pytest.mark.parametrize(
    ("doc_id", "query", "problem"),
    [
        ("civil-code", "产品", "不是条号"),
        ("civil-code", "9999", "没有第9999条（本文件共 1260 条）"),
        ("civil-code", "消保法55条", "另一部法律"),
        ("agreement", "99.1", "没有编号为 99.1"),
        ("agreement", "责任限制", "不是编号"),
        ("paper", "9.9", "没有编号为 9.9"),
    ],
)
def test_jump_box_says_what_is_wrong(corpus, names, doc_id, query, problem) -> None:  # noqa: ANN001
    meta, chunks = corpus[doc_id]
    jump = jump_target(query, meta, chunks, names)
    assert not jump.hits and problem in jump.problem and "\n" not in jump.problem


def test_section_path_reads_dotted_and_chinese_forms() -> None:
    assert section_path("8.1") == section_path("第八条第1款") == section_path("八、1") == (8, 1)
    assert section_path("8.3.(2)") == section_path("第八部分第3条第②项") == (8, 3, 2)
    assert section_path("4.2.2") == (4, 2, 2) and section_path("十二") == (12,)
    assert section_path("产品8") is None and section_path("") is None and section_path("1.2.3.4.5") is None
