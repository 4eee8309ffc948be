"""Score follow-up questions: does retrieval find a follow-up's provisions once the conversation is read?

``evals/datasets/multiturn/dev.jsonl`` holds two- and three-turn conversations
whose follow-ups are elliptical ("那如果合同里写了他们不承担任何责任呢？"); each turn
has gold provisions.  For every follow-up turn the pipeline prepares the question
with the earlier turns as history (exactly as ``Pipeline.ask`` does) and we count
a hit when a gold provision is among the top ``k`` passages.  The same turn asked
without history is the baseline.

``holdout.jsonl`` (40 conversations) was written later by a writer who saw neither the dev
conversations nor the system's answers; by default both are scored, side by side.

    python -m evals.multiturn [--file F ...] [--k 5] [--rows]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.dataset import DatasetError, GoldItem, chunk_matches

MULTITURN_DEV = Path(__file__).parent / "datasets" / "multiturn" / "dev.jsonl"
# written later, by another writer who never saw the dev conversations: the check on what dev chose
MULTITURN_HOLDOUT = MULTITURN_DEV.with_name("holdout.jsonl")


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    question: str
    gold: tuple[GoldItem, ...]


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    persona: str
    turns: tuple[ConversationTurn, ...]


def load_conversations(path: Path = MULTITURN_DEV) -> list[Conversation]:
    """Every conversation of ``path``; a malformed line is a DatasetError naming file, line and field."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"not valid JSON: {exc.msg}", file=str(path), line=n) from None
        out.append(_conversation(data, str(path), n))
    return out


def _conversation(data: Any, file: str, line: int) -> Conversation:
    if not isinstance(data, dict):
        raise DatasetError("a conversation must be a JSON object", file=file, line=line)
    turns = data.get("turns")
    if not isinstance(turns, list) or len(turns) < 2:
        raise DatasetError("needs two or more turns", file=file, line=line, field="turns")
    parsed = []
    for i, turn in enumerate(turns):
        if (
            not isinstance(turn, dict)
            or not isinstance(turn.get("question"), str)
            or not turn["question"].strip()
        ):
            raise DatasetError(
                "each turn needs a question", file=file, line=line, field=f"turns[{i}].question"
            )
        gold = turn.get("gold", [])
        if not isinstance(gold, list) or not all(
            isinstance(g, dict) and isinstance(g.get("doc"), str) for g in gold
        ):
            raise DatasetError(
                "gold must be a list of {doc, article|quote}", file=file, line=line, field=f"turns[{i}].gold"
            )
        items = tuple(GoldItem(g["doc"], g.get("article", ""), g.get("quote", "")) for g in gold)
        parsed.append(ConversationTurn(turn["question"], items))
    return Conversation(str(data.get("id", f"line-{line}")), str(data.get("persona", "")), tuple(parsed))


def _hit(retrieved: Sequence[Any], gold: Sequence[GoldItem]) -> bool:
    return any(
        chunk_matches(r.chunk.doc_id, r.chunk.article, r.chunk.text, g, r.chunk.locator)
        for r in retrieved
        for g in gold
    )


def score(pipeline: Any, conversations: Sequence[Conversation], k: int = 5) -> dict[str, Any]:
    """hit@k of follow-up turns with the conversation, without it, and of the opening turns."""
    followups = with_context = alone = openers = opener_hits = resolved = 0
    rows = []
    for conv in conversations:
        earlier: list[str] = []
        for i, turn in enumerate(conv.turns):
            asked = pipeline.prepare(turn.question, earlier)
            focus = asked.text if asked.resolved else ""
            hit = _hit(pipeline.retrieve(asked.query, k, focus=focus)[:k], turn.gold)
            if i == 0:
                openers += 1
                opener_hits += hit
            else:
                bare = pipeline.prepare(turn.question)
                hit_alone = _hit(pipeline.retrieve(bare.query, k)[:k], turn.gold)
                followups += 1
                with_context += hit
                alone += hit_alone
                resolved += asked.resolved
                rows.append(
                    {"id": f"{conv.id}#{i + 1}", "hit": hit, "hit_alone": hit_alone, "searched": asked.query}
                )
            earlier.append(turn.question)
    return {
        "conversations": len(conversations),
        "followups": followups,
        f"followup_hit@{k}": round(with_context / followups, 3) if followups else None,
        f"followup_hit@{k}_without_history": round(alone / followups, 3) if followups else None,
        "followups_read_in_context": round(resolved / followups, 3) if followups else None,
        f"opening_hit@{k}": round(opener_hits / openers, 3) if openers else None,
        "rows": rows,
    }


def main(argv: Sequence[str] | None = None) -> int:
    from app.pipeline import build_pipeline

    parser = argparse.ArgumentParser(prog="python -m evals.multiturn", description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, nargs="+", default=[MULTITURN_DEV, MULTITURN_HOLDOUT])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--rows", action="store_true", help="print every follow-up turn")
    args = parser.parse_args(argv)
    pipeline = build_pipeline()
    results = []
    for path in args.file:
        result = score(pipeline, load_conversations(path), args.k)
        rows = result.pop("rows")
        if args.rows:
            for row in rows:
                print(json.dumps({"file": path.name, **row}, ensure_ascii=False))
        results.append(result)
    print(f"{'':36} " + " ".join(f"{path.stem:>10}" for path in args.file))
    for key in results[0]:
        print(f"{key:36} " + " ".join(f"{str(r[key]):>10}" for r in results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
