"""``legalqa ask`` in scripts and pipes: no traceback, no lost file.

* ``--save`` writes atomically (temp file + rename) once the answer exists: undecodable bytes in
  the question no longer crash it after truncating an existing file to 0 bytes; a bad path gives
  one line and the answer is still printed; an error answer never replaces a saved one.
* Invalid UTF-8 (argv, stdin) and lone surrogates never raise, from ``Pipeline.ask`` (also with
  ``LEGALQA_LOG_QUESTIONS`` on) or the CLI; a terminal encoding that lacks a character and a
  reader that stops early (``| head``) end quietly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.answer import Answer
from app.pipeline import build_pipeline
from app.verify import check_answer
from app.warning import WARNING
from ingest.settings import Settings
from legalqa.cli import main
from tests.helpers import clean_env, settings_env

QUESTION = "民法典第1202条"
UNDECODABLE = "\udcff" + QUESTION  # how Python hands over the argument $'\xff民法典第1202条'


@pytest.fixture
def cli_env(corpus_hash_index: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The in-process CLI on the hash index, run from an empty folder (no developer .env)."""
    for name, value in settings_env(corpus_hash_index).items():
        monkeypatch.setenv(name, value)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _good_answer(corpus: Settings) -> str:
    pipeline = build_pipeline(corpus)
    try:
        return json.dumps(pipeline.ask("消保法55条规定的惩罚性赔偿是几倍？").to_dict(), ensure_ascii=False, indent=2)
    finally:
        pipeline.index.close()


def test_save_with_undecodable_question_replaces_file_atomically(
    cli_env: Path, corpus_hash_index: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    good = cli_env / "good.json"
    good.write_text(_good_answer(corpus_hash_index), encoding="utf-8")
    # before: UnicodeEncodeError traceback, no answer printed, good.json truncated to 0 bytes
    assert main(["ask", UNDECODABLE, "--save", str(good)]) == 0
    out = capsys.readouterr().out
    assert WARNING in out and "第一千二百零二条" in out
    saved = Answer.from_dict(json.loads(good.read_text(encoding="utf-8")))
    assert saved.question == "\ufffd" + QUESTION and saved.citations
    assert check_answer(saved, corpus_hash_index.corpus_dir).ok
    assert sorted(p.name for p in cli_env.iterdir()) == ["good.json"]  # no temp file left behind


@pytest.mark.parametrize("where", ["missing/dir/answer.json", ".", "nul\x00.json"])
def test_bad_save_path_is_one_line_and_answer_still_printed(cli_env: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    assert main(["ask", QUESTION, "--save", where]) == 1
    captured = capsys.readouterr()
    assert WARNING in captured.out and "第一千二百零二条" in captured.out
    assert captured.err.count("\n") == 1 and captured.err.startswith("legalqa ask: cannot save to")
    assert [p.name for p in cli_env.iterdir()] == []


def test_failed_rename_leaves_the_saved_answer_untouched(
    cli_env: Path, corpus_hash_index: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = cli_env / "good.json"
    before = _good_answer(corpus_hash_index)
    good.write_text(before, encoding="utf-8")

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    assert main(["ask", QUESTION, "--save", str(good)]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert good.read_text(encoding="utf-8") == before
    assert [p.name for p in cli_env.iterdir()] == ["good.json"]


def test_error_answer_never_replaces_a_saved_answer(
    cli_env: Path, corpus_hash_index: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = cli_env / "good.json"
    before = _good_answer(corpus_hash_index)
    good.write_text(before, encoding="utf-8")
    monkeypatch.setenv("LEGALQA_TOP_K", "abc")
    assert main(["ask", "--json", QUESTION, "--save", str(good)]) == 2
    captured = capsys.readouterr()
    answer = json.loads(captured.out)
    assert answer["warning"] == WARNING and "LEGALQA_TOP_K" in answer["error"]
    assert "not saved" in captured.err and "Traceback" not in captured.err
    assert good.read_text(encoding="utf-8") == before


def test_pipeline_ask_never_raises_on_lone_surrogates(index_copy) -> None:
    settings = index_copy(log_questions=True)
    pipeline = build_pipeline(settings)
    try:
        # before: UnicodeEncodeError from writing the question log
        for question in (UNDECODABLE, "\ud800民法典第1202条\udfff", "\ud83d\ude00" + QUESTION, "\udcff"):
            answer = pipeline.ask(question, answerer="\udcffx" if question == "\udcff" else None)
            json.dumps(answer.to_dict(), ensure_ascii=False).encode("utf-8")  # savable and printable
            assert answer.warning == WARNING
        assert pipeline.ask(UNDECODABLE).citations
        assert pipeline.ask("\ud83d\ude00" + QUESTION).question.startswith("\U0001f600")  # a real pair is kept
        logged = (settings.data_dir / "questions.log").read_text(encoding="utf-8").splitlines()
        assert len(logged) >= 4 and all(json.loads(line)["q"] for line in logged)
    finally:
        pipeline.index.close()


def _run(args: list[str | bytes], env: dict[str, str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "app", *args], env=clean_env(**env), cwd=cwd, capture_output=True, timeout=180, **kwargs)


@pytest.mark.slow
def test_cli_undecodable_argv_and_stdin(corpus_hash_index: Settings, tmp_path: Path) -> None:
    env = settings_env(corpus_hash_index)
    good = tmp_path / "good.json"
    good.write_text(_good_answer(corpus_hash_index), encoding="utf-8")
    run = _run(["ask", b"\xff" + QUESTION.encode(), "--save", str(good)], env, tmp_path)
    assert run.returncode == 0 and b"Traceback" not in run.stderr
    assert WARNING.encode() in run.stdout and json.loads(good.read_bytes())["citations"]
    piped = _run(["ask", "--json"], env, tmp_path, input=b"\xff\xfe" + QUESTION.encode() + b"\n")
    assert piped.returncode == 0 and b"Traceback" not in piped.stderr
    assert json.loads(piped.stdout)["question"] == "\ufffd\ufffd" + QUESTION


@pytest.mark.slow
def test_cli_output_survives_ascii_terminal(corpus_hash_index: Settings, tmp_path: Path) -> None:
    env = {**settings_env(corpus_hash_index), "PYTHONIOENCODING": "ascii"}
    text = _run(["ask", QUESTION], env, tmp_path)
    assert text.returncode == 0 and b"Traceback" not in text.stderr and b"\\u4ec5" in text.stdout
    as_json = _run(["ask", "--json", QUESTION], env, tmp_path)
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["warning"] == WARNING


@pytest.mark.slow
def test_closed_pipe_ends_quietly(corpus_hash_index: Settings, tmp_path: Path) -> None:
    """`legalqa ask … | head -c 10`: the reader is gone before anything is written."""
    saved = tmp_path / "a.json"
    saved.write_text(_good_answer(corpus_hash_index), encoding="utf-8")
    for args in (["ask", QUESTION], ["ask", "--json", QUESTION], ["verify", str(saved)]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", *args],
            env=clean_env(**settings_env(corpus_hash_index)),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.wait(timeout=180)
        assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err, args
        assert proc.returncode != 0
