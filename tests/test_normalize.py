"""Paper normalization: only whitespace/line structure changes, paragraphs and headings come out right."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from ingest.normalize import heading_text, main, normalize_paper

RAW = (
    " 摘  要 \n\n"
    "相较于传统物质性产品，生成式人工智能的特殊性使其难以被现行的产品责任所涵盖，致使民事责任承\n\n"
    "担机制的失调。本文以产品责任为基点。 \n"
    " Abstract \n"
    "Compared to traditional products, the particularity \n"
    "makes it difficult, resulting in an imbalance in the mech-\n"
    "anism of civil liability. This \n"
    " article takes product liability as the basis. \n"
    " 1. 引言 \n\n"
    "近年来，以 ChatGPT 为代表的生成式人工智能快速发展，对传统的社会生活方式和法律秩序产生了\n\n"
    "巨大冲击[1]。 \n\n"
    "4.2.2. 警示说明缺陷 \n"
    "警示说明缺陷也称为销售缺陷[12]。根据我国规定，生产者、经营者\n\n"
    "负有提供符合安全要求的产品的义务。 \n"
    "对于生成式人工智能来说，设计者提醒使用者避\n"
    " 免潜在风险。 \n"
    " "
)

EXPECTED = (
    "摘要\n\n"
    "相较于传统物质性产品，生成式人工智能的特殊性使其难以被现行的产品责任所涵盖，致使民事责任承担机制的失调。本文以产品责任为基点。\n\n"
    "Abstract\n\n"
    "Compared to traditional products, the particularity makes it difficult, resulting in an imbalance "
    "in the mechanism of civil liability. This article takes product liability as the basis.\n\n"
    "1. 引言\n\n"
    "近年来，以 ChatGPT 为代表的生成式人工智能快速发展，对传统的社会生活方式和法律秩序产生了巨大冲击[1]。\n\n"
    "4.2.2. 警示说明缺陷\n\n"
    "警示说明缺陷也称为销售缺陷[12]。根据我国规定，生产者、经营者负有提供符合安全要求的产品的义务。\n\n"
    "对于生成式人工智能来说，设计者提醒使用者避免潜在风险。\n"
)


def test_normalizes_synthetic_extract() -> None:
    assert normalize_paper(RAW) == EXPECTED


def test_crlf_input_gives_the_same_output() -> None:
    assert normalize_paper(RAW.replace("\n", "\r\n")) == EXPECTED


def test_output_shape() -> None:
    out = normalize_paper(RAW)
    assert out.endswith("\n") and not out.endswith("\n\n")
    assert not re.search(r"[ \t]$", out, re.M)
    assert "\n\n\n" not in out


def test_empty_input() -> None:
    assert normalize_paper("") == ""
    assert normalize_paper(" \n\n \n") == ""


def test_heading_text() -> None:
    assert heading_text("摘  要") == "摘要"
    assert heading_text("4.2.2. 警示说明缺陷") == "4.2.2. 警示说明缺陷"
    assert heading_text("2.   生成式人工智能概述") == "2. 生成式人工智能概述"
    assert heading_text("1. 引言。") is None  # a sentence, not a heading
    assert heading_text("2 倍作为计算倍数") is None
    assert heading_text("《民法典》第 1202 条规定：因产品存在缺陷造成他人损害的，生产者应当承担赔偿责任。") is None


def _no_space(text: str) -> str:
    return re.sub(r"\s", "", text)


CJK = st.text(alphabet="生成式人工智能产品责任缺陷赔偿，、“”", min_size=1, max_size=30)


@given(st.lists(st.lists(CJK, min_size=1, max_size=6), min_size=1, max_size=6), st.booleans())
def test_chinese_paragraphs_survive_any_line_breaking(paragraphs: list[list[str]], blank_between: bool) -> None:
    """Lines of a paragraph are joined without spaces; a trailing "。 " ends the paragraph."""
    sep = "\n\n" if blank_between else "\n"
    raw = sep.join(sep.join(lines[:-1] + [lines[-1] + "。 "]) for lines in paragraphs)
    out = normalize_paper(raw)
    assert out.split("\n\n") == ["".join(lines) + "。" for lines in paragraphs[:-1]] + [
        "".join(paragraphs[-1]) + "。\n"
    ]
    assert _no_space(out) == _no_space(raw)


def test_main_writes_the_normalized_file(tmp_path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "sources").mkdir()
    (tmp_path / "raw" / "paper.pdf.txt").write_bytes(RAW.encode("utf-8"))
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / "sources" / "paper.txt").read_bytes() == EXPECTED.encode("utf-8")
