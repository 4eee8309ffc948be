"""The source viewer shows text from its URL and from corpus files as text, never as Markdown.

A crafted link ``/source?doc=[请点击此处联系律师](http://…) **本工具的回答构成法律意见**``
used to render a link and a bold claim inside the page's warning box, and
``?doc=![x](http://…)`` made the browser fetch a URL.  Streamlit's AppTest only
sees the Markdown source of each element, so these tests parse that source
with a CommonMark parser (markdown-it, raw HTML off as in ``st.markdown``) and
look for links, images and emphasis; the browser test checks the real page.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from app.ui.components import escape_markdown, markdown_literal
from ingest.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app" / "streamlit_app.py"
SOURCE_PAGE = "ui/pages/source.py"
EVIL = "http://evil.example"
PAYLOADS = [
    f"[请点击此处联系律师]({EVIL}/lawyer) **本工具的回答构成法律意见**",
    f"![x]({EVIL}/pixel.png)",
    f"<img src={EVIL}/raw.png> __粗体__ *斜体* {EVIL}/bare www.evil.example $x$ :red[红色]",
    f"第一行\n\n**第二段粗体** [链接]({EVIL}/2)",
    f"`` **在反引号里** `[链接]({EVIL}/3)`",
]
COMMONMARK = MarkdownIt("commonmark", {"html": False})
FORMATTING = re.compile(r"<(a|img|strong|em|ul|ol|li|blockquote|pre)\b")  # a heading is the page's own


def flat(text: str) -> str:
    """What the page may show for ``text``: line breaks and other whitespace as single spaces."""
    return "".join(" " if ch.isspace() else ch for ch in text)


def code_spans(rendered: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<code>(.*?)</code>", rendered, re.S)]


def visible_text(rendered: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


# -- the escaping helpers, through a CommonMark parser ------------------------------


@pytest.mark.parametrize("text", [*PAYLOADS, "1. 不是列表\n# 不是标题\n> 不是引用\n---", "a\\*b\\", "*"])
def test_escape_markdown_renders_exactly_the_text(text: str) -> None:
    rendered = COMMONMARK.render(escape_markdown(text))
    assert not FORMATTING.search(rendered), rendered
    assert visible_text(rendered).replace("\n", "") == text.replace("\n", "")
    # GFM autolinks, $math$ and :colour[] markup need their punctuation unescaped: none is left
    unescaped = re.sub(r"\\[!-/:-@\[-`{-~]", "", escape_markdown(text).replace("  \n", ""))
    assert not re.search(r"[!-/:-@\[-`{-~]", unescaped), unescaped


@pytest.mark.parametrize("text", [*PAYLOADS, "`", "``a``", " x ", "a\x00b\u202ec"])
def test_markdown_literal_is_one_code_span_with_the_text(text: str) -> None:
    source = markdown_literal(text)
    rendered = COMMONMARK.render(f"前文 “{source}” 后文")
    assert not FORMATTING.search(rendered), rendered
    shown = flat(text).replace("\x00", "\ufffd").replace("\u202e", "\ufffd")
    assert code_spans(rendered) == [shown]
    assert "\n" not in source


def test_markdown_literal_bounds_length() -> None:
    source = markdown_literal("长" * 5000)
    assert len(source) < 300 and "共 5000 字" in source


# -- the source viewer page (AppTest on the real corpus' hash index) ----------------


@pytest.fixture
def viewer_env(corpus_hash_index: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.setenv("LEGALQA_DATA_DIR", str(corpus_hash_index.data_dir))
    monkeypatch.setenv("LEGALQA_CORPUS_DIR", str(corpus_hash_index.corpus_dir))
    monkeypatch.setenv("LEGALQA_EMBEDDER", corpus_hash_index.embedder)
    return corpus_hash_index


def open_viewer(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page(SOURCE_PAGE)
    at.query_params = params
    at.run()
    assert not at.exception, at.exception
    return at


def markdown_sources(at: AppTest) -> list[str]:
    """The Markdown source of every element that Streamlit renders as Markdown."""
    sources: list[str] = []
    for kind in (
        "markdown",
        "caption",
        "info",
        "warning",
        "error",
        "success",
        "title",
        "header",
        "subheader",
    ):
        sources += [str(getattr(e, "value", "")) for e in at.get(kind)]
    sources += [str(p.proto.label) for p in at.get("page_link")]
    return sources


def assert_no_formatting_from(at: AppTest, markers: list[str]) -> None:
    for source in markdown_sources(at):
        rendered = COMMONMARK.render(source)
        if any(m in visible_text(rendered) for m in markers):
            assert not FORMATTING.search(rendered), f"Markdown from outside rendered as formatting:\n{source}"


@pytest.mark.slow  # an index on disk (real Chroma)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_doc_parameter_is_shown_as_text_in_the_warning(viewer_env: Settings, payload: str) -> None:
    at = open_viewer({"doc": payload})
    (warning,) = at.warning  # the "no such document" warning is still there
    rendered = COMMONMARK.render(warning.value)
    assert "资料库中没有编号为" in visible_text(rendered)
    assert flat(payload) in code_spans(rendered)  # the parameter, verbatim, as code
    assert not FORMATTING.search(rendered), warning.value
    assert_no_formatting_from(at, ["evil.example", "构成法律意见", "粗体", "红色"])
    assert any("在原文中查看" in i.value for i in at.info)  # the document list is still offered


@pytest.mark.slow  # an index on disk (real Chroma)
def test_plain_unknown_doc_still_named_in_the_warning(viewer_env: Settings) -> None:
    at = open_viewer({"doc": "no-such-doc"})
    assert any("no-such-doc" in w.value for w in at.warning)


# -- titles come from a file: a corpus whose manifest title is Markdown ------------

HOSTILE_TITLE = f"**本工具的回答构成法律意见** [联系律师]({EVIL}/t) ![p]({EVIL}/t.png)"
LAW = "# 测试法\n\n第一条　本法用于测试。\n\n第二条　第二条的内容。\n".encode()


@pytest.fixture
def hostile_title_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    import hashlib

    from ingest.cli import ingest

    corpus = tmp_path / "corpus"
    (corpus / "statutes").mkdir(parents=True)
    (corpus / "statutes" / "test-law.md").write_bytes(LAW)
    (corpus / "manifest.toml").write_text(
        "[[documents]]\n"
        'doc_id = "test-law"\n'
        f"title = {json.dumps(HOSTILE_TITLE, ensure_ascii=False)}\n"
        f"short_title = {json.dumps('[短](' + EVIL + '/s)', ensure_ascii=False)}\n"
        'kind = "statute"\n'
        'file = "statutes/test-law.md"\n'
        f'sha256 = "{hashlib.sha256(LAW).hexdigest()}"\n'
        "articles = 2\n"
        f"effective = {json.dumps('**2024**', ensure_ascii=False)}\n",
        encoding="utf-8",
    )
    env = {
        "LEGALQA_CORPUS_DIR": str(corpus),
        "LEGALQA_DATA_DIR": str(tmp_path / "data"),
        "LEGALQA_EMBEDDER": "hash:64",
    }
    settings = Settings.from_env(environ=env, dotenv=tmp_path / "no.env")
    ingest(settings, show_progress=False)
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return settings


@pytest.mark.slow  # an index on disk (real Chroma)
def test_titles_from_the_manifest_are_text(hostile_title_env: Settings) -> None:
    at = open_viewer({"doc": "test-law"})
    sources = markdown_sources(at)
    assert any("构成法律意见" in visible_text(COMMONMARK.render(s)) for s in sources)  # the title is shown
    assert any("本法用于测试" in s for s in sources)  # and the document
    assert_no_formatting_from(at, ["evil.example", "构成法律意见", "2024"])
    listing = open_viewer({"doc": "nothing-here"})  # the document list labels come from the manifest too
    assert any("构成法律意见" in str(p.proto.label) for p in listing.get("page_link"))
    assert_no_formatting_from(listing, ["evil.example", "构成法律意见"])


# -- the real page in a real browser ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.browser
def test_browser_shows_doc_parameter_as_text_and_fetches_nothing(
    corpus_hash_index: Settings, tmp_path: Path, browser  # noqa: ANN001 - the session's Chromium
) -> None:
    from tests.helpers import clean_env, serve_app, settings_env

    with serve_app(clean_env(**settings_env(corpus_hash_index)), tmp_path, tmp_path / "serve.log") as url:
        page = browser.new_page()
        try:
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            for payload in PAYLOADS[:3]:
                page.goto(f"{url}/source?doc={quote(payload)}")
                alert = page.get_by_test_id("stAlert").filter(has_text="资料库中没有编号为")
                alert.wait_for()
                page.wait_for_timeout(500)
                assert flat(payload) in alert.inner_text()
                assert alert.locator("a, img, strong, em, b").count() == 0, alert.inner_html()
                assert page.locator("main a[href*='evil'], main img[src*='evil']").count() == 0
            assert not [u for u in requested if urlsplit(u).hostname != "127.0.0.1"], requested
        finally:
            page.close()
