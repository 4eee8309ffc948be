"""One data folder used with the embedded store and with ``LEGALQA_CHROMA_URL`` in turn.

Each generation records where its vectors are (``index.json``: ``"backend"``, ``"chroma_url"``).
Opening it with the other backend is a one-line error naming the setting to use; opening it never
writes into it (no ``chroma/`` appears in a generation that has none); server collections of
generations that an embedded-mode ingest dropped are deleted by the next server-mode ingest.

Real Chroma: the embedded store on disk and a ``chroma run`` server on a loopback port
(``chroma_server`` in conftest.py).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from ingest import chroma_io, index_layout
from ingest.cli import ingest
from ingest.embed import make_embedder
from ingest.errors import IndexMismatchError, IndexMissingError
from ingest.settings import Settings
from ingest.store import Index

pytestmark = pytest.mark.slow


@pytest.fixture
def modes(index_copy, chroma_server) -> tuple[Settings, Settings]:
    """(embedded, server) settings for one private copy of the hash index (built in embedded mode)."""
    embedded = index_copy()
    return embedded, replace(embedded, chroma_url=chroma_server.url)


def _open(settings: Settings) -> Index:
    return Index.open(settings, make_embedder(settings.embedder))


def _current(settings: Settings) -> Path:
    return settings.index_dir / str(index_layout.read_current(settings.index_dir))


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and mtime: equal snapshots mean nothing was written."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def _strip_backend(gen: Path, *keys: str) -> None:
    """Make ``gen`` look like an index written before the backend was recorded."""
    manifest = json.loads((gen / index_layout.MANIFEST).read_text(encoding="utf-8"))
    for key in keys:
        manifest.pop(key, None)
    (gen / index_layout.MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def _name(generation: str) -> str:
    return index_layout.collection_name(generation)


def test_server_index_opened_without_the_url_names_the_setting_and_writes_nothing(
    modes, chroma_server
) -> None:
    embedded, server = modes
    # switch: this ingest moves the vectors to the server
    gen = server.index_dir / ingest(server, show_progress=False).generation
    manifest = index_layout.read_manifest(gen)
    assert manifest is not None
    assert (manifest["backend"], manifest["chroma_url"]) == ("server", chroma_server.url)
    before = _snapshot(gen)

    with pytest.raises(IndexMismatchError) as err:
        _open(embedded)
    message = str(err.value)
    assert "\n" not in message
    assert f"keeps its vectors on the Chroma server at {chroma_server.url}" in message
    assert f"set LEGALQA_CHROMA_URL={chroma_server.url}" in message
    assert "`legalqa ingest --rebuild` to move them into the embedded store" in message
    assert not (gen / "chroma").exists() and _snapshot(gen) == before  # a read never writes

    with _open(server) as index:  # the mode it was built in still answers
        assert index.info.path == gen and index.dense_search("产品缺陷 侵权责任", 3)

    # the fix the message names: rebuild in embedded mode; now the server mode is refused instead
    back = embedded.index_dir / ingest(embedded, rebuild=True, show_progress=False).generation
    assert index_layout.read_manifest(back)["backend"] == "embedded"  # type: ignore[index]
    with _open(embedded) as index:
        assert index.info.path == back and index.dense_search("产品缺陷 侵权责任", 3)
    with pytest.raises(IndexMismatchError, match="unset LEGALQA_CHROMA_URL"):
        _open(server)


def test_embedded_index_opened_with_the_url_names_the_setting(modes, chroma_server) -> None:
    embedded, server = modes
    gen = _current(embedded)
    before = _snapshot(gen)
    with pytest.raises(IndexMismatchError) as err:
        _open(server)
    message = str(err.value)
    assert "\n" not in message
    assert "keeps its vectors in the embedded store" in message
    assert f"not on the Chroma server at LEGALQA_CHROMA_URL={chroma_server.url}" in message
    assert "unset LEGALQA_CHROMA_URL or run `legalqa ingest --rebuild`" in message
    assert _snapshot(gen) == before

    moved = ingest(server, rebuild=True, show_progress=False)  # the other fix the message names
    assert _name(moved.generation) in chroma_server.collections()
    with _open(server) as index:
        assert index.info.generation == moved.generation and index.dense_search("产品缺陷 侵权责任", 3)


def test_indexes_written_before_the_backend_was_recorded(modes, chroma_server) -> None:
    embedded, server = modes
    # embedded, no "backend" and no "chroma_url": its chroma/ folder says where the vectors are
    old_embedded = _current(embedded)
    _strip_backend(old_embedded, "backend", "chroma_url")
    with _open(embedded) as index:
        assert index.dense_search("产品缺陷 侵权责任", 3)
    with pytest.raises(IndexMismatchError, match="keeps its vectors in the embedded store"):
        _open(server)

    # server, no "backend" and no "chroma_url": no chroma/ folder, so the vectors are on a server
    gen = server.index_dir / ingest(server, show_progress=False).generation
    _strip_backend(gen, "backend", "chroma_url")
    with pytest.raises(IndexMismatchError, match=r"on a Chroma server; set LEGALQA_CHROMA_URL to its URL"):
        _open(embedded)
    assert not (gen / "chroma").exists()
    with _open(server) as index:
        assert index.dense_search("产品缺陷 侵权责任", 3)

    # written by the previous version ("chroma_url" but no "backend"), with the empty chroma/ folder that
    # version's failed embedded-mode read left behind: the recorded URL wins over the folder
    manifest = json.loads((gen / index_layout.MANIFEST).read_text(encoding="utf-8"))
    manifest["chroma_url"] = chroma_server.url
    (gen / index_layout.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    (gen / "chroma").mkdir()
    with pytest.raises(IndexMismatchError, match=f"set LEGALQA_CHROMA_URL={chroma_server.url}"):
        _open(embedded)
    assert list((gen / "chroma").iterdir()) == []


def test_missing_embedded_store_is_reported_not_created(index_copy) -> None:
    settings = index_copy()
    gen = _current(settings)
    shutil.rmtree(gen / "chroma")
    before = _snapshot(gen)
    with pytest.raises(IndexMissingError, match=r"no chroma/ folder.*legalqa ingest --rebuild"):
        _open(settings)
    assert not (gen / "chroma").exists() and _snapshot(gen) == before


def test_ingest_never_writes_into_the_previous_generation(modes) -> None:
    """Embedded-mode ingest after a server one, with the embedding cache lost: it may look for the
    previous generation's vectors, but must not create a store inside that immutable folder."""
    embedded, server = modes
    prev = server.index_dir / ingest(server, show_progress=False).generation
    (embedded.data_dir / "cache" / "embeddings.sqlite3").unlink()
    before = _snapshot(prev)
    report = ingest(embedded, show_progress=False)
    assert report.generation != prev.name and prev.is_dir()  # kept as previous for open readers
    assert not (prev / "chroma").exists() and _snapshot(prev) == before
    with _open(embedded) as index:
        assert index.dense_search("产品缺陷 侵权责任", 3)


def test_server_collections_of_dropped_generations_are_deleted(modes, index_copy, chroma_server) -> None:
    embedded, server = modes

    def gens() -> set[str]:
        return {g.name for g in index_layout.generations(server.index_dir)}

    s1 = ingest(server, show_progress=False).generation
    s2 = ingest(server, rebuild=True, show_progress=False).generation
    s3 = ingest(server, rebuild=True, show_progress=False).generation  # s1, kept as previous until now, goes
    assert gens() == {s2, s3}
    live = chroma_server.collections()
    assert _name(s1) not in live and {_name(s2), _name(s3)} <= live

    # embedded mode (URL unset) cannot reach the server: dropping s2 and s3 leaves their collections there
    e4 = ingest(embedded, rebuild=True, show_progress=False).generation
    e5 = ingest(embedded, rebuild=True, show_progress=False).generation
    e6 = ingest(embedded, rebuild=True, show_progress=False).generation
    assert gens() == {e5, e6}
    assert {_name(s2), _name(s3)} <= chroma_server.collections()

    # another data folder on the same server: its collection has no folder here and must survive
    other = replace(index_copy(), chroma_url=chroma_server.url)
    theirs = ingest(other, show_progress=False).generation

    s7 = ingest(server, show_progress=False).generation  # the next server-mode ingest cleans up
    live = chroma_server.collections()
    assert not {_name(s2), _name(s3)} & live, "collections of dropped generations are left on the server"
    assert {_name(s7), _name(theirs)} <= live
    assert gens() == {e6, s7}
    with _open(other) as index:
        assert index.dense_search("产品缺陷 侵权责任", 3)
    with _open(server) as index:
        assert index.info.generation == s7
    assert e4 not in gens()


def test_embedded_mode_records_only_server_collections_it_drops(modes) -> None:
    """What an embedded-mode ingest leaves for the server to delete: the collections of the server
    generations it dropped (complete or half-written), never one of an embedded generation."""
    embedded, server = modes
    first = _current(embedded).name
    s1 = ingest(server, show_progress=False).generation
    chroma_io.drop_generations(embedded, embedded.index_dir, keep={s1})  # drops the embedded `first`
    assert not (embedded.index_dir / first).exists()
    assert chroma_io.pending_server_collections(embedded.index_dir) == {}

    # builds killed before their manifest was written, one per mode
    killed_embedded = embedded.index_dir / index_layout.new_generation_name()
    killed_server = embedded.index_dir / index_layout.new_generation_name()
    chroma_io.make_generation_dir(embedded, killed_embedded)
    chroma_io.make_generation_dir(server, killed_server)
    e2 = ingest(embedded, rebuild=True, show_progress=False).generation  # drops both killed builds
    chroma_io.drop_generations(embedded, embedded.index_dir, keep={e2})  # drops the server s1
    assert {g.name for g in index_layout.generations(embedded.index_dir)} == {e2}
    assert chroma_io.pending_server_collections(embedded.index_dir) == {
        _name(s1): server.chroma_url,
        _name(killed_server.name): "",
    }

    ingest(server, show_progress=False)  # the next server-mode ingest empties the list
    assert chroma_io.pending_server_collections(embedded.index_dir) == {}
    assert not (embedded.index_dir / chroma_io.ORPHANS).exists()


def test_collection_missing_on_another_server_names_the_recorded_one(modes, chroma_server) -> None:
    embedded, server = modes
    gen = server.index_dir / ingest(server, show_progress=False).generation
    # the same server under another name still opens it: the URL is a hint, the collection decides
    alias = replace(server, chroma_url=chroma_server.url.replace("127.0.0.1", "localhost"))
    with _open(alias) as index:
        assert index.info.path == gen
    # recorded on another server, which the configured one is not: name the recorded server
    elsewhere = "http://127.0.0.1:9"
    manifest = json.loads((gen / index_layout.MANIFEST).read_text(encoding="utf-8"))
    manifest["chroma_url"] = elsewhere
    (gen / index_layout.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    chroma_io.chroma_client(server, server.index_dir).delete_collection(_name(gen.name))
    with pytest.raises(IndexMismatchError) as err:
        _open(server)
    assert (
        f"keeps its vectors on the Chroma server at {elsewhere}, not at LEGALQA_CHROMA_URL={chroma_server.url}"
        in str(err.value)
    )
    assert f"set LEGALQA_CHROMA_URL={elsewhere}" in str(err.value)
