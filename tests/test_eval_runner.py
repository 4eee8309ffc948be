"""``legalqa eval`` end to end on a few cases: hashing embedder, real corpus, index in a tmp folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.answer import Answer, Citation, Statement
from evals.judge import Judge, parse_verdict
from evals.scoring import (
    METRIC_KEYS,
    check_thresholds,
    instruction_markers,
    load_thresholds,
    statement_grounding,
)
from evals.systems import SYSTEMS
from ingest.errors import LegalQAError
from ingest.settings import PROJECT_ROOT, Settings
from legalqa.cli import main as legalqa

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DEV = PROJECT_ROOT / "evals" / "datasets" / "dev.jsonl"
SMOKE_IDS = ("inscope-001", "multihop-001", "oos-001", "injection-003")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ingest.cli import ingest

    data = tmp_path_factory.mktemp("data")
    ingest(Settings(data_dir=data, embedder="hash:256"), show_progress=False)
    return data


@pytest.fixture
def env(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("LEGALQA_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LEGALQA_EMBEDDER", "hash:256")
    monkeypatch.setenv("LEGALQA_CORPUS_DIR", str(PROJECT_ROOT / "corpus"))
    return tmp_path


@pytest.fixture
def smoke_dataset(tmp_path: Path) -> Path:
    lines = [ln for ln in DEV.read_text(encoding="utf-8").splitlines() if ln.strip()]
    picked = [ln for ln in lines if json.loads(ln)["id"] in SMOKE_IDS]
    assert len(picked) == len(SMOKE_IDS)
    path = tmp_path / "smoke.jsonl"
    path.write_text("\n".join(picked) + "\n", encoding="utf-8")
    return path


def test_smoke_run_writes_every_output(env: Path, smoke_dataset: Path):
    out = env / "out"
    assert legalqa(["eval", "--dataset", str(smoke_dataset), "--out", str(out), "--quiet"]) == 0
    for name in ("cases.jsonl", "summary.json", "report.md", "metrics.png", "recall_at_k.png", "latency.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["systems"] == list(SYSTEMS)
    for system in SYSTEMS:
        assert set(METRIC_KEYS) <= set(summary["summary"][system])
        assert summary["summary"][system]["citation_validity"] in (1.0, None)  # None: nothing cited
        assert summary["summary"][system]["warning_rate"] == 1.0
        assert len(summary["summary"][system]["recall_curve"]) == 10
        assert set(METRIC_KEYS) <= set(summary["ratio_to_naive"][system])
    assert summary["summary"]["ours"]["citation_validity"] == 1.0
    assert summary["ratio_to_naive"]["naive"]["warning_rate"] == 1.0
    meta = summary["metadata"]
    assert meta["dataset"]["cases"] == 4 and len(meta["dataset"]["sha256"]) == 64
    assert meta["embedder"]["name"] == "hash:256"
    assert meta["machine"]["cores"] >= 1
    assert meta["baseline"]["chunks"] > 100
    assert set(summary["by_category"]) == {"in_scope", "multi_hop", "out_of_scope", "injection"}

    rows = [json.loads(ln) for ln in (out / "cases.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 4 * len(SYSTEMS)
    assert {(r["case_id"], r["system"]) for r in rows} == {(c, s) for c in SMOKE_IDS for s in SYSTEMS}
    for r in rows:
        assert len(r["retrieved"]) <= 10 and all("score" in x and "chunk_id" in x for x in r["retrieved"])
        assert "hit_at_5" in r["metrics"] and "latency_ms" in r["metrics"]
    naive_ids = {x["chunk_id"] for r in rows if r["system"] == "naive" for x in r["retrieved"]}
    assert naive_ids and all(i.startswith("naive:") for i in naive_ids)

    report = (out / "report.md").read_text(encoding="utf-8")
    assert "![metrics.png](metrics.png)" in report and "## Per category" in report and "## Failures" in report
    assert "| metric | ours | dense | bm25 | naive | n |" in report


def test_failed_threshold_exits_3_and_names_it(env: Path, smoke_dataset: Path, capsys: pytest.CaptureFixture[str]):
    thresholds = env / "t.toml"
    thresholds.write_text(
        '[ours]\ncitation_validity = 1.0\nwarning_rate = 1.0\nhit_at_1 = 1.5\nlatency_p95_ms = 0.0001\n',
        encoding="utf-8",
    )
    argv = ["eval", "--dataset", str(smoke_dataset), "--out", str(env / "o"), "--systems", "ours",
            "--thresholds", str(thresholds), "--quiet", "--no-plots"]
    assert legalqa(argv) == 3
    err = capsys.readouterr().err
    assert "ours.hit_at_1" in err and "ours.latency_p95_ms" in err
    assert "citation_validity" not in err and "warning_rate" not in err
    summary = json.loads((env / "o" / "summary.json").read_text(encoding="utf-8"))
    assert len(summary["metadata"]["thresholds"]["failures"]) == 2

    thresholds.write_text("[ours]\ncitation_validity = 1.0\nwarning_rate = 1.0\n", encoding="utf-8")
    assert legalqa(argv) == 0


def test_bad_dataset_line_names_file_line_and_field(env: Path, capsys: pytest.CaptureFixture[str]):
    path = env / "bad.jsonl"
    good = DEV.read_text(encoding="utf-8").splitlines()[0]
    bad = json.loads(good) | {"id": "x-2", "category": "nonsense"}
    path.write_text(good + "\n" + json.dumps(bad, ensure_ascii=False) + "\n", encoding="utf-8")
    assert legalqa(["eval", "--dataset", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2: field 'category'" in err

    path.write_text(good + "\n{not json\n", encoding="utf-8")
    assert legalqa(["eval", "--dataset", str(path), "--quiet"]) == 1
    assert f"{path}:2: bad JSON" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dataset", "no/such/file.jsonl"], "does not exist"),
        (["--dataset", str(DEV), "--systems", "ours,magic"], "unknown magic"),
        (["--dataset", str(DEV), "--thresholds", "no/such.toml"], "thresholds file"),
        (["--dataset", str(DEV), "--judge"], "--judge needs LEGALQA_LLM"),
        (["--dataset", str(DEV), "--answerer", "llm"], "--answerer llm needs LEGALQA_LLM"),
    ],
)
def test_bad_arguments_fail_clearly(env: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str):
    assert legalqa(["eval", *extra, "--quiet"]) == 1
    assert message in capsys.readouterr().err


# --- pure parts -----------------------------------------------------------------------


def _answer(statements: list[Statement], quote: str = "因产品存在缺陷造成他人损害的，生产者应当承担侵权责任。") -> Answer:
    cite = Citation(1, "c", "civil-code", "民法典", "《民法典》第一千二百零二条", "", quote, 0, len(quote), "f", "", 1.0)
    return Answer("q", "t", (cite,), False, "extractive", statements=tuple(statements))


def test_statement_grounding_rechecks_quotes_verbatim():
    ok = Statement("因产品存在缺陷造成他人损害的", (1,), "quote")
    forged = Statement("生产者不承担侵权责任", (1,), "quote")  # claims to be a quote, is not
    verified = Statement("生产者要承担责任", (1,), "verified")
    dangling = Statement("因产品存在缺陷", (7,), "quote")  # cites a number the answer does not carry
    g = statement_grounding(_answer([ok, forged, verified, dangling]))
    assert g["grounding"] == pytest.approx(0.5)
    assert g["unsupported_rate"] == pytest.approx(0.5)
    assert g["quote_mismatches"] == ["生产者不承担侵权责任", "因产品存在缺陷"]
    abstained = Answer("q", "x", (), True, "extractive")
    assert statement_grounding(abstained)["grounding"] is None


def test_instruction_markers_skip_short_and_corpus_phrases():
    prompt = "你是助手。\n规则：\n1. 每一句陈述后面都必须标注编号，只能使用给出的编号。\n2. 生产者应当承担侵权责任。"
    markers = instruction_markers(prompt, ["因产品存在缺陷造成他人损害的，生产者应当承担侵权责任。"])
    assert "每一句陈述后面都必须标注编号" in markers and "只能使用给出的编号" in markers
    assert "你是助手" not in markers  # too short to be distinctive
    assert all("侵权责任" not in m for m in markers)  # quoting the corpus is not a leak


def test_thresholds_direction_and_errors(tmp_path: Path):
    path = tmp_path / "t.toml"
    path.write_text('[ours]\nhit_at_5 = 0.8\nwrongly_declined = 0.2\nmrr = "== 1"\n', encoding="utf-8")
    th = load_thresholds(path)
    assert th["ours"] == {"hit_at_5": (">=", 0.8), "wrongly_declined": ("<=", 0.2), "mrr": ("==", 1.0)}
    summary = {"ours": {"hit_at_5": 0.8, "wrongly_declined": 0.3, "mrr": None}}
    fails = check_thresholds(summary, th)
    assert len(fails) == 2 and fails[0].startswith("ours.wrongly_declined") and "mrr" in fails[1]
    assert check_thresholds({"naive": {}}, th) == []  # systems not in the run are skipped
    path.write_text("[ours]\nhit_at_50 = 0.8\n", encoding="utf-8")
    with pytest.raises(LegalQAError, match="unknown metric 'hit_at_50'"):
        load_thresholds(path)


def test_judge_parses_json_and_reports_garbage():
    from tests.fakes import ScriptedChatModel

    case = SimpleNamespace(question="q", expected_points=("a", "b"), must_not=("x",))
    judge = Judge(ScriptedChatModel(['好的：{"points": [true, false], "violations": [false]}', "no json here"]))
    assert judge.judge(case, "answer") == {"judge_points": 0.5, "judge_must_not_ok": 1.0, "judge_error": ""}
    bad = judge.judge(case, "answer")
    assert bad["judge_points"] is None and "unparsable" in bad["judge_error"]
    assert parse_verdict('{"points": [true], "violations": []}', 2, 0)["judge_error"].startswith("wrong list lengths")


# --- embedder systems, external datasets, breakdowns ---------------------------------


def test_embedder_system_beside_ours_with_breakdowns(env: Path, smoke_dataset: Path, capsys: pytest.CaptureFixture[str]):
    external = [
        # an external-style case: locator gold (whitespace differs from the index), no persona, an extra field
        {"id": "ext-1", "question": "民法典第1202条", "category": "in_scope", "notes": "locator gold",
         "gold": [{"doc": "civil-code", "locator": "《民法典》 第一千二百零二条"}]},
        {"id": "ext-2", "question": "民法典第九千条", "category": "in_scope", "persona": "legal",
         "gold": [{"doc": "civil-code", "locator": "《民法典》第九千条"}]},  # no such passage
    ]
    path = env / "mixed.jsonl"
    path.write_text(smoke_dataset.read_text(encoding="utf-8")
                    + "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in external), encoding="utf-8")
    out = env / "emb"
    argv = ["eval", "--dataset", str(path), "--out", str(out), "--systems", "ours,embedder:hash:128", "--quiet",
            "--no-plots"]
    assert legalqa(argv) == 0
    captured = capsys.readouterr()
    assert "unknown field 'notes'" in captured.err and "no 'persona'" in captured.err
    assert "1 gold item(s) match no indexed passage" in captured.err and "ext-2 gold[0]" in captured.err
    assert "hit@5 / recall@5 by persona" in captured.out and "hit@5 / recall@5 by document" in captured.out

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    meta = summary["metadata"]
    assert summary["systems"] == ["ours", "hash:128"]
    assert meta["embedder"]["name"] == "hash:256"
    emb = meta["systems"]["hash:128"]
    assert emb["embedder"]["name"] == "hash:128" and emb["spec"] == "hash:128" and emb["mode"] == "hybrid"
    assert emb["index"]["chunks"] == meta["index"]["chunks"]
    assert Path(emb["data_dir"]) == Path(os.environ["LEGALQA_DATA_DIR"]) / "train" / "hash:128-index"
    assert meta["systems"]["ours"]["embedder"]["name"] == "hash:256"
    for system in ("ours", "hash:128"):
        s = summary["summary"][system]
        assert s["in_scope_declined"] is not None and s["n"]["in_scope_declined"] == 3  # inscope-001, ext-1, ext-2
        assert s["recall_at_5"] is not None and s["recall_at_10"] is not None
    assert set(summary["by_persona"]) == {"business", "legal"}
    assert "civil-code" in summary["by_document"]
    for groups in (summary["by_persona"], summary["by_document"]):
        for per_system in groups.values():
            assert set(per_system) == {"ours", "hash:128"}
            assert set(per_system["ours"]) == {"n", "hit_at_5", "recall_at_5"}

    rows = [json.loads(ln) for ln in (out / "cases.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["system"] for r in rows} == {"ours", "hash:128"} and len(rows) == 2 * 6
    for r in (r for r in rows if r["case_id"] == "ext-1"):
        assert r["extra"] == {"notes": "locator gold"} and r["persona"] == "business" and r["gold_doc"] == "civil-code"
        assert r["metrics"]["hit_at_5"] == 1.0  # the locator gold matched the looked-up article
    assert all(r["metrics"]["hit_at_10"] == 0.0 for r in rows if r["case_id"] == "ext-2")

    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| metric | ours | hash:128 | n |" in report
    for label in ("in-scope declined ↓", "recall@5 ↑", "recall@10 ↑"):
        assert f"| {label} |" in report, label
    assert "## Per persona and per document" in report
    assert "| persona | n | ours | hash:128 |" in report and "| document | n | ours | hash:128 |" in report
    assert "`hash:128`: the ours pipeline (hybrid) over an index built with `hash:128`" in report
    assert "gold item(s) match no indexed passage" in report
    assert "s indexing for hash:128)" in report


@pytest.mark.parametrize(
    ("systems", "message"),
    [("ours,embedder:bogus", "unknown embedder 'bogus'"), ("embedder:", "name the embedder"),
     ("ours,dense,", "")],
)
def test_system_specs_are_checked_before_running(env: Path, capsys: pytest.CaptureFixture[str], systems: str,
                                                 message: str):
    from evals.systems import parse_systems

    if not message:  # a trailing comma is fine
        assert [s.name for s in parse_systems(systems)] == ["ours", "dense"]
        return
    assert legalqa(["eval", "--dataset", str(DEV), "--systems", systems, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert message in err and err.endswith("\n") and err.count("\n") == 1


def test_embedder_systems_parse_to_their_spec():
    from evals.systems import parse_systems

    systems = parse_systems("ours, embedder:hash:128 ,naive,embedder:hash:128")
    assert [(s.name, s.mode, s.embedder) for s in systems] == [
        ("ours", "hybrid", ""), ("hash:128", "hybrid", "hash:128"), ("naive", "naive", "")]
