"""Re-check a saved answer against the corpus files, for legal staff.

A saved answer is untrusted: it may be stale, hand-edited or crafted.  Two levels:

* ``check_citation`` (also the UI's 原文核对 badge): the cited file is a regular file inside
  the corpus folder (symlinks resolved, at most ``MAX_CORPUS_FILE_BYTES``), its sha256 is the
  cited one, the offsets are integers inside the file, the quote is non-empty and exactly
  ``file[start:end]``, and every highlighted span lies inside the citation.
* ``check_answer`` (``legalqa verify``): every citation as above and matching the manifest
  (its doc_id names its file), numbered 1..N; each statement passes the grounding rule of the
  LLM answerer (``app.grounding.check_sentence``) against the passages it cites; every [n] in
  the text is a citation; every sentence of the text is either grounded the same way or a
  verbatim piece of a cited passage (or a source heading); every article the text or a
  locator names exists in the corpus; an answer without citations is an abstention; the
  warning it showed is the product's own (``app.warning.WARNING``), word for word.
  Anything else would let an edited text ("根据民法典第9999条…") pass as "verified".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from app.abstain import DECLINE_TEXTS
from app.answer import Answer, Citation
from app.draft import ISSUE_HEADING_PREFIX, KEY_POINTS_HEADING, PROVISIONS_HEADING
from app.grounding import check_sentence, split_sentences
from app.notes import note_problem
from app.saved_answer import SavedAnswer, printable
from app.verify_corpus import CorpusFacts, CorpusReader, Refused, read_corpus_file
from app.warning import WARNING, WARNING_CORE
from ingest.errors import CorpusError

# Our citation markers in answer text; the extractive answerer shows a source's own [8] as ［8］.
_MARKER = re.compile(r"\[(\d+)\]")
_SOURCE_MARKER = re.compile(r"\[(\d{1,3})\]")
_HEADING = re.compile(r"^\*\*(.+)\*\*$")


@dataclass(frozen=True, slots=True)
class CitationCheck:
    number: int
    locator: str
    ok: bool
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem of the answer as a whole: ``where`` is ``warning``, ``text``, ``statements[i]``, ``citations`` or ``corpus``."""

    where: str
    problem: str


@dataclass(frozen=True, slots=True)
class Verification:
    citations: tuple[CitationCheck, ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.citations) and not self.findings


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _citation_problem(c: Citation, read: Callable[[object], bytes]) -> str:
    """Empty when ``c`` is an exact, current slice of its corpus file; else the problem."""
    if not isinstance(c.quote, str) or not c.quote:
        return "引文为空"
    if not (_is_int(c.start) and _is_int(c.end)):
        return "起止位置必须是整数"
    if not 0 <= c.start < c.end:
        return f"起止位置 [{c.start}:{c.end}] 无效"
    for span in c.spans:
        if not (len(span) == 2 and all(_is_int(v) for v in span) and c.start <= span[0] < span[1] <= c.end):
            return f"标注范围 {list(span)} 不在引文 [{c.start}:{c.end}] 之内"
    try:
        data = read(c.file)
    except Refused as exc:
        return str(exc)
    if hashlib.sha256(data).hexdigest() != c.sha256:
        return f"{c.file} 已被修改（sha256 不同），引文可能已过时"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"{c.file} 不是 UTF-8 文本"
    if c.end > len(text):
        return f"起止位置 [{c.start}:{c.end}] 超出 {c.file}（{len(text)} 字）"
    if text[c.start : c.end] != c.quote:
        return f"{c.file}[{c.start}:{c.end}] 与引文不一致"
    return ""


def check_citation(citation: Citation, corpus_dir: Path) -> CitationCheck:
    problem = _citation_problem(citation, lambda file: read_corpus_file(corpus_dir, file))
    return CitationCheck(citation.number, citation.locator, not problem, problem)


def verify_answer(answer: Answer, corpus_dir: Path) -> list[CitationCheck]:
    """The citation checks alone (see ``check_answer`` for the whole answer)."""
    reader = CorpusReader(corpus_dir)
    return [
        CitationCheck(c.number, c.locator, not (p := _citation_problem(c, reader)), p)
        for c in answer.citations
    ]


def check_answer(answer: Answer | SavedAnswer, corpus_dir: Path) -> Verification:
    """Every check of the module docstring; ``Verification.ok`` only when all pass.  A ``SavedAnswer``
    (``legalqa verify``, ``/v1/verify``) has its warning checked as the file or body showed it."""
    saved = answer if isinstance(answer, SavedAnswer) else SavedAnswer(answer, answer.warning)
    answer = saved.answer
    reader = CorpusReader(corpus_dir)
    findings: list[Finding] = _warning_findings(saved.warning)
    corpus: CorpusFacts | None
    try:
        corpus = CorpusFacts.load(Path(corpus_dir), reader)
    except (CorpusError, OSError) as exc:
        corpus = None
        findings.append(Finding("corpus", f"无法读取语料清单，文档与条文未核对：{exc}"))
    checks = []
    for c in answer.citations:
        problem = _citation_problem(c, reader) or (corpus.doc_problem(c) if corpus else "")
        checks.append(CitationCheck(c.number, c.locator, not problem, problem))
    findings += _number_findings(answer.citations)
    findings += _note_findings(answer, corpus)
    if not answer.citations:
        findings += _abstention_findings(answer)
    else:
        passages = _passages(answer.citations)
        findings += _statement_findings(answer, passages)
        findings += _text_findings(answer, passages, corpus)
    return Verification(tuple(checks), tuple(findings))


def _warning_findings(shown: str | None) -> list[Finding]:
    """The warning is not negotiable (app/warning.py): an answer that dropped or reworded it is not
    the answer this tool gave, whatever its citations say."""
    if shown is None:
        return [Finding("warning", f"回答缺少免责提示（应为「{WARNING_CORE}」的完整提示）")]
    if shown != WARNING:
        return [Finding("warning", f"免责提示 {_excerpt(shown)} 已被改动或删除，应为本工具的原文")]
    return []


def _note_findings(answer: Answer, corpus: CorpusFacts | None) -> list[Finding]:
    """A note is a claim of code: it must be one this tool attaches, true of the corpus."""
    found = []
    for i, note in enumerate(answer.notes):
        problem = (
            "语料清单无法读取，说明未核对"
            if corpus is None
            else note_problem(
                note,
                corpus.statute_count,
                corpus.has,
                lambda: corpus.names_with_repealed,
                corpus.agreement_parts,
                corpus.statutes_having,
            )
        )
        if problem:
            found.append(Finding(f"notes[{i}]", f"{_excerpt(note)} {problem}"))
    return found


def _number_findings(citations: Sequence[Citation]) -> list[Finding]:
    numbers = [c.number for c in citations]
    if numbers != list(range(1, len(numbers) + 1)):
        return [Finding("citations", f"引文编号应依次为 1..{len(numbers)}，实际为 {numbers[:20]}")]
    return []


def _abstention_findings(answer: Answer) -> list[Finding]:
    """No citations: only the fixed "no reliable basis" text is allowed, with nothing else claimed."""
    found = []
    if not answer.abstained or answer.text.strip() not in DECLINE_TEXTS:
        found.append(Finding("text", "回答没有任何引文，却不是“无可靠依据”的说明：正文无从核对"))
    if answer.statements:
        found.append(Finding("statements", f"回答没有任何引文，却有 {len(answer.statements)} 条陈述"))
    return found


def _fullwidth_markers(text: str) -> str:
    return _SOURCE_MARKER.sub(r"［\1］", text)


def _passages(citations: Sequence[Citation]) -> list[Citation | str]:
    """The cited passages by number, as the grounding check takes them: the citations themselves,
    so the fact check knows each passage's law.  A source's own [8] is shown as ［8］ in the
    answer text, so a quote containing one is given in both forms."""
    out: list[Citation | str] = [""] * len(citations)
    for c in citations:
        if not 1 <= c.number <= len(out) or not c.quote:
            continue  # an empty quote is already a BAD citation; as "" its statements are still checked
        shown = _fullwidth_markers(c.quote)
        out[c.number - 1] = c if shown == c.quote else replace(c, quote=f"{c.quote}\n{shown}")
    return out


def _grounded(sentence: str, passages: list[Citation | str]) -> bool:
    """The grounding rule of the LLM answerer; fail closed: a crafted text that makes the check
    itself fail is reported as unsupported, never as a traceback or a pass."""
    try:
        return check_sentence(sentence, passages)[0] != "unsupported"
    except Exception:  # noqa: BLE001
        return False


def _quote_text(passage: Citation | str) -> str:
    return passage.quote if isinstance(passage, Citation) else passage


def _excerpt(text: str) -> str:
    return "「" + " ".join(text.split())[:40] + ("…」" if len(" ".join(text.split())) > 40 else "」")


def _statement_findings(answer: Answer, passages: list[Citation | str]) -> list[Finding]:
    found: list[Finding] = []
    if not answer.statements:
        return [Finding("statements", "回答有引文，却没有逐句的陈述可供核对")]
    for i, s in enumerate(answer.statements):
        where = f"statements[{i}]"
        missing = [n for n in s.citations if not 1 <= n <= len(passages)]
        if not s.text.strip():
            found.append(Finding(where, "陈述为空"))
        elif not s.citations or missing:
            found.append(
                Finding(
                    where,
                    f"{_excerpt(s.text)} 引用了不存在的引文 {missing}"
                    if missing
                    else f"{_excerpt(s.text)} 没有引文",
                )
            )
        elif s.support == "unsupported":
            found.append(Finding(where, f"{_excerpt(s.text)} 被标记为无法在引文中核实"))
        else:
            sentence = _fullwidth_markers(s.text) + "".join(f"[{n}]" for n in s.citations)
            if not _grounded(sentence, passages):
                found.append(Finding(where, f"{_excerpt(s.text)} 得不到所引 {list(s.citations)} 原文的支持"))
    return found


def _bare(text: str) -> str:
    return re.sub(r"\s+", "", _MARKER.sub("", text).replace("**", "")).lstrip("-*•")


def _text_findings(
    answer: Answer, passages: list[Citation | str], corpus: CorpusFacts | None
) -> list[Finding]:
    found: list[Finding] = []
    bad_markers = sorted({int(m) for m in _MARKER.findall(answer.text) if not 1 <= int(m) <= len(passages)})
    if bad_markers:
        found.append(Finding("text", f"正文标注了不存在的引文 {[f'[{n}]' for n in bad_markers[:10]]}"))
    quotes = [re.sub(r"\s+", "", _quote_text(p).replace("**", "")) for p in passages]
    for line in answer.text.splitlines():
        heading = _HEADING.match(line.strip())
        if heading:
            title = heading.group(1).strip()
            if title.startswith(ISSUE_HEADING_PREFIX):
                if corpus is None or title.removeprefix(ISSUE_HEADING_PREFIX) not in corpus.issue_names:
                    found.append(
                        Finding("text", f"标题 {_excerpt(line)} 不是争点清单（issues.toml）中的争点")
                    )
                continue
            if title not in (KEY_POINTS_HEADING, PROVISIONS_HEADING) and not _is_source_heading(
                title, answer.citations
            ):
                found.append(Finding("text", f"标题 {_excerpt(line)} 不是所引资料的名称"))
            found += _article_findings(line, corpus, "text")
            continue
        for sentence in split_sentences(line):
            bare = _bare(sentence)
            verbatim = bool(bare) and any(bare in q for q in quotes)
            cited = [int(n) for n in _MARKER.findall(sentence)]
            if cited:
                if not set(cited) & set(bad_markers) and not _grounded(sentence, passages):
                    found.append(Finding("text", f"{_excerpt(sentence)} 得不到所引原文的支持"))
            elif not verbatim:
                found.append(Finding("text", f"{_excerpt(sentence)} 没有引文"))
            if not verbatim:  # an article named in a verified quote is the corpus' own wording
                found += _article_findings(sentence, corpus, "text")
    for i, c in enumerate(answer.citations):
        found += _article_findings(c.locator, corpus, f"citations[{i}].locator")
    return found


def _is_source_heading(title: str, citations: Sequence[Citation]) -> bool:
    """The extractive answerer's group headings: a source's title, optionally "… 的相关规定"."""
    title = title.strip().removesuffix("的相关规定").strip()
    return bool(title) and any(title in c.locator or title == c.doc_title for c in citations)


def _article_findings(text: str, corpus: CorpusFacts | None, where: str) -> list[Finding]:
    if corpus is None:
        return []
    found = []
    for ref in corpus.names.article_refs(text, of_other_documents=True):
        if not corpus.has_article(ref):
            doc = corpus.metas[ref.doc_id].short_title if ref.doc_id in corpus.metas else "任何法律"
            suffix = f"之{ref.suffix}" if ref.suffix else ""
            found.append(
                Finding(where, f"{_excerpt(text)} 提到的第{ref.number}条{suffix}在语料的{doc}中不存在")
            )
    return found


def report_lines(result: Verification) -> list[str]:
    """What ``legalqa verify`` prints (before the warning), every line escaped for a terminal."""
    lines = [
        f"[{c.number}] {'OK ' if c.ok else 'BAD'} {c.locator}" + (f" — {c.problem}" if c.problem else "")
        for c in result.citations
    ]
    lines += [f"{f.where}: BAD — {f.problem}" for f in result.findings]
    good = sum(c.ok for c in result.citations)
    lines.append(f"{good}/{len(result.citations)} citations verified against the corpus.")
    lines.append(_verdict(result, len(result.citations) - good))
    return [printable(line) for line in lines]


def _verdict(result: Verification, bad_citations: int) -> str:
    """The last line claims verification only when everything passed: a reader who stops there must
    not read "verified" under "0/2 citations verified"."""
    if result.ok:
        return "Answer text and statements verified against the cited passages."
    failed = [f"{bad_citations} citation(s) BAD"] if bad_citations else []
    if result.findings:
        failed.append(f"{len(result.findings)} problem(s) in the answer")
    return f"NOT verified: {' and '.join(failed)} (see the BAD lines above)."
