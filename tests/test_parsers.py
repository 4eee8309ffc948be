"""Parsers on synthetic inputs: structure, exact offsets, ids, and errors with line numbers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.errors import CorpusError
from ingest.numerals import int_to_cn
from ingest.parsers import CHUNKER_VERSION, ParseResult, SkippedBlock, parse_document
from ingest.parsers.blog import TRAILING_LIST_REASON
from ingest.parsers.statute import MAX_ARTICLE_CHARS
from ingest.types import Chunk, Document, DocumentMeta

SHORT = {"statute": "《测试法》", "agreement": "《用户协议》", "paper": "论文", "blog": "博客文章"}


def make_doc(kind: str, text: str, articles: int | None = None, doc_id: str = "") -> Document:
    doc_id = doc_id or {"statute": "test-law"}.get(kind, kind)
    meta = DocumentMeta(
        doc_id=doc_id,
        title=f"{kind} title",
        short_title=SHORT[kind],
        kind=kind,
        file=f"x/{doc_id}.md",
        sha256="0" * 64,
        articles=articles,
    )
    return Document(meta=meta, text=text)


def check_invariants(doc: Document, result: ParseResult) -> None:
    """What every parser promises, whatever the input."""
    ids = [c.chunk_id for c in result.chunks]
    assert len(ids) == len(set(ids))
    last_end = 0
    for ordinal, chunk in enumerate(result.chunks):
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text
        assert chunk.start >= last_end  # in document order, never overlapping
        last_end = chunk.end
        assert chunk.ordinal == ordinal
        assert chunk.chunk_id.startswith(doc.doc_id + "/")
        assert (chunk.doc_id, chunk.kind, chunk.file, chunk.sha256, chunk.doc_title) == (
            doc.doc_id,
            doc.meta.kind,
            doc.meta.file,
            doc.meta.sha256,
            doc.meta.title,
        )
    for block in result.skipped:
        assert isinstance(block, SkippedBlock) and block.doc_id == doc.doc_id
        assert all(c.end <= block.start or c.start >= block.end for c in result.chunks)


def by_id(result: ParseResult) -> dict[str, Chunk]:
    return {c.chunk_id: c for c in result.chunks}


def test_chunker_version_is_a_nonempty_string() -> None:
    assert isinstance(CHUNKER_VERSION, str) and CHUNKER_VERSION


def test_unknown_kind_is_a_corpus_error() -> None:
    doc = make_doc("blog", "标题\n正文内容。")
    bad = Document(meta=DocumentMeta("x", "t", "t", "novel", "x.txt", "0" * 64), text="x")
    assert parse_document(doc).chunks
    with pytest.raises(CorpusError, match="novel"):
        parse_document(bad)


# --- statutes -------------------------------------------------------------------------------

STATUTE = """---
title: "测试法"
articles: 5
---

# 测试法

## 第一编　总则

### 第一章　一般规定

第一条　为了测试，制定本法。

第二条　有下列情形之一的，适用本法：

（一）情形一；

（二）情形二。

前款规定以外的，不适用本法。

### 第二章　空章

### 第三章　其他

#### 第一节　小节

第二条之一　插入的条文。

第三条　第三条正文。

## 第二编　分则

### 第一分编　通则

### 第四章　细则

第四条　第四条正文。

### 第二分编　典型

### 第五章　更细

第五条　第五条正文。
"""


def test_statute_one_chunk_per_article_with_breadcrumbs() -> None:
    doc = make_doc("statute", STATUTE, articles=5)
    result = parse_document(doc)
    check_invariants(doc, result)
    chunks = by_id(result)
    assert list(chunks) == [f"test-law/{k}" for k in ("1", "2", "2-1", "3", "4", "5")]
    second = chunks["test-law/2"]
    assert second.text == "第二条　有下列情形之一的，适用本法：\n\n（一）情形一；\n\n（二）情形二。\n\n前款规定以外的，不适用本法。"
    assert (second.article, second.article_no, second.locator) == ("第二条", 2, "《测试法》第二条")
    assert second.breadcrumb == ("第一编　总则", "第一章　一般规定")
    inserted = chunks["test-law/2-1"]
    assert (inserted.article, inserted.article_no, inserted.locator) == ("第二条之一", 2, "《测试法》第二条之一")
    assert inserted.breadcrumb == ("第一编　总则", "第三章　其他", "第一节　小节")  # 空章 left no trace
    assert chunks["test-law/3"].breadcrumb == ("第一编　总则", "第三章　其他", "第一节　小节")
    assert chunks["test-law/4"].breadcrumb == ("第二编　分则", "第一分编　通则", "第四章　细则")
    assert chunks["test-law/5"].breadcrumb == ("第二编　分则", "第二分编　典型", "第五章　更细")
    assert all("title:" not in c.text and "#" not in c.text for c in result.chunks)


def test_statute_crlf_file() -> None:
    crlf = STATUTE.replace("\n", "\r\n")
    doc = make_doc("statute", crlf, articles=5)
    result = parse_document(doc)
    check_invariants(doc, result)
    lf = parse_document(make_doc("statute", STATUTE, articles=5))
    assert [c.text.replace("\r\n", "\n") for c in result.chunks] == [c.text for c in lf.chunks]
    assert [c.breadcrumb for c in result.chunks] == [c.breadcrumb for c in lf.chunks]
    assert not any(c.text.endswith("\r") for c in result.chunks)


def _statute(numbers: list[str], articles: int) -> tuple[Document, list[int]]:
    lines, line_of = ["# 法", ""], []
    for label in numbers:
        line_of.append(len(lines) + 1)
        lines += [f"{label}　正文。", ""]
    return make_doc("statute", "\n".join(lines), articles=articles), line_of


@pytest.mark.parametrize(
    ("numbers", "bad_index", "message"),
    [
        (["第一条", "第三条"], 1, "missing"),
        (["第一条", "第二条", "第二条"], 2, "duplicate"),
        (["第二条"], 0, "missing"),
        (["第一条", "第二条", "第一条"], 2, "duplicate"),
        (["第一条", "第一条之二"], 1, "out of sequence"),
        (["第一条之一", "第一条"], 0, "out of sequence"),
    ],
)
def test_statute_numbering_errors_name_file_and_line(numbers: list[str], bad_index: int, message: str) -> None:
    doc, line_of = _statute(numbers, articles=len(numbers))
    with pytest.raises(CorpusError, match=message) as info:
        parse_document(doc)
    assert info.value.file == doc.meta.file
    assert info.value.line == line_of[bad_index]


def test_statute_count_must_match_manifest() -> None:
    doc, _ = _statute(["第一条", "第二条"], articles=3)
    with pytest.raises(CorpusError, match="manifest says articles = 3"):
        parse_document(doc)


@pytest.mark.parametrize("text", ["", "---\ntitle: x\n---\n", "# 空法\n\n### 第一章　总则\n"])
def test_statute_without_articles_is_an_error(text: str) -> None:
    with pytest.raises(CorpusError, match="found 0 articles"):
        parse_document(make_doc("statute", text, articles=4))


def test_statute_unclosed_front_matter() -> None:
    with pytest.raises(CorpusError, match="never closed") as info:
        parse_document(make_doc("statute", "---\ntitle: x\n第一条　正文。\n", articles=1))
    assert info.value.line == 1


def test_statute_text_outside_articles_is_skipped_not_chunked() -> None:
    doc = make_doc("statute", "# 法\n\n（题注：某年通过）\n\n第一条　正文。\n", articles=1)
    result = parse_document(doc)
    check_invariants(doc, result)
    assert [c.chunk_id for c in result.chunks] == ["test-law/1"]
    assert [doc.text[b.start : b.end] for b in result.skipped] == ["（题注：某年通过）"]


def test_statute_long_article_is_split_by_paragraph() -> None:
    paragraphs = [f"第{int_to_cn(i)}款" + "很长的条文内容。" * 40 for i in range(1, 6)]
    text = "# 法\n\n第一条　" + "\n\n".join(paragraphs) + "\n\n第二条　短条。\n"
    doc = make_doc("statute", text, articles=2)
    result = parse_document(doc)
    check_invariants(doc, result)
    parts = [c for c in result.chunks if c.article_no == 1]
    assert len(parts) >= 2
    assert all(len(c.text) <= MAX_ARTICLE_CHARS for c in parts)
    assert [c.chunk_id for c in parts] == [f"test-law/1/{i}" for i in range(1, len(parts) + 1)]
    assert [c.locator for c in parts] == [f"《测试法》第一条（第{i}部分）" for i in range(1, len(parts) + 1)]
    assert {c.article for c in parts} == {"第一条"}
    assert doc.text[parts[0].start : parts[-1].end].count("很长的条文内容。") == 200
    assert by_id(result)["test-law/2"].locator == "《测试法》第二条"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.booleans(), st.integers(1, 4)),  # (paragraphs, new 章 before it, 之 count)
        min_size=1,
        max_size=25,
    ),
    st.booleans(),
)
def test_statute_property(spec: list[tuple[int, bool, int]], crlf: bool) -> None:
    lines = ["---", "title: x", "---", "", "# 法", ""]
    expected = []
    for number, (extra_paragraphs, new_chapter, subs) in enumerate(spec, start=1):
        if new_chapter:
            lines += [f"### 第{int_to_cn(number)}章　章名", ""]
        for sub in range(subs if number % 3 == 0 else 1):
            label = f"第{int_to_cn(number)}条" + (f"之{int_to_cn(sub)}" if sub else "")
            body = [f"{label}　正文{number}-{sub}。"] + [f"第{k}款内容。" for k in range(extra_paragraphs)]
            lines += [p for para in body for p in (para, "")]
            expected.append((label, number, "\n\n".join(body)))
    text = "\n".join(lines)
    if crlf:
        text = text.replace("\n", "\r\n")
    doc = make_doc("statute", text, articles=len(spec))
    result = parse_document(doc)
    check_invariants(doc, result)
    got = [(c.article, c.article_no, c.text.replace("\r\n", "\n")) for c in result.chunks]
    assert got == expected


# --- agreement ------------------------------------------------------------------------------

AGREEMENT = """# 用户协议

生效日期：2024年6月3日

## 重要提示

**【审慎阅读】**请您务必审慎阅读。

### • 一、定义

**平台：**指本平台。

**关联公司：**指关联的公司。

## • 二、账户

在您使用服务时，需要注册。

### 1. 用户资格

您确认具备行为能力。

- 第一个无编号要点；
- 第二个无编号要点。

2. 您有权通过以下方式终止：

- ① 注销账户的；
- ② 明示不愿接受变更

事项的；

由您提出注销申请后，平台注销该用户。

## 3. 收费服务

(1) 某些服务收费。

(2) 未成年人不能付费。

- 三、平台义务

1. 平台维护运行。

**2. 广告条款加粗。**

• 四、责任限制

1. 平台不保证以下事项：

① 不保证符合需求；

② 不保证生成内容的真实性、完整性，不

保证及时性；

③ 输出不代表平台观点。

#### • 五、未成年人

我们的产品主要面向成年人。
"""


def test_agreement_structure_ids_and_locators() -> None:
    doc = make_doc("agreement", AGREEMENT)
    result = parse_document(doc)
    check_invariants(doc, result)
    chunks = by_id(result)
    assert list(chunks) == [
        "agreement/0",
        "agreement/0-1/p1",
        "agreement/1/p1",
        "agreement/1/p2",
        "agreement/2",
        "agreement/2/1",
        "agreement/2/2",
        "agreement/2/2/1",
        "agreement/2/2/2",
        "agreement/2/2/tail",
        "agreement/2/3",
        "agreement/2/3/1",
        "agreement/2/3/2",
        "agreement/3/1",
        "agreement/3/2",
        "agreement/4/1",
        "agreement/4/1/1",
        "agreement/4/1/2",
        "agreement/4/1/3",
        "agreement/5",
    ]
    assert chunks["agreement/0"].text == "用户协议\n\n生效日期：2024年6月3日"
    assert chunks["agreement/0-1/p1"].locator == "《用户协议》重要提示【审慎阅读】"
    assert chunks["agreement/1/p1"].locator == "《用户协议》一、定义“平台”"
    assert chunks["agreement/1/p1"].text == "**平台：**指本平台。"
    assert chunks["agreement/2"].locator == "《用户协议》二、账户"
    clause = chunks["agreement/2/1"]
    assert clause.text.startswith("1. 用户资格") and clause.text.endswith("- 第二个无编号要点。")
    assert (clause.locator, clause.section, clause.breadcrumb) == (
        "《用户协议》二、账户 第1条",
        "二、账户 › 1",
        ("二、账户",),
    )
    item = chunks["agreement/2/2/2"]
    assert item.text == "② 明示不愿接受变更\n\n事项的；"  # a line broken mid-sentence continues the item
    assert chunks["agreement/2/2/tail"].text == "由您提出注销申请后，平台注销该用户。"
    assert chunks["agreement/2/2/tail"].locator == "《用户协议》二、账户 第2条"
    assert chunks["agreement/2/3"].text == "3. 收费服务"
    paren = chunks["agreement/2/3/1"]
    assert (paren.locator, paren.section) == ("《用户协议》二、账户 第3条第(1)项", "二、账户 › 3 › (1)")
    assert chunks["agreement/3/2"].text == "**2. 广告条款加粗。**"  # bold markers stay (exact offsets)
    third = chunks["agreement/4/1/3"]
    assert (third.locator, third.section, third.breadcrumb) == (
        "《用户协议》四、责任限制 第1条第③项",
        "四、责任限制 › 1 › ③",
        ("四、责任限制", "第1条"),
    )
    assert chunks["agreement/4/1/2"].text.endswith("保证及时性；")
    assert chunks["agreement/5"].locator == "《用户协议》五、未成年人"


def test_agreement_crlf_matches_lf() -> None:
    lf = parse_document(make_doc("agreement", AGREEMENT))
    doc = make_doc("agreement", AGREEMENT.replace("\n", "\r\n"))
    crlf = parse_document(doc)
    check_invariants(doc, crlf)
    assert [(c.chunk_id, c.locator, c.text.replace("\r\n", "\n")) for c in crlf.chunks] == [
        (c.chunk_id, c.locator, c.text) for c in lf.chunks
    ]


def test_agreement_repeated_numbers_get_unique_ids() -> None:
    doc = make_doc("agreement", "一、总则\n\n1. 甲。\n\n1. 乙。\n")
    result = parse_document(doc)
    check_invariants(doc, result)
    assert [c.chunk_id for c in result.chunks] == ["agreement/1/1", "agreement/1/1-2"]


def test_agreement_sections_past_one_hundred_keep_their_number() -> None:
    """一百零六、 was read as no heading (零 was missing from the section pattern): its clauses
    were filed under 一百 as agreement/100/1-7, with 一百's locator."""
    numbers = range(1, 151)
    text = "\n\n".join(f"{int_to_cn(n)}、第{n}部分\n\n1. 第{n}部分的条款。" for n in numbers)
    doc = make_doc("agreement", text)
    result = parse_document(doc)
    check_invariants(doc, result)
    assert [c.chunk_id for c in result.chunks] == [f"agreement/{n}/1" for n in numbers]
    chunks = by_id(result)
    for n, label in (
        (101, "一百零一"),
        (106, "一百零六"),
        (109, "一百零九"),
        (110, "一百一十"),
        (111, "一百一十一"),
    ):
        assert chunks[f"agreement/{n}/1"].locator == f"《用户协议》{label}、第{n}部分 第1条"
        assert chunks[f"agreement/{n}/1"].text == f"1. 第{n}部分的条款。"
    tail = make_doc("agreement", "二百零五、附则\n\n1. 甲。\n\n零、不是章节\n\n两、三天内答复\n")
    (clause,) = parse_document(tail).chunks  # 零、 and 两、 start no section: the clause goes on
    assert (clause.chunk_id, clause.text) == ("agreement/205/1", "1. 甲。\n\n零、不是章节\n\n两、三天内答复")


def test_statute_articles_past_one_hundred_keep_their_number() -> None:
    labels = [f"第{int_to_cn(n)}条" for n in range(1, 211)]
    doc, _lines = _statute(labels, articles=210)
    chunks = by_id(parse_document(doc))
    for n, label in (
        (101, "第一百零一条"),
        (106, "第一百零六条"),
        (110, "第一百一十条"),
        (205, "第二百零五条"),
    ):
        assert (
            chunks[f"test-law/{n}"].locator == f"《测试法》{label}"
            and chunks[f"test-law/{n}"].article_no == n
        )


# --- paper ----------------------------------------------------------------------------------


def _para(n: int, seed: str = "论") -> str:
    return (seed * (n - 1)) + "。"


def test_paper_sections_never_cross_and_group_paragraphs() -> None:
    text = "\n\n".join(
        [
            "摘要",
            _para(150),
            "Abstract",
            "This is English. It has sentences.",
            "1. 引言",
            _para(300),
            _para(250),
            _para(280),
            "4. 归责路径",
            "4.2. 缺陷识别",
            "4.2.2. 警示说明缺陷",
            _para(120, "警"),
            _para(100, "长") * 9,
            "5. 建议",
            _para(50),
        ]
    ) + "\n"
    doc = make_doc("paper", text)
    result = parse_document(doc)
    check_invariants(doc, result)
    chunks = by_id(result)
    assert chunks["paper/abstract/1"].locator == "论文 摘要"
    assert chunks["paper/abstract/2"].section == "摘要"
    assert chunks["paper/abstract/2"].text == "This is English. It has sentences."
    assert [c.chunk_id for c in result.chunks if c.section == "1"] == ["paper/1/1", "paper/1/2"]
    warning = [c for c in result.chunks if c.section == "4.2.2"]
    assert warning[0].locator == "论文 4.2.2 警示说明缺陷"
    assert warning[0].breadcrumb == ("4. 归责路径", "4.2. 缺陷识别", "4.2.2. 警示说明缺陷")
    assert all(len(c.text) <= 800 for c in warning)
    assert len(warning) >= 2  # the 900-character paragraph was split at sentence ends
    assert all(c.text.endswith("。") for c in warning)
    for chunk in result.chunks:
        assert "\n\n4." not in chunk.text and not chunk.text.startswith(("1. ", "4.", "5. "))
    assert chunks["paper/5/1"].text == _para(50)


def test_paper_sentence_split_of_long_paragraph() -> None:
    sentences = [f"第{i}句" + "文" * 95 + "。" for i in range(10)]
    doc = make_doc("paper", "1. 引言\n\n" + "".join(sentences) + "\n")
    result = parse_document(doc)
    check_invariants(doc, result)
    assert len(result.chunks) >= 2
    assert "".join(c.text for c in result.chunks) == "".join(sentences)
    assert all(200 <= len(c.text) <= 600 for c in result.chunks)


# --- blog -----------------------------------------------------------------------------------

BLOG = """博客标题:备案后要赔吗?
第一个小标题?
引言段落,说明问题。
备案≠免责金牌
正文一。正文二。
- 要点一;
- 要点二。
结尾段落,别让一次技术故障,毁了好不容易建立的信任。

- 无关标题一
- 无关标题二
- 无关标题三
- 无关标题四
- 无关标题五"""


def test_blog_sections_and_trailing_list() -> None:
    doc = make_doc("blog", BLOG)
    result = parse_document(doc)
    check_invariants(doc, result)
    assert [(c.chunk_id, c.locator) for c in result.chunks] == [
        ("blog/1", "博客文章 · 第一个小标题?"),
        ("blog/2", "博客文章 · 备案≠免责金牌"),
    ]
    assert result.chunks[1].text.endswith("毁了好不容易建立的信任。")
    assert "- 要点一;" in result.chunks[1].text
    (skipped,) = result.skipped
    assert skipped.reason == TRAILING_LIST_REASON
    assert doc.text[skipped.start : skipped.end].startswith("- 无关标题一")
    assert skipped.end == len(doc.text)
    assert not any("无关标题" in c.text for c in result.chunks)


def test_blog_without_trailing_list_skips_nothing() -> None:
    doc = make_doc("blog", BLOG.split("\n\n")[0] + "\n")
    result = parse_document(doc)
    assert result.skipped == ()
    assert len(result.chunks) == 2


def test_blog_body_bullets_are_not_a_trailing_list() -> None:
    text = "标题\n小节\n正文。\n\n- 一\n- 二\n- 三\n- 四\n- 五\n最后一句正文。\n"
    result = parse_document(make_doc("blog", text))
    assert result.skipped == ()
    assert result.chunks[-1].text.endswith("最后一句正文。")


# --- every kind -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["blog", "paper", "agreement"])
@pytest.mark.parametrize("text", ["", "\n\n", "\r\n", "   \n\t\n"])
def test_empty_files_give_no_chunks(kind: str, text: str) -> None:
    assert parse_document(make_doc(kind, text)).chunks == ()


LINE = st.lists(
    st.sampled_from(list("第一二三条章节编、，。：；？！ab1.()（）①②-#*•【】 \u3000\t\r") + ["**", "第一条\u3000"]),
    max_size=30,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(LINE, max_size=30), st.sampled_from(["\n", "\r\n"]), st.sampled_from(["blog", "paper", "agreement"]))
def test_any_input_gives_exact_chunks(lines: list[str], eol: str, kind: str) -> None:
    doc = make_doc(kind, eol.join(lines))
    check_invariants(doc, parse_document(doc))


@settings(max_examples=100, deadline=None)
@given(st.lists(LINE, max_size=30))
def test_statute_any_input_is_chunked_or_a_corpus_error(lines: list[str]) -> None:
    doc = make_doc("statute", "\n".join(lines), articles=None)
    try:
        result = parse_document(doc)
    except CorpusError as exc:
        assert exc.file == doc.meta.file
        return
    check_invariants(doc, result)
