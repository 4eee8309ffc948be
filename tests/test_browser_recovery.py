"""A page opened while the index cannot be opened recovers by itself once it can (issue: flaky CI).

A page whose first script run could not get the pipeline used to show a disabled chat input and stay
that way: a disabled input gives Streamlit nothing to rerun on, so the page waited for a reload that a
user (or a test) never made.  In CI four pages found the input disabled for 274 s.  Here the app starts
on an empty data folder (a deterministic "wrong moment"), the page must say why it cannot answer, and it
must enable the input by itself within seconds of the index appearing, then answer; a new index
generation replacing the old one (the old one deleted) must not break the open page either.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.settings import Settings
from tests.helpers import ROOT, clean_env, serve_app

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = ROOT / "tests" / "artifacts"
QUESTION = "经营者有欺诈行为，消费者能要求几倍赔偿？"


@pytest.fixture
def page(browser) -> Iterator[object]:  # noqa: ANN001 - the session's Chromium (tests/conftest.py)
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        yield page
    finally:
        page.close()


def _install_index(source: Settings, data_dir: Path) -> None:
    """Put a complete copy of ``source``'s index under ``data_dir`` in one rename (as an ingest's commit would)."""
    staging = data_dir.parent / f".staging-{time.monotonic_ns()}"
    shutil.copytree(source.data_dir / "index", staging)
    if (data_dir / "index").exists():
        shutil.rmtree(data_dir / "index")
    staging.rename(data_dir / "index")


def test_page_opened_before_the_index_exists_enables_itself(
    corpus_hash_index: Settings, tmp_path: Path, page  # noqa: ANN001
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = clean_env(
        LEGALQA_DATA_DIR=str(data), LEGALQA_EMBEDDER="hash:256", LEGALQA_CORPUS_DIR=str(corpus_hash_index.corpus_dir)
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serve_app(env, tmp_path, ARTIFACTS / "recovery-serve.log") as url:
        page.set_default_timeout(60_000)
        page.goto(url + "/")
        box = page.get_by_test_id("stChatInputTextArea")
        box.wait_for()
        assert box.is_disabled()
        body = page.locator("body").inner_text()
        assert "还没有建立资料索引" in body and "自动重试" in body, body[-800:]  # says why, and that it retries

        _install_index(corpus_hash_index, data)
        started = time.perf_counter()
        page.wait_for_function(
            "() => { const b = document.querySelector('[data-testid=\"stChatInputTextArea\"]');"
            " return b !== null && !b.disabled; }",
            timeout=30_000,
        )
        recovered_s = time.perf_counter() - started
        print(f"\ninput enabled {recovered_s:.1f} s after the index appeared, without a reload")
        page.screenshot(path=str(ARTIFACTS / "recovery-enabled.png"))

        box = page.get_by_test_id("stChatInputTextArea")
        box.fill(QUESTION)
        box.press("Enter")
        page.locator(".answer-body").first.wait_for(state="visible")
        message = page.get_by_test_id("stChatMessage").last
        assert "本回答仅供参考，不构成法律意见" in message.inner_text()

        # a new generation replaces the one the page answered from (the old folder deleted): still answers
        _install_index(corpus_hash_index, data)
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill("民法典第1202条是怎么规定的？")
        box.press("Enter")
        page.locator(".answer-body").nth(1).wait_for(state="visible")
        last = page.get_by_test_id("stChatMessage").last.inner_text()
        assert "第一千二百零二条" in last and "出错了" not in last, last[-600:]
