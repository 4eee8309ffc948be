"""The HTTP API (app/api) through FastAPI's TestClient, on the hash index of the real corpus.

Every answering endpoint is checked for the warning; every error for one line of JSON
(never a traceback); answers for being the same Answer JSON as ``legalqa ask --json``
and their citations for being exact corpus slices.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.answer import Answer
from app.api import create_app
from app.render import to_text
from app.verify import verify_answer
from app.warning import WARNING, WARNING_CORE
from ingest.errors import LegalQAError
from ingest.manifest import load_manifest
from ingest.settings import Settings

NAMED = "民法典第1202条是怎么规定的？"  # names an article: always answered, whatever the embedder
CONSUMER = "消保法55条"


@pytest.fixture(scope="module")
def client(corpus_hash_index: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(corpus_hash_index, token="")) as c:
        yield c


def _pipeline(client: TestClient):  # noqa: ANN202 - the app's own (lazily built) pipeline
    return client.app.state.holder.get()


def _one_line_error(response, status: int, *, contains: str = "", param: str | None = None) -> str:  # noqa: ANN001
    assert response.status_code == status, response.text
    body = response.json()
    message = body["error"]["message"]
    assert message and "\n" not in message and "Traceback" not in response.text
    assert body["error"]["code"] == status and body["warning"] == WARNING
    if contains:
        assert contains in message, message
    if param is not None:
        assert body["error"]["param"] == param, body
    return message


def _corpus_slice(settings: Settings, file: str, start: int, end: int) -> tuple[str, str]:
    data = (settings.corpus_dir / file).read_bytes()
    return data.decode("utf-8")[start:end], hashlib.sha256(data).hexdigest()


def _without(data: dict, *keys: str) -> dict:
    return {k: v for k, v in data.items() if k not in keys}


# -- /v1/ask ----------------------------------------------------------------------------------------


def test_ask_returns_the_answer_json_of_legalqa_ask(client: TestClient, corpus_hash_index: Settings) -> None:
    response = client.post("/v1/ask", json={"question": NAMED})
    assert response.status_code == 200, response.text
    body = response.json()
    # what `legalqa ask --json` prints: Answer.to_dict() as JSON (timings differ run to run)
    expected = json.loads(json.dumps(_pipeline(client).ask(NAMED).to_dict(), ensure_ascii=False))
    assert _without(body, "timings", "question_context") == _without(expected, "timings")
    assert set(body) == set(expected) | {"question_context"} and body["question_context"] is None
    assert body["warning"] == WARNING and not body["abstained"] and not body["error"]
    assert body["citations"][0]["chunk_id"] == "civil-code/1202"
    for c in body["citations"]:
        quote, sha = _corpus_slice(corpus_hash_index, c["file"], c["start"], c["end"])
        assert quote == c["quote"] and sha == c["sha256"]
    Answer.from_dict(_without(body, "question_context"))  # a saved API answer is a valid Answer


def test_ask_accepts_and_validates_history_but_answers_the_question_alone(client: TestClient) -> None:
    history = [{"role": "user", "content": CONSUMER}, {"role": "assistant", "content": "……[1]"}]
    alone = client.post("/v1/ask", json={"question": NAMED}).json()
    followed = client.post("/v1/ask", json={"question": NAMED, "history": history, "k": 4}).json()
    assert followed["question_context"] is None
    assert (
        followed["question"] == alone["question"]
        and followed["citations"][0]["chunk_id"] == alone["citations"][0]["chunk_id"]
    )
    # a bare lookup is answered from the article it names: that is what it retrieved, whatever k
    assert [r["chunk_id"] for r in followed["retrieved"]][:1] == ["civil-code/1202"]
    with_a_matter = client.post(
        "/v1/ask", json={"question": "AI服务宕机造成损失，平台要赔吗？", "k": 4}
    ).json()
    assert len([r for r in with_a_matter["retrieved"] if r["via"] not in ("issue", "xref")]) == 4
    bad = client.post("/v1/ask", json={"question": NAMED, "history": [{"role": "bot", "content": "x"}]})
    _one_line_error(bad, 422, contains="history.0.role", param="history.0.role")
    bad = client.post("/v1/ask", json={"question": NAMED, "history": [{"role": "user"}]})
    _one_line_error(bad, 422, contains="history.0.content", param="history.0.content")


def test_question_longer_than_the_setting_is_422_with_the_limit(
    client: TestClient, corpus_hash_index: Settings
) -> None:
    limit = corpus_hash_index.max_question_chars
    at_limit = (NAMED * limit)[:limit]
    assert client.post("/v1/ask", json={"question": at_limit}).status_code == 200
    response = client.post("/v1/ask", json={"question": at_limit + "？"})
    message = _one_line_error(response, 422, contains="问题过长", param="question")
    assert f"{limit + 1} 字" in message and f"{limit} 字以内" in message
    chat = client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": at_limit + "？"}]}
    )
    _one_line_error(chat, 422, contains="问题过长", param="messages")


@pytest.mark.parametrize(
    ("body", "contains", "param"),
    [
        ({"question": ""}, "问题为空", "question"),
        ({"question": "？！……"}, "只包含标点", "question"),
        ({}, "question: Field required", "question"),
        ({"question": 12}, "question: Input should be a valid string", "question"),
        ({"question": NAMED, "k": 0}, "k: Input should be greater than or equal to 1", "k"),
        ({"question": NAMED, "k": "many"}, "k: Input should be a valid integer", "k"),
        (
            {"question": NAMED, "answerer": "llm"},
            "answerer: 'llm' is not configured (available: extractive)",
            "answerer",
        ),
        ({"question": NAMED, "top_k": 3}, "top_k: Extra inputs are not permitted", "top_k"),
        ([NAMED], "body: must be a JSON object", "body"),
    ],
)
def test_bad_ask_bodies_are_one_line_422(client: TestClient, body: object, contains: str, param: str) -> None:
    _one_line_error(client.post("/v1/ask", json=body), 422, contains=contains, param=param)


def test_malformed_json_is_422_naming_the_position(client: TestClient) -> None:
    response = client.post(
        "/v1/ask", content=b'{"question": "x",}', headers={"content-type": "application/json"}
    )
    _one_line_error(response, 422, contains="not valid JSON", param="body")


@pytest.mark.parametrize("path", ["/v1/ask", "/v1/chat/completions", "/v1/verify"])
@pytest.mark.parametrize(
    ("body", "byte"),
    [
        ('{"question": "消保法55条"}'.encode("gbk"), "byte 0xcf at position 14"),  # GBK: 消 is CF FB
        (b'{"question": "\xff"}', "byte 0xff at position 14"),
    ],
)
def test_a_body_that_is_not_utf8_is_422_like_malformed_json(
    client: TestClient, path: str, body: bytes, byte: str
) -> None:
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    message = _one_line_error(response, 422, contains="body: not UTF-8 JSON", param="body")
    assert byte in message and "parsing the body" not in message


def test_json_nested_too_deeply_is_422(client: TestClient) -> None:
    response = client.post("/v1/ask", content=b"[" * 30_000, headers={"content-type": "application/json"})
    _one_line_error(response, 422, contains="nested too deeply", param="body")


def test_body_over_64_kb_is_413_declared_or_chunked(client: TestClient) -> None:
    limit = 64 * 1024
    base = json.dumps({"question": NAMED}, ensure_ascii=False).encode("utf-8")
    exactly = base + b" " * (limit - len(base))  # valid JSON, padded to the limit
    assert (
        client.post("/v1/ask", content=exactly, headers={"content-type": "application/json"}).status_code
        == 200
    )
    over = exactly + b" "
    _one_line_error(
        client.post("/v1/ask", content=over, headers={"content-type": "application/json"}),
        413,
        contains="65536 bytes",
    )

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit must hold on the bytes actually sent
        yield base[:-1]
        for _ in range(70):
            yield b" " * 1024
        yield b"}"

    response = client.post("/v1/ask", content=chunked(), headers={"content-type": "application/json"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    _one_line_error(response, 413, contains="too large")


# -- /v1/chat/completions ---------------------------------------------------------------------------


def test_chat_completion_carries_answer_citations_and_warning(
    client: TestClient, corpus_hash_index: Settings
) -> None:
    messages = [
        {"role": "system", "content": "你是法律助手"},
        {"role": "user", "content": CONSUMER},
        {"role": "assistant", "content": "《消费者权益保护法》第五十五条……[1]"},
        {"role": "user", "content": NAMED},  # the last user message is the question
    ]
    response = client.post(
        "/v1/chat/completions", json={"model": "my-model", "messages": messages, "temperature": 0.2}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    answer = _pipeline(client).ask(NAMED)
    assert (
        body["object"] == "chat.completion"
        and body["model"] == "my-model"
        and body["id"].startswith("chatcmpl-")
    )
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    content = choice["message"]["content"]
    assert content == to_text(answer)  # the answer with its [n], the citation list as text, the warning
    assert (
        content.startswith(WARNING)
        and content.rstrip().endswith(WARNING)
        and "[1]" in content
        and "【引用】" in content
    )
    assert body["warning"] == WARNING and body["abstained"] is False
    assert [c["chunk_id"] for c in body["citations"]] == [c.chunk_id for c in answer.citations]
    assert body["citations"][0]["locator"] in content
    for c in body["citations"]:
        quote, sha = _corpus_slice(corpus_hash_index, c["file"], c["start"], c["end"])
        assert quote == c["quote"] and sha == c["sha256"]


def test_chat_completion_reports_usage_in_characters(client: TestClient) -> None:
    messages = [{"role": "system", "content": "你是法律助手"}, {"role": "user", "content": NAMED}]
    body = client.post("/v1/chat/completions", json={"messages": messages}).json()
    content = body["choices"][0]["message"]["content"]
    prompt = len("你是法律助手") + len(NAMED)
    assert body["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": len(content),
        "total_tokens": prompt + len(content),
    }


@pytest.mark.parametrize("n", [2, 0, 5])
def test_chat_asking_for_more_than_one_choice_is_422(client: TestClient, n: int) -> None:
    messages = [{"role": "user", "content": NAMED}]
    response = client.post("/v1/chat/completions", json={"messages": messages, "n": n})
    _one_line_error(response, 422, contains="n: only 1 is supported", param="n")
    for one in (1, None):
        assert client.post("/v1/chat/completions", json={"messages": messages, "n": one}).status_code == 200


def test_models_lists_the_model_name_chat_completions_takes(client: TestClient) -> None:
    listed = client.get("/v1/models").json()
    assert listed["object"] == "list" and listed["warning"] == WARNING
    assert [(m["id"], m["object"]) for m in listed["data"]] == [("legalqa", "model")]
    one = client.get("/v1/models/legalqa").json()
    assert one == {**listed["data"][0], "warning": WARNING} and isinstance(one["created"], int)
    _one_line_error(client.get("/v1/models/gpt-4o"), 404, contains="no model 'gpt-4o'", param="model_id")
    request = {"model": "legalqa", "messages": [{"role": "user", "content": NAMED}]}
    response = client.post("/v1/chat/completions", json=request)
    assert response.status_code == 200 and response.json()["model"] == "legalqa"


def test_chat_accepts_text_content_parts_and_rejects_others(client: TestClient) -> None:
    parts = [{"type": "text", "text": NAMED}]
    response = client.post(
        "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": parts}]}
    )
    assert response.status_code == 200 and response.json()["citations"][0]["chunk_id"] == "civil-code/1202"
    image = [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]
    bad = client.post(
        "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": image}]}
    )
    _one_line_error(bad, 422, contains="only text parts", param="messages.0.content")
    none = client.post(
        "/v1/chat/completions", json={"model": "m", "messages": [{"role": "system", "content": "hi"}]}
    )
    _one_line_error(none, 422, contains="no message with role 'user'", param="messages")
    empty = client.post("/v1/chat/completions", json={"model": "m", "messages": []})
    _one_line_error(empty, 422, param="messages")


def _sse(text: str) -> list[str]:
    events = [block.removeprefix("data: ") for block in text.split("\n\n") if block.strip()]
    assert all(not block.startswith("data:") for block in events)
    return events


def test_chat_stream_sends_openai_chunks_then_done(client: TestClient) -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": NAMED}]}
    whole = client.post("/v1/chat/completions", json=request).json()
    response = client.post("/v1/chat/completions", json={**request, "stream": True})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = _sse(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len(chunks) >= 4  # role, a few content pieces, the final empty delta
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert content == whole["choices"][0]["message"]["content"]
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop" and last["choices"][0]["delta"] == {}
    assert last["citations"] == whole["citations"] and last["warning"] == WARNING
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


# -- documents, passages, verify, health ----------------------------------------------------------


def test_chat_stream_sends_usage_last_when_asked(client: TestClient) -> None:
    messages = [{"role": "user", "content": NAMED}]
    request = {"messages": messages, "stream": True, "stream_options": {"include_usage": True}}
    events = [json.loads(e) for e in _sse(client.post("/v1/chat/completions", json=request).text)[:-1]]
    content = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert events[-1]["choices"] == [] and events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["usage"] == {
        "prompt_tokens": len(NAMED),
        "completion_tokens": len(content),
        "total_tokens": len(NAMED) + len(content),
    }
    plain = _sse(client.post("/v1/chat/completions", json={"messages": messages, "stream": True}).text)
    assert all("usage" not in json.loads(e) for e in plain[:-1])


def test_documents_lists_the_manifest_with_chunk_counts(
    client: TestClient, corpus_hash_index: Settings
) -> None:
    body = client.get("/v1/documents").json()
    manifest = load_manifest(corpus_hash_index.corpus_dir)
    assert [d["doc_id"] for d in body["documents"]] == [m.doc_id for m in manifest]
    assert [d["sha256"] for d in body["documents"]] == [m.sha256 for m in manifest]
    chunks = _pipeline(client).index.chunks
    assert sum(d["chunks"] for d in body["documents"]) == len(chunks) == body["index"]["chunks"]
    assert all(d["chunks"] > 0 and d["stale"] is False for d in body["documents"])
    assert body["warning"] == WARNING


@pytest.mark.parametrize(
    ("chunk_id", "previous", "following"),
    [
        ("civil-code/1202", "civil-code/1201", "civil-code/1203"),
        ("agreement/3/8/3", "agreement/3/8/2", "agreement/3/8/4"),  # slashes inside the id
    ],
)
def test_passage_has_text_offsets_locator_and_neighbours(
    client: TestClient, corpus_hash_index: Settings, chunk_id: str, previous: str, following: str
) -> None:
    response = client.get(f"/v1/passages/{chunk_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    chunk = _pipeline(client).index.chunks[chunk_id]
    assert (
        body["chunk_id"] == chunk_id and body["locator"] == chunk.locator and body["doc_id"] == chunk.doc_id
    )
    quote, sha = _corpus_slice(corpus_hash_index, body["file"], body["start"], body["end"])
    assert quote == body["text"] == chunk.text and sha == body["sha256"]
    assert (body["previous"], body["next"]) == (previous, following)
    assert body["warning"] == WARNING


def test_passage_neighbours_stop_at_document_ends(client: TestClient) -> None:
    chunks = [c for c in _pipeline(client).index.chunks.values() if c.doc_id == "civil-code"]
    chunks.sort(key=lambda c: (c.ordinal, c.start))
    first = client.get(f"/v1/passages/{chunks[0].chunk_id}").json()
    last = client.get(f"/v1/passages/{chunks[-1].chunk_id}").json()
    assert first["previous"] is None and first["next"] == chunks[1].chunk_id
    assert last["next"] is None and last["previous"] == chunks[-2].chunk_id


def test_unknown_passage_is_a_404_json_error(client: TestClient) -> None:
    _one_line_error(
        client.get("/v1/passages/civil-code/99999"), 404, contains="civil-code/99999", param="chunk_id"
    )
    _one_line_error(client.get("/v1/nothing-here"), 404, contains="no such endpoint")


def test_verify_checks_a_posted_answer_like_legalqa_verify(
    client: TestClient, corpus_hash_index: Settings
) -> None:
    answer = client.post("/v1/ask", json={"question": CONSUMER}).json()
    checked = client.post("/v1/verify", json=answer).json()  # the /v1/ask body as is
    assert checked["ok"] is True and checked["total"] == len(answer["citations"]) > 0
    assert checked["verified"] == checked["total"] and checked["warning"] == WARNING
    tampered = json.loads(json.dumps(answer))
    tampered["citations"][0]["quote"] = tampered["citations"][0]["quote"] + "（不承担责任）"
    bad = client.post("/v1/verify", json=tampered).json()
    reference = verify_answer(
        Answer.from_dict(_without(tampered, "question_context")), corpus_hash_index.corpus_dir
    )
    assert bad["ok"] is False and bad["verified"] == bad["total"] - 1
    assert bad["checks"] == [
        {"number": c.number, "locator": c.locator, "ok": c.ok, "problem": c.problem} for c in reference
    ]


def test_verify_checks_the_notes_and_text_too_like_legalqa_verify(client: TestClient) -> None:
    answer = client.post("/v1/ask", json={"question": "生成式人工智能服务管理暂行办法第三十条"}).json()
    assert answer["notes"] and client.post("/v1/verify", json=answer).json()["ok"] is True
    wrong_count = {**answer, "notes": ["《生成式人工智能服务管理暂行办法》共三十一条，没有第三十条。"]}
    checked = client.post("/v1/verify", json=wrong_count).json()
    assert checked["ok"] is False and checked["findings"][0]["where"] == "notes[0]"
    cited = client.post("/v1/ask", json={"question": CONSUMER}).json()
    added = {**cited, "text": cited["text"] + "\n\n根据民法典第9999条，平台无需赔偿。"}
    assert client.post("/v1/verify", json=added).json()["ok"] is False


@pytest.mark.parametrize("warning", ["", "本回答由律师审核，可直接使用。", None])
def test_verify_fails_an_answer_whose_warning_was_dropped_or_edited(
    client: TestClient, warning: str | None
) -> None:
    answer = client.post("/v1/ask", json={"question": CONSUMER}).json()
    if warning is None:
        del answer["warning"]
    else:
        answer["warning"] = warning
    checked = client.post("/v1/verify", json=answer).json()
    assert checked["ok"] is False and checked["verified"] == checked["total"] > 0
    assert [f["where"] for f in checked["findings"]] == ["warning"] and checked["warning"] == WARNING


@pytest.mark.parametrize(
    ("mutate", "contains", "param"),
    [
        (
            lambda a: a["citations"][0].update(file="../../../etc/passwd"),
            "is not a path inside the corpus",
            "citations.0.file",
        ),
        (
            lambda a: a["citations"][0].update(file="/etc/passwd"),
            "is not a path inside the corpus",
            "citations.0.file",
        ),
        (
            lambda a: a["citations"][0].update(start="0"),
            'citations.0.start: must be an integer, not "0"',
            "citations.0.start",
        ),
        (lambda a: a.pop("question"), "question: is missing", "question"),
        (lambda a: a.update(citations="abc"), 'citations: must be a list, not "abc"', "citations"),
        (lambda a: a.update(citations=["abc"]), "citations.0: must be an object", "citations.0"),
        (lambda a: a.update(text={"zh": "答"}), "text: must be a string, not an object", "text"),
        (lambda a: a["statements"][0].pop("text"), "statements.0.text: is missing", "statements.0.text"),
        (lambda a: a.clear(), "question: is missing", "question"),
    ],
)
def test_verify_refuses_what_is_not_an_answer(
    client: TestClient, mutate, contains: str, param: str | None
) -> None:  # noqa: ANN001
    answer = client.post("/v1/ask", json={"question": CONSUMER}).json()
    mutate(answer)
    message = _one_line_error(client.post("/v1/verify", json=answer), 422, contains=contains, param=param)
    # one line naming the field, in JSON's words: no Python exception, signature or type name
    assert not any(word in message for word in ("Error", "__init__", "positional", "dict", "'str'"))


def test_verify_ignores_keys_other_front_ends_add(client: TestClient) -> None:
    answer = client.post("/v1/ask", json={"question": CONSUMER}).json()
    assert "question_context" in answer
    assert client.post("/v1/verify", json={**answer, "saved_by": "ui"}).json()["ok"] is True


def test_healthz_and_openapi(client: TestClient) -> None:
    health = client.get("/healthz").json()
    index = _pipeline(client).index
    assert health["status"] == "ok" and health["index"]["generation"] == index.info.generation
    assert health["warning"] == WARNING
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    assert {"/v1/ask", "/v1/chat/completions", "/v1/documents", "/v1/verify", "/healthz"} <= paths
    assert "/v1/passages/{chunk_id}" in paths
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


ANSWERING = [
    ("POST", "/v1/ask", {"question": NAMED}),
    ("POST", "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": NAMED}]}),
    (
        "POST",
        "/v1/chat/completions",
        {"model": "m", "stream": True, "messages": [{"role": "user", "content": NAMED}]},
    ),
    ("POST", "/v1/ask", {"question": "今天天气怎么样？"}),  # an abstention is an answer too
    ("GET", "/v1/documents", None),
    ("GET", "/v1/passages/civil-code/1202", None),
    ("GET", "/healthz", None),
    ("POST", "/v1/verify", "ANSWER"),
]


@pytest.mark.parametrize(("method", "path", "body"), ANSWERING)
def test_every_answering_endpoint_carries_the_warning(
    client: TestClient, method: str, path: str, body: object
) -> None:
    if body == "ANSWER":
        body = client.post("/v1/ask", json={"question": NAMED}).json()
    response = client.request(method, path, json=body)
    assert response.status_code == 200, response.text
    assert WARNING_CORE in response.text and WARNING in response.text


LONE = "\\ud800"  # a lone surrogate, as JSON text: valid JSON, but Python's str of it is not encodable UTF-8


def _with_lone_surrogate(body: dict) -> bytes:
    """``body`` as JSON text in which every ``@`` is the escape of a lone surrogate."""
    return json.dumps(body, ensure_ascii=False).replace("@", LONE).encode("utf-8")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "m@", "messages": [{"role": "user", "content": NAMED}]}),
        (
            "/v1/chat/completions",
            {"model": "m@", "stream": True, "messages": [{"role": "user", "content": NAMED}]},
        ),
        ("/v1/ask", {"question": NAMED + "@"}),
        ("/v1/verify", {"question": "q", "text": "t@", "citations": [], "abstained": True, "answerer": "x"}),
    ],
)
def test_lone_surrogates_in_a_request_never_break_the_response(
    client: TestClient, path: str, body: dict
) -> None:
    # before: the echoed model name made a 500 (non-stream) or a 200 stream with an empty body
    response = client.post(
        path, content=_with_lone_surrogate(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    text = response.content.decode("utf-8")  # strict: the body is valid UTF-8
    assert WARNING in text and "Traceback" not in text
    if body.get("stream"):
        assert text.rstrip().endswith("data: [DONE]") and '"model":"m\ufffd"' in text
    elif path == "/v1/chat/completions":
        assert response.json()["model"] == "m\ufffd"


# -- auth, a missing index, backend failures, a new index generation ------------------------------


def test_bearer_token_is_required_when_set(corpus_hash_index: Settings) -> None:
    with TestClient(create_app(corpus_hash_index, token="s3cret-token")) as c:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic s3cret-token"},
            {"Authorization": "Bearer "},
        ):
            response = c.post("/v1/ask", json={"question": NAMED}, headers=headers)
            _one_line_error(response, 401, contains="bearer token")
            assert response.headers["www-authenticate"] == "Bearer"
        # refused before the body is read: a malformed body without the token is still a 401
        _one_line_error(c.post("/v1/ask", content=b"{", headers={"content-type": "application/json"}), 401)
        _one_line_error(c.get("/v1/passages/civil-code/1202"), 401)
        ok = c.post("/v1/ask", json={"question": NAMED}, headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200 and ok.json()["warning"] == WARNING
        assert c.get("/healthz").status_code == 200 and c.get("/openapi.json").status_code == 200


def test_token_comes_from_the_environment(
    corpus_hash_index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEGALQA_API_TOKEN", "from-env")
    with TestClient(create_app(corpus_hash_index)) as c:
        assert c.get("/v1/documents").status_code == 401
        assert c.get("/v1/documents", headers={"Authorization": "Bearer from-env"}).status_code == 200


def test_missing_index_is_503_with_the_ingest_hint_then_recovers(
    corpus_hash_index: Settings, tmp_path: Path
) -> None:
    settings = replace(corpus_hash_index, data_dir=tmp_path / "data")
    with TestClient(create_app(settings, token="")) as c:
        for method, path, body in ANSWERING:
            if body == "ANSWER":
                continue
            _one_line_error(c.request(method, path, json=body), 503, contains="run `legalqa ingest`")
        # input errors are still the client's, and /v1/verify needs only the corpus
        _one_line_error(c.post("/v1/ask", json={"question": ""}), 422, param="question")
        with TestClient(create_app(corpus_hash_index, token="")) as other:
            answer = other.post("/v1/ask", json={"question": CONSUMER}).json()
        assert c.post("/v1/verify", json=answer).json()["ok"] is True
        shutil.copytree(corpus_hash_index.data_dir, settings.data_dir)  # the index appears: no restart needed
        assert c.post("/v1/ask", json={"question": NAMED}).status_code == 200


def test_backend_failure_is_503_and_unexpected_errors_are_500_without_trace(
    corpus_hash_index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(corpus_hash_index, token="")
    with TestClient(app, raise_server_exceptions=False) as c:
        pipeline = app.state.holder.get()

        def unreachable(*_args: object, **_kwargs: object) -> None:
            raise LegalQAError("the Chroma server at http://127.0.0.1:9 cannot be reached; start it")

        monkeypatch.setattr(pipeline, "retrieve", unreachable)
        _one_line_error(c.post("/v1/ask", json={"question": NAMED}), 503, contains="cannot be reached")

        def broken(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("internal detail\nthat must not leak")

        monkeypatch.setattr(pipeline, "ask", broken)
        response = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": NAMED}]})
        message = _one_line_error(response, 500, contains="internal error (RuntimeError)")
        assert "internal detail" not in response.text and "must not leak" not in message


def test_unconfigured_default_answerer_is_the_servers_503(corpus_hash_index: Settings) -> None:
    with TestClient(create_app(replace(corpus_hash_index, answerer="llm"), token="")) as c:
        _one_line_error(c.post("/v1/ask", json={"question": NAMED}), 503, contains="LEGALQA_ANSWERER='llm'")


@pytest.mark.slow  # a real ingest of the corpus into Chroma (~8 s)
def test_pipeline_is_built_once_and_reopened_on_a_new_index_generation(index_copy) -> None:  # noqa: ANN001
    from ingest.cli import ingest

    settings = index_copy()
    app = create_app(settings, token="")
    with TestClient(app) as c:
        first = c.get("/healthz").json()["index"]["generation"]
        pipeline = app.state.holder.get()
        assert c.post("/v1/ask", json={"question": NAMED}).status_code == 200
        assert app.state.holder.get() is pipeline  # one pipeline per process while the index is current
        ingest(settings, rebuild=True, show_progress=False)  # a new generation becomes CURRENT
        second = c.get("/healthz").json()["index"]["generation"]
        assert second != first
        assert app.state.holder.get() is not pipeline
        body = c.post("/v1/ask", json={"question": NAMED}).json()
        assert body["citations"][0]["chunk_id"] == "civil-code/1202" and body["warning"] == WARNING


def test_history_may_be_the_earlier_questions_as_strings(client: TestClient) -> None:
    follow_up = "第二十五条呢"
    as_messages = client.post(
        "/v1/ask",
        json={"question": follow_up, "history": [{"role": "user", "content": "消保法第二十四条是什么"}]},
    ).json()
    as_strings = client.post(
        "/v1/ask", json={"question": follow_up, "history": ["消保法第二十四条是什么"]}
    ).json()
    assert as_strings["question_context"] == as_messages["question_context"] == "消保法第二十五条呢"
    assert as_strings["citations"][0]["locator"] == "《消费者权益保护法》第二十五条"


def test_ask_history_may_carry_an_answers_citations_for_a_follow_up_to_point_at(client: TestClient) -> None:
    opening = "民法典第五百七十七条和第五百八十四条是什么"
    first = client.post("/v1/ask", json={"question": opening}).json()
    assert [c["chunk_id"] for c in first["citations"]][:2] == ["civil-code/577", "civil-code/584"]
    history = [
        {"role": "user", "content": opening},
        {"role": "assistant", "content": first["text"], "citations": first["citations"]},  # as returned
    ]
    pointed = client.post("/v1/ask", json={"question": "第二个引用呢", "history": history}).json()
    assert pointed["citations"][0]["chunk_id"] == "civil-code/584"
    assert "《民法典》第五百八十四条" in pointed["question_context"]
    # the text alone lists no sources: the pointer is left out, never read as an article of the 民法典
    bare = [history[0], {"role": "assistant", "content": first["text"]}]
    blind = client.post("/v1/ask", json={"question": "你刚才说的第一条是什么意思", "history": bare}).json()
    assert "civil-code/1" not in [c["chunk_id"] for c in blind["citations"]]
