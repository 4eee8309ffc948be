"""The real corpus: hashes, article counts, the normalized paper, and exact chunk offsets."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import pytest

from ingest.manifest import load_documents
from ingest.normalize import normalize_paper
from ingest.parsers import ParseResult, parse_document
from ingest.parsers.blog import TRAILING_LIST_REASON
from ingest.types import Document

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SHARED = Path("/work/shared/corpus")
STATUTE_COUNTS = {
    "civil-code": 1260,
    "consumer-protection-law": 63,
    "product-quality-law": 74,
    "e-commerce-law": 89,
    "personal-information-protection-law": 74,
    "cybersecurity-law": 81,
    "data-security-law": 55,
    "copyright-law": 67,
    "genai-interim-measures": 24,
    "deep-synthesis-provisions": 25,
    "algorithm-recommendation-provisions": 35,
    "ai-content-labeling-measures": 14,
}
BLOG_BODY_END = "别让一次技术故障,毁了好不容易建立的信任。"


@pytest.fixture(scope="module")
def documents() -> dict[str, Document]:
    return {d.doc_id: d for d in load_documents(CORPUS)}


@pytest.fixture(scope="module")
def parsed(documents: dict[str, Document]) -> dict[str, ParseResult]:
    return {doc_id: parse_document(doc) for doc_id, doc in documents.items()}


@pytest.fixture(scope="module")
def manifest() -> list[dict]:
    return tomllib.loads((CORPUS / "manifest.toml").read_text(encoding="utf-8"))["documents"]


def test_manifest_lists_the_expected_documents(manifest: list[dict]) -> None:
    assert [e["doc_id"] for e in manifest[:3]] == ["blog", "paper", "agreement"]
    assert {e["doc_id"] for e in manifest[3:]} == set(STATUTE_COUNTS)
    for e in manifest:
        assert e["kind"] == ("statute" if e["doc_id"] in STATUTE_COUNTS else e["doc_id"])
        assert e["provenance"]
        if e["kind"] == "statute":
            assert e["file"] == f"statutes/{e['doc_id']}.md"
            assert e["articles"] == STATUTE_COUNTS[e["doc_id"]]
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", e["effective"])
            assert e["short_title"].startswith("《") and e["short_title"].endswith("》")


def test_every_file_matches_its_sha256(manifest: list[dict]) -> None:
    for e in manifest:
        assert hashlib.sha256((CORPUS / e["file"]).read_bytes()).hexdigest() == e["sha256"], e["file"]
    paper = next(e for e in manifest if e["doc_id"] == "paper")
    assert hashlib.sha256((CORPUS / paper["raw_file"]).read_bytes()).hexdigest() == paper["raw_sha256"]


def test_statute_titles_come_from_front_matter(documents: dict[str, Document]) -> None:
    for doc_id in STATUTE_COUNTS:
        doc = documents[doc_id]
        front = doc.text.split("\n---\n", 1)[0]
        assert f'title: "{doc.meta.title}"' in front
        assert f'current_version_effective: "{doc.meta.effective}"' in front
        assert f"articles: {doc.meta.articles}" in front


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared corpus not mounted")
def test_copies_are_byte_identical_to_the_shared_corpus() -> None:
    pairs = {
        "sources/blog.txt": "sources/000_c24ce71d127d0bb3.txt",
        "raw/paper.pdf.txt": "sources/001_fe8cf39283ca2601.txt",
        "sources/agreement.md": "sources/002_a1fe148b5deab7ed.txt",
    } | {f"statutes/{d}.md": f"statutes/{d}.md" for d in STATUTE_COUNTS}
    for ours, theirs in pairs.items():
        assert (CORPUS / ours).read_bytes() == (SHARED / theirs).read_bytes(), ours


def test_paper_is_the_normalized_raw_extract() -> None:
    raw = (CORPUS / "raw" / "paper.pdf.txt").read_bytes().decode("utf-8")
    assert (CORPUS / "sources" / "paper.txt").read_bytes().decode("utf-8") == normalize_paper(raw)


def test_statute_article_counts(parsed: dict[str, ParseResult]) -> None:
    for doc_id, count in STATUTE_COUNTS.items():
        numbers = [c.article_no for c in parsed[doc_id].chunks]
        assert sorted(set(numbers)) == list(range(1, count + 1)), doc_id


def test_every_chunk_is_an_exact_slice_and_ids_are_unique(
    documents: dict[str, Document], parsed: dict[str, ParseResult]
) -> None:
    seen: set[str] = set()
    for doc_id, result in parsed.items():
        doc = documents[doc_id]
        file_text = (CORPUS / doc.meta.file).read_bytes().decode("utf-8")
        assert result.chunks, doc_id
        for ordinal, chunk in enumerate(result.chunks):
            assert file_text[chunk.start : chunk.end] == chunk.text
            assert chunk.text == chunk.text.strip()
            assert (chunk.doc_id, chunk.file, chunk.sha256, chunk.ordinal) == (
                doc_id,
                doc.meta.file,
                doc.meta.sha256,
                ordinal,
            )
            assert chunk.chunk_id not in seen
            seen.add(chunk.chunk_id)


def test_blog_trailing_list_is_skipped(documents: dict[str, Document], parsed: dict[str, ParseResult]) -> None:
    text = documents["blog"].text
    result = parsed["blog"]
    (skipped,) = result.skipped
    assert skipped.reason == TRAILING_LIST_REASON
    body_end = text.index(BLOG_BODY_END) + len(BLOG_BODY_END)
    assert text[body_end : skipped.start].strip() == ""
    assert text[skipped.end :].strip() == ""
    assert max(c.end for c in result.chunks) == body_end
    titles = [line[2:] for line in text[skipped.start :].splitlines() if line.startswith("- ")]
    assert len(titles) > 50
    all_text = "\n".join(c.text for r in parsed.values() for c in r.chunks)
    assert not any(title in all_text for title in titles)
    assert [c.locator for c in result.chunks][1:3] == ["博客文章 · 备案≠免责金牌", "博客文章 · 用户损失,谁来兜底?"]
    assert all(not r.skipped for doc_id, r in parsed.items() if doc_id != "blog")


def test_spot_checks(parsed: dict[str, ParseResult]) -> None:
    chunks = {c.chunk_id: c for r in parsed.values() for c in r.chunks}
    article = chunks["civil-code/1202"]
    assert article.text.startswith("第一千二百零二条")
    assert article.text.endswith("生产者应当承担侵权责任。")
    assert article.locator == "《民法典》第一千二百零二条"
    assert (article.article, article.article_no) == ("第一千二百零二条", 1202)
    assert article.breadcrumb == ("第七编\u3000侵权责任", "第四章\u3000产品责任")
    assert "第三编\u3000合同" in chunks["civil-code/835"].breadcrumb
    assert any("分编" in part for part in chunks["civil-code/835"].breadcrumb)

    item = chunks["agreement/8/3/3"]
    assert item.locator == "《用户协议》八、责任限制 第3条第③项"
    assert item.section == "八、责任限制 › 3 › ③"
    assert item.breadcrumb == ("八、责任限制", "第3条")
    assert item.text.startswith("③") and "不\n\n保证其生成内容的真实性" in item.text
    assert chunks["agreement/3/8/1"].locator == "《用户协议》三、您的权利和义务 第8条第(1)项"

    warning = [c for c in chunks.values() if c.doc_id == "paper" and c.section == "4.2.2"]
    assert warning and all(c.locator == "论文 4.2.2 警示说明缺陷" for c in warning)
    assert warning[0].breadcrumb[-1] == "4.2.2. 警示说明缺陷"
    assert any("生成内容仅供参考" in c.text for c in warning)
    abstract = [c for c in chunks.values() if c.doc_id == "paper" and c.section == "摘要"]
    assert any(c.text.startswith("Compared to traditional") for c in abstract)
    assert any(c.text.startswith("相较于传统物质性产品") for c in abstract)
