"""``legalqa verify`` certifies only what the corpus backs.

* Citations: a file outside the corpus folder (absolute, ``..``, a symlink out), a device, a FIFO
  or an oversized file is never read; empty quotes, negative or reversed offsets and spans
  outside their citation fail.
* The answer: every statement passes the grounding rule against its citations, every [n] in the
  text is a citation, every sentence of the text is grounded or a verbatim piece of a cited
  passage, every article named exists in the corpus, and an answer without citations is an
  abstention.  Genuine answers (extractive, LLM) still verify.
* A malformed file (wrong types, NUL in a path, 100k nested brackets, not UTF-8) gives one line
  naming the field, never a traceback; printed strings have control characters escaped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from app.abstain import ABSTAIN_TEXT
from app.answer import Answer, Citation, Statement
from app.extractive import ExtractiveAnswerer
from app.llm import LLMAnswerer
from app.pipeline import build_pipeline
from app.saved_answer import SavedAnswerError, parse_saved_answer
from app.verify import check_answer, check_citation, report_lines
from app.verify_corpus import MAX_CORPUS_FILE_BYTES
from app.warning import WARNING
from ingest.settings import Settings
from legalqa.cli import main
from tests.fakes import ScriptedChatModel
from tests.helpers import settings_env

QUESTIONS = ("民法典第1202条", "消保法55条规定的惩罚性赔偿是几倍？", "产品责任中生产者的警示说明义务")
LLM_REPLY = (
    "因产品存在缺陷造成他人损害的，生产者应当承担侵权责任。[1]\n"
    "根据民法典第一千二百零二条，生产者应当对其缺陷产品造成的他人损害承担侵权责任。[1]"
)


@pytest.fixture(scope="module")
def answers(corpus_hash_index: Settings) -> dict[str, Answer]:
    """Genuine answers, as saved and loaded again (what `legalqa verify` reads)."""
    answerers = {"extractive": ExtractiveAnswerer(), "llm": LLMAnswerer(ScriptedChatModel([LLM_REPLY]))}
    pipeline = build_pipeline(corpus_hash_index, answerers=answerers)
    out = {q: pipeline.ask(q) for q in QUESTIONS}
    out["llm"] = pipeline.ask(QUESTIONS[0], answerer="llm")
    pipeline.index.close()
    for name, answer in out.items():
        assert answer.citations and not answer.error, name
    return {k: Answer.from_dict(json.loads(json.dumps(a.to_dict()))) for k, a in out.items()}


def _problems(answer: Answer, corpus: Path) -> list[str]:
    result = check_answer(answer, corpus)
    return [c.problem for c in result.citations if not c.ok] + [f"{f.where}: {f.problem}" for f in result.findings]


def _with_citation(answer: Answer, **changes: object) -> Answer:
    return replace(answer, citations=(replace(answer.citations[0], **changes), *answer.citations[1:]))


def test_genuine_answers_verify(answers: dict[str, Answer], corpus_hash_index: Settings) -> None:
    assert "verified" in {s.support for s in answers["llm"].statements}  # a paraphrase, not only quotes
    for name, answer in answers.items():
        assert _problems(answer, corpus_hash_index.corpus_dir) == [], name
        assert check_answer(answer, corpus_hash_index.corpus_dir).ok
    abstention = Answer(question="x", text=ABSTAIN_TEXT, citations=(), abstained=True, answerer="extractive")
    assert check_answer(abstention, corpus_hash_index.corpus_dir).ok


def test_ui_badge_check_of_a_bare_citation_still_works(answers: dict[str, Answer], corpus_hash_index: Settings) -> None:
    c = answers[QUESTIONS[0]].citations[0]
    bare = Citation(0, "", "", "", "", "", c.quote, c.start, c.end, c.file, c.sha256, 0.0)  # as app/ui/backend.py builds it
    assert check_citation(bare, corpus_hash_index.corpus_dir).ok


def test_files_outside_the_corpus_are_never_read(answers: dict[str, Answer], corpus_hash_index: Settings, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_hash_index.corpus_dir, corpus)
    answer = answers[QUESTIONS[0]]
    passwd = Path("/etc/passwd").read_bytes()
    quote = passwd.decode("utf-8")[:4]
    as_passwd = {"sha256": hashlib.sha256(passwd).hexdigest(), "start": 0, "end": 4, "quote": quote, "spans": ()}
    # before: "/etc/passwd" with its real sha256 and a matching quote was reported OK
    for file in ("/etc/passwd", "../../../../../../etc/passwd", "statutes/../../../../../../etc/passwd"):
        checked = check_answer(_with_citation(answer, file=file, **as_passwd), corpus).citations[0]
        assert not checked.ok and "拒绝" in checked.problem, file
    (corpus / "statutes" / "link.md").symlink_to("/etc/passwd")
    checked = check_answer(_with_citation(answer, file="statutes/link.md", **as_passwd), corpus).citations[0]
    assert not checked.ok and "目录之外" in checked.problem
    # a device, a FIFO (opening it would block forever) and an oversized sparse file are refused unread
    os.mkfifo(corpus / "fifo")
    with (corpus / "huge.txt").open("wb") as fh:
        fh.truncate(MAX_CORPUS_FILE_BYTES + 1)
    (corpus / "zero").symlink_to("/dev/zero")
    for file, why in (("/dev/zero", "拒绝"), ("zero", "目录之外"), ("fifo", "不是普通文件"), ("huge.txt", "MB"), ("statutes", "不是普通文件")):
        checked = check_answer(_with_citation(answer, file=file), corpus).citations[0]
        assert not checked.ok and why in checked.problem, file


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"quote": "", "start": 0, "end": 0, "spans": ()}, "引文为空"),
        ({"start": -5}, "无效"),
        ({"start": 9000, "end": 8000}, "无效"),
        ({"start": None}, "整数"),  # what Answer.from_dict lets through
        ({"end": True}, "整数"),
        ({"spans": ((0, 10),)}, "标注范围"),
        ({"end": 10**9}, "超出"),
    ],
)
def test_tampered_citation_values_fail(answers: dict[str, Answer], corpus_hash_index: Settings, changes: dict, why: str) -> None:
    result = check_answer(_with_citation(answers[QUESTIONS[0]], **changes), corpus_hash_index.corpus_dir)
    assert not result.ok and why in result.citations[0].problem


def test_citation_must_match_the_manifest(answers: dict[str, Answer], corpus_hash_index: Settings) -> None:
    answer = answers[QUESTIONS[0]]
    readme = (corpus_hash_index.corpus_dir / "README.md").read_bytes()
    text = readme.decode("utf-8")
    as_readme = {"file": "README.md", "sha256": hashlib.sha256(readme).hexdigest(), "start": 0, "end": 10, "quote": text[:10], "spans": ()}
    checked = check_answer(_with_citation(answer, **as_readme), corpus_hash_index.corpus_dir).citations[0]
    assert not checked.ok and "README.md" in checked.problem and "清单" in checked.problem


def test_answer_text_is_checked(answers: dict[str, Answer], corpus_hash_index: Settings) -> None:
    corpus = corpus_hash_index.corpus_dir
    answer = answers[QUESTIONS[1]]
    cases = {
        "invented article": replace(answer, text="根据民法典第9999条，服务商必须赔偿全部损失。[1]"),
        "unsupported claim": replace(answer, text=answer.text + "\n经营者应当赔偿消费者十倍的损失。[1]"),
        "sentence without citation": replace(answer, text=answer.text + "\n服务商必须赔偿全部损失。"),
        "marker without citation": replace(answer, text=answer.text + "[7]"),
        "forged heading": replace(answer, text=answer.text + "\n**服务商必须赔偿全部损失**"),
        "invented article, verbatim rest": replace(answer, text=answer.text.replace("第五十五条", "第九千九百九十九条", 1)),
    }
    for name, tampered in cases.items():
        assert _problems(tampered, corpus), name
    assert any("9999" in p and "不存在" in p for p in _problems(cases["invented article"], corpus))
    assert any("[7]" in p for p in _problems(cases["marker without citation"], corpus))


def test_statements_are_checked_against_their_citations(answers: dict[str, Answer], corpus_hash_index: Settings) -> None:
    corpus = corpus_hash_index.corpus_dir
    answer = answers[QUESTIONS[1]]
    first = answer.statements[0]
    cases = {
        "changed fact": (replace(first, text=first.text.replace("三倍", "十倍")),),
        "no citation": (replace(first, citations=()),),
        "citation that does not exist": (replace(first, citations=(9,)),),
        "marked unsupported": (replace(first, support="unsupported"),),
        "empty": (replace(first, text=" "),),
        "none at all": (),
    }
    assert "三倍" in first.text
    for name, statements in cases.items():
        tampered = replace(answer, statements=statements + answer.statements[1:] if statements else ())
        assert any(p.startswith("statements") for p in _problems(tampered, corpus)), name


def test_answer_without_citations_must_be_an_abstention(corpus_hash_index: Settings) -> None:
    corpus = corpus_hash_index.corpus_dir
    # before: `citations: []` with invented text gave "0/0 verified", exit 0
    invented = Answer(question="x", text="服务商必须赔偿全部损失。", citations=(), abstained=False, answerer="extractive")
    assert not check_answer(invented, corpus).ok
    assert not check_answer(replace(invented, abstained=True), corpus).ok
    with_statement = Answer("x", ABSTAIN_TEXT, (), True, "extractive", statements=(Statement("服务商必须赔偿。", ()),))
    assert not check_answer(with_statement, corpus).ok


def test_citation_numbers_must_run_from_one(answers: dict[str, Answer], corpus_hash_index: Settings) -> None:
    answer = answers[QUESTIONS[1]]
    doubled = replace(answer, citations=(answer.citations[0], answer.citations[0]))
    assert any(f.where == "citations" for f in check_answer(doubled, corpus_hash_index.corpus_dir).findings)


def test_printed_lines_escape_control_characters(answers: dict[str, Answer], corpus_hash_index: Settings) -> None:
    locator = "《民法典》\x1b[2J\n[9] OK  forged\u202e\x00"
    result = check_answer(_with_citation(answers[QUESTIONS[0]], locator=locator), corpus_hash_index.corpus_dir)
    lines = report_lines(result)
    assert len(lines) == len("\n".join(lines).splitlines())  # no line was forged
    shown = lines[0]
    assert "\x1b" not in shown and "\u202e" not in shown and "\x00" not in shown
    assert "\\x1b[2J\\n[9] OK  forged\\u202e\\x00" in shown


def test_summary_claims_verification_only_when_everything_passed(
    answers: dict[str, Answer], corpus_hash_index: Settings
) -> None:
    corpus = corpus_hash_index.corpus_dir
    answer = answers[QUESTIONS[1]]
    assert report_lines(check_answer(answer, corpus))[-1].startswith("Answer text and statements verified")
    # every file changed since: the text still matches the quotes, but no citation verifies
    outdated = replace(answer, citations=tuple(replace(c, sha256="0" * 64) for c in answer.citations))
    lines = report_lines(check_answer(outdated, corpus))
    assert lines[-2] == f"0/{len(answer.citations)} citations verified against the corpus."
    assert lines[-1] == f"NOT verified: {len(answer.citations)} citation(s) BAD (see the BAD lines above)."
    invented = replace(answer, text=answer.text + "\n根据民法典第9999条，平台无需赔偿。")
    last = report_lines(check_answer(invented, corpus))[-1]
    assert last.startswith("NOT verified: 2 problem(s) in the answer")  # uncited, and no such article


def _answer_json(answer: Answer) -> dict:
    return json.loads(json.dumps(answer.to_dict()))


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("citations", 0, "start"), "363", "citations[0].start"),
        (("citations", 0, "end"), 363.0, "citations[0].end"),
        (("citations", 0, "start"), None, "citations[0].start"),
        (("citations", 0, "start"), True, "citations[0].start"),
        (("citations", 0, "number"), "1", "citations[0].number"),
        (("citations", 0, "file"), "statutes/civil-code.md\x00", "citations[0].file"),
        (("citations", 0, "quote"), None, "citations[0].quote"),
        (("citations", 0, "spans"), [[1]], "citations[0].spans[0]"),
        (("statements", 0, "citations"), [None], "statements[0].citations[0]"),
        (("statements", 0, "support"), "trust me", "statements[0].support"),
        (("text",), None, "text"),
        (("abstained",), "false", "abstained"),
        (("citations",), {"0": {}}, "citations"),
    ],
)
def test_wrong_types_name_the_field(answers: dict[str, Answer], path: tuple, value: object, field: str) -> None:
    data = _answer_json(answers[QUESTIONS[0]])
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SavedAnswerError) as err:
        parse_saved_answer(json.dumps(data).encode(), "answer.json")
    message = str(err.value)
    assert message.startswith("answer.json: ") and field in message and "\n" not in message and "\x00" not in message


@pytest.mark.parametrize(
    ("warning", "problem"),
    [
        ("", "已被改动"),
        ("仅供参考。", "已被改动"),
        (WARNING + "律师已审核。", "已被改动"),
        (None, "缺少免责提示"),
    ],
)
def test_a_dropped_or_edited_warning_is_a_finding(
    answers: dict[str, Answer], corpus_hash_index: Settings, warning: str | None, problem: str
) -> None:
    data = _answer_json(answers[QUESTIONS[1]])
    corpus = corpus_hash_index.corpus_dir
    assert check_answer(parse_saved_answer(json.dumps(data).encode(), "a.json"), corpus).ok
    if warning is None:
        del data["warning"]
    else:
        data["warning"] = warning
    result = check_answer(parse_saved_answer(json.dumps(data).encode(), "a.json"), corpus)
    assert not result.ok and all(c.ok for c in result.citations)
    assert [f.where for f in result.findings] == ["warning"] and problem in result.findings[0].problem


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"text": ', "not JSON"),
        (b"[]", "must be an object"),
        (b"{}", "question: is missing"),
        (
            b'{"question": {}, "text": "t", "abstained": false, "answerer": "x", "citations": []}',
            "a.json: question: must be a string, not an object",
        ),
        (
            b'{"question": "q", "text": "t", "abstained": false, "answerer": "x", "citations": "abc"}',
            'a.json: citations: must be a list, not "abc"',
        ),
        (
            b'{"question": "q", "text": "t", "abstained": false, "answerer": "x", "citations": [[]]}',
            "a.json: citations[0]: must be an object, not a list",
        ),
    ],
)
def test_malformed_files_give_one_line(raw: bytes, needle: str) -> None:
    with pytest.raises(SavedAnswerError) as err:
        parse_saved_answer(raw, "a.json")
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_cli_verify_reports_one_line_and_exit_codes(
    answers: dict[str, Answer], corpus_hash_index: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in settings_env(corpus_hash_index).items():
        monkeypatch.setenv(name, value)
    saved = tmp_path / "answer.json"
    saved.write_text(json.dumps(answers[QUESTIONS[1]].to_dict(), ensure_ascii=False), encoding="utf-8")
    assert main(["verify", str(saved)]) == 0
    out = capsys.readouterr().out
    cited = len(answers[QUESTIONS[1]].citations)
    assert cited >= 2 and "BAD" not in out and WARNING in out and f"{cited}/{cited} citations verified" in out

    data = _answer_json(answers[QUESTIONS[1]])
    data["warning"] = ""  # the warning dropped: not the answer this tool gave
    saved.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert main(["verify", str(saved)]) == 1
    out = capsys.readouterr().out
    assert "warning: BAD" in out and out.rstrip().endswith(WARNING)

    data["warning"] = WARNING
    data["text"] = "根据民法典第9999条，服务商必须赔偿全部损失。[1]"
    saved.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert main(["verify", str(saved)]) == 1
    out = capsys.readouterr().out
    assert "text: BAD" in out and "9999" in out and WARNING in out

    data["citations"][0]["start"] = "363"
    saved.write_text(json.dumps(data), encoding="utf-8")
    assert main(["verify", str(saved)]) != 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "citations[0].start" in captured.err and "Traceback" not in captured.err


@pytest.mark.slow
def test_verify_command_refuses_etc_passwd(answers: dict[str, Answer], corpus_hash_index: Settings, tmp_path: Path, run_legalqa) -> None:
    data = _answer_json(answers[QUESTIONS[0]])
    passwd = Path("/etc/passwd").read_bytes()
    data["citations"][0].update(file="/etc/passwd", sha256=hashlib.sha256(passwd).hexdigest(), start=0, end=4, quote=passwd.decode()[:4], spans=[])
    saved = tmp_path / "answer.json"
    saved.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    run = run_legalqa(["verify", str(saved)], settings_env(corpus_hash_index))
    assert run.returncode == 1 and "[1] BAD" in run.stdout and WARNING in run.stdout and "Traceback" not in run.stderr
    (tmp_path / "deep.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    deep = run_legalqa(["verify", str(tmp_path / "deep.json")], settings_env(corpus_hash_index))
    assert deep.returncode != 0 and deep.stderr.count("\n") == 1 and "Traceback" not in deep.stderr
