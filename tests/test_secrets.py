"""Secrets and privacy: the API key and the user's questions stay where they belong.

* ``LEGALQA_LLM_API_KEY`` comes from the environment or ``.env`` only, and appears in no output:
  ``legalqa config``, ``legalqa ask`` (text and ``--json``, also when the LLM service echoes the
  key back in an error or in its reply), ``to_text``/``to_markdown``/``conversation_markdown``,
  log records at DEBUG from every library, and the Streamlit page.  A loopback stub of an
  OpenAI-compatible service proves the key really was sent (so "not shown" is not "not used").
* The question text reaches the disk only with ``LEGALQA_LOG_QUESTIONS`` on: after asks through
  the Python API and the CLI, no file under the data folder (or the working folder) contains it.
"""

from __future__ import annotations

import json
import logging
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.pipeline import build_pipeline, make_answerers
from app.render import conversation_markdown, to_markdown, to_text
from app.warning import WARNING, WARNING_CORE
from ingest.settings import Settings
from tests.helpers import ROOT, settings_env

KEY = "sk-secret-XYZ"
QUESTION = "我们公司在AI平台上损失了八万七千六百五十四元，平台要赔偿吗？QZX1357"


class _LeakyOpenAI(BaseHTTPRequestHandler):
    """An OpenAI-compatible service that echoes the caller's key back, in errors and in replies."""

    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        auth = self.headers.get("Authorization", "")
        type(self).seen.append(auth)
        if body["model"] == "leak-401":
            status, payload = 401, {"error": {"message": f"Incorrect API key provided: {auth}", "type": "invalid_request_error"}}
        else:
            content = f"您的密钥是 {auth}。[1]\n因产品存在缺陷造成他人损害的，生产者应当承担侵权责任。[1]"
            payload = {
                "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }  # fmt: skip
            status = 200
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def leaky_llm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LeakyOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _llm_env(settings: Settings, base_url: str, model: str) -> dict[str, str]:
    return {
        **settings_env(settings),
        "LEGALQA_LLM": f"openai:{model}",
        "LEGALQA_LLM_BASE_URL": base_url,
        "LEGALQA_LLM_API_KEY": KEY,
    }


def test_config_never_shows_the_key_from_env_or_dotenv(run_legalqa, tmp_path: Path) -> None:
    shown = run_legalqa(["config"], {"LEGALQA_LLM_API_KEY": KEY})
    assert shown.returncode == 0 and KEY not in shown.stdout + shown.stderr
    assert "set (hidden)" in shown.stdout

    cwd = tmp_path / "with-dotenv"
    cwd.mkdir()
    (cwd / ".env").write_text(f"LEGALQA_LLM_API_KEY={KEY}\nOPENAI_API_KEY=sk-other-123\n", encoding="utf-8")
    assert Settings.from_env(environ={}, dotenv=cwd / ".env").llm_api_key == KEY
    assert Settings.from_env(environ={"LEGALQA_LLM_API_KEY": "sk-env-wins"}, dotenv=cwd / ".env").llm_api_key == "sk-env-wins"
    from_dotenv = run_legalqa(["config"], {}, cwd=cwd)
    assert from_dotenv.returncode == 0 and "set (hidden)" in from_dotenv.stdout
    assert KEY not in from_dotenv.stdout + from_dotenv.stderr and "sk-other-123" not in from_dotenv.stdout
    assert "sk-" not in repr(Settings(llm_api_key=KEY).describe())


@pytest.mark.slow
def test_cli_ask_never_prints_the_key(run_legalqa, corpus_hash_index: Settings, leaky_llm: str) -> None:
    _LeakyOpenAI.seen = []
    refused = run_legalqa(["ask", "--answerer", "llm", "民法典第1202条是怎么规定的？"], _llm_env(corpus_hash_index, leaky_llm, "leak-401"))
    assert refused.returncode == 2 and "AuthenticationError" in refused.stdout and WARNING in refused.stdout
    echoed = run_legalqa(["ask", "--json", "--answerer", "llm", "民法典第1202条"], _llm_env(corpus_hash_index, leaky_llm, "leak-200"))
    assert echoed.returncode == 0 and json.loads(echoed.stdout)["warning"] == WARNING
    for run in (refused, echoed):
        assert KEY not in run.stdout + run.stderr
    assert len(_LeakyOpenAI.seen) == 2 and all(auth == f"Bearer {KEY}" for auth in _LeakyOpenAI.seen)  # it was used


def test_key_absent_from_answers_renderings_and_debug_logs(
    corpus_hash_index: Settings, leaky_llm: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    _LeakyOpenAI.seen = []
    answers = []
    with caplog.at_level(logging.DEBUG):  # root at DEBUG: openai, httpx, httpcore, langchain, chromadb …
        for model in ("leak-401", "leak-200"):
            settings = replace(corpus_hash_index, llm=f"openai:{model}", llm_base_url=leaky_llm, llm_api_key=KEY)
            pipeline = build_pipeline(settings, answerers=make_answerers(settings))
            answers += [pipeline.ask("民法典第1202条是怎么规定的？", answerer="llm"), pipeline.ask(QUESTION)]
            pipeline.index.close()
    assert _LeakyOpenAI.seen and all(auth == f"Bearer {KEY}" for auth in _LeakyOpenAI.seen)
    assert answers[0].error and "AuthenticationError" in answers[0].error  # the service refused: reported…
    assert "***" in answers[0].error  # …with the echoed key redacted
    assert not answers[2].error and "密钥" not in answers[2].text  # the echoing sentence was removed
    outputs = [json.dumps(a.to_dict(), ensure_ascii=False) for a in answers]
    outputs += [to_text(a) for a in answers] + [to_markdown(a) for a in answers] + [conversation_markdown(answers)]
    outputs += [caplog.text, *(repr(r.__dict__) for r in caplog.records)]
    captured = capfd.readouterr()
    outputs += [captured.out, captured.err]
    assert len(caplog.records) > 0  # DEBUG logging really was on
    for text in outputs:
        assert KEY not in text


def test_streamlit_page_never_shows_the_key(corpus_hash_index: Settings, leaky_llm: str, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    apptest = pytest.importorskip("streamlit.testing.v1")
    monkeypatch.chdir(tmp_path)
    for name, value in _llm_env(corpus_hash_index, leaky_llm, "leak-401").items():
        monkeypatch.setenv(name, value)
    at = apptest.AppTest.from_file(str(ROOT / "app" / "streamlit_app.py"), default_timeout=120).run()
    assert not at.exception
    at.radio(key="answerer").set_value("llm").run()
    at.chat_input[0].set_value("民法典第1202条是怎么规定的？").run()
    assert not at.exception
    page = "\n".join(_protos(at._tree, []))  # every element's full message: values, labels, help, HTML
    assert "AuthenticationError" in page and WARNING_CORE in page  # the error is shown…
    assert KEY not in page  # …without the key the service echoed


def _protos(node, out: list[str]) -> list[str]:  # noqa: ANN001
    from google.protobuf import text_format

    proto = getattr(node, "proto", None)
    if proto is not None:
        out.append(text_format.MessageToString(proto, as_utf8=True))
    children = getattr(node, "children", None)
    for child in (children or {}).values() if isinstance(children, dict) else ():
        _protos(child, out)
    return out


def _files_containing(root: Path, needles: list[bytes]) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]


def test_questions_reach_the_disk_only_when_logging_is_on(index_copy, run_legalqa, tmp_path: Path) -> None:
    normalized = unicodedata.normalize("NFKC", QUESTION)  # what the pipeline works with
    needles = [q.encode() for q in (QUESTION, normalized, "八万七千六百五十四", "QZX1357")]
    needles += [json.dumps(q).encode() for q in (QUESTION, normalized)]
    off = index_copy()
    pipeline = build_pipeline(off)
    for q in (QUESTION, QUESTION + " 追问", "x" * 5000 + QUESTION):  # answered, answered, refused (too long)
        pipeline.ask(q)
    pipeline.index.close()
    cli = run_legalqa(["ask", "--json", QUESTION], settings_env(off), cwd=tmp_path)
    assert cli.returncode == 0
    assert _files_containing(off.data_dir, needles) == []
    assert _files_containing(tmp_path, needles) == []  # nor in the working folder (no stray logs)

    on = index_copy(log_questions=True)
    pipeline = build_pipeline(on)
    pipeline.ask(QUESTION)
    pipeline.index.close()
    assert _files_containing(on.data_dir, needles) == [on.data_dir / "questions.log"]
    logged = [json.loads(line) for line in (on.data_dir / "questions.log").read_text(encoding="utf-8").splitlines()]
    assert [row["q"] for row in logged] == [normalized]

