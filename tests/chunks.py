"""Small real Chunk/Retrieved objects for answerer tests."""

from __future__ import annotations

import hashlib

from app.answer import Retrieved
from ingest.types import Chunk


def make_chunk(text: str, *, doc_id: str = "civil-code", locator: str = "《民法典》第一千二百零二条", article: str = "第一千二百零二条", n: int = 0) -> Chunk:
    return Chunk(
        chunk_id=f"{doc_id}/{n}",
        doc_id=doc_id,
        doc_title="中华人民共和国民法典",
        kind="statute",
        locator=locator,
        breadcrumb=("第七编　侵权责任", "第四章　产品责任"),
        start=100 * n + 1,
        end=100 * n + 1 + len(text),
        text=text,
        file=f"statutes/{doc_id}.md",
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        ordinal=n,
        article=article,
        article_no=1202,
    )


def passages(*texts: str) -> list[Retrieved]:
    return [Retrieved(make_chunk(t, n=i), fused_score=1.0 / (i + 1)) for i, t in enumerate(texts)]
