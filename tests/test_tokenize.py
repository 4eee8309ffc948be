"""The one tokenizer shared by BM25 indexing and queries."""

from __future__ import annotations

from ingest.tokenize import tokenize


def test_drops_punctuation_whitespace_and_question_words():
    tokens = tokenize("请问，生成式人工智能 服务提供者如何承担责任？")
    assert "，" not in tokens and "？" not in tokens and " " not in tokens
    assert "请问" not in tokens and "如何" not in tokens
    assert {"生成式人工智能", "人工智能", "服务提供者", "承担", "责任"} <= set(tokens)


def test_legal_terms_stay_whole_and_ascii_is_normalized():
    tokens = tokenize("经营者适用格式条款，须承担惩罚性赔偿；ＡＩ模型 GPT-4")
    assert {"格式条款", "惩罚性赔偿", "ai", "gpt", "4"} <= set(tokens)
    assert tokenize("") == [] and tokenize("。，、 \n") == []


def test_width_case_and_spacing_do_not_change_what_a_query_matches():
    # a question typed with full-width letters or without spaces still hits the same BM25 terms
    assert tokenize("ＧＰＴ－４ 服务") == tokenize("gpt-4服务") == ["gpt", "4", "服务"]
    assert {"产品", "责任", "产品责任"} <= set(tokenize("第一千二百零二条 产品责任"))
