"""The chat in a real browser with the bundled 0.5B model. Leaves a screenshot in test-artifacts/ (not
committed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .browser import browser_page, streamlit_app
from .conftest import NEWS, ROOT, SMALL

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def served(corpus: Path, tmp_path: Path, small_gguf: Path) -> Iterator[str]:
    env = {
        "RAG_CORPUS_DIR": str(corpus),
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "RAG_LLM": "bundled",
        "RAG_BUNDLED_MODEL": SMALL.name,
        "RAG_MODELS_DIR": str(small_gguf.parent),
    }
    with streamlit_app(tmp_path, env) as url:
        yield url


def test_a_seed_question_in_a_real_browser(served: str) -> None:
    with browser_page() as page:
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
