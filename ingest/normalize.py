"""Turn the PDF-extracted paper into clean text: one paragraph per line.

The extraction breaks lines mid-sentence, puts a blank line between most of
them and marks a paragraph end only by a trailing space ("。 "). Lines that
start a PDF page carry a leading space and the file ends with a lone space
line; there are no page numbers or running headers in this extraction. The
English abstract is hyphenated across lines (mech- / anism).

Only whitespace and line structure change (plus re-joining hyphenated English
words), never wording, so every citation into the normalized file is a quote
of the paper. The committed ``corpus/sources/paper.txt`` must equal
``normalize_paper(raw)``; ``python -m ingest.normalize`` regenerates it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

RAW_FILE = "raw/paper.pdf.txt"
OUT_FILE = "sources/paper.txt"

_NUMBERED_HEADING = re.compile(r"(\d+(?:\.\d+)*)\.\s+(\S.*)")
_ABSTRACT_CN = re.compile(r"摘\s*要")
_HYPHEN_BREAK = re.compile(r"[A-Za-z]-$")
_SENTENCE_END = tuple("。！？.!?")
_MAX_HEADING = 40


def heading_text(line: str) -> str | None:
    """The normalized heading if this stripped line is one (摘要, Abstract, "4.2.2. 警示说明缺陷")."""
    if _ABSTRACT_CN.fullmatch(line):
        return "摘要"
    if line == "Abstract":
        return line
    match = _NUMBERED_HEADING.fullmatch(line)
    if match and len(line) <= _MAX_HEADING and not line.endswith(_SENTENCE_END):
        return f"{match.group(1)}. {' '.join(match.group(2).split())}"
    return None


def _join(left: str, right: str) -> str:
    """Join two pieces of one paragraph: no space in Chinese, one space between English words."""
    if _HYPHEN_BREAK.search(left) and right[:1].islower():
        return left[:-1] + right
    if left[-1].isascii() and right[0].isascii() and not left[-1].isspace():
        return f"{left} {right}"
    return left + right


def _ends_paragraph(raw_line: str, content: str, next_content: str | None) -> bool:
    """A trailing space after a sentence end closes a paragraph.

    English lines also carry trailing spaces mid-paragraph, so for them a
    sentence end only counts when Chinese text, a heading or the end follows.
    """
    if not raw_line.endswith((" ", "\t")) or not content.endswith(_SENTENCE_END):
        return False
    if not content[-1].isascii() or next_content is None:
        return True
    return heading_text(next_content) is not None or not next_content[0].isascii()


def normalize_paper(raw: str) -> str:
    """Return the paper with one paragraph or heading per line, blank lines between."""
    lines = [line.rstrip("\r") for line in raw.split("\n")]
    contents = [line.strip() for line in lines]
    indices = [i for i, content in enumerate(contents) if content]
    blocks: list[str] = []
    current: str | None = None
    for pos, i in enumerate(indices):
        content = contents[i]
        heading = heading_text(content)
        if heading is not None:
            if current is not None:
                blocks.append(current)
                current = None
            blocks.append(heading)
            continue
        current = content if current is None else _join(current, content)
        following = contents[indices[pos + 1]] if pos + 1 < len(indices) else None
        if _ends_paragraph(lines[i], content, following):
            blocks.append(current)
            current = None
    if current is not None:
        blocks.append(current)
    return "\n\n".join(blocks) + "\n" if blocks else ""


def main(argv: list[str] | None = None) -> int:
    """Regenerate corpus/sources/paper.txt from corpus/raw/paper.pdf.txt."""
    args = sys.argv[1:] if argv is None else argv
    corpus = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "corpus"
    raw = (corpus / RAW_FILE).read_bytes().decode("utf-8")
    out = corpus / OUT_FILE
    out.write_bytes(normalize_paper(raw).encode("utf-8"))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
