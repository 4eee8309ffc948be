"""``legalqa add`` / ``legalqa remove`` / ``legalqa docs``: documents that legal staff manage themselves.

``add`` parses the file before anything is written and prints how it was cut,
then writes and ingests as one transaction (``ingest.corpus_edit``); any
failure is one line naming the field or the file and line, exit status 1, and
the corpus, manifest and index are left as they were.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from ingest.settings import Settings
from ingest.types import DOC_KINDS, USER_ADDED_MARK

KIND_NAMES = {"statute": "法律法规", "agreement": "用户协议", "paper": "学术论文", "blog": "博客文章"}
PREVIEW_ROWS = 8


def run(command: str, argv: Sequence[str]) -> int:
    return {"add": add, "remove": remove, "docs": docs}[command](argv)


def add(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="legalqa add",
        description="把自己的文件加入资料库：按类型解析、登记到 manifest.toml（sha256、来源、用户添加）并增量建立索引。",
    )
    parser.add_argument("file", type=Path, help="UTF-8 text file (.md or .txt)")
    parser.add_argument("--kind", required=True, choices=DOC_KINDS, help="which structure parser reads it")
    parser.add_argument("--title", required=True, help="full title, e.g. 星河智能开放平台用户服务协议")
    parser.add_argument("--id", default="", dest="doc_id", help="doc id (lowercase letters, digits, '-'); default from the file name")
    parser.add_argument("--short-title", default="", help="name used in citations, e.g. 《星河协议》 (default: 《title》)")
    parser.add_argument("--effective", default="", help="effective date YYYY-MM-DD (needed for a statute without front matter)")
    parser.add_argument("--provenance", default="", help="where the document comes from (default: added by a user, with the date)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from ingest.cli import print_report
    from ingest.corpus_edit import add_document
    from ingest.documents import AddRequest, indexing_note, prepare_document, read_user_file

    settings = Settings.from_env()
    request = AddRequest(args.kind, args.title, args.doc_id, args.short_title, args.effective, args.provenance)
    data = read_user_file(args.file, settings.max_document_bytes)
    prepared = prepare_document(settings, data, str(args.file), request)
    meta = prepared.meta
    if prepared.resumed:
        print(f"{meta.doc_id}（{meta.file}）已在 manifest.toml 中但尚未建立索引（上次添加被中断）：现在完成索引。")
    count = f"{meta.articles} 条，" if meta.articles else ""
    print(f"解析 {args.file}：{KIND_NAMES[meta.kind]}，{count}{len(prepared.chunks)} 个段落 → {meta.file}（id {meta.doc_id}）")
    if prepared.front_matter_added:
        print("  已按 --title/--effective 生成 front matter（标题、生效日期、条数）。")
    for chunk in prepared.chunks[:PREVIEW_ROWS]:
        print(f"  {chunk.locator}  {_head(chunk.text)}")
    if len(prepared.chunks) > PREVIEW_ROWS:
        print(f"  …（另有 {len(prepared.chunks) - PREVIEW_ROWS} 个段落）")
    for block in prepared.skipped:
        print(f"  不作为依据：{block.end - block.start} 字 — {block.reason}")
    note = indexing_note(prepared)
    if note:
        print(note + ("（--quiet：不显示进度）" if args.quiet else ""), flush=True)
    report = add_document(settings, prepared, show_progress=not args.quiet)
    print_report(report)
    print(f"已添加 {meta.doc_id}{USER_ADDED_MARK}：{meta.title}。引用它的回答会标注“用户添加”。")
    return 0


def remove(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="legalqa remove", description="从资料库删除用户添加的文件并更新索引。")
    parser.add_argument("doc_id", help="id shown by `legalqa docs`")
    parser.add_argument("--force", action="store_true", help="also remove a bundled document")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from ingest.cli import print_report
    from ingest.corpus_edit import remove_document

    settings = Settings.from_env()
    meta, report = remove_document(settings, args.doc_id, force=args.force, show_progress=not args.quiet)
    print_report(report)
    print(f"已删除 {meta.doc_id}：{meta.title}（文件 {meta.file}）。")
    return 0


def docs(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="legalqa docs", description="列出资料库中的文件。")
    parser.add_argument("--json", action="store_true", help="one JSON object per document")
    args = parser.parse_args(argv)

    from ingest.documents import document_rows

    rows = document_rows(Settings.from_env())
    if args.json:
        for row in rows:
            m = row.meta
            print(json.dumps({
                "doc_id": m.doc_id, "kind": m.kind, "title": m.title, "chunks": row.chunks,
                "user_added": m.user_added, "added_on": m.added_on, "effective": m.effective, "file": m.file,
            }, ensure_ascii=False))  # fmt: skip
        return 0
    table = [("id", "kind", "title", "chunks", "origin", "effective")]
    for row in rows:
        m = row.meta
        origin = f"用户添加 {m.added_on}".strip() if m.user_added else "内置"
        chunks = "—（未索引，运行 legalqa ingest）" if row.chunks is None else str(row.chunks)
        table.append((m.doc_id, m.kind, m.title, chunks, origin, m.effective or "—"))
    for line in _aligned(table):
        print(line)
    return 0


def _head(text: str, n: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[:n] + "…"


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Columns padded by display width (CJK characters take two cells), never wrapped or cut."""
    from rich.cells import cell_len

    widths = [max(cell_len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c + " " * (w - cell_len(c)) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
