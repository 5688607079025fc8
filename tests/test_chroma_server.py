"""RAG_CHROMA_URL: the same ingest and search against a real `chroma run` server on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from rag.answering.bundled import free_port
from rag.errors import RagError
from rag.pipeline import Pipeline

from .conftest import COMMENTARY, NEWS


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `chroma run` server on a free loopback port: (its URL, its process)."""
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        pytest.fail("the `chroma` command (from the chromadb package) is not installed")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [exe, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                assert server.poll() is None, "chroma server exited at start"
                assert time.monotonic() < deadline, "chroma server did not come up in 60 s"
                time.sleep(0.2)
        yield url, server
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def chroma_url(chroma_server: tuple[str, subprocess.Popen[bytes]]) -> str:
    return chroma_server[0]


def test_ingest_and_search_through_a_chroma_server(make_pipeline: Callable[..., Pipeline], chroma_url: str) -> None:
    first = make_pipeline(chroma_url=chroma_url).ingest()
    assert len(first.added) == 2 and first.chunks_total > 0
    pipeline = make_pipeline(chroma_url=chroma_url)
    assert pipeline.ingest().chunks_embedded == 0
    assert pipeline.index.client.get_collection(pipeline.index.collection_name).count() == first.chunks_total
    hit = pipeline.search("Lancaster Palace", k=1)[0]
    assert Path(hit.source).name == NEWS
    assert not (pipeline.settings.data_dir / "chroma").exists()  # nothing went to the embedded store


def test_unreachable_server_is_a_clear_error(make_pipeline: Callable[..., Pipeline]) -> None:
    with pytest.raises(RagError, match="cannot reach the Chroma server"):
        make_pipeline(chroma_url=f"http://127.0.0.1:{free_port()}").ingest()
    with pytest.raises(ValidationError, match="RAG_CHROMA_URL must look like"):
        make_pipeline(chroma_url="localhost:8000")


def test_a_server_that_dies_is_a_one_line_error_with_what_to_do(
    make_pipeline: Callable[..., Pipeline], chroma_server: tuple[str, subprocess.Popen[bytes]], corpus: Path
) -> None:
    """The server is killed after an ingest: search and the next ingest say what happened, not a traceback."""
    url, server = chroma_server
    pipeline = make_pipeline(chroma_url=url)
    pipeline.ingest()
    server.kill()
    server.wait(timeout=30)
    (corpus / "new.txt").write_text("A new article arrives while the server is down.")
    for action in (lambda: pipeline.search("Lancaster Palace"), pipeline.ingest):
        with pytest.raises(RagError, match=r"cannot reach the Chroma server .* start it again"):
            action()


@contextmanager
def serve_process(data: Path, corpus: Path, chroma_url: str) -> Iterator[httpx.Client]:
    """`python -m rag serve` (extractive) over `chroma_url` with its own data and corpus folders, until the
    block ends; a client for it once /health answers."""
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "RAG_CHROMA_URL": chroma_url,
        "RAG_DATA_DIR": str(data),
        "RAG_CORPUS_DIR": str(corpus),
        "RAG_LLM": "extractive",
    }
    command = [sys.executable, "-m", "rag", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            deadline = time.monotonic() + 120
            while True:
                try:
                    http.get("/health")
                    break
                except httpx.TransportError:
                    assert process.poll() is None, f"serve exited: {process.stderr.read() if process.stderr else ''}"
                    assert time.monotonic() < deadline, "serve did not come up in 120 s"
                    time.sleep(0.2)
            yield http
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_for_job(http: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        job = http.get(f"/v1/jobs/{job['id']}").json()
    return job


def test_two_serving_nodes_share_one_chroma_server_and_the_one_that_did_not_ingest_answers(
    tmp_path: Path, corpus: Path, chroma_url: str
) -> None:
    empty = tmp_path / "b-corpus"
    empty.mkdir()
    with (
        serve_process(tmp_path / "a", corpus, chroma_url) as a,
        serve_process(tmp_path / "b", empty, chroma_url) as b,
    ):
        assert wait_for_job(a, a.post("/v1/ingest").json())["state"] == "done"
        assert b.get("/health").json()["files"] == 2  # node B never ingested

        article = b"The goats of Lisbon were counted at 4,211 on Sunday, the city's herders said."
        added = a.post("/v1/files", files={"file": ("goats.txt", article)}, params={"ingest": "true"}).json()
        assert wait_for_job(a, added["job"])["report"]["paths_added"] == ["goats.txt"]
        time.sleep(1.1)  # B reads the collection's stamp again after a second
        answer = b.post("/v1/ask", json={"question": "How many goats were counted in Lisbon?"}).json()
        assert not answer["refused"] and "4,211" in answer["answer"]
        assert answer["citations"][0]["source"].endswith("goats.txt")
        bm25_rank = b.post("/v1/search", json={"query": "goats herders", "k": 1}).json()[0]["bm25_rank"]
        assert bm25_rank == 1  # B's keyword index was rebuilt from the server's collection

        deleted = a.delete("/v1/files/goats.txt").json()
        assert wait_for_job(a, deleted["job"])["report"]["paths_removed"] == ["goats.txt"]
        time.sleep(1.1)
        assert {f["name"] for f in b.get("/v1/files").json()["files"]} == {NEWS, COMMENTARY}
    assert (tmp_path / "b" / "bm25").is_dir()  # B keeps its own copy, rebuilt only when the collection changed
