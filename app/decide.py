"""Whether to answer, and which one-line notes the answer carries.

Runs after retrieval, before any answerer: an article that does not exist is
named as such (never replaced by unrelated articles), a request to predict a
ruling is declined, a drafting request is answered with "本工具不代拟文书" plus
the governing provisions (declined when there are none), and a general civil-law
question is answered with a note that it lies outside the AI-service focus.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.abstain import (
    ABSTAIN_TEXT,
    DRAFTING_TEXT,
    MISSING_ARTICLE_TEXT,
    OFF_TOPIC_TEXT,
    TASK_TEXT,
    Evidence,
    drafting_matter,
    is_licence_procedure,
    task_kind,
)
from app.answer import Retrieved
from app.notes import DRAFTING_NOTE, OUTSIDE_FOCUS_NOTE, missing_article_note, other_statute_note
from app.question import Question, retrieval_query
from app.retrieve import HybridRetriever
from app.terms import question_terms

# Words that put a question inside the AI-service focus (a general civil-law question has none).
_FOCUS = re.compile(
    r"AI|ai|人工智能|大模型|模型|算法|生成|智能|机器人|ChatGPT|GPT|智谱|API|接口|平台|网络|互联网|线上|在线|软件|"
    r"App|APP|app|应用|数据|个人信息|隐私|深度合成|备案|云|服务商|服务提供者|用户协议|账号|网站|客服|"
    # what AI products and their harms are called: "文心一言编造了我的负面新闻" is an AI question
    r"网上|网购|直播|换脸|深度伪造|变声|克隆|数字人|虚拟人|文心一言|豆包|Kimi|kimi|DeepSeek|deepseek|通义|星火|元宝|混元|Claude|"
    r"Gemini|Copilot|Midjourney|Sora"
)
# Below this share of the question's content found in the top passages, the question is not ours at all.
OFF_TOPIC_COVERAGE = 0.3


@dataclass(frozen=True, slots=True)
class Decision:
    decline: str = ""  # one of abstain.DECLINE_TEXTS when the question is not answered
    notes: tuple[str, ...] = ()
    issues: tuple[str, ...] = ()  # names of the matched issues, best first


def decide(
    question: Question, results: Sequence[Retrieved], evidence: Evidence, retriever: HybridRetriever
) -> Decision:
    asked = retrieval_query(question.text)  # what the user asks, without fake system/assistant turns
    missing = tuple(
        missing_article_note(retriever.statute_title(doc_id), count, ref.number, ref.suffix)
        for doc_id, ref, count in retriever.missing_articles(asked)
    )
    named = any(r.via == "lookup" for r in results)
    if missing and not named and not retriever.asks_more_than_references(asked):
        return Decision(MISSING_ARTICLE_TEXT, missing)
    # a statute we do not hold ("劳动合同法第三十九条是什么", "合同法第52条"): said so, never answered from
    # whatever ranks; a question with a matter of its own is answered from the corpus, with the note
    others = tuple(other_statute_note(o) for o in retriever.names.other_statutes(asked))
    if others and not named and not retriever.asks_more_than_references(asked):
        return Decision(MISSING_ARTICLE_TEXT, others + missing)
    task = task_kind(question.text)
    if task == "predict":
        return Decision(TASK_TEXT)
    if task == "draft" and len(question_terms(drafting_matter(asked))) < 1:
        return Decision(DRAFTING_TEXT)  # nothing but a document type: no matter to give provisions for
    if evidence.abstain:
        if task == "draft":
            return Decision(DRAFTING_TEXT)
        if is_licence_procedure(question.query):
            return Decision(ABSTAIN_TEXT)  # its text names licence procedures as outside the corpus
        far = evidence.p_answerable is not None and evidence.p_answerable < evidence.threshold / 4
        off = far or evidence.coverage < OFF_TOPIC_COVERAGE
        return Decision(OFF_TOPIC_TEXT if off else ABSTAIN_TEXT, others)  # "资料库不含《劳动法》" says why
    issues = tuple(dict.fromkeys(r.issue.issue_name for r in results if r.issue))
    notes = list(others + missing)
    if task == "draft":
        notes.insert(0, DRAFTING_NOTE)
    if not named and outside_focus(question, results):
        notes.append(OUTSIDE_FOCUS_NOTE)
    return Decision("", tuple(notes), issues)


def outside_focus(question: Question, results: Sequence[Retrieved], top: int = 3) -> bool:
    """A question about general civil law: no AI/online-service word, and only 民法典 passages lead."""
    if _FOCUS.search(question.query):
        return False
    leading = [r for r in results if r.via != "xref"][:top]
    return bool(leading) and all(r.chunk.doc_id == "civil-code" for r in leading)
