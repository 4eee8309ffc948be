"""The Markdown export of a conversation, rendered with markdown-it-py (what Streamlit itself uses).

Asserting on the rendered HTML, not on the Markdown text, is what catches a group
heading folding into the bullet above it or a quoted clause "1." turning into an
empty nested list.
"""

from __future__ import annotations

from html.parser import HTMLParser

from markdown_it import MarkdownIt

from app.abstain import ABSTAIN_TEXT
from app.answer import Answer, Citation
from app.render import answer_blocks, conversation_markdown, markdown_text, to_markdown, to_text
from app.ui.html import answer_body_html
from app.warning import WARNING

TYPED = "我们公司用的AI大模型服务宕机导致损失，服务商要赔偿吗？"  # full-width punctuation, as typed
ANSWER_TEXT = (
    "如果服务协议写明“间接损失不承担责任”，索赔难度就大了。[1]\n\n"
    "**博客文章**\n"
    "- 平台很难完全撇清责任。[1]\n"
    "**《用户协议》三、您的权利和义务**\n"
    "- **5. 您利用大模型开放平台向第三方提供服务，责任由您承担。**[2]\n"
    "- - 以任何方式不当使用。[2]\n"
    "- 见 [链接](http://example.com) 与 <b>标签</b>。[1][2]"
)
QUOTE = "1. 用户资格\n\n- 以任何方式不当使用\n**5. 您利用大模型开放平台**\n# 不是标题"


def _citation(number: int, quote: str = QUOTE) -> Citation:
    return Citation(
        number, f"agreement/3/{number}", "agreement", "用户协议", f"《用户协议》三、您的权利和义务 第{number}条",
        "三、您的权利和义务", quote, 0, len(quote), "sources/agreement.md", "0" * 64, 1.0,
    )  # fmt: skip


ANSWERED = Answer(
    TYPED.replace("，", ",").replace("？", "?"),
    ANSWER_TEXT,
    (_citation(1), _citation(2)),
    False,
    "extractive",
)
ABSTAINED = Answer("足球比赛的越位规则是什么?", ABSTAIN_TEXT, (), True, "extractive")
FAILED = Answer("   ", ABSTAIN_TEXT, (), True, "extractive", error="问题为空：请输入您想咨询的法律问题。")


class Tree(HTMLParser):
    """The rendered HTML as (tag, path of enclosing tags, text) for each text node."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.texts: list[tuple[tuple[str, ...], str]] = []
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ARG002
        self.tags.append((tag, tuple(self.stack)))
        if tag not in ("hr", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append((tuple(self.stack), data))


def render(markdown: str) -> str:
    return MarkdownIt("commonmark").render(markdown)


def elements(html: str, tag: str) -> list[str]:
    """Inner text of each ``<tag>`` element (tags stripped), by splitting the HTML."""
    out = []
    for piece in html.split(f"<{tag}>")[1:]:
        inner = piece.split(f"</{tag}>")[0]
        out.append("".join(text for _path, text in Tree(inner).texts))
    return out


def test_export_renders_as_a_clean_record() -> None:
    html = render(
        conversation_markdown(
            [ANSWERED, ABSTAINED, FAILED], questions=[TYPED, "足球比赛的越位规则是什么？", "   "]
        )
    )
    tree = Tree(html)
    assert [t for t, _ in tree.tags].count("h1") == 1
    assert elements(html, "h3") == [
        f"问：{TYPED}",
        "问：足球比赛的越位规则是什么？",
        "问：",
    ]  # exactly as typed
    assert [t for t, _ in tree.tags].count("hr") == 2  # one rule between turns
    # group headings are headings of their own, never text inside the bullet above them
    assert elements(html, "h4")[:2] == ["博客文章", "《用户协议》三、您的权利和义务"]
    assert all("h4" not in path for tag, path in tree.tags if tag == "li")
    items = elements(html, "li")
    assert items[:3] == [
        "平台很难完全撇清责任。[1]",
        "5. 您利用大模型开放平台向第三方提供服务，责任由您承担。[2]",
        "- 以任何方式不当使用。[2]",
    ]
    assert items[3] == "见 [链接](http://example.com) 与 <b>标签</b>。[1][2]"  # shown, not a link or HTML
    assert "<a " not in html and "<b>" not in html
    # no list, heading or emphasis made out of a clause number inside an item or a quote
    for tag, path in tree.tags:
        if tag in ("ul", "ol", "li", "h1", "h2", "h3", "h4"):
            assert "li" not in path and "blockquote" not in path, (tag, path)
    quotes = [q for q in elements(html, "blockquote") if "用户资格" in q]
    assert len(quotes) == 2 and all(
        "1. 用户资格" in q and "- 以任何方式不当使用" in q and "# 不是标题" in q for q in quotes
    )
    assert elements(html, "strong")[1].startswith("[1] 《用户协议》三、您的权利和义务 第1条")


def test_every_turn_keeps_the_warning_and_an_error_shows_only_the_error() -> None:
    markdown = conversation_markdown([ANSWERED, ABSTAINED, FAILED])
    for turn in markdown.split("\n---\n"):
        assert turn.count(WARNING) == 2 and turn.rstrip().endswith("。_")
    failed = to_markdown(FAILED)
    assert "出错" in failed and "问题为空" in failed
    assert "【无可靠依据】" not in failed and ABSTAIN_TEXT not in failed
    abstained = to_markdown(ABSTAINED)
    assert "【无可靠依据】" in abstained and "出错" not in abstained
    # the terminal's text likewise (`legalqa ask "？？？"` printed the error and then a 无可靠依据 block)
    text = to_text(FAILED)
    assert "出错" in text and "【无可靠依据】" not in text and ABSTAIN_TEXT not in text
    assert text.count(WARNING) == 2
    html = render(abstained)
    assert "无可靠依据" in elements(html, "strong")[1]


def test_question_without_typed_form_falls_back_and_stays_on_one_heading_line() -> None:
    markdown = to_markdown(Answer("第一行\n# 标题 <script>x</script>", ABSTAIN_TEXT, (), True, "extractive"))
    headings = [line for line in markdown.splitlines() if line.startswith("### 问：")]
    assert len(headings) == 1 and "\\<script\\>" in headings[0]
    html = render(markdown)
    assert "<script>" not in html and elements(html, "h3") == ["问：第一行 # 标题 <script>x</script>"]


def test_markdown_text_escapes_block_starts_and_keeps_markers() -> None:
    assert markdown_text("1. 用户资格[1]") == "1\\. 用户资格[1]"
    assert markdown_text("- 条款[2, 3]") == "\\- 条款[2, 3]"
    assert markdown_text("[1](http://x)") == "\\[1\\](http://x)"
    assert render(markdown_text("12) 第十二项")).strip() == "<p>12) 第十二项</p>"


def test_browser_and_export_read_the_same_structure() -> None:
    body = answer_body_html(ANSWER_TEXT, {1: "L1", 2: "L2"}, "a0")
    assert body.count('<div class="answer-h">') == 2 and body.count("<li>") == 4 and "answer-lead" in body


def test_the_lines_of_the_first_paragraph_are_all_the_lead() -> None:
    """A provision that decides the question in an item of its list opens with the words that open the
    list, then the item, on two lines of one paragraph: both are the lead, what follows a blank line is not."""
    text = "同一财产向两个以上债权人抵押的，依照下列规定清偿：[1]\n（一）抵押权已经登记的，按照登记的时间先后确定清偿顺序；[1]\n\n其他。[2]\n再其他。[2]"
    assert [kind for kind, _c in answer_blocks(text)] == ["lead", "lead", "para", "para"]
    assert [kind for kind, _c in answer_blocks("**要点**\n\n正文[1]")] == ["heading", "para"]
    assert answer_body_html(text, {1: "L1", 2: "L2"}, "a0").count('class="answer-lead"') == 2


def test_a_self_named_address_reads_as_itself_in_the_terminal_and_the_export() -> None:
    """智谱's agreement writes its address as "[service@zhipuai.cn](mailto:service@zhipuai.cn)"; the
    terminal and the export show the address once, as a rendered link would, never the link syntax."""
    quote = "您可通过邮箱：[service@zhipuai.cn](mailto:service@zhipuai.cn) 与我们联系。"
    answer = Answer("争议怎么解决?", f"{quote}[1]", (_citation(1, quote),), False, "extractive")
    for shown in (to_text(answer), to_markdown(answer)):
        assert "mailto" not in shown and "](" not in shown
        assert "您可通过邮箱：service@zhipuai.cn 与我们联系。" in shown.replace("\\", "")
