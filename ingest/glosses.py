"""Lay glosses: the everyday words people use for the matter each article governs, as editable data.

A statute says 出租人, 饲养的动物, 夫妻共同债务; people type 房东, 狗咬人, 老公欠的钱.
``corpus/glosses.tsv`` gives every article a short gloss of such words (written from
the article's text, never from a question set), and retrieval ranks articles by
their glosses too (``app.glosses``), so a colloquial question finds the article
that decides it (document expansion, in the manner of doc2query).  A gloss is
search text only: it is never shown, quoted or cited, so a poor gloss can
misrank but never misstate.

The agreement, the paper and the blog have no articles; their passages are glossed
by locator, as citations show it (《用户协议》八、责任限制 第2条, 论文 4.2.2 警示说明缺陷), and
a gloss covers every chunk of its article or locator.

The file is tab-separated, ``doc<TAB>article or locator<TAB>gloss``, one passage per
line; ``#`` starts a comment line and a gloss of ``-`` means "none". This module reads
and checks it; every error names the file and line, in one line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ingest.embed import Embedder, l2_normalize
from ingest.embed_cache import CachedEmbedder, EmbeddingCache, model_key, text_sha
from ingest.errors import CorpusError, LegalQAError
from ingest.types import Chunk

log = logging.getLogger("legalqa.glosses")

GLOSSES_NAME = "glosses.tsv"
MAX_GLOSS_CHARS = 200  # a gloss is a handful of phrases; a paragraph would outweigh the article itself
_ARTICLE = re.compile(r"^第[〇零一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?$")

Glosses = Mapping[tuple[str, str], str]  # (doc id, 第X条 or locator) → gloss


def is_article(key: tuple[str, str]) -> bool:
    """Whether a gloss is filed under a statute's article (the others are under a locator)."""
    return bool(_ARTICLE.match(key[1]))


def embedded_glosses(glosses: Glosses) -> dict[tuple[str, str], str]:
    """The glosses also ranked by embedding: the articles'.  The agreement's, paper's and blog's rank by
    their words only: their passages already speak of AI services, so a question about an AI service
    is close to all of their glosses, and ranking them by vector as well pushed the statute that decides
    a held-out question out of the top five three times (words only: held-out unchanged)."""
    return {key: gloss for key, gloss in glosses.items() if is_article(key)}


def texts_to_embed(corpus_dir: Path) -> list[str]:
    """The distinct texts of the corpus folder's embedded glosses, sorted: what ``legalqa ingest`` caches
    and what is shipped for the bundled model (raises ``CorpusError`` for a malformed file)."""
    return sorted(set(embedded_glosses(load_glosses(glosses_path(corpus_dir))).values()))


def gloss_key(chunk: Chunk) -> tuple[str, str]:
    """What a gloss of this chunk is filed under: its article (第X条), or its locator when it has none."""
    return (chunk.doc_id, chunk.article or chunk.locator)


def chunks_by_key(chunks: Iterable[Chunk]) -> dict[tuple[str, str], list[str]]:
    """The chunk ids of each article or locator (``gloss_key``), in corpus order: what a gloss, or a
    remembered question (``app.question_memory``), filed under it moves up."""
    out: dict[tuple[str, str], list[str]] = {}
    for chunk in chunks:
        out.setdefault(gloss_key(chunk), []).append(chunk.chunk_id)
    return out


def glosses_path(corpus_dir: Path) -> Path:
    return Path(corpus_dir) / GLOSSES_NAME


def load_glosses(path: Path) -> dict[tuple[str, str], str]:
    """Every gloss of ``path`` ({} when the file does not exist: glosses are optional).

    Raises ``CorpusError`` naming the file and line for a malformed line, an article written in
    another form than the corpus's headings (第五百七十七条), a duplicate article or an over-long gloss.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read the glosses: {exc}", file=str(path)) from None
    glosses: dict[tuple[str, str], str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        fields = raw.split("\t")
        if len(fields) != 3:
            raise CorpusError(
                f"expected 3 tab-separated fields (doc, article, gloss), found {len(fields)}",
                file=str(path),
                line=lineno,
            )
        doc, article, gloss = (f.strip() for f in fields)
        if not doc:
            raise CorpusError("doc is empty", file=str(path), line=lineno)
        if not article:
            raise CorpusError("article or locator is empty", file=str(path), line=lineno)
        if article.startswith("第") and article.endswith("条") and not _ARTICLE.match(article):
            raise CorpusError(f"article {article!r} is not of the form 第X条", file=str(path), line=lineno)
        if (doc, article) in glosses:
            raise CorpusError(f"{doc} {article} has a gloss already", file=str(path), line=lineno)
        if len(gloss) > MAX_GLOSS_CHARS:
            raise CorpusError(
                f"gloss of {len(gloss)} characters (at most {MAX_GLOSS_CHARS})", file=str(path), line=lineno
            )
        if gloss and gloss != "-":
            glosses[(doc, article)] = gloss
    return glosses


def unknown_articles(glosses: Glosses, chunks: Iterable[Chunk], file: str = GLOSSES_NAME) -> list[str]:
    """Glosses of an article or locator the corpus does not hold, one line each naming the file (ingest
    reports them and goes on: a gloss never blocks an ingest). Glosses of a document the corpus no longer
    holds are not reported: the document was removed on purpose."""
    chunks = list(chunks)
    held_docs = {c.doc_id for c in chunks}
    held = {gloss_key(c) for c in chunks}
    return [
        f"{file}: {doc} has no {article}"
        for doc, article in sorted(glosses)
        if doc in held_docs and (doc, article) not in held
    ]


def check_corpus_glosses(corpus_dir: Path, chunks: Iterable[Chunk]) -> list[str]:
    """Problems of the corpus folder's glosses, one line each naming the file: ``legalqa ingest`` reports
    them and goes on (the app leaves a malformed file out and skips a gloss of an unknown article)."""
    path = glosses_path(corpus_dir)
    try:
        glosses = load_glosses(path)
    except CorpusError as exc:
        return [str(exc)]
    return unknown_articles(glosses, chunks, file=str(path))


def gloss_vectors(embedder: Embedder, cache_path: Path) -> Callable[[Sequence[str]], np.ndarray]:
    """Unit vectors of glosses (and of the issue map's texts, shipped in the same file): the vectors
    shipped for this model first, then the embedding cache, then the model (a cache that cannot be
    written, as in a read-only data folder, only costs embedding).  ``legalqa ingest`` calls it for the
    glosses, so the cache holds them before the app starts: embedding 1,826 glosses takes ~40 s with a
    model that has none shipped, which an app starting up must not wait for."""
    from ingest.legal_model import shipped_gloss_vectors

    def embed(texts: Sequence[str]) -> np.ndarray:
        shas = [text_sha(t) for t in texts]
        found = shipped_gloss_vectors(model_key(embedder))
        missing = list(dict.fromkeys(t for t, s in zip(texts, shas, strict=True) if s not in found))
        if missing:
            found.update(
                zip((text_sha(t) for t in missing), _embedded(embedder, cache_path, missing), strict=True)
            )
        if not shas:
            return np.zeros((0, embedder.dimension), np.float32)
        return np.stack([found[s] for s in shas])

    return embed


def _embedded(embedder: Embedder, cache_path: Path, texts: list[str]) -> np.ndarray:
    try:
        cache = EmbeddingCache(cache_path)
    except LegalQAError as exc:
        log.warning("glosses embedded without the cache: %s", exc)
        return l2_normalize(embedder.embed_documents(texts))
    try:
        return CachedEmbedder(embedder, cache).embed_documents(texts)
    except LegalQAError as exc:  # the cache could not be written
        log.warning("glosses embedded without the cache: %s", exc)
        return l2_normalize(embedder.embed_documents(texts))
    finally:
        cache.close()
