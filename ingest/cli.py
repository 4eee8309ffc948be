"""``legalqa ingest``: parse the corpus along its structure and (re)build the index."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from ingest.settings import Settings


def run(_command: str, argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="legalqa ingest", description="解析语料并建立/更新索引（增量、原子切换）。"
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="ignore the existing index and embed everything again"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    report = ingest(settings, rebuild=args.rebuild, show_progress=not args.quiet)
    print_report(report)
    return 0


def ingest(settings: Settings, *, rebuild: bool = False, show_progress: bool = True, embedder=None):  # noqa: ANN001, ANN201
    """Load and validate every document (and the issue map) first, so bad input never touches the index;
    the glosses are checked and their problems reported (the app searches them, the index does not)."""
    from ingest.embed import make_embedder
    from ingest.glosses import check_corpus_glosses
    from ingest.issue_map import check_corpus_map
    from ingest.manifest import load_documents
    from ingest.parsers import parse_document
    from ingest.store import build_index

    t0 = time.perf_counter()
    documents = load_documents(settings.corpus_dir)
    parsed = {doc.doc_id: (doc.meta, parse_document(doc)) for doc in documents}
    chunks = [c for _meta, result in parsed.values() for c in result.chunks]
    map_problems = check_corpus_map(settings.corpus_dir, chunks)
    gloss_problems = check_corpus_glosses(settings.corpus_dir, chunks)
    parse_seconds = time.perf_counter() - t0
    embedder = embedder or make_embedder(settings.embedder)
    progress = _progress_bar() if show_progress else None
    try:
        report = build_index(
            settings,
            embedder,
            {doc_id: (meta, result.chunks) for doc_id, (meta, result) in parsed.items()},
            rebuild=rebuild,
            progress=progress,
            skipped=[(s.doc_id, s.reason, s.end - s.start) for _m, r in parsed.values() for s in r.skipped],
        )
    finally:
        if progress is not None:
            progress.close()
    report.parse_seconds = parse_seconds
    report.issue_map_problems = map_problems
    report.gloss_problems = gloss_problems
    _cache_gloss_vectors(settings, embedder)
    return report


def _cache_gloss_vectors(settings: Settings, embedder) -> None:  # noqa: ANN001
    """Put the glosses' vectors in the embedding cache now, so the app embeds none when it starts."""
    from ingest.errors import CorpusError
    from ingest.glosses import gloss_vectors, texts_to_embed

    try:
        texts = texts_to_embed(settings.corpus_dir)
    except CorpusError:
        return  # already reported
    if texts:
        gloss_vectors(embedder, settings.data_dir / "cache" / "embeddings.sqlite3")(texts)


def _progress_bar():  # noqa: ANN202
    from tqdm import tqdm

    return tqdm(total=0, unit="chunk", desc="embedding", leave=False)


def print_report(report) -> None:  # noqa: ANN001
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="legalqa ingest report")
    table.add_column("document")
    table.add_column("chunks", justify="right")
    table.add_column("status")
    for doc_id, n in report.chunks_per_document.items():
        table.add_row(doc_id, str(n), report.status.get(doc_id, ""))
    console.print(table)
    for doc_id, reason, chars in report.skipped:
        console.print(f"[yellow]skipped[/] {doc_id}: {chars} chars — {reason}")
    for line in report.summary_lines():
        console.print(line, markup=False, highlight=False)
    for problem in report.issue_map_problems:
        console.print(f"issue map: {problem}", markup=False, highlight=False, soft_wrap=True)
    for problem in report.gloss_problems:
        console.print(f"glosses: {problem}", markup=False, highlight=False, soft_wrap=True)
