"""The Streamlit UI through ``streamlit.testing.v1.AppTest`` on a real (hashing-embedder) index.

The index is built once per session into a temporary folder, so the real
pipeline runs: retrieval, abstention, the extractive answerer, citations.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.abstain import DECLINE_TEXTS
from app.ui import chat as chat_module
from app.ui.backend import context_window
from app.ui.html import answer_body_html, chunks_html, highlight, parse_spans, quote_preview
from app.warning import WARNING, WARNING_CORE
from ingest.settings import Settings
from ingest.types import Chunk

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app" / "streamlit_app.py"
SOURCE_PAGE = "ui/pages/source.py"
CORPUS_PAGE = "ui/pages/corpus.py"

ANSWERED = "民法典第1202条是怎么规定的？"
ABSTAINS = "足球比赛的越位规则是什么？"
SECRET = "sk-test-DO-NOT-SHOW-4242"


# -- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="session")
def hash_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ingest.cli import ingest

    data = tmp_path_factory.mktemp("ui-index")
    env = {"LEGALQA_DATA_DIR": str(data), "LEGALQA_EMBEDDER": "hash:256"}
    ingest(Settings.from_env(environ=env, dotenv=data / "no.env"), show_progress=False)
    return data


@pytest.fixture
def ui_env(hash_index: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Environment the app reads: the session index, hashing embedder, no LLM (no .env: isolated_env)."""
    monkeypatch.setenv("LEGALQA_DATA_DIR", str(hash_index))
    monkeypatch.setenv("LEGALQA_EMBEDDER", "hash:256")
    return hash_index


def new_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60)


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


def is_warning(value: str) -> bool:
    """The full warning (Streamlit shows its leading emoji as the alert's icon)."""
    return WARNING_CORE in value and WARNING.endswith(value.strip())


def assistant_messages(at: AppTest) -> list:
    return [m for m in at.chat_message if m.name == "assistant"]


def markdown_of(block) -> str:  # noqa: ANN001
    return "\n".join(m.value for m in block.markdown)


def all_text(at: AppTest) -> str:
    """Every string the page shows (for 'never shows X' checks)."""
    parts: list[str] = []
    for kind in (
        "markdown",
        "caption",
        "info",
        "warning",
        "error",
        "success",
        "code",
        "text",
        "json",
        "title",
    ):
        parts += [str(getattr(e, "value", "")) for e in at.get(kind)]
    parts += [b.label for b in at.button] + [str(p.value) for p in at.get("page_link")]
    return "\n".join(parts)


# -- pure HTML helpers ----------------------------------------------------------


def test_highlight_marks_spans_on_original_offsets_then_strips_emphasis() -> None:
    text = "甲**乙丙**丁<戊>\n己"
    # file offsets: text starts at 100; mark "*乙丙*" = 102..106 (straddles the markers)
    html = highlight(text, 100, [(102, 106)])
    assert "**" not in html and "*" not in html
    assert '<mark class="hl">乙丙</mark>' in html
    assert "&lt;戊&gt;" in html and "<br>" in html and "\n" not in html


def test_a_link_in_a_passage_reads_as_its_text_and_highlights_keep_their_offsets() -> None:
    """智谱's agreement writes its address as a Markdown link; readers see the address once, as a
    rendered link would show it, not "[…](mailto:…)", and a quoted span after it stays where it was."""
    text = "邮箱：[a@b.cn](mailto:a@b.cn) 与我们联系。"
    start = text.index("与我们")
    html = highlight(text, 0, [(start, start + 5)])
    assert html == '邮箱：a@b.cn <mark class="hl">与我们联系</mark>。'
    body = answer_body_html(f"{text}[1]", {1: "《用户协议》十三"}, "a0")
    assert "mailto" not in body and "邮箱：a@b.cn 与我们联系。" in body
    assert quote_preview(text) == "邮箱：a@b.cn 与我们联系。"
    # a link that names something else keeps its target in view: hiding it would hide where it points
    assert "(http://x.cn)" in highlight("[官网](http://x.cn)", 0, [])


def test_answer_body_links_each_marker_and_keeps_clause_numbers_as_text() -> None:
    text = "结论句。[1]\n\n**《民法典》 的相关规定**\n- 7. 第一项<b>[2]\n- 另一句[1][9]"
    html = answer_body_html(text, {1: "《民法典》第一千二百零二条", 2: "《用户协议》八"}, "a0")
    assert html.count('href="#a0-c1"') == 2 and 'href="#a0-c2"' in html
    assert "[9]" in html and 'href="#a0-c9"' not in html  # unknown number stays plain text
    assert "7. 第一项&lt;b&gt;" in html and "<ol" not in html
    assert '<div class="answer-h">《民法典》 的相关规定</div>' in html
    assert "\n" not in html


def test_parse_spans_keeps_well_formed_ranges() -> None:
    assert parse_spans("5-9,x,12-10,20-30") == ((5, 9), (20, 30))


def _chunk(i: int, bc: tuple[str, ...]) -> Chunk:
    text = f"第{i}条　内容{i}。"
    return Chunk(
        f"c{i}", "d", "D", "statute", f"《D》第{i}条", bc, i * 100, i * 100 + len(text), text, "f", "s", i
    )


def test_context_window_and_headings() -> None:
    chunks = [_chunk(i, ("第一编", "第一章" if i < 5 else "第二章")) for i in range(10)]
    window, before, after = context_window(chunks, 500, 510, 3)
    assert [c.chunk_id for c in window] == ["c2", "c3", "c4", "c5", "c6", "c7", "c8"] and before and after
    html = chunks_html(window, target=(500, 510))
    assert html.count('class="passage target"') == 1 and 'id="target"' in html
    assert html.index("第一章") < html.index("第二章") < html.index("内容5")


# -- chat page ------------------------------------------------------------------


def test_first_load_notice_examples_and_sidebar(ui_env: Path) -> None:
    at = new_app().run()
    assert not at.exception
    notice = "\n".join(i.value for i in at.info)
    for name in (
        "《民法典》",
        "《消费者权益保护法》",
        "《产品质量法》",
        "《生成式人工智能服务管理暂行办法》",
        "3 份资料",
    ):
        assert name in notice
    assert "不构成法律意见" in notice and "许可证" in notice
    examples = [b for b in at.button if b.key and b.key.startswith("example_")]
    assert len(examples) >= 4
    assert any("宕机" in b.label for b in examples)
    assert at.radio(key="answerer").options == ["摘录式（离线，逐句摘引原文）"]  # no LLM configured
    assert at.slider(key="k").value == 6
    assert at.toggle(key="show_scores").value is False


def test_chat_flow_answer_with_markers_and_citation_cards(ui_env: Path) -> None:
    at = ask(new_app().run(), ANSWERED)
    (msg,) = assistant_messages(at)
    assert is_warning(msg.warning[0].value)
    body = markdown_of(msg)
    assert '<sup class="cite-ref"><a href="#a0-c1"' in body
    card = next(m.value for m in msg.markdown if 'class="cite-card"' in m.value)
    assert 'id="a0-c1"' in card
    assert "《民法典》第一千二百零二条" in card
    assert "中华人民共和国民法典" in card and "第七编" in card and "产品责任" in card
    quoted = re.search(r'<mark class="hl">(.*?)</mark>', card)
    assert quoted and "因产品存在缺陷造成他人损害的，生产者应当承担侵权责任" in quoted.group(1)
    links = [p for p in msg.get("page_link") if "在原文中查看" in p.value]
    assert links
    assert any("已与资料原文逐字核对一致" in c.value for c in msg.caption)
    history = at.session_state["history"]
    assert len(history) == 1 and history[0].citations[0].locator == "《民法典》第一千二百零二条"


def test_a_follow_up_may_point_at_the_last_answers_sources(ui_env: Path) -> None:
    at = ask(new_app().run(), "民法典第五百七十七条和第五百八十四条是什么")
    first = at.session_state["history"][0]
    assert [c.locator for c in first.citations][:2] == [
        "《民法典》第五百七十七条",
        "《民法典》第五百八十四条",
    ]
    at = ask(at, "第二个引用呢")
    second = at.session_state["history"][1]
    assert second.citations[0].locator == "《民法典》第五百八十四条"
    assert "《民法典》第五百八十四条" in second.searched


def test_example_button_asks_the_question(ui_env: Path) -> None:
    at = new_app().run()
    button = next(b for b in at.button if b.key == "example_5")
    button.click().run()
    assert not at.exception
    assert len(at.session_state["history"]) == 1
    assert at.session_state["history"][0].question == unicodedata.normalize("NFKC", button.label)
    assert not [
        b for b in at.button if b.key and b.key.startswith("example_")
    ]  # examples gone after a question


def test_warning_on_every_answer_including_abstention_and_errors(ui_env: Path) -> None:
    at = new_app().run()
    for q in (ANSWERED, ABSTAINS, "消费者权益保护法第五十五条"):
        ask(at, q)
    messages = assistant_messages(at)
    assert len(messages) == 3
    for msg in messages:
        assert msg.warning and is_warning(msg.warning[0].value)
    answered, abstained, _answered2 = messages
    assert not answered.error and not answered.info
    assert "资料库中没有可靠依据" in abstained.info[0].value


def test_blank_and_too_long_questions_are_refused_before_any_bubble(ui_env: Path) -> None:
    at = new_app().run()
    ask(at, "  \u3000 ")
    assert not at.chat_message and not at.session_state["history"]  # no empty bubble, no answer
    (refused,) = [w.value for w in at.warning]
    assert "不能只有空格" in refused and "\n" not in refused
    long_question = "问" * 1500
    ask(at, long_question)
    assert not at.chat_message and not at.session_state["history"]
    (refused,) = [w.value for w in at.warning]
    assert "问题过长（1500 / 1000 字）" in refused and "已保留在输入框中" in refused
    assert at.chat_input[0].proto.value == long_question and at.chat_input[0].proto.set_value  # text kept
    ask(at, ANSWERED)  # the next question is answered as usual
    assert len(assistant_messages(at)) == 1 and not at.warning[1:]


def test_abstention_looks_different_and_has_no_citations(ui_env: Path) -> None:
    at = ask(new_app().run(), ABSTAINS)
    (msg,) = assistant_messages(at)
    assert msg.info and msg.info[0].value.startswith("**资料库中没有可靠依据**")
    assert any(text in msg.info[0].value for text in DECLINE_TEXTS)
    assert "cite-card" not in markdown_of(msg) and "cite-ref" not in markdown_of(msg)
    assert not msg.error and not msg.get("page_link")
    assert at.session_state["history"][0].abstained


def test_scores_toggle_shows_scores_and_evidence(ui_env: Path) -> None:
    at = new_app().run()
    at.toggle(key="show_scores").set_value(True).run()
    ask(at, ANSWERED)
    (msg,) = assistant_messages(at)
    assert any("检索分数 score =" in c.value for c in msg.caption)
    assert msg.get("json") and "named_article" in msg.get("json")[0].value


def test_export_contains_warning_for_each_answer(ui_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exported: list[str] = []
    real = chat_module.conversation_markdown

    def capture(answers, **kwargs):  # noqa: ANN001, ANN003, ANN202
        exported.append(real(answers, **kwargs))
        return exported[-1]

    monkeypatch.setattr(chat_module, "conversation_markdown", capture)
    at = new_app().run()
    assert at.get("download_button")[0].proto.disabled  # nothing to export yet
    for q in (ANSWERED, ABSTAINS):
        ask(at, q)
    assert not at.get("download_button")[0].proto.disabled
    text = exported[-1]
    assert text.count(WARNING) >= 2 * 2  # top and bottom of each of the 2 answers
    for chunk in text.split("\n---\n"):
        assert WARNING in chunk
    assert "《民法典》第一千二百零二条" in text
    assert f"### 问：{ANSWERED}\n" in text and f"### 问：{ABSTAINS}\n" in text  # as typed, not normalized


def test_backend_error_is_shown_as_error_with_warning(ui_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.pipeline import Pipeline

    monkeypatch.setenv("LEGALQA_LLM_API_KEY", SECRET)

    def broken(self, question, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise RuntimeError(f"connection refused (api_key={SECRET})")

    # the backend fails inside the pipeline: its one error boundary turns that into a warned answer
    monkeypatch.setattr(Pipeline, "retrieve", broken)
    at = ask(new_app().run(), ANSWERED)
    (msg,) = assistant_messages(at)
    assert is_warning(msg.warning[0].value)
    assert "后端出错" in msg.error[0].value and "RuntimeError" in msg.error[0].value
    assert SECRET not in all_text(at)


def test_llm_answerer_offered_when_configured_and_key_never_shown(
    ui_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("langchain_openai")
    monkeypatch.setenv("LEGALQA_LLM", "openai:test-model")
    monkeypatch.setenv("LEGALQA_LLM_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens: fails fast
    monkeypatch.setenv("LEGALQA_LLM_API_KEY", SECRET)
    at = new_app().run()
    assert not at.exception
    radio = at.radio(key="answerer")
    assert radio.options == ["摘录式（离线，逐句摘引原文）", "大模型生成（经引文核验）"]
    radio.set_value("llm").run()
    at.chat_input[0].set_value(ANSWERED).run(timeout=120)
    (msg,) = assistant_messages(at)
    assert is_warning(msg.warning[0].value)
    assert SECRET not in all_text(at)


def test_llm_answer_is_drafted_while_written_then_replaced_by_the_checked_answer(
    ui_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page hands ``Pipeline.ask`` a draft preview; once the answer is checked the preview is gone and
    the checked answer (the invented sentence removed) is shown, with the warning."""
    import app.pipeline as pipeline_module
    from app.llm import LLMAnswerer
    from app.ui.components import DRAFT_LABEL
    from tests.fakes import ScriptedChatModel

    reply = "因产品存在缺陷造成他人损害的，生产者应当承担侵权责任。[1]\n平台完成备案即可免责。[2]"
    model = ScriptedChatModel([reply])
    drafts: list[str] = []
    real_ask = pipeline_module.Pipeline.ask

    def recording_ask(self, question, **kwargs):  # noqa: ANN001, ANN003, ANN202
        shown = kwargs["on_text"]
        kwargs["on_text"] = lambda text: (drafts.append(text), shown(text))
        return real_ask(self, question, **kwargs)

    monkeypatch.setenv("LEGALQA_LLM", "openai:streaming-test")  # its own cached pipeline
    monkeypatch.setattr(pipeline_module, "make_answerers", lambda _s, _e="": {"llm": LLMAnswerer(model)})
    monkeypatch.setattr(pipeline_module.Pipeline, "ask", recording_ask)
    at = new_app().run()
    at.radio(key="answerer").set_value("llm").run()
    at = ask(at, ANSWERED)
    (msg,) = assistant_messages(at)
    assert drafts and drafts[-1] == reply and len(model.history) == 1  # streamed to the page's preview
    assert is_warning(msg.warning[0].value)
    assert DRAFT_LABEL not in all_text(at) and "备案即可免责" not in all_text(at)
    assert "生产者应当承担侵权责任" in markdown_of(msg)


# -- source viewer and corpus browser --------------------------------------------


def test_document_viewer_highlights_passage_with_neighbours(ui_env: Path) -> None:
    at = ask(new_app().run(), ANSWERED)
    citation = at.session_state["history"][0].citations[0]
    at.switch_page(SOURCE_PAGE)
    at.query_params = {"doc": citation.doc_id, "start": str(citation.start), "end": str(citation.end)}
    at.run()
    assert not at.exception
    page = "\n".join(m.value for m in at.markdown)
    assert "中华人民共和国民法典" in page
    view = next(m.value for m in at.markdown if 'class="doc-view"' in m.value)
    target = re.search(r'<div class="passage target" id="target">(.*?)</div></div>', view)
    assert target and "第一千二百零二条" in target.group(1)
    for neighbour in ("第一千二百零一条", "第一千二百条", "第一千二百零三条", "第一千二百零五条"):
        assert neighbour in view  # three articles on each side
    assert "第四章　产品责任" in view  # chapter heading shown where it changes
    labels = [p.value for p in at.get("page_link")]
    assert any("阅读全文" in label for label in labels) and any("返回问答" in label for label in labels)
    assert len(at.session_state["history"]) == 1  # the chat survives the page switch


def test_document_viewer_full_document_and_bad_links(ui_env: Path) -> None:
    at = new_app().run()
    at.switch_page(SOURCE_PAGE)
    at.query_params = {"doc": "consumer-protection-law"}
    at.run()
    assert not at.exception
    view = next(m.value for m in at.markdown if 'class="doc-view"' in m.value)
    assert "第一条" in view and "第六十三条" in view
    at.query_params = {"doc": "no-such-doc"}
    at.run()
    assert not at.exception and any("no-such-doc" in w.value for w in at.warning)


def test_corpus_browser_lists_documents_and_jumps_to_article(ui_env: Path) -> None:
    at = new_app().run()
    at.switch_page(CORPUS_PAGE)
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert {"简称", "类型", "生效日期", "来源"} <= set(table.columns)
    assert "《民法典》" in set(table["简称"]) and "2021-01-01" in set(table["生效日期"])
    at.selectbox(key="corpus_doc").set_value("civil-code").run()
    for query in ("1202", "第一千二百零二条"):
        at.text_input(key="jump_civil-code").input(query).run()
        assert not at.exception
        assert any("第一千二百零二条" in s.value for s in at.success)
        view = next(m.value for m in at.markdown if 'id="article"' in m.value)
        assert re.search(r'class="passage target" id="article">.*?第一千二百零二条　因产品存在缺陷', view)
    at.text_input(key="jump_civil-code").input("9999").run()
    assert any("没有第9999条" in w.value for w in at.warning)
    at.text_input(key="jump_civil-code").input("产品").run()
    assert any("不是条号" in w.value for w in at.warning)
    at.selectbox(key="corpus_doc").set_value("consumer-protection-law").run()
    at.text_input(key="jump_consumer-protection-law").input("消保法55条").run()
    assert any("第五十五条" in s.value for s in at.success)


def test_corpus_browser_agreement_jump_labels_and_user_facing_provenance(ui_env: Path) -> None:
    at = new_app().run()
    at.switch_page(CORPUS_PAGE)
    at.query_params = {"doc": "agreement"}
    at.run()
    assert not at.exception
    part = next(s for s in at.selectbox if s.label == "协议部分")
    part.set_value("八、责任限制").run()
    labels = [s.label for s in at.selectbox if (s.key or "").startswith("lvl_")]
    assert labels == ["协议部分", "条款（含分项）"]  # each picker says what it picks
    assert all("（学术论文）（学术论文）" not in o for o in at.selectbox(key="corpus_doc").options)
    captions = "\n".join(c.value for c in at.caption)
    assert "来源：智谱" in captions and "copied byte-identical" not in captions
    assert all("byte-identical" not in str(v) for v in at.dataframe[0].value["来源"])
    at.text_input(key="jump_agreement").input("第八条第1款").run()
    assert any("八、责任限制 第1条" in s.value for s in at.success)


def test_corpus_browser_reads_by_book_chapter_section(ui_env: Path) -> None:
    at = new_app().run()
    at.switch_page(CORPUS_PAGE)
    at.query_params = {"doc": "civil-code"}
    at.run()
    book = at.selectbox[1]  # [0] is the document picker
    assert book.label == "编" and book.options[0].startswith("第一编")
    book.set_value(next(o for o in book.options if "侵权责任" in o)).run()
    chapter = at.selectbox[2]
    assert chapter.label == "章"
    chapter.set_value(next(o for o in chapter.options if "产品责任" in o)).run()
    assert not at.exception
    view = next(m.value for m in at.markdown if 'class="doc-view"' in m.value)
    assert "第一千二百零二条" in view and "第一千二百零七条" in view and "第一千一百六十五条" not in view


# -- problems ---------------------------------------------------------------------


def test_missing_index_message(ui_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEGALQA_DATA_DIR", str(tmp_path / "empty-data"))
    at = new_app().run()
    assert not at.exception
    assert any("还没有建立资料索引" in e.value for e in at.error)
    assert any("legalqa ingest" in c.value and "make ingest" in c.value for c in at.code)
    assert at.chat_input[0].proto.disabled
    for page in (SOURCE_PAGE, CORPUS_PAGE):
        at.switch_page(page).run()
        assert not at.exception and any("还没有建立资料索引" in e.value for e in at.error)


def test_index_built_with_another_embedder_message(ui_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGALQA_EMBEDDER", "hash:128")
    at = new_app().run()
    assert not at.exception
    assert any("另一个向量模型" in e.value for e in at.error)
    assert any("legalqa ingest --rebuild" in c.value for c in at.code)


def test_bad_setting_message(ui_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGALQA_TOP_K", "many")
    at = new_app().run()
    assert not at.exception
    assert any("配置有误" in e.value for e in at.error)
    assert any("LEGALQA_TOP_K" in c.value for c in at.caption)


def test_stale_index_is_shown_on_the_answer(ui_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace as _replace

    from app.pipeline import Pipeline

    original = Pipeline.ask
    monkeypatch.setattr(
        Pipeline, "ask", lambda self, *a, **kw: _replace(original(self, *a, **kw), stale=("civil-code",))
    )
    at = ask(new_app().run(), ANSWERED)
    (msg,) = assistant_messages(at)
    assert is_warning(msg.warning[0].value)
    assert any("civil-code" in e.value and "legalqa ingest" in e.value for e in msg.error)
