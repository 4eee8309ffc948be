"""Chat page: history per browser session, example questions, sidebar settings and export."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from app.answer import Answer
from app.render import conversation_markdown, history_turns
from app.ui import backend
from app.ui.backend import Problem
from app.ui.components import (
    ANSWERER_LABELS,
    DraftPreview,
    answer_top_id,
    escape_markdown,
    notice,
    render_answer,
    show_problem,
)
from app.ui.html import counter_script, scroll_script
from app.warning import WARNING
from ingest.settings import Settings

HISTORY = "history"  # list[Answer] in st.session_state
TYPED = "typed_questions"  # the questions as typed (Answer.question is NFKC-normalized), same order
PENDING = "pending_question"
PROMPT = "chat_prompt"  # the chat input's key
TOO_LONG = "too_long_question"  # length of a question sent over the limit (its text is back in the input)

EXAMPLES = (
    "我们公司用的AI大模型服务宕机导致损失，服务商要赔偿吗？",
    "用户协议里写“对间接损失不承担责任”，这条有效吗？",
    "AI生成的内容有错误，给用户造成损害，算产品缺陷吗？",
    "经营者有欺诈行为，消费者能要求几倍赔偿？",
    "提供生成式人工智能服务的公司要履行哪些义务？",
    "民法典第1202条是怎么规定的？",
)
PLACEHOLDER = "请输入您的问题，例如：AI服务故障造成损失，服务商要赔偿吗？"
SPINNER = "正在检索法律条文和资料，整理有出处的回答…"
RETRY_SECONDS = 3


def _queue(question: str) -> None:
    st.session_state[PENDING] = question


def _keep_if_too_long(limit: int) -> None:
    """On send: a question over ``limit`` characters goes back into the input instead of being lost.

    Streamlit empties the chat input on send; setting its key here, before the rerun, puts the
    text back so the user can shorten it.  The page then shows why, without a chat bubble.
    """
    sent = st.session_state.get(PROMPT)
    if isinstance(sent, str) and len(sent) > limit:
        st.session_state[TOO_LONG] = len(sent)
        st.session_state[PROMPT] = sent


def _clear() -> None:
    st.session_state[HISTORY] = []
    st.session_state[TYPED] = []


def render() -> None:
    history: list[Answer] = st.session_state.setdefault(HISTORY, [])
    typed: list[str] = st.session_state.setdefault(TYPED, [])
    st.markdown("## ⚖️ 生成式AI服务民事责任 · 法律问答")
    st.caption("依据法律条文和资料逐句摘引作答，每句注明出处，可一键核对原文。")

    loaded = backend.load_settings()
    if isinstance(loaded, Problem):
        show_problem(loaded)
        st.chat_input(PLACEHOLDER, disabled=True)
        return
    settings = loaded
    pipeline = backend.get_pipeline(settings)
    if isinstance(pipeline, Problem):
        _notice(settings, None, expanded=True)
        show_problem(pipeline)
        st.chat_input("资料索引就绪后才能提问", disabled=True)
        _retry_until_ready(settings)
        return

    answerer, k, show_scores = _sidebar_settings(settings, list(pipeline.answerers))
    limit = settings.max_question_chars
    prompt = st.chat_input(PLACEHOLDER, key=PROMPT, on_submit=_keep_if_too_long, args=(limit,))
    st.html(counter_script(limit), unsafe_allow_javascript=True)
    question = prompt if prompt is not None else st.session_state.pop(PENDING, None)
    too_long = st.session_state.pop(TOO_LONG, None)
    refused = ""
    if too_long is not None:
        question = None
        refused = f"问题过长（{too_long} / {limit} 字），已保留在输入框中：请删减到 {limit} 字以内再发送。"
    elif question is not None and not question.strip():  # nothing to answer: no bubble, no answer
        question = None
        refused = "请输入问题内容后再发送（不能只有空格）。"

    if not history and question is None:
        _notice(settings, pipeline, expanded=True)
        _examples()
    else:
        _notice(settings, pipeline, expanded=False)

    for i, answer in enumerate(history):
        question_text = typed[i] if len(typed) == len(history) else answer.question
        _turn(question_text, answer, msg_id=f"a{i}", show_scores=show_scores, settings=settings)

    if refused:
        st.warning(refused, icon="✏️")
    if question is not None:
        with st.chat_message("user", avatar="🧑‍💼"):
            st.markdown(escape_markdown(question) or "（空白问题）")
        with st.chat_message("assistant", avatar="⚖️"):
            preview = DraftPreview(st.empty(), WARNING)  # the LLM's text while it is written
            with st.spinner(SPINNER, show_time=True):
                # the conversation so far: a follow-up is read against it, and may point at an answer's sources
                earlier = history_turns(typed[-4:], history[-4:])
                answer = pipeline.ask(  # never raises
                    question, history=earlier, k=k, answerer=answerer, on_text=preview
                )
            preview.clear()
            history.append(answer)
            typed.append(question)
            msg_id = f"a{len(history) - 1}"
            render_answer(answer, msg_id=msg_id, show_scores=show_scores, settings=settings)
        # land on the new answer's top, not on its last citation card
        st.html(scroll_script(answer_top_id(msg_id), "start"), unsafe_allow_javascript=True)

    _sidebar_export(history, typed, pipeline)


@st.fragment(run_every=RETRY_SECONDS)
def _retry_until_ready(settings: Settings) -> None:
    """Try again every few seconds; once the index opens, rerun the page so the input is enabled.

    A page whose first run could not open the index (no index yet, an ingest switching generations,
    a store that failed to load) would otherwise keep a disabled input until the user reloads: a
    disabled box gives Streamlit nothing to rerun on.
    """
    if not isinstance(backend.get_pipeline(settings), Problem):
        st.rerun()
    st.caption(f"本页每 {RETRY_SECONDS} 秒自动重试；问题解决后输入框会自动启用，无需刷新。")


def _turn(question: str, answer: Answer, *, msg_id: str, show_scores: bool, settings: Settings) -> None:
    with st.chat_message("user", avatar="🧑‍💼"):
        st.markdown(escape_markdown(question) or "（空白问题）")
    with st.chat_message("assistant", avatar="⚖️"):
        render_answer(answer, msg_id=msg_id, show_scores=show_scores, settings=settings)


def _notice(settings: Settings, pipeline: object, *, expanded: bool) -> None:
    text = notice(backend.documents(settings, pipeline))  # type: ignore[arg-type]
    if expanded:
        st.info(text, icon="ℹ️")
    else:
        with st.expander("ℹ️ 关于本工具：能做什么、不能做什么", expanded=False):
            st.markdown(text)


def _examples() -> None:
    st.markdown("**不知道怎么问？试试这些常见问题：**")
    cols = st.columns(2)
    for i, q in enumerate(EXAMPLES):
        cols[i % 2].button(q, key=f"example_{i}", on_click=_queue, args=(q,), width="stretch", icon="💡")


def _sidebar_settings(settings: Settings, answerers: list[str]) -> tuple[str, int, bool]:
    with st.sidebar:
        st.markdown("### 回答设置")
        default = answerers.index(settings.answerer) if settings.answerer in answerers else 0
        answerer = st.radio(
            "回答方式",
            answerers,
            index=default,
            key="answerer",
            format_func=lambda name: ANSWERER_LABELS.get(name, name),
            help="摘录式：只摘引原文句子，离线运行。大模型生成：由配置的大模型组织语言，每句仍须有引文支持，无法核实的句子会被删除。",
        )
        k = st.slider(
            "检索段落数（k）",
            1,
            12,
            min(max(settings.top_k, 1), 12),
            key="k",
            help="每次提问从资料库中取出的段落数。",
        )
        show_scores = st.toggle("显示检索分数（供法务人员核查）", key="show_scores")
    return str(answerer), int(k), bool(show_scores)


def _sidebar_export(history: list[Answer], typed: list[str], pipeline: object) -> None:
    with st.sidebar:
        st.divider()
        st.markdown("### 对话记录")
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        st.download_button(
            "导出对话（Markdown）",
            data=conversation_markdown(history, questions=typed) if history else "",
            file_name=f"法律问答记录-{stamp}.md",
            mime="text/markdown",
            icon="⬇️",
            disabled=not history,
            on_click="ignore",
            width="stretch",
            key="export",
            help="包含每个问题、回答、引文原文和免责提示。",
        )
        st.button("清空对话", on_click=_clear, disabled=not history, width="stretch", icon="🗑️", key="clear")
        chunks = getattr(getattr(pipeline, "index", None), "chunks", {})
        settings = getattr(pipeline, "settings", None)
        embedder = getattr(settings, "embedder", "")
        st.caption(f"资料索引：{len(chunks)} 个段落 · 向量模型 {embedder}")
