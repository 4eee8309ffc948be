"""Manifest loading on small temporary corpora: every error names the file and, where it can, the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import CorpusError
from ingest.manifest import load_documents, load_manifest
from tests.helpers import BLOG, GOOD_FILES, LAW, entry, good_manifest, make_corpus, sha


def test_loads_documents_without_newline_translation(tmp_path: Path) -> None:
    root = make_corpus(tmp_path, GOOD_FILES, good_manifest())
    docs = load_documents(root)
    assert [d.doc_id for d in docs] == ["blog", "test-law"]
    assert docs[0].text == BLOG.decode()
    assert "\r\n" in docs[0].text
    law = docs[1].meta
    assert (law.kind, law.articles, law.effective, law.file) == ("statute", 1, "2024-01-01", "statutes/test-law.md")
    assert docs[0].meta.articles is None
    assert [m.doc_id for m in load_manifest(root)] == ["blog", "test-law"]


def _error(root: Path) -> CorpusError:
    with pytest.raises(CorpusError) as info:
        load_documents(root)
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    root = make_corpus(tmp_path, {"sources/blog.txt": BLOG}, good_manifest())
    err = _error(root)
    assert "statutes/test-law.md" in str(err) and "does not exist" in str(err)
    assert err.file.endswith("manifest.toml")
    assert err.line == good_manifest().splitlines().index('doc_id = "test-law"') + 1


def test_unlisted_file(tmp_path: Path) -> None:
    root = make_corpus(tmp_path, {**GOOD_FILES, "statutes/extra-law.md": LAW}, good_manifest())
    err = _error(root)
    assert err.file.endswith("statutes/extra-law.md")
    assert "not listed" in str(err)


def test_files_outside_content_dirs_are_not_required_in_manifest(tmp_path: Path) -> None:
    root = make_corpus(tmp_path, {**GOOD_FILES, "raw/paper.pdf.txt": b"raw", "README.md": b"# x"}, good_manifest())
    assert len(load_documents(root)) == 2


def test_duplicate_doc_id(tmp_path: Path) -> None:
    manifest = good_manifest() + entry("blog", "blog", "sources/blog2.txt", sha(BLOG))
    root = make_corpus(tmp_path, {**GOOD_FILES, "sources/blog2.txt": BLOG}, manifest)
    err = _error(root)
    assert "duplicate doc_id 'blog'" in str(err)
    lines = manifest.splitlines()
    assert err.line == len(lines) - lines[::-1].index('doc_id = "blog"')


def test_bad_utf8_reports_the_line(tmp_path: Path) -> None:
    bad = "标题\n小节\n".encode() + b"\xff\xfe broken\n"
    manifest = entry("blog", "blog", "sources/blog.txt", sha(bad))
    root = make_corpus(tmp_path, {"sources/blog.txt": bad}, manifest)
    err = _error(root)
    assert err.file.endswith("sources/blog.txt")
    assert err.line == 3
    assert "UTF-8" in str(err)


def test_sha_mismatch_says_expected_actual_and_how_to_fix(tmp_path: Path) -> None:
    root = make_corpus(tmp_path, {**GOOD_FILES, "sources/blog.txt": BLOG + b"edited"}, good_manifest())
    err = _error(root)
    assert sha(BLOG) in str(err) and sha(BLOG + b"edited") in str(err)
    assert "manifest.toml" in str(err) and err.file.endswith("sources/blog.txt")


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (entry("blog", "novel", "sources/blog.txt", sha(BLOG)), "unknown kind 'novel'"),
        (entry("blog", "blog", "sources/blog.txt", sha(BLOG)).replace('title = "blog title"\n', ""), "title"),
        (entry("law", "statute", "sources/blog.txt", sha(BLOG)), "articles"),
        (entry("blog", "blog", "sources/blog.txt", "abc"), "64 hex"),
        (entry("blog", "blog", "../blog.txt", sha(BLOG)), "relative path"),
        (entry("Blog X", "blog", "sources/blog.txt", sha(BLOG)), "doc_id"),
        (entry("blog", "blog", "sources/blog.txt", sha(BLOG), sha265="x"), "unknown key"),
        ("", "no \\[\\[documents\\]\\]"),
    ],
)
def test_invalid_entries(tmp_path: Path, manifest: str, message: str) -> None:
    root = make_corpus(tmp_path, {"sources/blog.txt": BLOG}, manifest)
    with pytest.raises(CorpusError, match=message) as info:
        load_manifest(root)
    assert info.value.file.endswith("manifest.toml")


def test_invalid_toml_reports_line(tmp_path: Path) -> None:
    root = make_corpus(tmp_path, GOOD_FILES, good_manifest() + "[[documents]]\ndoc_id = \n")
    with pytest.raises(CorpusError, match="invalid TOML") as info:
        load_manifest(root)
    assert info.value.line == len(good_manifest().splitlines()) + 2


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="manifest not found"):
        load_manifest(tmp_path)
