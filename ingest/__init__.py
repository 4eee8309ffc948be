"""Corpus loading, structure-aware parsing, embedding and indexing (lowest layer)."""

from ingest.settings import Settings
from ingest.types import Chunk, Document, DocumentMeta

__all__ = ["Chunk", "Document", "DocumentMeta", "Settings"]
