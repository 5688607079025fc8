"""Article text and model output are shown as text in the chat: Markdown images and links in either are never
fetched and never clickable. A real Streamlit process, a real Chromium, and one local HTTP server that plays
two parts: an OpenAI-compatible model whose reply carries an image and links (scripted, for determinism), and
the request logger that every planted URL points at, which must see no request but the model calls."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ..browser import browser_page, streamlit_app

QUESTION = "How many visitors did the Quokka festival draw?"


class Trap(ThreadingHTTPServer):
    """Serves /v1/chat/completions with `reply` (streamed or not) and logs every other request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.leaks: list[str] = []
        self.model_calls = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.reply = (
            f"The Quokka festival drew 40,000 visitors [1]. ![pixel]({self.url}/model-image.png) "
            f"Tickets: {self.url}/model-bare-link and [click]({self.url}/model-link) [1]."
        )


class _Handler(BaseHTTPRequestHandler):
    server: Trap

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.leaks.append(f"GET {self.path}")
        self.send_response(404)
        self.end_headers()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if not self.path.endswith("/chat/completions"):
            self.do_GET()
            return
        self.server.model_calls += 1
        reply = self.server.reply
        self.send_response(200)
        if body.get("stream"):
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in reply.split(" "):
                chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "trap"}
                chunk["choices"] = [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            chunk["choices"] = [{"index": 0, "delta": {}, "finish_reason": "stop"}]  # as every real server ends
            self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
            return
        message = {"role": "assistant", "content": reply}
        answer = {"id": "x", "object": "chat.completion", "created": 0, "model": "trap"}
        answer["choices"] = [{"index": 0, "message": message, "finish_reason": "stop"}]
        data = json.dumps(answer).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def trap() -> Iterator[Trap]:
    server = Trap()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_images_and_links_from_articles_and_the_model_are_never_fetched(tmp_path: Path, trap: Trap) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "festival.md").write_text(
        "# Quokka festival\n\n"
        f"The Quokka festival drew 40,000 visitors. ![pixel]({trap.url}/article-image.png)\n\n"
        f"Tickets: {trap.url}/article-bare-link and [click]({trap.url}/article-link) and "
        f'<img src="{trap.url}/article-html-image.png">.\n'
    )
    env = {
        "RAG_CORPUS_DIR": str(corpus),
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "RAG_LLM": "openai",
        "RAG_LLM_BASE_URL": f"{trap.url}/v1",
        "RAG_MIN_RELEVANCE": "-1",
    }
    with streamlit_app(tmp_path, env) as url, browser_page() as page:
        page.goto(url)
        box = page.get_by_test_id("stChatInputTextArea")
        box.wait_for(timeout=120_000)
        box.fill(QUESTION)
        box.press("Enter")
        citation = page.get_by_test_id("stExpander").filter(has_text="festival.md").first
        citation.wait_for(timeout=120_000)
        citation.locator("summary").click()
        citation.locator("mark").wait_for(timeout=10_000)
        time.sleep(2)  # let any image request the page would make arrive
        answer = page.get_by_test_id("stChatMessage").last
        assert "model-image.png" in answer.inner_text()  # the model's Markdown is shown, as text
        assert "article-image.png" in citation.inner_text()
        assert trap.model_calls >= 1
        assert page.locator(f'img[src^="{trap.url}"]').count() == 0
        assert page.locator(f'a[href^="{trap.url}"]').count() == 0
    assert trap.leaks == []
