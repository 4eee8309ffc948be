"""External datasets load: unknown fields kept and warned once, CSV, locator gold, missing labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.dataset import (
    OWN_DATASETS,
    DatasetError,
    GoldItem,
    chunk_matches,
    is_own_dataset,
    load_dataset,
)
from evals.metrics import citation_precision, hit_at_k, recall_at_k
from evals.run import EvalRow
from evals.scoring import breakdown, unmatched_gold
from ingest.settings import PROJECT_ROOT

LAWBENCH = PROJECT_ROOT.parent / "shared" / "evals" / "lawbench-3-8.jsonl"


def case(**fields: object) -> str:
    base = {"id": "c1", "question": "产品缺陷致人损害谁负责？", "category": "in_scope", "persona": "legal",
            "gold": [{"doc": "civil-code", "article": "第一千二百零二条"}]}
    return json.dumps(base | fields, ensure_ascii=False)


def load(tmp_path: Path, text: str, name: str = "ext.jsonl", **kw: object):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    warnings: list[str] = []
    return load_dataset(path, warn=warnings.append, **kw), warnings, path


# --- unknown fields -----------------------------------------------------------------


def test_unknown_fields_are_kept_and_warned_once_per_name(tmp_path):
    lines = [
        case(id="a", notes="first", source={"repo": "x/y", "index": 1}),
        case(id="b", notes="second", reference_answer="依第1202条"),
        case(id="c"),
    ]
    cases, warnings, path = load(tmp_path, "\n".join(lines) + "\n")
    assert [c.extra for c in cases] == [
        {"notes": "first", "source": {"repo": "x/y", "index": 1}},
        {"notes": "second", "reference_answer": "依第1202条"},
        {},
    ]
    assert len(warnings) == 3  # notes, source, reference_answer: one line each
    notes = next(w for w in warnings if "'notes'" in w)
    assert str(path) in notes and "2 line(s)" in notes and "first line 1" in notes and "\n" not in notes
    assert any("'source'" in w and "1 line(s)" in w for w in warnings)


def test_unknown_gold_fields_are_ignored_with_a_warning(tmp_path):
    line = case(gold=[{"doc": "civil-code", "article": "第一千二百零二条", "law": "民法典"}])
    [c], warnings, _ = load(tmp_path, line + "\n")
    assert c.gold == (GoldItem("civil-code", article="第一千二百零二条"),)
    assert len(warnings) == 1 and "unknown gold field 'law'" in warnings[0]


def test_warnings_are_given_even_when_a_later_line_fails(tmp_path):
    path = tmp_path / "ext.jsonl"
    path.write_text(case(id="a", notes="x") + "\n" + case(id="b", category="trivia") + "\n", encoding="utf-8")
    warnings: list[str] = []
    with pytest.raises(DatasetError, match=r"ext\.jsonl:2: field 'category'"):
        load_dataset(path, warn=warnings.append)
    assert len(warnings) == 1 and "'notes'" in warnings[0]


def test_default_warning_is_one_line_on_stderr(tmp_path, capsys):
    path = tmp_path / "ext.jsonl"
    path.write_text(case(id="a", notes="x") + "\n" + case(id="b", notes="y") + "\n", encoding="utf-8")
    load_dataset(path)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "unknown field 'notes'" in captured.err


# --- missing category / persona -----------------------------------------------------


def test_external_dataset_may_omit_category_and_persona(tmp_path):
    bare = {"id": "x1", "question": "问？", "gold": [{"doc": "civil-code", "article": "第五百七十七条"}]}
    text = "\n".join(json.dumps(bare | {"id": f"x{i}"}, ensure_ascii=False) for i in range(3)) + "\n"
    cases, warnings, _ = load(tmp_path, text)
    assert {(c.category, c.persona) for c in cases} == {("in_scope", "business")}
    assert len(warnings) == 2
    assert any("no 'category' on 3 line(s)" in w and "in_scope" in w for w in warnings)
    assert any("no 'persona' on 3 line(s)" in w and "business" in w for w in warnings)


def test_our_datasets_must_state_category_and_persona(tmp_path):
    path = tmp_path / "ours.jsonl"
    path.write_text(json.dumps({"id": "x", "question": "问？", "persona": "legal", "gold": []}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset(path, require_labels=True)
    assert (info.value.line, info.value.field) == (1, "category") and "missing" in str(info.value)
    assert is_own_dataset(OWN_DATASETS / "dev.jsonl")
    assert not is_own_dataset(path) and not is_own_dataset(LAWBENCH)


def test_present_but_bad_labels_still_fail_in_external_files(tmp_path):
    path = tmp_path / "ext.jsonl"
    path.write_text(case(persona="student") + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="field 'persona'.*student"):
        load_dataset(path, warn=lambda _m: None)


@pytest.mark.skipif(not LAWBENCH.is_file(), reason="../shared/evals/lawbench-3-8.jsonl is not in this checkout")
def test_lawbench_loads_with_its_source_field_kept():
    warnings: list[str] = []
    cases = load_dataset(LAWBENCH, warn=warnings.append)
    assert len(cases) == 172 and {c.category for c in cases} == {"in_scope"}
    assert all(c.extra["source"]["repo"] == "open-compass/LawBench" for c in cases)
    assert len(warnings) == 1 and "'source'" in warnings[0]


# --- locator gold -------------------------------------------------------------------


def test_locator_gold_loads_and_matches_the_chunk_locator_up_to_whitespace(tmp_path):
    [c], warnings, _ = load(tmp_path, case(gold=[{"doc": "agreement", "locator": "《用户协议》 八、责任限制\u30003"}]) + "\n")
    assert warnings == []
    [g] = c.gold
    assert g == GoldItem("agreement", locator="《用户协议》 八、责任限制\u30003")
    assert chunk_matches("agreement", "", "任何文本", g, "《用户协议》八、责任限制 3")
    assert not chunk_matches("agreement", "", "任何文本", g, "《用户协议》八、责任限制 3 ①")
    assert not chunk_matches("paper", "", "任何文本", g, "《用户协议》八、责任限制 3")
    assert not chunk_matches("agreement", "", "任何文本", g)  # a chunk without a locator


def test_locator_beside_a_quote_stays_a_label(tmp_path):
    # Our datasets annotate quotes with human locators ("博客 备案≠免责金牌"); they must not change matching.
    g = GoldItem("blog", quote="备案本质上是行政监管的准入机制", locator="博客 备案≠免责金牌")
    assert not chunk_matches("blog", "", "别的段落", g, "博客 备案≠免责金牌")
    assert chunk_matches("blog", "", "……备案本质上是行政监管的准入机制……", g, "博客文章 · 备案≠免责金牌")


class _Chunk:
    def __init__(self, doc_id: str, locator: str, article: str = "", text: str = "正文") -> None:
        self.doc_id, self.locator, self.article, self.text = doc_id, locator, article, text
        self.chunk_id = f"{doc_id}/{locator}"


def test_retrieval_and_citation_metrics_use_locator_gold():
    gold = [GoldItem("agreement", locator="《用户协议》八、责任限制 3"), GoldItem("civil-code", article="第五条")]
    ranked = [_Chunk("agreement", "《用户协议》序言"), _Chunk("agreement", "《用户协议》八、责任限制 3")]
    assert hit_at_k(ranked, gold, 1) == 0.0 and hit_at_k(ranked, gold, 2) == 1.0
    assert recall_at_k(ranked, gold, 2) == 0.5
    cite = type("Cite", (), {"doc_id": "agreement", "chunk_id": "x", "quote": "正文", "locator": "《用户协议》八、责任限制3"})
    assert citation_precision([cite], gold, {}) == 1.0
    assert unmatched_gold([_case(gold)], ranked) == ["c gold[1] (civil-code 第五条)"]


def _case(gold: list[GoldItem]):
    from evals.dataset import EvalCase

    return EvalCase("c", "问？", "in_scope", "legal", tuple(gold))


# --- CSV ----------------------------------------------------------------------------

CSV = (
    "\ufeffid,question,category,persona,gold,must_not,notes\n"
    "q1,产品缺陷致人损害谁负责？,in_scope,business,civil-code:第一千二百零二条; consumer-protection-law：第五十五条,,看这里\n"
    "\n"
    'q2,"平台能否\n一概免责？",in_scope,legal,"[{""doc"": ""agreement"", ""locator"": ""《用户协议》八、责任限制 3""}]",两倍;三倍,\n'
    "q3,今天天气如何？,out_of_scope,,,,\n"
)


def test_csv_with_pairs_json_gold_extra_columns_and_bom(tmp_path):
    cases, warnings, _ = load(tmp_path, CSV, name="ext.csv")
    q1, q2, q3 = cases
    assert q1.gold == (GoldItem("civil-code", article="第一千二百零二条"),
                       GoldItem("consumer-protection-law", article="第五十五条"))
    assert q1.extra == {"notes": "看这里"} and q1.persona == "business"
    assert q2.question == "平台能否\n一概免责？" and q2.must_not == ("两倍", "三倍") and q2.extra == {}
    assert q2.gold == (GoldItem("agreement", locator="《用户协议》八、责任限制 3"),)
    assert (q3.category, q3.persona, q3.gold) == ("out_of_scope", "business", ())
    assert len(warnings) == 2  # the notes column; q3's empty persona cell
    assert any("'notes'" in w and "first line 2" in w for w in warnings)
    assert any("no 'persona'" in w and "first line 6" in w for w in warnings)


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("id,question,category,persona,gold\nq1,问？,in_scope,legal,civil-code 第一条\n", 2, "gold", ["doc:article"]),
        ("id,question,category,persona,gold\nq1,问？,in_scope,legal,civil-code:1202\n", 2, "gold[0].article", ["1202"]),
        ('id,question,category,persona,gold\n\nq1,问？,in_scope,legal,"[{""doc"":"\n', 3, "gold", ["bad JSON"]),
        ("id,category,persona,gold\nq1,in_scope,legal,\n", 1, "question", ["no 'question' column"]),
        ("id,question,category,persona,gold\nq1,问？,in_scope,legal,,extra\n", 2, "", ["6 cells", "header has 5"]),
        ("id,question,category,persona,gold\nq1,问？,in_scope,legal,\n", 2, "gold", ["at least one gold item"]),
    ],
)
def test_csv_errors_name_file_line_and_field(tmp_path, text, line, field, words):
    path = tmp_path / "ext.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset(path, warn=lambda _m: None)
    assert (info.value.line, info.value.field) == (line, field)
    assert str(info.value).startswith(f"{path}:{line}")
    for word in words:
        assert word in str(info.value)


def test_non_utf8_file_is_refused_with_its_line(tmp_path):
    path = tmp_path / "ext.jsonl"
    path.write_bytes((case(id="a") + "\n").encode() + "问题".encode("gbk") + b"\n")
    with pytest.raises(DatasetError, match=r"ext\.jsonl:2: not UTF-8"):
        load_dataset(path)


# --- breakdowns ---------------------------------------------------------------------


def test_breakdown_groups_answerable_rows_per_system():
    def row(system: str, persona: str, doc: str | None, hit: float | None, recall: float | None) -> EvalRow:
        return EvalRow(case_id="c", category="in_scope", persona=persona, gold_doc=doc, system=system, question="q",
                       extra={}, retrieved=(), answer={}, metrics={"hit_at_5": hit, "recall_at_5": recall})

    rows = [
        row("ours", "business", "civil-code", 1.0, 0.5), row("b", "business", "civil-code", 0.0, 0.0),
        row("ours", "legal", "civil-code", 1.0, 1.0), row("b", "legal", "civil-code", 1.0, 1.0),
        row("ours", "legal", "agreement", 0.0, 0.0), row("b", "legal", "agreement", 1.0, 1.0),
        row("ours", "legal", None, None, None), row("b", "legal", None, None, None),  # out of scope
    ]
    by_persona = breakdown(rows, ["ours", "b"], lambda r: r.persona)
    assert list(by_persona) == ["legal", "business"]  # largest group first
    assert by_persona["legal"]["ours"] == {"n": 2, "hit_at_5": 0.5, "recall_at_5": 0.5}
    assert by_persona["business"]["b"] == {"n": 1, "hit_at_5": 0.0, "recall_at_5": 0.0}
    by_doc = breakdown(rows, ["ours", "b"], lambda r: r.gold_doc)
    assert list(by_doc) == ["civil-code", "agreement"]
    assert by_doc["civil-code"]["ours"] == {"n": 2, "hit_at_5": 1.0, "recall_at_5": 0.75}
