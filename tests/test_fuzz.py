"""Property-based fuzzing (hypothesis): the question input and every parser.

* ``Pipeline.ask`` on arbitrary unicode, control characters, huge strings, punctuation only,
  statute-number soup and non-strings: always an ``Answer`` with the warning, never an exception,
  and each call within the deadline.
* ``parse_document`` for every kind on arbitrary text and on text that looks like its kind: only
  ``CorpusError`` may escape, and every chunk is an exact slice of the document.
* ``ingest.manifest`` on garbage bytes, garbage TOML and well-formed TOML with wrong values:
  only ``CorpusError``.

Example counts are fixed so the whole module runs in well under 60 s; no example database is
written (the project tree stays clean).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.abstain import ABSTAIN_TEXT
from app.answer import Answer
from app.pipeline import Pipeline, build_pipeline
from app.render import to_markdown, to_text
from app.warning import WARNING
from ingest.errors import CorpusError
from ingest.manifest import REQUIRED_KEYS, load_documents, load_manifest
from ingest.parsers import PARSERS, parse_document
from ingest.types import Document, DocumentMeta

FUZZ = settings(
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
    print_blob=True,
)
SPENT: dict[str, float] = {}

PUNCTUATION = "，。！？、；：“”‘’（）《》【】…—·,.!?;:'\"()[]{}<>/\\|@#$%^&*~`-_=+ \t\n\u3000"
LEGALISH = "民法典消保法消费者权益保护法第条之款项一二三四五六七八九十百千零两0123456789０１２３ 》《、，？AI服务宕机赔偿"
CONTROL = "".join(chr(c) for c in [*range(0, 32), 127, 0x85, 0x200B, 0x200E, 0x202E, 0x2066, 0xFEFF])

questions = st.one_of(
    st.text(max_size=300),  # arbitrary unicode (all categories but surrogates)
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=1000),
    st.text(alphabet=st.sampled_from(PUNCTUATION), min_size=1, max_size=200),  # punctuation only
    st.text(alphabet=st.sampled_from(LEGALISH), min_size=1, max_size=200),  # article-number soup
    st.text(alphabet=st.sampled_from(CONTROL + "民法典第1202条"), min_size=1, max_size=200),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=12), st.integers(50, 40_000)),  # huge
)


@pytest.fixture(scope="module")
def pipeline(corpus_hash_index) -> Pipeline:  # noqa: ANN001
    p = build_pipeline(corpus_hash_index)
    p.ask("预热")  # jieba and BM25 load once, outside the deadline
    yield p
    p.index.close()


def _check(answer: Answer) -> None:
    assert isinstance(answer, Answer) and answer.warning == WARNING
    if answer.error:
        assert answer.abstained and answer.text == ABSTAIN_TEXT and not answer.citations
    for view in (to_text(answer), to_markdown(answer)):
        assert WARNING in view
    assert all(c.number == i for i, c in enumerate(answer.citations, start=1))


def test_ask_never_raises_on_any_question(pipeline: Pipeline) -> None:
    started = time.perf_counter()

    @settings(FUZZ, max_examples=400)
    @given(q=questions)
    def run(q: str) -> None:
        _check(pipeline.ask(q))

    run()
    for q in (None, b"\xff\xfe", 42, ["民法典"], "\ud800 lone surrogate", "", " \n\t "):
        _check(pipeline.ask(q))  # type: ignore[arg-type]
    SPENT["ask"] = time.perf_counter() - started
    print(f"\nfuzz Pipeline.ask: 400 generated + 7 fixed inputs in {SPENT['ask']:.1f} s")


def _meta(kind: str, articles: int | None = None) -> DocumentMeta:
    return DocumentMeta(
        doc_id="fuzz",
        title="模糊测试文件",
        short_title="《模糊》",
        kind=kind,
        file=f"fuzz/{kind}.md",
        sha256="0" * 64,
        articles=articles,
    )


# Text that looks like each kind, so the parsers get past their first checks.
LINES = {
    "statute": st.sampled_from(
        ["---", "title: 法", "---", "# 中华人民共和国测试法", "第一章　总则", "第一节　一般规定", "第一条　内容。", "第二条　内容。",
         "第三条　内容。", "第二条之一　插入。", "第一千三百条　越界。", "第一编", "", "　", "（一）项目；", "第十条"]
    ),
    "agreement": st.sampled_from(
        ["# 用户协议", "一、总则", "八、责任限制", "1. 条款", "2、条款", "①项", "（1）项", "", "**加粗**", "- 列表", "> 引用"]
    ),
    "paper": st.sampled_from(
        ["摘要", "关键词：AI", "1 引言", "4.2.2 警示说明缺陷", "参考文献", "[1] 文献。", "", "正文。", "（一）", "1.1", "4.2"]
    ),
    "blog": st.sampled_from(["# 标题", "## 小节", "正文内容。", "", "相关阅读", "许可证办理", "- 项", "---", "###"]),
}


@st.composite
def statutes(draw: st.DrawFn) -> tuple[str, int]:
    """A statute shaped like the corpus files (front matter, headings, 第N条 articles, 之一 inserts,
    long articles, noise), sometimes broken (gap, duplicate); returns (text, article count)."""
    from ingest.numerals import int_to_cn

    n = draw(st.integers(1, 30))
    body = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=60)
    lines = ["---", "title: 测试法", "---"] if draw(st.booleans()) else []
    lines.append("# 中华人民共和国测试法")
    numbers = list(range(1, n + 1))
    if draw(st.integers(0, 9)) == 0:  # a broken file now and then
        numbers.insert(draw(st.integers(0, n - 1)), draw(st.integers(1, n + 3)))
    for i in numbers:
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(["## 第一编　总则", "### 第一章　一般规定", "#### 第一节　定义", "### 第一分编　通则"])))
        lines.append(f"第{int_to_cn(i)}条" + draw(st.sampled_from(["\u3000", " "])) + draw(body))
        for _ in range(draw(st.integers(0, 2))):
            lines.append(draw(st.one_of(body, st.just("（一）项目；"), st.just("款" * 700))))
        if draw(st.integers(0, 8)) == 0:
            lines.append(f"第{int_to_cn(i)}条之一\u3000插入的条文。")
        if draw(st.integers(0, 8)) == 0:
            lines.append(draw(st.sampled_from(["", "　", "附：说明", "---"])))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n"])), n


def _documents(kind: str) -> st.SearchStrategy[tuple[str, int | None]]:
    line = st.one_of(LINES[kind], st.text(max_size=40))
    free = st.one_of(
        st.text(max_size=2000),
        st.lists(line, max_size=60).map("\n".join),
        st.lists(line, max_size=60).map("\r\n".join),
    ).map(lambda text: (text, 3 if kind == "statute" else None))
    return st.one_of(free, statutes()) if kind == "statute" else free


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_parsers_raise_only_corpus_error_and_keep_exact_offsets(kind: str) -> None:
    started = time.perf_counter()
    outcomes = {"chunks": 0, "CorpusError": 0}

    @settings(FUZZ, max_examples=400)
    @given(drawn=_documents(kind))
    def run(drawn: tuple[str, int | None]) -> None:
        text, articles = drawn
        doc = Document(meta=_meta(kind, articles), text=text)
        try:
            result = parse_document(doc)
        except CorpusError:
            outcomes["CorpusError"] += 1
            return
        outcomes["chunks"] += 1
        for chunk in result.chunks:
            assert text[chunk.start : chunk.end] == chunk.text, chunk.chunk_id
            assert chunk.doc_id == "fuzz" and chunk.file == doc.meta.file
        assert len({c.chunk_id for c in result.chunks}) == len(result.chunks)
        for block in result.skipped:
            assert 0 <= block.start <= block.end <= len(text)

    run()
    SPENT[f"parse:{kind}"] = time.perf_counter() - started
    print(f"\nfuzz parse_document[{kind}]: {outcomes} in {SPENT[f'parse:{kind}']:.1f} s")


TOML_VALUES = st.sampled_from(
    ['"x"', '""', "1", "-1", "0", "true", "1.5", "[1, 2]", "[]", '{a = 1}', '"statute"', '"blog"', '"paper"',
     '"agreement"', '"../../etc/passwd"', '"/abs"', '"a\\\\b"', '"sources/blog.txt"', '"statutes"', '"sources"',
     '"' + "a" * 64 + '"', '"' + "0" * 64 + '"', '"Bad ID"', '"ok-id"', "1979-05-27", '"第一条"']
)
TOML_KEYS = st.sampled_from([*REQUIRED_KEYS, "effective", "provenance", "articles", "raw_file", "raw_sha256", "extra", "doc_id"])

BLOG_TEXT = "正文。"
VALID = {
    "doc_id": '"blog"',
    "title": '"博客"',
    "short_title": '"博客"',
    "kind": '"blog"',
    "file": '"sources/blog.txt"',
    "sha256": '"' + hashlib.sha256(BLOG_TEXT.encode()).hexdigest() + '"',
}

manifests = st.one_of(
    st.text(max_size=500),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.lists(
        st.lists(st.tuples(TOML_KEYS, TOML_VALUES), max_size=10).map(
            lambda kv: "[[documents]]\n" + "\n".join(f"{k} = {v}" for k, v in dict(kv).items())
        ),
        max_size=4,
    ).map("\n\n".join),
    st.sampled_from(["documents = 1", "documents = []", "documents = [1, 2]", "[documents]\na = 1", "[[documents]]"]),
    # a valid entry for sources/blog.txt with a few keys changed, dropped or repeated
    st.lists(
        st.fixed_dictionaries({}, optional={k: TOML_VALUES for k in ("doc_id", "kind", "file", "sha256", "articles", "extra")}),
        min_size=1,
        max_size=3,
    ).map(lambda entries: "\n\n".join("[[documents]]\n" + "\n".join(f"{k} = {v}" for k, v in {**VALID, **e}.items()) for e in entries)),
)


def test_manifest_raises_only_corpus_error() -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="legalqa-fuzz-") as tmp:
        root = Path(tmp)
        (root / "sources").mkdir()
        (root / "sources" / "blog.txt").write_text(BLOG_TEXT, encoding="utf-8")
        outcomes = {"ok": 0, "CorpusError": 0}

        @settings(FUZZ, max_examples=500)
        @given(text=manifests, raw=st.booleans())
        def run(text: str, raw: bool) -> None:
            data = text.encode("latin-1", errors="replace") if raw else text.encode("utf-8", errors="surrogatepass")
            (root / "manifest.toml").write_bytes(data)
            for load in (load_manifest, load_documents):
                try:
                    load(root)
                    outcomes["ok"] += 1
                except CorpusError as exc:
                    assert str(exc)  # a message the user can act on
                    outcomes["CorpusError"] += 1

        run()
    SPENT["manifest"] = time.perf_counter() - started
    print(f"\nfuzz manifest: {outcomes} in {SPENT['manifest']:.1f} s")
