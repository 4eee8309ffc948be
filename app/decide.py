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
    AI_FOCUS,
    DRAFTING_TEXT,
    LANGUAGE_TEXT,
    MISSING_ARTICLE_TEXT,
    OFF_TOPIC_TEXT,
    TASK_TEXT,
    Evidence,
    drafting_matter,
    is_licence_procedure,
    task_kind,
    written_in_chinese,
)
from app.answer import Retrieved
from app.citations_ref import section_count
from app.notes import (
    BUSINESS_BUYER_NOTE,
    CONSUMER_LAW,
    DRAFTING_NOTE,
    OUTSIDE_FOCUS_NOTE,
    assumed_statute_note,
    missing_agreement_note,
    missing_article_note,
    other_statute_note,
)
from app.question import Question
from app.retrieve import HybridRetriever
from app.terms import question_terms

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
    asked = question.asked  # what the user asks, without fake turns, a bare article number tied to its source
    missing = tuple(
        missing_article_note(retriever.statute_title(doc_id), count, ref.number, ref.suffix)
        for doc_id, ref, count in retriever.missing_articles(asked)
    )
    missing += tuple(
        missing_agreement_note(
            retriever.agreement_title(doc_id),
            section_count(retriever.agreement_parts(doc_id)),
            section,
            clause,
        )
        for doc_id, section, clause in retriever.missing_agreement_parts(asked)
    )
    # "第十条是什么": read in the 民法典, and said so when other statutes of the corpus have a 第十条 too
    for ref in retriever.unnamed_articles(asked):
        docs = retriever.statutes_with_article(ref)
        if len(docs) > 1:
            missing += (
                assumed_statute_note(retriever.statute_title(docs[0]), ref.number, ref.suffix, len(docs) - 1),
            )
    missing = tuple(dict.fromkeys(missing))  # a number named twice ("第二千条…第2000条") is noted once
    named = any(r.via == "lookup" for r in results)
    if missing and not named and not retriever.asks_more_than_references(asked):
        return Decision(MISSING_ARTICLE_TEXT, missing)
    # a statute we do not hold ("劳动合同法第三十九条是什么", "合同法第52条"): said so, never answered from
    # whatever ranks; a question with a matter of its own is answered from the corpus, with the note
    others = tuple(dict.fromkeys(other_statute_note(o) for o in retriever.names.other_statutes(asked)))
    # (not when it names one of ours too: "民法典和合同法有什么区别？" is answered, with the note)
    if (
        others
        and not named
        and not retriever.names.mentions(asked)
        and not retriever.asks_more_than_references(asked)
    ):
        return Decision(MISSING_ARTICLE_TEXT, others + missing)
    # only numbers of documents we do not hold, nothing else asked ("合同第十二条", "高等教育法第二十条")
    if (
        not named
        and retriever.names_only_other_documents(asked)
        and not retriever.asks_more_than_references(asked)
    ):
        return Decision(MISSING_ARTICLE_TEXT, others)
    task = task_kind(question.text)
    if task == "predict":
        return Decision(TASK_TEXT)
    if task == "draft" and len(question_terms(drafting_matter(asked))) < 1:
        return Decision(DRAFTING_TEXT)  # nothing but a document type: no matter to give provisions for
    if evidence.abstain:
        if task == "draft":
            return Decision(DRAFTING_TEXT)
        if not written_in_chinese(question.text):
            return Decision(LANGUAGE_TEXT)
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


# A company speaking as the buyer of a service: "我们公司买了大模型API的年包", "公司充值的余额", "我司采购的…"
_BUSINESS = re.compile(r"公司|企业|我司|单位|团队|工作室")
_BOUGHT = re.compile(r"买|购|充值|订阅|订购|开通|续费|年包|套餐|付费|付了|交了|预付|接入|调用")
# …not the seller speaking of its own customers ("顾客在我们店买了…", "消费者投诉我们公司…")
_SELLER = re.compile(r"顾客|消费者(?!权益)|买家|客人|会员投诉|我们店|店里|卖给|出售")


def buys_for_business(question: str) -> bool:
    """Whether the question speaks for a company that bought the service it asks about: for it, 消保法's
    protections are, as a rule, not its own (``app.notes.BUSINESS_BUYER_NOTE``)."""
    return bool(_BUSINESS.search(question) and _BOUGHT.search(question) and not _SELLER.search(question))


def cited_notes(question: Question, cited_docs: Sequence[str]) -> tuple[str, ...]:
    """The notes that depend on what the answer cites, known only once it is written (``decide``'s come
    before): a company that bought the service, answered with 消保法, is told whom that law protects."""
    if CONSUMER_LAW in cited_docs and buys_for_business(question.query):
        return (BUSINESS_BUYER_NOTE,)
    return ()


def outside_focus(question: Question, results: Sequence[Retrieved], top: int = 3) -> bool:
    """A question about general civil law: no AI/online-service word, and only 民法典 passages lead."""
    if AI_FOCUS.search(question.query):
        return False
    leading = [r for r in results if r.via != "xref"][:top]
    return bool(leading) and all(r.chunk.doc_id == "civil-code" for r in leading)
