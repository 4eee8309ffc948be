"""The development dataset is well-formed, grounded in the corpus text, and covers what it must.

Quotes and articles are checked against the project's corpus (``corpus/manifest.toml``)
when it exists, else against the shared source corpus, so a gold passage that drifts from
the indexed text fails here rather than scoring a silent zero in the eval run.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from evals.dataset import (
    CATEGORIES,
    PERSONAS,
    DatasetError,
    GoldItem,
    chunk_matches,
    load_dataset,
    normalize_for_match,
)
from ingest.errors import LegalQAError

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "evals" / "datasets" / "dev.jsonl"
PROJECT_CORPUS = ROOT / "corpus"
SHARED_CORPUS = Path("/work/shared/corpus")
SHARED_SOURCES = {
    "blog": "sources/000_c24ce71d127d0bb3.txt",
    "paper": "sources/001_fe8cf39283ca2601.txt",
    "agreement": "sources/002_a1fe148b5deab7ed.txt",
}
BLOG_BODY_END = "别让一次技术故障,毁了好不容易建立的信任。"

KEY_ARTICLES = {
    "civil-code": [496, 497, 498, 506, 577, 584, 590, 1165, 1179, 1183, 1184, 1194, 1195, 1196, 1197]
    + [1202, 1203, 1204, 1205, 1206, 1207],
    "consumer-protection-law": [18, 26, 55],
    "product-quality-law": [41, 46],
    "genai-interim-measures": [4, 7, 9, 10, 14, 15],
}
# Sections of the source documents that must each be the gold passage of some case:
# (doc, section start heading, next heading), matched on whitespace-free text.
KEY_SECTIONS = [
    ("paper", r"4\.2\.1\.?设计缺陷", r"4\.2\.2\.?警示说明缺陷"),
    ("paper", r"4\.2\.2\.?警示说明缺陷", r"4\.2\.3\.?风险补救缺陷"),
    ("paper", r"4\.2\.3\.?风险补救缺陷", r"4\.3\.?生成式人工智能产品责任下的损害赔偿"),
    ("paper", r"4\.3\.3\.?惩罚性赔偿的适用", r"5\.?生成式人工智能产品责任完善建议"),
    ("agreement", r"八、责任限制", r"九、第三方产品及服务"),
    ("agreement", r"十二、违约责任", r"十三、法律适用与争议解决"),
    ("agreement", r"十三、法律适用与争议解决", r"$"),
]
ID_PREFIX = {
    "in_scope": "inscope-",
    "multi_hop": "multihop-",
    "out_of_scope": "oos-",
    "false_premise": "falsepremise-",
    "injection": "injection-",
}
MIN_PER_CATEGORY = {"in_scope": 40, "multi_hop": 12, "out_of_scope": 14, "false_premise": 8, "injection": 10}

_ARTICLE_START = re.compile(
    r"^(第[零〇一二两三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)\u3000", re.M
)
_CN = {c: i for i, c in enumerate("零一二三四五六七八九")}


def _cn_int(numeral: str) -> int:
    total = digit = 0
    for ch in numeral:
        if ch in _CN:
            digit = _CN[ch]
        else:
            total += (digit or 1) * {"十": 10, "百": 100, "千": 1000}[ch]
            digit = 0
    return total + digit


@cache
def corpus_files() -> dict[str, tuple[Path, str]]:
    """doc id -> (file, kind), from the project manifest, else the shared corpus layout."""
    manifest = PROJECT_CORPUS / "manifest.toml"
    if manifest.exists():
        docs = tomllib.loads(manifest.read_text(encoding="utf-8"))["documents"]
        return {d["doc_id"]: (PROJECT_CORPUS / d["file"], d["kind"]) for d in docs}
    files = {doc: (SHARED_CORPUS / rel, doc) for doc, rel in SHARED_SOURCES.items()}
    for path in sorted((SHARED_CORPUS / "statutes").glob("*.md")):
        files[path.stem] = (path, "statute")
    return files


@cache
def doc_text(doc: str) -> str:
    return corpus_files()[doc][0].read_text(encoding="utf-8")


@cache
def statute_articles(doc: str) -> dict[str, str]:
    """Article as written -> its text (up to the next article or heading)."""
    text = doc_text(doc)
    starts = list(_ARTICLE_START.finditer(text))
    out = {}
    for m, nxt in zip(starts, [*starts[1:], None], strict=True):
        body = text[m.start() : nxt.start() if nxt else len(text)]
        out[m.group(1)] = body.split("\n#")[0]
    return out


@pytest.fixture(scope="module")
def cases():
    return load_dataset(DEV)


def gold_items(cases):
    return [(c, g) for c in cases for g in c.gold]


def section_span(doc: str, start_re: str, end_re: str) -> tuple[int, int]:
    flat = normalize_for_match(doc_text(doc))
    start = re.search(start_re, flat)
    assert start, f"section heading {start_re} not found in {doc}"
    end = re.compile(end_re).search(flat, start.end())
    return start.start(), end.start()


# --- shape and counts ---------------------------------------------------------------


def test_size_and_category_counts(cases):
    counts = Counter(c.category for c in cases)
    assert len(cases) >= 90
    assert set(counts) == set(CATEGORIES)
    for category, minimum in MIN_PER_CATEGORY.items():
        assert counts[category] >= minimum, (category, counts[category])


def test_both_personas_in_every_category(cases):
    by_category = {cat: Counter(c.persona for c in cases if c.category == cat) for cat in CATEGORIES}
    for category, personas in by_category.items():
        assert set(personas) == set(PERSONAS), (category, personas)
    overall = Counter(c.persona for c in cases)
    assert min(overall.values()) >= 0.35 * len(cases), overall


def test_ids_follow_their_category(cases):
    for c in cases:
        assert c.id.startswith(ID_PREFIX[c.category]), c.id


def test_out_of_scope_cases_have_no_gold(cases):
    assert all(not c.gold for c in cases if c.category == "out_of_scope")


def test_false_premise_cases_say_what_is_wrong(cases):
    assert all(c.must_not for c in cases if c.category == "false_premise")


def test_some_questions_name_articles_and_most_do_not(cases):
    mention = re.compile(r"第\s*[0-9零〇一二两三四五六七八九十百千]+\s*条|\d+条")
    naming = [c.id for c in cases if mention.search(c.question)]
    assert len(naming) >= 10
    assert len(cases) - len(naming) >= 50


# --- grounded in the corpus ---------------------------------------------------------


def test_every_gold_doc_is_in_the_corpus(cases):
    for c, g in gold_items(cases):
        assert g.doc in corpus_files(), (c.id, g.doc)


def test_every_quote_is_in_its_document(cases):
    for c, g in gold_items(cases):
        if g.quote:
            assert normalize_for_match(g.quote) in normalize_for_match(doc_text(g.doc)), (c.id, g.quote)


def test_quotes_are_short_and_distinctive(cases):
    for c, g in gold_items(cases):
        if g.quote:
            q = normalize_for_match(g.quote)
            assert 8 <= len(q) <= 45, (c.id, g.quote)
            assert normalize_for_match(doc_text(g.doc)).count(q) == 1, (c.id, g.quote)


def test_every_article_exists_and_holds_its_quote(cases):
    for c, g in gold_items(cases):
        if not g.article:
            continue
        assert corpus_files()[g.doc][1] == "statute", (c.id, g.doc)
        articles = statute_articles(g.doc)
        assert g.article in articles, (c.id, g.doc, g.article)
        if g.quote:
            assert normalize_for_match(g.quote) in normalize_for_match(articles[g.article]), (c.id, g.quote)


def test_blog_gold_never_comes_from_the_unrelated_title_list(cases):
    flat = normalize_for_match(doc_text("blog"))
    body_end = flat.index(normalize_for_match(BLOG_BODY_END)) + len(normalize_for_match(BLOG_BODY_END))
    for c, g in gold_items(cases):
        if g.doc == "blog":
            assert flat.index(normalize_for_match(g.quote)) < body_end, (c.id, g.quote)


# --- coverage -----------------------------------------------------------------------


def test_key_articles_are_covered(cases):
    covered = {
        (g.doc, _cn_int(g.article[1 : g.article.index("条")])) for _, g in gold_items(cases) if g.article
    }
    missing = [(doc, n) for doc, numbers in KEY_ARTICLES.items() for n in numbers if (doc, n) not in covered]
    assert not missing


def test_all_three_source_documents_are_covered(cases):
    docs = {g.doc for _, g in gold_items(cases)}
    assert {"blog", "paper", "agreement"} <= docs


@pytest.mark.parametrize(("doc", "start_re", "end_re"), KEY_SECTIONS)
def test_key_sections_are_covered(cases, doc, start_re, end_re):
    start, end = section_span(doc, start_re, end_re)
    flat = normalize_for_match(doc_text(doc))
    hits = [
        c.id
        for c, g in gold_items(cases)
        if g.doc == doc and g.quote and start <= flat.find(normalize_for_match(g.quote)) < end
    ]
    assert hits, f"no gold quote inside {doc} section {start_re}"


def test_multi_hop_cases_combine_documents(cases):
    for c in cases:
        if c.category == "multi_hop":
            assert len({g.doc for g in c.gold}) >= 2, c.id


# --- matching rule ------------------------------------------------------------------


def test_normalize_for_match_drops_whitespace_and_emphasis():
    assert normalize_for_match("**智谱 不承担**\n任何　损失") == "智谱不承担任何损失"
    assert normalize_for_match("__重点__ 与 _强调_ 与 *斜体*") == "重点与强调与斜体"
    assert normalize_for_match("service_id") == "service_id"


def test_chunk_matches_by_article_or_quote():
    by_article = GoldItem("civil-code", article="第一千二百零二条")
    by_quote = GoldItem("agreement", quote="智谱不承担由此带来的任何直接或间接的损失")
    assert chunk_matches("civil-code", "第一千二百零二条", "", by_article)
    assert not chunk_matches("civil-code", "第一千二百零三条", "", by_article)
    assert not chunk_matches("product-quality-law", "第一千二百零二条", "", by_article)
    assert chunk_matches(
        "agreement", "", "判断，**智谱不承担由此带来的**任何直接\n\n或间接的损失，", by_quote
    )
    assert not chunk_matches("blog", "", "智谱不承担由此带来的任何直接或间接的损失", by_quote)
    assert not chunk_matches("civil-code", "", "任何文本", GoldItem("civil-code", article="第一条"))


# --- load_dataset errors ------------------------------------------------------------

GOOD = '{"id": "inscope-1", "question": "问？", "category": "in_scope", "persona": "legal", "gold": [{"doc": "civil-code", "article": "第一千二百零二条"}]}'


def load_lines(tmp_path: Path, *lines: str):
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_dataset(path)


def expect_error(tmp_path: Path, lines: list[str], line: int, field: str, *words: str) -> None:
    with pytest.raises(DatasetError) as info:
        load_lines(tmp_path, *lines)
    err = info.value
    assert isinstance(err, LegalQAError)
    message = str(err)
    assert str(tmp_path / "cases.jsonl") in message
    assert f":{line}" in message
    assert (err.line, err.field) == (line, field)
    if field:
        assert f"'{field}'" in message
    for word in words:
        assert word in message, message


def test_loads_a_good_file_and_skips_blank_lines(tmp_path):
    cases = load_lines(tmp_path, "", GOOD, "   ")
    assert [c.id for c in cases] == ["inscope-1"]
    assert cases[0].gold == (GoldItem("civil-code", article="第一千二百零二条"),)
    assert cases[0].expected_points == () and cases[0].must_not == ()


def test_bad_json(tmp_path):
    expect_error(tmp_path, [GOOD, '{"id": "x",'], 2, "", "bad JSON")


def test_missing_field(tmp_path):
    line = '{"id": "x", "category": "in_scope", "persona": "legal", "gold": []}'
    expect_error(tmp_path, [line], 1, "question", "missing")


def test_unknown_category(tmp_path):
    expect_error(tmp_path, [GOOD.replace('"in_scope"', '"trivia"')], 1, "category", "trivia")


def test_unknown_persona(tmp_path):
    expect_error(tmp_path, [GOOD.replace('"legal"', '"student"')], 1, "persona", "student")


def test_unknown_field_is_kept_and_warned_once(tmp_path):
    # Intended change: an unknown field used to be refused; it is now kept and warned about once per name.
    path = tmp_path / "cases.jsonl"
    path.write_text(GOOD[:-1] + ', "must_nt": []}\n', encoding="utf-8")
    warnings: list[str] = []
    [case] = load_dataset(path, warn=warnings.append)
    assert case.extra == {"must_nt": []} and case.must_not == ()
    assert len(warnings) == 1 and "unknown field 'must_nt'" in warnings[0] and str(path) in warnings[0]


def test_a_typo_in_a_required_field_still_fails(tmp_path):
    line = GOOD.replace('"question"', '"questoin"')
    expect_error(tmp_path, [line], 1, "question", "missing")


def test_gold_item_needs_article_or_quote(tmp_path):
    # A locator alone is now a valid gold item (tests/test_dataset_formats.py); a blank one is not.
    line = GOOD.replace('"article": "第一千二百零二条"', '"locator": " "')
    expect_error(tmp_path, [line], 1, "gold[0]", "article or a quote")


def test_gold_article_must_be_written_as_in_the_statute(tmp_path):
    line = GOOD.replace("第一千二百零二条", "第1202条")
    expect_error(tmp_path, [line], 1, "gold[0].article", "第1202条")


def test_out_of_scope_with_gold(tmp_path):
    line = GOOD.replace('"in_scope"', '"out_of_scope"').replace('"inscope-1"', '"oos-1"')
    expect_error(tmp_path, [line], 1, "gold", "out_of_scope")


def test_answerable_case_without_gold(tmp_path):
    line = '{"id": "x", "question": "问？", "category": "in_scope", "persona": "legal", "gold": []}'
    expect_error(tmp_path, [line], 1, "gold", "at least one gold item")


def test_multi_hop_needs_two_documents(tmp_path):
    expect_error(tmp_path, [GOOD.replace('"in_scope"', '"multi_hop"')], 1, "gold", "two documents")


def test_duplicate_id(tmp_path):
    expect_error(tmp_path, [GOOD, "", GOOD], 3, "id", "duplicate id", "first on line 1")


def test_list_fields_must_hold_strings(tmp_path):
    expect_error(tmp_path, [GOOD[:-1] + ', "must_not": "两倍"}'], 1, "must_not", "list")
