"""The chat in a real browser: `streamlit run app.py` on loopback with the bundled 0.5B model, driven by
Playwright with Debian's Chromium (Playwright's own browser download cannot work offline). Skipped, with
the reason, where Chromium or Playwright is missing. Leaves a screenshot in test-artifacts/ (not committed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.answering.bundled import free_port

from .conftest import NEWS, ROOT, SMALL

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def served(corpus: Path, tmp_path: Path, small_gguf: Path) -> Iterator[str]:
    """The real app served by Streamlit on a free loopback port; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "RAG_CORPUS_DIR": str(corpus),
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "RAG_LLM": "bundled",
        "RAG_BUNDLED_MODEL": SMALL.name,
        "RAG_MODELS_DIR": str(small_gguf.parent),
    }
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true"]
    command += ["--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not start: " + (tmp_path / "streamlit.log").read_text()[-2000:])
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_a_seed_question_in_a_real_browser(served: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium: `make setup` does, as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    flags += ["--disable-component-update", "--no-first-run"]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=flags)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(served)
            box = page.get_by_test_id("stChatInputTextArea")
            box.wait_for(timeout=120_000)  # the index opens and MiniLM loads before the page is drawn
            box.fill("Why did the US Treasury Secretary leave London?")
            box.press("Enter")
            citation = page.get_by_test_id("stExpander").filter(has_text=NEWS).first
            citation.wait_for(timeout=180_000)  # the model starts on the first question
            assert "hearing" in page.get_by_test_id("stChatMessage").last.inner_text().lower()
            citation.locator("summary").click()
            highlighted = citation.locator("mark")
            highlighted.wait_for(timeout=10_000)
            assert highlighted.inner_text().strip()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "browser-answer.png"), full_page=True)
        finally:
            browser.close()
