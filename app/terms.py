"""The content terms of a question: what retrieval reranks by, abstention covers, and answers quote for.

One place for it, so retrieval, abstention, grounding and the answerers agree on
what a question is about (and none of them imports another's internals).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from ingest.tokenize import STOPWORDS as TOKENIZER_STOPWORDS
from ingest.tokenize import tokenize

# Beyond the tokenizer's question words: words too common in both questions and law to pick a sentence.
STOPWORDS = TOKENIZER_STOPWORDS | frozenset(
    "是 可以 能 会 要 需要 有 没有 在 对 把 被 让 给 又 请 问 一下 情况 问题 规定 条 第 中 上 下 其 该 为 以 于 而 如果 但是 因为 所以 时候 "
    "我们 你们 他们".split()
)


def question_terms(question: str) -> dict[str, float]:
    """Content terms of the question with a length-based weight (longer terms are more specific)."""
    return dict(_question_terms(question))


@lru_cache(maxsize=1024)
def _question_terms(question: str) -> tuple[tuple[str, float], ...]:
    """Cached: retrieval, abstention and the answerer all ask for the same question's terms."""
    terms: dict[str, float] = {}
    for tok in tokenize(question):
        if tok in STOPWORDS or len(tok) < 2 and not tok.isalnum():
            continue
        terms[tok] = max(terms.get(tok, 0.0), 1.0 + math.log(len(tok)))
    return tuple(terms.items())


# What makes a question one about an AI service (its model, platform, generated content or API): the
# words for AI products and their harms.  Narrower than ``app.abstain.AI_FOCUS``, which also counts
# online shopping, platforms and personal data as the tool's focus: 智谱's user agreement and the
# paper's and blog's commentary speak to AI services, not to a shirt bought on 淘宝.
# What AI products and their harms are called ("文心一言编造了我的负面新闻" is an AI question): one list for
# ``AI_SERVICE`` and ``app.abstain.AI_FOCUS``.
AI_PRODUCT_WORDS = (
    r"换脸|深度伪造|变声|克隆|数字人|虚拟人|文心一言|豆包|Kimi|kimi|DeepSeek|deepseek|通义|星火|元宝|混元|Claude|"
    r"Gemini|Copilot|Midjourney|Sora"
)
AI_SERVICE = re.compile(
    r"AI|ai|Ai|人工智能|大模型|模型|算法|生成式|生成的|自动生成|智能体|机器人|ChatGPT|GPT|gpt|智谱|API|api|接口|开放平台|"
    rf"深度合成|{AI_PRODUCT_WORDS}|用户协议|服务协议|平台协议|备案"
)


def about_ai_service(question: str) -> bool:
    """Whether the question is about an AI service (``AI_SERVICE``)."""
    return bool(AI_SERVICE.search(question))
