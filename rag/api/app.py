"""The HTTP API: FastAPI routes over one Pipeline, loaded once and shared by every request.

JSON in and out, with the keys of the CLI's `--json` outputs. Searches run in parallel (each in a worker
thread); answers and summaries go through the queue in front of the model (rag.api.gate); ingests are jobs,
one at a time (rag.api.jobs). With RAG_API_KEYS set, every /v1 route wants `Authorization: Bearer KEY`.
Errors are JSON, `{"error": {"message", "type"}}` (OpenAI's shape, so its clients show the message), with
the matching status; an unexpected failure is a 500 with one line, its traceback only in the server's log
at RAG_LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import os
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from contextlib import aclosing, asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, FastAPI, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from rag import history, mcp, read_request
from rag.answering.answer import Answer, Stopped
from rag.api import chat
from rag.api.gate import Admission, Full, Gate
from rag.api.jobs import Jobs
from rag.api.schemas import (
    MAX_TEXT,
    AskRequest,
    ChatRequest,
    FollowRequest,
    IngestRequest,
    SearchRequest,
    SummarizeRequest,
    TimelineRequest,
)
from rag.dates import as_of_date, date_range
from rag.errors import Conflict, NotFound, RagError, StateError, TooLarge, describe_error
from rag.intents import Digest, Timeline

if TYPE_CHECKING:
    from rag.answering.summarize import Summary
    from rag.pipeline import Pipeline

logger = logging.getLogger(__name__)

MAX_JSON_BYTES = 1 << 20  # a request body, uploads aside
STATUS = {NotFound: 404, Conflict: 409, TooLarge: 413, StateError: 503}
_END = object()
R = TypeVar("R")


class Service:
    """What the routes share: the pipeline, the queue in front of its model, the ingest jobs, and whether the
    model has started."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        settings = pipeline.settings
        uses_model = pipeline.backend.uses_model
        self.gate = Gate(slots=settings.llm_slots if uses_model else os.cpu_count() or 1, queue=settings.api_queue)
        self.jobs = Jobs(pipeline)
        self.keys = [key.encode() for key in settings.keys]
        self.model = "starting" if uses_model else "ready"

    def start_model(self) -> None:
        """Start the model in a thread (the bundled one takes seconds); /health says "starting" until then."""

        def start() -> None:
            try:
                self.pipeline.start_model()
                self.model = "ready"
            except Exception as e:  # the answers will meet it too; /health says it meanwhile
                logger.warning("the model did not start", exc_info=True)
                self.model = f"failed: {describe_error(e)}"

        if self.model != "ready":
            threading.Thread(target=start, name="start-model", daemon=True).start()

    def authorize(self, request: Request) -> None:
        """Nothing to check without keys (loopback only, see rag.api.serve); else a bearer token that matches
        one of them, compared in constant time."""
        if not self.keys:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip().encode()
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(given, key) for key in self.keys):
            raise HTTPException(401, "a valid API key is needed: Authorization: Bearer KEY")

    def admit(self) -> Admission:
        """A place in the model's queue, or Full (429)."""
        return self.gate.admit()

    def in_turn(self, answer: Callable[[threading.Event], Iterator[Any]]) -> Iterator[Any]:
        """The items of `answer(stop)` made while this request has the model. Closing this early sets `stop`
        (the model stops writing) and gives the turn back."""
        stop = threading.Event()
        with self.gate.turn():
            items = answer(stop)
            try:
                for item in items:  # noqa: UP028 (`yield from` would close `items` before `stop` is set)
                    yield item
            finally:
                stop.set()
                try:
                    items.close()  # type: ignore[attr-defined]
                except Stopped:
                    logger.debug("the model stopped: the client went away")

    def mcp_turn(self, work: Callable[[], R]) -> R:
        """`work()` for an MCP tool call: admitted to the model's queue (a full one is a tool error saying so),
        then done in its turn."""
        try:
            admission = self.admit()
        except Full as e:
            busy = f"cited is busy: every place in the model's queue is taken; try again in {e.retry_after} s"
            raise RagError(busy) from e
        with admission:
            return self.taking_turn(work)

    def taking_turn(self, work: Callable[[], R]) -> R:
        """`work()` done while this request has the model (blocks until it does)."""
        with self.gate.turn():
            return work()


def create_app(pipeline: Pipeline) -> FastAPI:
    """The API for `pipeline`, which the caller owns (and closes)."""
    service = Service(pipeline)

    tools = mcp.build(pipeline, turn=service.mcp_turn)  # the MCP tools at /mcp (rag.mcp)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start_model()
        async with tools.session_manager.run():
            yield

    app = FastAPI(
        title="cited",
        summary="Answers you can check, from a folder of news articles.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served below: from local files (no CDN offline) and behind the keys
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = service
    _docs(app, service)
    for route in mcp.http_routes(tools):
        app.router.routes.append(Route(route.path, endpoint=_Keyed(route.endpoint, service)))
    _handle_errors(app)
    app.add_middleware(_Unexpected)
    upload_bytes = pipeline.settings.max_file_bytes + MAX_JSON_BYTES
    app.add_middleware(
        _DeclaredSize, limit=lambda scope: upload_bytes if scope["path"] == "/v1/files" else MAX_JSON_BYTES
    )

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Whether cited is ready: the index's size, the model and its state, the queue, a running ingest."""
        try:
            files = pipeline.indexed_files()
            index: dict[str, Any] = {"files": len(files), "chunks": sum(e.chunks for e in files.values())}
        except RagError as e:
            index = {"files": 0, "chunks": 0, "problem": str(e)}
        running = service.jobs.running
        if service.model == "starting":
            status = "loading"
        else:
            status = "ready" if service.model == "ready" and "problem" not in index else "degraded"
        return {
            "status": status,
            **index,
            "model": pipeline.model_label,
            "model_state": service.model,
            "queue": {"admitted": service.gate.admitted, "slots": service.gate.slots, "queue": service.gate.queue},
            "ingest": running.id if running else None,
        }

    # The routes' own limits count bodies sent without a length (answered in plain text, inside _DeclaredSize)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(service.authorize)], max_body_size=MAX_JSON_BYTES)

    @v1.post("/search")
    def search(body: SearchRequest) -> list[dict[str, Any]]:
        """The best passages for a query: the hits of `python -m rag search --json`."""
        dates = _range(body.since, body.until)
        return [h.to_json() for h in pipeline.search(body.query, body.k, body.source, dates)]

    @v1.post("/ask", response_model=None)
    async def ask(body: AskRequest) -> dict[str, Any] | StreamingResponse:
        """A checked answer (the object of `python -m rag ask --json`); with `"stream": true`, Server-Sent
        Events: `token` events with the model's draft as it writes, then one `answer` event with the checked
        answer (or one `error` event)."""
        if not body.question.strip():
            raise RagError("the question is empty; ask something")
        dates, as_of = _range(body.since, body.until), as_of_date(body.as_of, "as_of")
        await run_in_threadpool(_ready_for, pipeline, body.source)
        earlier = history((m.role, m.content) for m in body.history)
        admission = service.admit()
        if not body.stream:
            with admission:
                answer = await run_in_threadpool(
                    service.taking_turn,
                    partial(pipeline.ask, body.question, earlier, body.k, dates, as_of, body.source),
                )
            return answer.to_json()
        tokens = partial(pipeline.ask_stream, body.question, earlier, body.k, dates, as_of, body.source)
        return _Held(_ask_events(service.in_turn(lambda stop: tokens(stop=stop))), admission)

    @v1.post("/summarize")
    async def summarize(body: SummarizeRequest) -> dict[str, Any]:
        """A cited summary of files, of everything, or of a topic: the object of `python -m rag summarize
        --json`."""
        dates = _range(body.since, body.until)
        make = partial(
            pipeline.summarize,
            body.files,
            everything=body.all,
            topic=body.topic,
            refresh=body.refresh,
            dates=dates,
            length=body.length,
        )
        with service.admit():
            summary = await run_in_threadpool(service.taking_turn, make)
        return summary.to_json()

    @v1.post("/timeline")
    async def timeline(body: TimelineRequest) -> dict[str, Any]:
        """The articles about a topic in date order, a dated, cited bullet each: the object of `python -m rag
        timeline --json`."""
        make = partial(pipeline.timeline, body.topic, dates=_range(body.since, body.until), refresh=body.refresh)
        with service.admit():
            summary = await run_in_threadpool(service.taking_turn, make)
        return summary.to_json()

    @v1.get("/files")
    def files(
        offset: int = Query(0, ge=0),
        limit: int = Query(100, ge=1, le=1000),
        q: str = Query("", max_length=200, description="Only files whose name contains this (any case)."),
        since: str = Query("", max_length=40),
        until: str = Query("", max_length=40),
    ) -> dict[str, Any]:
        """The indexed files, a page at a time, by name."""
        indexed = pipeline.indexed_files()
        names = [name for name in sorted(indexed) if q.lower() in name.lower()]
        if dates := _range(since, until):
            dated = pipeline.library.dated(dates)
            names = [name for name in names if name in dated]
        page = [
            {
                "name": name,
                "path": pipeline.library.display(name),
                "chunks": indexed[name].chunks,
                "sha256": indexed[name].sha256,
                "indexed_at": indexed[name].indexed_at,
            }
            for name in names[offset : offset + limit]
        ]
        return {"total": len(names), "offset": offset, "limit": limit, "files": page}

    @v1.post("/files", status_code=201, max_body_size=upload_bytes)
    async def upload(
        file: UploadFile, ingest: bool = Query(False, description="Start an ingest job after it.")
    ) -> dict[str, Any]:
        """Add an article to the corpus folder, checked as the chat checks uploads; not indexed until an ingest
        (`?ingest=true` starts one)."""
        data = await file.read()
        rel = await run_in_threadpool(pipeline.library.add_upload, file.filename or "", data)
        added: dict[str, Any] = {"name": rel, "path": pipeline.library.display(rel), "job": None, "note": ""}
        if ingest:  # the file is added either way: an ingest already running is a note, not an error
            try:
                added["job"] = service.jobs.start().to_json()
            except Conflict as e:
                added["note"] = f"not indexed yet: {e}"
        return added

    @v1.delete("/files/{name:path}")
    def delete(name: str) -> dict[str, Any]:
        """Delete an indexed file from the corpus folder and start the ingest that removes it from the index."""
        deleted: list[str] = []
        job = service.jobs.start(before=lambda: deleted.append(pipeline.library.remove_file(name)))
        return {"deleted": deleted[0], "job": job.to_json()}

    @v1.get("/follows")
    def follows() -> list[dict[str, Any]]:
        """The followed questions with their last answers (the objects of `follow check --json`)."""
        return [f.to_json() for f in pipeline.follows.all()]

    @v1.post("/follows", status_code=201)
    async def follow(body: FollowRequest) -> dict[str, Any]:
        """Follow a question: answered now, then again when an ingest changes its evidence."""
        with service.admit():
            added = await run_in_threadpool(service.taking_turn, partial(pipeline.follows.add, body.question))
        return added.to_json()

    @v1.delete("/follows/{follow_id}")
    def unfollow(follow_id: str) -> dict[str, Any]:
        """Stop following a question."""
        return pipeline.follows.remove(follow_id).to_json()

    @v1.post("/follows/check")
    async def check_follows() -> list[dict[str, Any]]:
        """Check every followed question (changed ones first): the JSON of `follow check --json`."""
        with service.admit():
            checked = await run_in_threadpool(service.taking_turn, pipeline.follows.check)
        return [f.to_json() for f in checked]

    @v1.post("/ingest", status_code=202)
    def ingest(body: IngestRequest | None = None) -> dict[str, Any]:
        """Start bringing the index in step with the corpus folder; poll GET /v1/jobs/{id}."""
        return service.jobs.start(rebuild=bool(body and body.rebuild)).to_json()

    @v1.get("/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        """An ingest job: its state, progress and, when done, the report of `python -m rag ingest --json`."""
        return service.jobs.get(job_id).to_json()

    @v1.get("/models")
    def models() -> dict[str, Any]:
        """OpenAI's model list: one model, "cited"."""
        return chat.model_list()

    @v1.post("/chat/completions", response_model=None)
    async def chat_completions(body: ChatRequest) -> dict[str, Any] | StreamingResponse:
        """OpenAI's chat completions: the last user message answered by cited (see rag.api.chat); one that asks for
        a digest or a timeline ("Summarize this week", "Timeline of the talks", rag.intents) gets that instead."""
        question, earlier = chat.conversation(body.messages, MAX_TEXT)
        await run_in_threadpool(_ready_for, pipeline, None)
        request = read_request(question, dt.date.today())
        admission = service.admit()
        completion_id = chat.completion_id()
        if isinstance(request, Digest | Timeline):
            with admission:
                summary = await run_in_threadpool(service.taking_turn, partial(_summary_for, pipeline, request))
            if not body.stream:
                return chat.completion(summary, completion_id)
            done = (item for item in [summary])  # a generator: the stream closes what it reads
            return StreamingResponse(_chat_events(done, completion_id), media_type="text/event-stream")
        if not body.stream:
            with admission:
                answer = await run_in_threadpool(service.taking_turn, partial(pipeline.ask, question, earlier))
            return chat.completion(answer, completion_id)
        tokens = partial(pipeline.ask_stream, question, earlier)
        return _Held(_chat_events(service.in_turn(lambda stop: tokens(stop=stop)), completion_id), admission)

    app.include_router(v1)
    return app


def _range(since: str, until: str) -> Any:
    return date_range(since, until, prefix="")


def _summary_for(pipeline: Pipeline, request: Digest | Timeline) -> Summary:
    if isinstance(request, Digest):
        return pipeline.summarize(dates=request.dates)
    return pipeline.timeline(request.topic, dates=request.dates)


def _ready_for(pipeline: Pipeline, source: str | None) -> None:
    """Errors a client should get as a status before a stream starts: an empty index, an unknown file."""
    pipeline.library.require()
    if source:
        pipeline.resolve_source(source)


# --- streams ---------------------------------------------------------------------------------------------


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _drained(items: Iterator[Any]) -> AsyncGenerator[Any, None]:
    """`items` (a blocking iterator) read in a worker thread. When the stream ends early (the client went away:
    the response is cancelled and closes this), `items` is closed: the model's turn goes to the next request,
    and a model server stops writing once its reply is no longer read."""
    try:
        while (item := await anyio.to_thread.run_sync(next, items, _END)) is not _END:
            yield item
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(items.close)  # type: ignore[attr-defined]


def _error_body(error: Exception) -> dict[str, Any]:
    status, message = _status(error)
    return {"error": {"message": message, "type": _kind(status), "status": status}}


async def _ask_events(items: Iterator[str | Answer]) -> AsyncIterator[str]:
    """`token` events with the model's draft, then one `answer` event with the checked answer; a failure is
    one `error` event."""
    try:
        async with aclosing(_drained(items)) as drained:
            async for item in drained:
                yield _sse("token", {"text": item}) if isinstance(item, str) else _sse("answer", item.to_json())
    except Exception as e:
        yield _sse("error", _error_body(e))


async def _chat_events(items: Iterator[str | Answer | Summary], completion_id: str) -> AsyncIterator[str]:
    """OpenAI's stream: the role at once, the checked answer (or summary) as one piece once checked, the finish,
    [DONE]."""
    pieces = [chat.chunk(completion_id, {"role": "assistant", "content": ""})]
    yield "".join(f"data: {json.dumps(p, ensure_ascii=False)}\n\n" for p in pieces)
    try:
        async with aclosing(_drained(items)) as drained:
            async for item in drained:
                if not isinstance(item, str):
                    pieces = [
                        chat.chunk(completion_id, {"content": chat.markdown(item)}),
                        chat.chunk(completion_id, {}, "stop", cited=item.to_json(), **chat.trust(item)),
                    ]
                    yield "".join(f"data: {json.dumps(p, ensure_ascii=False)}\n\n" for p in pieces)
    except Exception as e:
        yield f"data: {json.dumps(_error_body(e), ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def _docs(app: FastAPI, service: Service) -> None:
    """The OpenAPI schema and its Swagger page, both behind the API's keys; the page's scripts and styles come
    from the swagger-ui-bundle package, not a CDN (which an offline machine cannot reach)."""
    keyed = [Depends(service.authorize)]
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/openapi.json", include_in_schema=False, dependencies=keyed)
    def schema() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False, dependencies=keyed)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="cited API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


class _Keyed:
    """An ASGI app (the MCP endpoint) behind the API's keys: without a valid one, 401 as the other routes."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self.service.authorize(Request(scope))
        except HTTPException as e:
            body = {"error": {"message": e.detail, "type": _kind(e.status_code), "status": e.status_code}}
            await JSONResponse(body, status_code=e.status_code)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _Held(StreamingResponse):
    """A Server-Sent Events response that holds a place in the model's queue until it ends, however it ends
    (finished, failed, or the client gone before or during the stream)."""

    def __init__(self, content: AsyncIterator[Any], admission: Admission) -> None:
        super().__init__(content, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self._admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
            self._admission.release()


# --- errors ----------------------------------------------------------------------------------------------


def _status(error: Exception) -> tuple[int, str]:
    """The HTTP status and one-line message for an exception."""
    if isinstance(error, RagError):
        status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)
        return status, str(error)
    if isinstance(error, Full):
        return 429, str(error)
    logger.debug("unexpected failure", exc_info=error)
    return 500, f"unexpected failure: {describe_error(error)} (RAG_LOG_LEVEL=DEBUG on the server shows where)"


def _kind(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        409: "conflict_error",
        413: "request_too_large",
        422: "invalid_request_error",
        429: "rate_limit_error",
        503: "unavailable_error",
    }.get(status, "server_error")


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": _kind(status)}}, status, headers=headers)


def _handle_errors(app: FastAPI) -> None:
    @app.exception_handler(RagError)
    async def rag_error(request: Request, error: RagError) -> JSONResponse:
        return _error(*_status(error))

    @app.exception_handler(Full)
    async def full(request: Request, error: Full) -> JSONResponse:
        return _error(429, str(error), {"Retry-After": str(error.retry_after)})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else error.headers
        return _error(error.status_code, str(error.detail), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for e in error.errors():
            where = ".".join(str(part) for part in e["loc"][1:]) or str(e["loc"][0])
            problems.append(f"{where}: {e['msg']}")
        return _error(422, "; ".join(problems)[:1000])


class _DeclaredSize:
    """A body whose declared Content-Length is over the route's limit gets a JSON 413 before it is read.
    (The routes' own limits, which also count bodies sent without a length, answer in plain text.)"""

    def __init__(self, app: ASGIApp, limit: Callable[[Scope], int]) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > (limit := self.limit(scope)):
                message = f"the request body is too large ({int(declared):,} bytes; at most {limit:,})"
                await _error(413, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _Unexpected:
    """Any failure no handler knows becomes a JSON 500 with one line (the traceback only in the log)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as e:
            if started:  # a response is under way: nothing more can be said in it
                logger.debug("failure after the response started", exc_info=True)
                return
            await _error(*_status(e))(scope, receive, send)
