"""The issue map (争点): legal issues of our field and the provisions that decide each, as editable data.

Legal research tools organise authority by issue (West's Key Numbers, Lexis issue
trails).  Ours is ``corpus/issues.toml``, written and reviewed by people: each
issue has a name (a label, never a legal conclusion), a plain-language
description, the words people use for it, example questions, and its provisions
with a role.  Retrieval matches a question to issues and brings in their
provisions, so the decisive statute comes even when the question is colloquial.

This module only reads and checks the file; matching lives in ``app.issues``.
Every error names the file and the field at fault, in one line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args

from ingest.errors import CorpusError
from ingest.types import Chunk

ISSUE_MAP_NAME = "issues.toml"

Role = Literal["rule", "exception", "remedy", "procedure", "clause", "commentary"]
ROLES: tuple[str, ...] = get_args(Role)
PERSONAS = ("business", "legal")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")


class IssueMapError(CorpusError):
    """The issue map is malformed or names a provision the corpus does not have."""


@dataclass(frozen=True, slots=True)
class Provision:
    """One provision of an issue: a statute article (``article``) or a source passage (``chunk``)."""

    doc: str
    role: Role
    article: str = ""
    chunk: str = ""
    sentence: str = ""  # verbatim: the rule's decisive sentence, or what a clause or commentary says on the issue

    @property
    def label(self) -> str:
        return f"{self.doc} {self.article or self.chunk}"


@dataclass(frozen=True, slots=True)
class Example:
    persona: str
    question: str


@dataclass(frozen=True, slots=True)
class Issue:
    id: str
    name: str
    description: str
    keywords: tuple[str, ...]
    examples: tuple[Example, ...]
    provisions: tuple[Provision, ...]

    @property
    def rule(self) -> Provision:
        """The governing provision: the first of role ``rule`` (the file lists it first)."""
        return next((p for p in self.provisions if p.role == "rule"), self.provisions[0])

    def texts(self) -> tuple[str, ...]:
        """What a question is matched against: the label with its description, then each example."""
        return (f"{self.name}：{self.description}", *(e.question for e in self.examples))


@dataclass(frozen=True, slots=True)
class IssueMap:
    version: int
    issues: tuple[Issue, ...]
    file: str = ""

    def texts(self) -> list[str]:
        """Every issue's texts (``Issue.texts``), in map order: what is embedded, and shipped."""
        return [text for issue in self.issues for text in issue.texts()]

    def by_id(self) -> dict[str, Issue]:
        return {i.id: i for i in self.issues}


EMPTY = IssueMap(version=1, issues=())


def issue_map_path(corpus_dir: Path) -> Path:
    return Path(corpus_dir) / ISSUE_MAP_NAME


def load_issue_map(path: Path) -> IssueMap:
    """Parse and check ``path``; a missing file is an empty map (a corpus need not have one)."""
    path = Path(path)
    if not path.is_file():
        return IssueMap(version=1, issues=(), file=str(path))
    file = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise IssueMapError(f"not valid TOML: {exc}", file=file) from None
    version = data.get("version", 1)
    if not isinstance(version, int):
        raise IssueMapError("version: must be an integer", file=file)
    raw = data.get("issues", [])
    if not isinstance(raw, list):
        raise IssueMapError("issues: must be an array of tables ([[issues]])", file=file)
    issues = tuple(_issue(item, i, file) for i, item in enumerate(raw, start=1))
    seen: set[str] = set()
    for issue in issues:
        if issue.id in seen:
            raise IssueMapError(f"issues[id={issue.id}]: duplicate id", file=file)
        seen.add(issue.id)
    return IssueMap(version=version, issues=issues, file=file)


def _issue(item: Any, n: int, file: str) -> Issue:
    where = f"issues[{n}]"
    if not isinstance(item, Mapping):
        raise IssueMapError(f"{where}: must be a table", file=file)
    issue_id = _text(item, "id", where, file)
    if not _ID.match(issue_id):
        raise IssueMapError(
            f"{where}.id: {issue_id!r} must be lowercase ascii letters, digits and hyphens", file=file
        )
    where = f"issues[id={issue_id}]"
    examples = []
    for j, ex in enumerate(_list(item, "examples", where, file), start=1):
        at = f"{where}.examples[{j}]"
        if not isinstance(ex, Mapping):
            raise IssueMapError(f"{at}: must be a table with persona and question", file=file)
        persona = _text(ex, "persona", at, file)
        if persona not in PERSONAS:
            raise IssueMapError(f"{at}.persona: {persona!r} is not one of {', '.join(PERSONAS)}", file=file)
        examples.append(Example(persona, _text(ex, "question", at, file)))
    provisions = tuple(
        _provision(p, j, where, file) for j, p in enumerate(_list(item, "provisions", where, file), start=1)
    )
    if not provisions:
        raise IssueMapError(f"{where}.provisions: an issue needs at least one provision", file=file)
    keywords = _list(item, "keywords", where, file)
    if not all(isinstance(k, str) and k.strip() for k in keywords):
        raise IssueMapError(f"{where}.keywords: must be non-empty strings", file=file)
    return Issue(
        id=issue_id,
        name=_text(item, "name", where, file),
        description=_text(item, "description", where, file),
        keywords=tuple(k.strip() for k in keywords),
        examples=tuple(examples),
        provisions=provisions,
    )


def _provision(item: Any, n: int, where: str, file: str) -> Provision:
    at = f"{where}.provisions[{n}]"
    if not isinstance(item, Mapping):
        raise IssueMapError(f"{at}: must be a table", file=file)
    role = _text(item, "role", at, file)
    if role not in ROLES:
        raise IssueMapError(f"{at}.role: {role!r} is not one of {', '.join(ROLES)}", file=file)
    article, chunk = item.get("article", ""), item.get("chunk", "")
    if bool(article) == bool(chunk) or not isinstance(article, str) or not isinstance(chunk, str):
        raise IssueMapError(f"{at}: give exactly one of article (statutes) or chunk (sources)", file=file)
    sentence = item.get("sentence", "")
    if not isinstance(sentence, str):
        raise IssueMapError(f"{at}.sentence: must be text", file=file)
    return Provision(
        doc=_text(item, "doc", at, file), role=role, article=article, chunk=chunk, sentence=sentence
    )  # type: ignore[arg-type]


def _text(item: Mapping[str, Any], key: str, where: str, file: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise IssueMapError(f"{where}.{key}: required text is missing", file=file)
    return value.strip()


def _list(item: Mapping[str, Any], key: str, where: str, file: str) -> list[Any]:
    value = item.get(key, [])
    if not isinstance(value, list):
        raise IssueMapError(f"{where}.{key}: must be a list", file=file)
    return value


def check_against_corpus(
    issue_map: IssueMap, articles: Mapping[tuple[str, str], str], chunks: Mapping[str, Chunk]
) -> None:
    """Every provision exists in the corpus and every ``sentence`` is a verbatim part of its provision;
    an ``IssueMapError`` names the first that does not.

    ``articles`` maps (doc id, 第X条) to the article's text; ``chunks`` maps chunk ids to the passages.
    """
    problems = corpus_mismatches(issue_map, articles, chunks)
    if problems:
        raise IssueMapError(problems[0], file=issue_map.file)


def corpus_mismatches(
    issue_map: IssueMap, articles: Mapping[tuple[str, str], str], chunks: Mapping[str, Chunk]
) -> list[str]:
    """Each provision the corpus does not hold, or whose ``sentence`` is not verbatim in it, as one line."""
    problems = []
    for issue in issue_map.issues:
        for n, p in enumerate(issue.provisions, start=1):
            at = f"issues[id={issue.id}].provisions[{n}]"
            if p.article:
                text = articles.get((p.doc, p.article))
                if text is None:
                    problems.append(f"{at}: {p.doc} has no {p.article}")
                elif p.sentence and p.sentence not in text:
                    problems.append(f"{at}.sentence: not a verbatim part of {p.doc} {p.article}")
            elif p.chunk not in chunks:
                problems.append(f"{at}.chunk: {p.chunk!r} is not a passage of the index")
            elif p.sentence and p.sentence not in chunks[p.chunk].text:
                problems.append(f"{at}.sentence: not a verbatim part of {p.chunk}")
    return problems


def article_texts(chunks: Iterable[Chunk]) -> dict[tuple[str, str], str]:
    """(doc id, 第X条) → the article's text (an article cut into several chunks is joined)."""
    out: dict[tuple[str, str], str] = {}
    for c in chunks:
        if c.article:
            out[(c.doc_id, c.article)] = out.get((c.doc_id, c.article), "") + c.text
    return out


def check_corpus_map(corpus_dir: Path, chunks: Iterable[Chunk]) -> list[str]:
    """The provisions of the corpus folder's issue map that do not match the corpus, each as one line
    naming the file.

    ``legalqa ingest`` runs this before touching the index.  A malformed file raises (the app would
    drop the whole map); a provision that does not match (a typo in an article, or a statute that
    legal staff edited since the map was written) is reported by ingest, one line each, and the app
    copes (it skips a provision it cannot find, and quotes the provision's best sentence where the
    decisive one is gone), so an amended statute never blocks its own ingest.  Provisions of a document the
    corpus no longer holds are not reported: the document was removed on purpose."""
    chunks = list(chunks)
    issue_map = load_issue_map(issue_map_path(corpus_dir))
    held = {c.doc_id for c in chunks}
    checked = replace(
        issue_map,
        issues=tuple(
            replace(i, provisions=tuple(p for p in i.provisions if p.doc in held)) for i in issue_map.issues
        ),
    )
    problems = corpus_mismatches(checked, article_texts(chunks), {c.chunk_id: c for c in chunks})
    return [f"{issue_map.file}: {problem}" for problem in problems]
