"""What an ingest did (``IngestReport``) and how it reports progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Progress = Callable[[str, int, int], None]  # (stage: "embed" | "write", done, total)


@dataclass
class IngestReport:
    index_dir: Path
    generation: str
    documents: int
    chunks: int
    chunks_per_document: dict[str, int]
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: list[str]
    fingerprint: dict[str, Any]
    chunks_embedded: int = 0
    chunks_reused: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    chunks_per_second: float = 0.0  # embedded chunks per second of embedding
    index_bytes: int = 0  # size of the live generation on disk
    skipped: list[tuple[str, str, int]] = field(default_factory=list)  # (doc_id, reason, chars)
    up_to_date: bool = False  # nothing changed: no new generation was written
    parse_seconds: float = 0.0  # filled in by the caller that parsed the documents
    issue_map_problems: list[str] = field(default_factory=list)  # provisions of issues.toml the corpus lacks
    gloss_problems: list[str] = field(default_factory=list)  # glosses.tsv lines of articles the corpus lacks

    @property
    def status(self) -> dict[str, str]:
        """doc_id → added / changed / unchanged / removed."""
        out = {d: kind for kind in ("added", "changed", "unchanged", "removed") for d in getattr(self, kind)}
        return {**{d: out[d] for d in self.chunks_per_document}, **{d: "removed" for d in self.removed}}

    def summary_lines(self) -> list[str]:
        """Plain-text lines for the CLI (no markup)."""
        lines = [
            f"{self.documents} documents, {self.chunks} chunks: {len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.removed)} removed, {len(self.unchanged)} unchanged",
        ]
        if self.up_to_date:
            lines.append("index already up to date: nothing embedded, nothing written")
        else:
            lines.append(
                f"embedded {self.chunks_embedded} chunks in {self.embed_seconds:.1f} s"
                + (f" ({self.chunks_per_second:.1f} chunks/s)" if self.chunks_embedded else "")
                + f", reused {self.chunks_reused} from the cache"
            )
        fp = self.fingerprint
        lines.append(
            f"embedder {fp.get('embedder')} ({fp.get('dimension')}-d), chunker {fp.get('chunker_version')}"
        )
        lines.append(f"index {self.index_dir / self.generation} ({self.index_bytes / 1e6:.1f} MB)")
        timing = f"total {self.seconds:.1f} s"
        lines.append(f"parse {self.parse_seconds:.1f} s, {timing}" if self.parse_seconds else timing)
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "index_dir": str(self.index_dir), "status": self.status}


def progress_callback(progress: Any) -> Progress | None:
    """Accept a ``(stage, done, total)`` callable or a tqdm-like bar (``reset``/``n``/``refresh``)."""
    if progress is None or callable(progress):
        return progress
    bar = progress
    labels = {"embed": "embedding", "write": "writing index"}

    current: list[tuple[str, int]] = []

    def update(stage: str, done: int, total: int) -> None:
        if current != [(stage, total)]:
            current[:] = [(stage, total)]
            bar.set_description(labels.get(stage, stage), refresh=False)
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    return update
