"""RAG_CHROMA_URL: the same ingest and search against a real `chroma run` server on loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.answering.bundled import free_port
from rag.errors import RagError
from rag.pipeline import Pipeline

from .conftest import NEWS


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
