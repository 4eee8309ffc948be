"""Jieba tokens for BM25, shared by the index build and by queries.

Both sides must tokenize identically or BM25 silently stops matching, so there
is exactly one function.  ``cut_for_search`` emits a long word *and* its parts
(生成式人工智能 → 生成, 人工, 智能, 人工智能, 生成式人工智能), which lets a query
match whichever granularity the statute used.  Text is NFKC-normalized first so
full-width ＡＩ/１２ match AI/12; punctuation and whitespace tokens are dropped
and a short list of question words (什么, 如何, 吗 …) is ignored because they
occur in questions but say nothing about which passage answers them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import unicodedata

# Legal terms jieba would otherwise split; kept small on purpose.
LEGAL_TERMS = (
    "生成式人工智能",
    "人工智能",
    "深度合成",
    "算法推荐",
    "惩罚性赔偿",
    "精神损害赔偿",
    "格式条款",
    "侵权责任",
    "产品责任",
    "过错推定",
    "网络服务提供者",
    "服务提供者",
    "个人信息",
    "个人信息处理者",
    "著作权",
    "肖像权",
    "名誉权",
    "隐私权",
    "用户协议",
)

# Words of the question, not of the answer.
STOPWORDS = frozenset(
    (  # noqa: SIM905 - a word list reads better as one string
        "的 了 吗 呢 吧 啊 呀 么 请问 什么 怎么 怎样 怎么办 如何 哪些 哪个 哪里 是否 是不是 能否 能不能 "
        "我 我们 你 你们 他 她 它 这 那 这个 那个 这些 那些 一个 和 与 及 或 之 也 就 都 还"
    ).split()
)

# Bump when ``tokenize`` changes how it cuts: BM25 indexes cached from tokens (``BM25Index.cached``)
# are keyed by ``tokenizer_key``, which also covers the word lists above and jieba's version.
TOKENIZER_VERSION = 1

_lock = threading.Lock()
_jieba = None


def tokenizer_key() -> str:
    """What tokens depend on besides the text (a cache built under another key is rebuilt)."""
    import jieba

    spec = repr((TOKENIZER_VERSION, LEGAL_TERMS, sorted(STOPWORDS), jieba.__version__))
    return hashlib.sha256(spec.encode("utf-8")).hexdigest()[:12]


def _tokenizer():
    """Initialize jieba once, quietly (it logs its dictionary loading to stderr)."""
    global _jieba
    if _jieba is None:
        with _lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
                for term in LEGAL_TERMS:
                    tok.add_word(term, freq=20000)
                _jieba = tok
    return _jieba


def _is_word(token: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in token)


def _search_cut(text: str) -> list[str]:
    """``cut_for_search`` plus dictionary words of 4+ characters inside longer words.

    jieba only re-emits 2- and 3-character parts, so 人工智能 inside 生成式人工智能
    would be lost to a query that says 人工智能.
    """
    tok = _tokenizer()
    out = []
    for word in tok.cut_for_search(text):
        out.append(word)
        for size in range(4, len(word)):
            out.extend(part for i in range(len(word) - size + 1) if tok.FREQ.get(part := word[i : i + size]))
    return out


def tokenize(text: str) -> list[str]:
    """Search tokens of ``text``: lowercased, no punctuation/whitespace, no question words."""
    normalized = unicodedata.normalize("NFKC", text).lower()
    return [
        t
        for t in (tok.strip() for tok in _search_cut(normalized))
        if t and t not in STOPWORDS and _is_word(t)
    ]
