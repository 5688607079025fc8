"""cited over the Model Context Protocol: the SDK's own client against the real server (`python -m rag mcp`, a
subprocess over stdio) on a temporary corpus with the extractive backend."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

from .conftest import NEWS, run_cli

TOOLS = {"search", "ask", "summarize", "timeline", "list_files"}


def _env(corpus: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RAG_CORPUS_DIR": str(corpus),
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "RAG_LLM": "extractive",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


def test_an_assistant_lists_the_tools_gets_a_cited_answer_and_outside_paths_are_refused(
    corpus: Path, tmp_path: Path
) -> None:
    env = _env(corpus, tmp_path)
    (tmp_path / "secret.txt").write_text("The launch code is 0000.")
    (corpus / "link.txt").symlink_to(tmp_path / "secret.txt")  # out of the corpus: skipped at ingest
    code, _, err = run_cli("ingest", "--quiet", env=env, cwd=tmp_path)
    assert code == 0, err
    results: dict[str, Any] = {}

    async def session() -> None:
        server = StdioServerParameters(command=sys.executable, args=["-m", "rag", "mcp"], env=env, cwd=str(tmp_path))
        async with Client(server) as client:
            results["tools"] = (await client.list_tools()).tools
            results["ask"] = await client.call_tool("ask", {"question": "How long did Tuesday's talks last?"})
            results["outside"] = await client.call_tool("search", {"query": "launch code", "source": "../secret.txt"})
            results["absolute"] = await client.call_tool("ask", {"question": "code?", "source": "/etc/passwd"})
            results["symlink"] = await client.call_tool("search", {"query": "launch code", "source": "link.txt"})
            results["bad_date"] = await client.call_tool("search", {"query": "talks", "since": "2025-06-10; DROP"})
            results["files"] = await client.call_tool("list_files", {})  # the server is still there

    anyio.run(session)
    assert {t.name for t in results["tools"]} == TOOLS
    assert all(t.description for t in results["tools"])

    ask = results["ask"]
    assert not ask.is_error
    assert "five hours" in ask.content[0].text and "[1]" in ask.content[0].text
    data = ask.structured_content
    assert data["citations"][0]["source"].endswith(NEWS) and not data["refused"]
    assert data["band"] in ("checked", "unsure", "refused") and 0 <= data["p_correct"] <= 1

    for name in ("outside", "absolute", "symlink", "bad_date"):
        failed = results[name]
        text = failed.content[0].text
        assert failed.is_error and "\n" not in text and "0000" not in text and "root:" not in text, (name, text)
    assert "must be a date like 2024-03-04" in results["bad_date"].content[0].text

    files = results["files"]
    assert not files.is_error and NEWS in files.content[0].text
    listed = {Path(f["path"]).name for f in files.structured_content["files"]}
    assert all(f["bytes"] > 0 and f["date"] == "2025-06-10" for f in files.structured_content["files"])
    assert listed == {p.name for p in corpus.glob("*.txt") if not p.is_symlink()}


def test_the_same_tools_over_http_at_mcp_are_behind_the_api_keys(make_pipeline: Any) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from .test_api import serving

    pipeline = make_pipeline(llm="extractive", api_keys="k1")
    pipeline.ingest()
    results: dict[str, Any] = {}
    with serving(pipeline, headers={"Authorization": "Bearer k1"}) as http:
        refused = httpx2.post(f"{http.base_url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401 and "API key" in refused.json()["error"]["message"]

        async def session() -> None:
            keyed = httpx2.AsyncClient(headers={"Authorization": "Bearer k1"}, timeout=60)
            async with keyed, Client(streamable_http_client(f"{http.base_url}/mcp", http_client=keyed)) as client:
                results["tools"] = (await client.list_tools()).tools
                results["ask"] = await client.call_tool("ask", {"question": "How long did Tuesday's talks last?"})
                results["unknown"] = await client.call_tool("summarize", {"files": ["nothing-here.txt"]})
                results["search"] = await client.call_tool("search", {"query": "rare earths", "k": 2})

        anyio.run(session)
    assert {t.name for t in results["tools"]} == TOOLS
    assert not results["ask"].is_error and "five hours" in results["ask"].content[0].text
    assert results["unknown"].is_error and "nothing-here.txt" in results["unknown"].content[0].text
    assert len(results["search"].structured_content["hits"]) == 2  # a call after a failed one
