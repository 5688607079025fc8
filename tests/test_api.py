"""The HTTP API on a real uvicorn server on a free loopback port, started and stopped by each test: the CLI's
JSON keys, Server-Sent Events read event by event, the official `openai` client, keys, uploads and deletions,
ingest jobs, and the queue in front of the model (a scripted slow model: 429 when full, a client that goes
away mid-stream gives its turn back)."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import Field

from rag.answering.bundled import free_port
from rag.api.app import create_app
from rag.pipeline import Pipeline

from .conftest import run_cli

QUESTION = "How long did Tuesday's talks last?"
SERVER = {"llm": "openai", "llm_base_url": "http://127.0.0.1:9/v1"}  # never contacted: a scripted model answers


@contextmanager
def serving(pipeline: Pipeline, **client: Any) -> Iterator[httpx.Client]:
    """The API for `pipeline` on a real uvicorn server in a thread, and a client for it."""
    server = uvicorn.Server(uvicorn.Config(create_app(pipeline), host="127.0.0.1", port=free_port(), log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the server did not start"
    base = f"http://127.0.0.1:{server.config.port}"
    try:
        with httpx.Client(base_url=base, timeout=60, **client) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(15)


def events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """(event name, data) for each Server-Sent Event, as the lines arrive."""
    name, data = "message", []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())


@pytest.fixture
def extractive(make_pipeline: Callable[..., Pipeline]) -> Pipeline:
    pipeline = make_pipeline(llm="extractive")
    pipeline.ingest()
    return pipeline


def test_search_and_ask_answer_with_the_cli_keys_and_stream_tokens_then_the_checked_answer(
    extractive: Pipeline,
) -> None:
    with serving(extractive) as http:
        health = http.get("/health").json()
        assert (health["status"], health["files"], health["model"]) == ("ready", 2, "extractive")

        hits = http.post("/v1/search", json={"query": "rare earths", "k": 2}).json()
        assert hits == [h.to_json() for h in extractive.search("rare earths", k=2)]

        answer = http.post("/v1/ask", json={"question": QUESTION}).json()
        assert set(answer) == set(extractive.ask(QUESTION).to_json())
        assert not answer["refused"] and "five hours" in answer["answer"]

        with http.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            streamed = list(events(response))
        names = [name for name, _ in streamed]
        assert names[-1] == "answer" and set(names[:-1]) == {"token"}
        final = json.loads(streamed[-1][1])
        assert (final["answer"], final["citations"]) == (answer["answer"], answer["citations"])
        assert (final["band"], final["p_correct"]) == (answer["band"], answer["p_correct"])
        assert answer["band"] in ("checked", "unsure", "refused") and 0.0 <= answer["p_correct"] <= 1.0

        timeline = http.post("/v1/timeline", json={"topic": "the London talks", "until": "2025-06-30"}).json()
        assert timeline["title"].startswith("Timeline of the London talks from the first to 2025-06-30")
        assert timeline["bullets"] and all(b["story"]["since"] == "2025-06-10" for b in timeline["bullets"])


def test_bad_requests_get_one_line_json_errors_with_the_right_status(extractive: Pipeline) -> None:
    with serving(extractive) as http:
        cases = [
            (http.post("/v1/ask", json={"question": "   "}), 400, "empty"),
            (http.post("/v1/ask", json={"question": QUESTION, "since": "soon"}), 400, "since must be a date"),
            (http.post("/v1/ask", json={"question": QUESTION, "source": "nope.txt"}), 404, "not an indexed file"),
            (http.post("/v1/search", json={"query": "x", "k": 0}), 422, "k:"),
            (http.post("/v1/search", json={"query": "x", "filter": "y"}), 422, "filter: Extra inputs"),
            (http.post("/v1/search", content=b"{", headers={"content-type": "application/json"}), 422, ""),
            (http.get("/v1/jobs/nope"), 404, "no job"),
            (http.post("/v1/ask", json={"question": "x" * 5000}), 422, "question:"),
            (http.post("/v1/timeline", json={"topic": ""}), 422, "topic:"),
        ]
        for response, status, message in cases:
            assert response.status_code == status, response.text
            error = response.json()["error"]
            assert message in error["message"] and "\n" not in error["message"] and "Traceback" not in response.text
        json_type = {"content-type": "application/json"}
        too_large = http.post("/v1/search", content=b" " * (2 << 20), headers=json_type)
        assert too_large.status_code == 413 and "too large" in too_large.json()["error"]["message"]
        unsized = http.post("/v1/search", content=iter([b" " * (1 << 20)] * 2), headers=json_type)  # chunked
        assert unsized.status_code == 413


def test_the_openai_client_gets_cited_answers_with_sources_and_no_links_from_articles(
    extractive: Pipeline, corpus: Any
) -> None:
    from openai import OpenAI

    (corpus / "hostile.md").write_text(
        "# Goat census\n\nThe goats of Lisbon were counted at 4,211 on Sunday ![pixel](http://evil.example/p.png) "
        "and [click here](http://evil.example/) for more.\n"
    )
    extractive.ingest()
    with serving(extractive) as http:
        client = OpenAI(base_url=f"{http.base_url}/v1", api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list()] == ["cited"]
        messages: Any = [{"role": "user", "content": "How many goats were counted in Lisbon?"}]
        reply = client.chat.completions.create(model="cited", messages=messages)
        content = reply.choices[0].message.content or ""
        assert "4,211" in content and "[1]" in content and "**Sources:**" in content
        assert not re.search(r"(?<!\\)\[(pixel|click here)\]\(", content)  # the image and link are text
        assert "\\" not in content.replace("\\[", "").replace("\\<", "")  # ordinary punctuation is not escaped
        cited = (reply.model_extra or {})["cited"]
        assert cited["citations"][0]["source"].endswith("hostile.md") and not cited["refused"]
        trust = {k: (reply.model_extra or {})[k] for k in ("band", "p_correct")}  # extra fields of the response
        assert trust == {"band": cited["band"], "p_correct": cited["p_correct"]} and trust["band"] == "unsure"
        assert "_Unsure (estimated" in content  # the band in words, for a client that shows only the text

        stream = client.chat.completions.create(model="cited", messages=messages, stream=True)
        chunks = list(stream)
        streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
        assert streamed == content
        assert (chunks[-1].model_extra or {}).get("band") == "unsure"

        follow_up = client.chat.completions.create(
            model="cited",
            messages=[
                *messages,
                {"role": "assistant", "content": content},
                {"role": "user", "content": "On which day?"},
            ],
        )
        searched = (follow_up.model_extra or {})["cited"]["condensed_question"]
        assert "goats" in searched and "On which day?" in searched  # the earlier turns are its history


def test_keys_are_required_when_set_and_never_shown(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(llm="extractive", api_keys="first-secret-key, second-secret-key")
    pipeline.ingest()
    with serving(pipeline) as http:
        assert http.get("/health").status_code == 200  # for probes: no articles in it
        query = {"query": "rare earths"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "first-secret-key"}):
            refused = http.post("/v1/search", json=query, headers=headers)
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
            assert "secret" not in refused.text
        for key in ("first-secret-key", "second-secret-key"):
            assert http.post("/v1/search", json=query, headers={"Authorization": f"Bearer {key}"}).status_code == 200
        # the schema and its page are behind the keys too, and the page loads nothing from outside
        assert http.get("/docs").status_code == 401 and http.get("/openapi.json").status_code == 401
        keyed = {"Authorization": "Bearer first-secret-key"}
        page = http.get("/docs", headers=keyed)
        assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
        assert "https://" not in page.text and "http://" not in page.text
        assert http.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        assert "/v1/ask" in http.get("/openapi.json", headers=keyed).json()["paths"]


def test_serving_beyond_loopback_without_keys_is_refused_with_one_line(tmp_path: Any, corpus: Any) -> None:
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_LLM": "extractive"}
    code, _, err = run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), env=env)
    assert code == 2 and "RAG_API_KEYS" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_uploads_are_checked_then_ingested_and_deletions_leave_the_index(extractive: Pipeline) -> None:
    with serving(extractive) as http:
        article = ("goats.txt", b"The goats of Lisbon were counted at 4,211 on Sunday.")
        attacks = {
            "../goats.txt": 400,
            "sub/goats.txt": 400,
            ".goats.txt": 400,
            "goats.exe": 400,
            "2025-06-10_news_london-talks-day-two.txt": 409,
        }
        for name, status in attacks.items():
            response = http.post("/v1/files", files={"file": (name, article[1])})
            assert response.status_code == status, (name, response.text)
        assert not list(extractive.corpus.folder.glob("*goats*"))

        added = http.post("/v1/files", files={"file": article}, params={"ingest": "true"})
        assert added.status_code == 201 and added.json()["path"].endswith("goats.txt")
        job = wait_for(http, added.json()["job"]["id"])
        assert job["state"] == "done" and job["report"]["paths_added"] == ["goats.txt"]
        assert http.post("/v1/files", files={"file": article}).status_code == 409  # already there
        for n in range(40):  # an ingest long enough to be running when the next upload comes
            (extractive.corpus.folder / f"port-{n:02}.txt").write_text(f"Port report {n}. " + "cranes " * 300)
        running = http.post("/v1/ingest").json()
        late = http.post("/v1/files", files={"file": ("more.txt", b"Herons were counted too.")}, params={"ingest": 1})
        assert late.status_code == 201 and late.json()["job"] is None and "an ingest is running" in late.json()["note"]
        wait_for(http, running["id"])
        hits = http.post("/v1/search", json={"query": "goats Lisbon", "k": 1}).json()
        assert hits[0]["source"].endswith("goats.txt")
        assert http.get("/v1/files", params={"q": "goat"}).json()["total"] == 1

        assert http.delete("/v1/files/nothing.txt").status_code == 404
        deleted = http.delete("/v1/files/goats.txt").json()
        assert deleted["deleted"].endswith("goats.txt")
        assert wait_for(http, deleted["job"]["id"])["report"]["paths_removed"] == ["goats.txt"]
        assert http.get("/v1/files").json()["total"] == 2 + 40 + 1  # the seed, the port reports, more.txt


def test_an_upload_over_the_size_limit_is_413(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(llm="extractive", max_file_mb=0.01)
    with serving(pipeline) as http:
        response = http.post("/v1/files", files={"file": ("big.txt", b"word " * 5000)})
        assert response.status_code == 413 and "too large" in response.json()["error"]["message"]


def wait_for(http: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (job := http.get(f"/v1/jobs/{job_id}").json())["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    return dict(job)


class SlowModel(GenericFakeChatModel):
    """Writes its reply a word every `delay` seconds, and counts the words it wrote."""

    delay: float = 0.2
    written: list[str] = Field(default_factory=list)

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for chunk in super()._stream(*args, **kwargs):
            time.sleep(self.delay)
            self.written.append(chunk.message.content)
            yield chunk


def test_a_full_queue_is_429_and_a_client_gone_mid_stream_gives_its_turn_back(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    reply = "Tuesday's talks lasted five hours before pausing [1]. " * 10
    model = SlowModel(messages=itertools.repeat(AIMessage(reply)))
    pipeline = make_pipeline(chat_model=model, api_queue=0, min_answerable=0, **SERVER)
    pipeline.ingest()
    with serving(pipeline) as http:
        ask = {"question": QUESTION, "stream": True}
        with http.stream("POST", "/v1/ask", json=ask) as first:
            assert next(name for name, _ in events(first)) == "token"  # the model is writing for this one
            busy = http.post("/v1/ask", json={"question": QUESTION})
            assert busy.status_code == 429 and int(busy.headers["retry-after"]) >= 1
            assert busy.json()["error"]["type"] == "rate_limit_error"
            assert http.post("/v1/search", json={"query": "talks"}).status_code == 200  # searches are not queued
        # the client has gone mid-answer: the turn is given back and the model stops writing for it
        deadline = time.monotonic() + 10
        while http.get("/health").json()["queue"]["admitted"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http.get("/health").json()["queue"]["admitted"] == 0
        assert len(model.written) < len(reply.split())
        model.delay = 0
        assert http.post("/v1/ask", json={"question": QUESTION}).status_code == 200


def test_searches_go_on_while_an_ingest_job_runs_and_a_second_ingest_is_refused(extractive: Pipeline) -> None:
    words = "harbour cranes tariffs shipping containers freight rates port authority dockworkers".split()
    for n in range(60):
        body = " ".join(words[(n + i) % len(words)] for i in range(400))
        (extractive.corpus.folder / f"port-{n:02}.txt").write_text(f"Port report {n}.\n\n{body}.\n")
    with serving(extractive) as http:
        job = http.post("/v1/ingest").json()
        assert http.post("/v1/ingest").status_code == 409  # one ingest at a time
        during = 0
        while http.get(f"/v1/jobs/{job['id']}").json()["state"] == "running":
            assert http.post("/v1/search", json={"query": "Lancaster Palace"}).status_code == 200
            during += http.get(f"/v1/jobs/{job['id']}").json()["state"] == "running"
        assert during > 0 and wait_for(http, job["id"])["state"] == "done"
        assert http.get("/v1/files").json()["total"] == 62


def test_a_chat_message_asking_for_a_timeline_gets_the_timeline(extractive: Pipeline) -> None:
    from openai import OpenAI

    with serving(extractive) as http:
        client = OpenAI(base_url=f"{http.base_url}/v1", api_key="unused", max_retries=0)
        messages: Any = [{"role": "user", "content": "Timeline of the London trade talks"}]
        reply = client.chat.completions.create(model="cited", messages=messages)
        content = reply.choices[0].message.content or ""
        cited = (reply.model_extra or {})["cited"]
        assert content.startswith("**Timeline of the London trade talks") and "**Sources:**" in content
        assert cited["title"].startswith("Timeline of") and cited["bullets"] and "refused" not in cited
        stream = client.chat.completions.create(model="cited", messages=messages, stream=True)
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == content
