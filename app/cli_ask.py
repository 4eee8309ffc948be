"""``legalqa ask`` and ``legalqa verify``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ingest.settings import Settings


def run(command: str, argv: Sequence[str]) -> int:
    return ask(argv) if command == "ask" else verify(argv)


def ask(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="legalqa ask", description="回答一个问题，附编号引文和免责提示。")
    parser.add_argument("question", nargs="?", help="问题；省略时从标准输入读取")
    parser.add_argument("--json", action="store_true", help="print the full Answer as JSON")
    parser.add_argument("--k", type=int, default=None, help="passages to retrieve (default LEGALQA_TOP_K)")
    parser.add_argument("--answerer", default=None, help="extractive or llm (default LEGALQA_ANSWERER)")
    parser.add_argument("--mode", default="hybrid", choices=("hybrid", "dense", "bm25"))
    parser.add_argument("--scores", action="store_true", help="show retrieval scores")
    parser.add_argument("--save", type=Path, help="also write the Answer JSON here (for legalqa verify)")
    args = parser.parse_args(argv)
    question = args.question if args.question is not None else sys.stdin.read()

    from app.pipeline import _error_answer, default_pipeline, redact
    from app.render import to_text
    from ingest.errors import LegalQAError

    settings = Settings.from_env()
    try:
        pipeline = default_pipeline(settings)
    except LegalQAError as exc:  # no index, wrong embedder, Chroma server down: still a warned answer
        pipeline = None
        answer = _error_answer(question, args.answerer or settings.answerer, redact(str(exc), settings.llm_api_key))
    if pipeline is not None:
        answer = pipeline.ask(question, k=args.k, answerer=args.answerer, mode=args.mode)
    payload = json.dumps(answer.to_dict(), ensure_ascii=False, indent=2)
    if args.save:
        args.save.write_text(payload, encoding="utf-8")
    print(payload if args.json else to_text(answer, show_scores=args.scores))
    if answer.error:
        print(f"legalqa ask: {' '.join(answer.error.split())}", file=sys.stderr)  # one line, for scripts and logs
    return 2 if answer.error else 0


def verify(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="legalqa verify", description="逐条核对已保存回答的引文与语料原文。")
    parser.add_argument("answer_json", type=Path)
    args = parser.parse_args(argv)

    from app.types import Answer
    from app.verify import verify_answer
    from ingest.errors import LegalQAError

    try:
        answer = Answer.from_dict(json.loads(args.answer_json.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise LegalQAError(f"{args.answer_json}: not a saved answer ({exc})") from None
    checks = verify_answer(answer, Settings.from_env().corpus_dir)
    for c in checks:
        print(f"[{c.number}] {'OK ' if c.ok else 'BAD'} {c.locator}" + (f" — {c.problem}" if c.problem else ""))
    bad = sum(not c.ok for c in checks)
    print(f"{len(checks) - bad}/{len(checks)} citations verified against the corpus.")
    print(answer.warning)
    return 1 if bad else 0
