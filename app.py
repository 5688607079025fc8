"""The chat page: `streamlit run app.py` (or `make run`). Thin on purpose: everything it shows comes from
rag.pipeline; this file only lays it out. One index per data folder is shared by every backend and session;
switching the model swaps only the answer backend.

Chat with history (answers stream token by token, then settle into the verified answer with numbered
citations; each citation opens to the quote highlighted inside its article); a sidebar with the corpus
(files, chunks, when indexed, a summarize button each), a week's digest, a timeline of a topic, re-indexing
with progress, uploads, the model in use and a switch between bundled / locally hosted / extractive, and k.
"Summarize this week", "What's new since DATE" and "Timeline of TOPIC" typed in the chat do the same as the
buttons (rag.intents reads them, as the API and the CLI do).

Article text, model output and anything else from outside (file names, error messages) are shown as text,
never as Markdown or HTML: an image or link in an article or an answer is neither fetched nor clickable.
`plain()` writes HTML-escaped text (st.html makes no links of bare URLs, unlike st.markdown); `md_text()`
escapes text for the places Streamlit only takes Markdown (labels, captions, alerts).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import math
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import streamlit as st
from pydantic import ValidationError

from rag import Answer, Citation, Pipeline, RagError, Settings, Summary, history
from rag.errors import ReadOnlyError, describe_error
from rag.follows import Followed
from rag.intents import Digest, Timeline, read_request
from rag.terminal import visible
from rag.text import also_in, md_text
from rag.types import Dates, Entry

logger = logging.getLogger("rag.app")

BACKENDS = {"bundled": "Bundled model", "openai": "Locally hosted (OpenAI-compatible URL)", "extractive": "Extractive"}
UPLOAD_TYPES = ["txt", "md", "html", "htm", "pdf"]
FILES_PER_PAGE = 20  # files drawn in the sidebar at a time


@st.cache_resource(show_spinner="Opening the index and bringing it up to date...")
def indexed_pipeline(environment: tuple[tuple[str, str], ...]) -> tuple[Pipeline, str]:
    """One pipeline whose index (and embedding model) every backend's pipeline shares, per data folder and
    process, brought up to date once, and a note for the page ("" if none). `environment` (the RAG_* variables
    the settings are read from) is the key. A read-only data folder is searched as it is."""
    pipeline = Pipeline(Settings())
    try:
        pipeline.ingest()
    except ReadOnlyError as e:
        return pipeline, f"Not brought up to date: {e}"
    return pipeline, ""


@st.cache_resource(show_spinner=False)
def get_pipeline(backend: str, base_url: str, model: str, environment: tuple[tuple[str, str], ...]) -> Pipeline:
    """One pipeline per backend choice and process, on the shared index: the model loads once, not per rerun."""
    overrides: dict[str, Any] = {"llm": backend}
    if backend == "openai":
        overrides |= {"llm_base_url": base_url or None, "llm_model": model or "local-model"}
    return indexed_pipeline(environment)[0].sharing_index(Settings(**overrides))


def plain(text: str, container: Any = None, *, style: str = "", suffix: str = "") -> None:
    """Untrusted text shown as text (escaped HTML, invisible characters shown as escapes; line breaks kept);
    `suffix` is trusted HTML after it."""
    body = f'<div style="white-space: pre-wrap; {style}">{html.escape(visible(text))}{suffix}</div>'
    (container or st).html(body)


def problem(error: Exception) -> None:
    """Any failure as a message in the page, never a traceback."""
    if isinstance(error, RagError):
        st.error(md_text(str(error)))
    elif isinstance(error, ValidationError):
        st.error(md_text(f"Invalid setting: {describe_error(error)}"))
    else:
        logger.warning("the page caught an unexpected error", exc_info=error)
        st.error(md_text(f"Something went wrong: {describe_error(error)}"))


def excerpt(text: str, start: int, end: int, window: int = 500) -> str:
    """HTML of the article around a quote, the quote highlighted."""
    a, b = max(0, text.rfind(" ", 0, max(0, start - window)) + 1), text.find(" ", end + window)
    b = len(text) if b < 0 else b
    part = "…" * (a > 0) + html.escape(visible(text[a:start]))
    part += f"<mark>{html.escape(visible(text[start:end]))}</mark>" + html.escape(visible(text[end:b]))
    part += "…" * (b < len(text))
    return f'<div style="white-space: pre-wrap; line-height: 1.5">{part}</div>'


def show_citations(pipeline: Pipeline, citations: list[Citation]) -> None:
    for c in citations:
        label = f"[{c.id}] {c.about + ' - ' if c.about else ''}{c.source} ({c.start}-{c.end})"
        copies = f" · {len(c.copies)} cop{'ies' if len(c.copies) > 1 else 'y'}" if c.copies else ""
        with st.expander(md_text(label + copies)):
            try:
                st.html(excerpt(pipeline.library.article_text(c.source), c.start, c.end))
            except RagError:  # the file changed or went away since: the quote is still known
                plain(c.quote, style="border-left: 3px solid #ccc; padding-left: 0.8em")
            if c.copies:
                st.caption(md_text(also_in(c.copies, shown=10)))


BADGES: dict[str, tuple[str, Literal["green", "orange", "gray"]]] = {
    "checked": ("Checked", "green"),
    "unsure": ("Unsure: read the sources", "orange"),
    "refused": ("Refused", "gray"),
}


def show_band(answer: Answer) -> None:
    """The answer's band as a badge in words, with one line on why (rag.answering.confidence)."""
    label, color = BADGES.get(answer.band, (answer.band, "gray"))
    st.badge(label, color=color)
    if answer.band != "refused":
        st.caption(md_text(f"Estimated {answer.p_correct:.0%} likely right: {answer.band_reason}."))


def show_answer(pipeline: Pipeline, answer: Answer) -> None:
    show_band(answer)
    if answer.refused:
        st.warning(md_text(answer.answer))
        for hit in answer.passages:
            with st.expander(md_text(f"Closest passage: {hit.source}")):
                plain(hit.text)
    else:
        for s in answer.sentences:
            why = f"not supported by the sources{': ' + s.reason if s.reason else ''}"
            show_claim(s.text, s.citations, s.supported, why, flag=s.flag)
        if answer.confidence != "supported":
            st.caption("Partly supported: check the sentences marked in orange against their sources.")
        show_citations(pipeline, answer.citations)
    if answer.condensed_question != answer.question:
        with st.expander("Searched for", expanded=False):
            plain(answer.condensed_question, style="color: #808495; font-size: 0.9em")
    if answer.trace:
        show_trace(answer.trace, answer.timings)
    show_note(answer.note, answer.model, answer.timings.get("total_s", 0.0))


def show_trace(trace: dict[str, Any], timings: dict[str, float]) -> None:
    """A collapsed account of the answer: what was retrieved, what the model saw, how each sentence was checked."""
    with st.expander("How this answer was checked", expanded=False):  # model and article text as plain text
        st.caption(f"Support check: {trace['support']}.")
        st.text(f"Searched for: {trace['prompt']['question']}")
        if trace["sentences"]:
            st.dataframe(
                [{k: s[k] for k in ("text", "stage", "score", "supported", "reason")} for s in trace["sentences"]],
                hide_index=True,
            )
        if pick := trace.get("pick"):  # pick first: the numbered sentences and the model's share for each
            chances = pick["probabilities"]
            chosen = f"sentence {pick['chosen']}" if pick["chosen"] else "none of them"
            st.caption(f"Pick first: the model named {chosen} (share for none: {chances.get('0', 0.0):.2f}).")
            st.dataframe(
                [
                    {"n": n, "passage": s["passage"], "sentence": s["text"], "share": chances.get(str(n), 0.0)}
                    for n, s in enumerate(pick["sentences"], start=1)
                ],
                hide_index=True,
            )
        st.caption("Retrieved passages (dense and BM25 ranks):")
        st.dataframe(trace["retrieved"], hide_index=True)
        shown = ", ".join(f"{p['source']}:{p['start']}-{p['end']}" for p in trace["prompt"]["passages"])
        st.text(f"The model saw: {shown or 'nothing'}")
        st.caption("Timings: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))


def show_claim(
    text: str, citations: list[int], supported: bool, why: str, bullet: bool = False, flag: str = ""
) -> None:
    """One answer sentence or summary bullet with its [n] markers; unsupported ones in orange, with why; a
    flagged one (a link passed on from an article) with the warning under it."""
    shown = ("• " if bullet else "") + " ".join([text, *(f"[{c}]" for c in citations)])
    warning = f'<br><small style="color: #b91c1c">⚠ {html.escape(flag)}</small>' if flag else ""
    if supported:
        plain(shown, suffix=warning)
    else:
        plain(shown, style="color: #d97706", suffix=f" <em>({html.escape(why)})</em>{warning}")


def show_summary(pipeline: Pipeline, summary: Summary) -> None:
    plain(summary.title, style="font-weight: 600")
    if not summary.bullets:
        st.warning("The articles say nothing about this." if summary.topic else "Nothing to summarize.")
    for b in summary.bullets:
        if b.story:  # a digest: the story's dates, outlets and size above its bullet
            st.caption(md_text(b.heading()))
        show_claim(b.text, b.citations, b.supported, "not supported", bullet=True)
    show_citations(pipeline, summary.citations)
    show_note(summary.note, summary.model, summary.timings.get("total_s", 0.0), cached=summary.cached)


def show_note(note: str, model: str, seconds: float, cached: bool = False) -> None:
    if "model failed" in note:
        st.warning(md_text(note))
    elif note:
        st.caption(md_text(note))
    st.caption(md_text(f"{model}, {'from the cache' if cached else f'{seconds:.1f} s'}"))


def show_turn(pipeline: Pipeline, request: str, result: Answer | Summary, turn: int) -> None:
    plain(request, st.chat_message("user"))
    with st.chat_message("assistant"):
        if isinstance(result, Answer):
            show_answer(pipeline, result)
            follow_button(request, turn)
        else:
            show_summary(pipeline, result)


def follow_button(question: str, turn: int) -> None:
    """One click follows the question: answered again when new articles change its answer (rag.follows)."""
    st.button("Follow this question", key=f"follow-{turn}", on_click=queue, args=(("follow", question),))


def followed_panel(pipeline: Pipeline) -> None:
    """The sidebar's followed questions: each with its last answer, changed ones marked with the article that
    changed them; a button checks them all now."""
    st.header("Followed")
    try:
        followed = pipeline.follows.all()
    except RagError as e:  # a damaged list: say so, the rest of the page works
        st.warning(md_text(str(e)))
        return
    if not followed:
        st.caption("Follow a question from its answer: it is answered again when new articles change it.")
        return
    for f in followed:
        mark = {"changed": "Changed", "gone": "Gone"}.get(f.status, "")
        with st.expander(md_text(f"{mark + ': ' if mark else ''}{f.question}"), expanded=f.status != "unchanged"):
            plain(f.answer["answer"])
            st.caption(md_text(f"{f.status}: {f.reason} (checked {f.checked_at})"))
            if f.previous and f.status != "unchanged":
                plain(f"Before: {f.previous['answer']}", style="color: #808495; font-size: 0.9em")
            st.button("Stop following", key=f"unfollow-{f.id}", on_click=queue, args=(("unfollow", f.id),))
    st.button("Check the followed questions now", on_click=queue, args=(("follow-check", ""),))


def show_followed(checked: list[Followed]) -> None:
    for f in checked:
        if f.status != "unchanged":
            st.info(md_text(f"Followed question {f.status}: {f.question} -> {f.answer['answer']} ({f.reason})"))


def reindex(pipeline: Pipeline) -> None:
    with st.status("Indexing the corpus folder...", expanded=True) as status:
        bar = st.progress(0.0, text="looking for changes")
        report = pipeline.ingest(progress=lambda done, total: bar.progress(done / total, text=f"{done}/{total} chunks"))
        st.session_state.index_seen = (pipeline.library.version(), len(pipeline.indexed_files()))  # news to nobody
        status.update(label=md_text(f"Indexed: {report.summary()}"), state="complete", expanded=bool(report.skipped))
        for skipped in report.skipped:
            st.warning(md_text(f"Skipped {skipped['path']}: {skipped['reason']}"))
    show_followed(pipeline.check_follows(after=report))


def summarize(
    pipeline: Pipeline, request: str, files: list[str], everything: bool = False, dates: Dates | None = None
) -> None:
    """A summary (with `dates` alone, or `everything` of more than 10 articles: a digest, a bullet per story), shown
    while it is made (see `made_live`)."""
    length = st.session_state.get("summary_length", "medium")
    made_live(request, partial(pipeline.summarize, files, everything=everything, length=length, dates=dates))


def timeline(pipeline: Pipeline, request: str, topic: str, dates: Dates | None) -> None:
    """A timeline of `topic`, shown while it is made (see `made_live`)."""
    made_live(request, partial(pipeline.timeline, topic, dates=dates))


def made_live(request: str, make: Callable[..., Summary]) -> None:
    """Call `make(progress=..., on_note=...)` while the page shows its steps and each bullet as soon as it is
    checked (a preview: the summary's own bullets follow), and keep the result as a turn of the chat."""
    with st.status(md_text(f"{request}..."), expanded=True) as status:
        bar = st.progress(0.0, text="starting")
        summary = make(
            progress=lambda n, total, what: bar.progress(min(n / total, 1.0), text=what),
            on_note=lambda text, supported: show_claim(text, [], supported, "not supported", bullet=True),
        )
        status.update(label=md_text(request), state="complete", expanded=False)
    st.session_state.turns.append((request, summary))


def choose_model(settings: Settings) -> tuple[Pipeline | None, int]:
    """The sidebar's model choice and k; returns the pipeline to use (None if it cannot be built) and k."""
    with st.sidebar:
        st.header("Model")
        keys = list(BACKENDS)
        backend = st.radio("Answers come from", keys, index=keys.index(settings.backend), format_func=BACKENDS.get)
        base_url, model = "", ""
        if backend == "openai":
            base_url = st.text_input("Server URL", settings.llm_base_url or "http://127.0.0.1:11434/v1")
            model = st.text_input("Model name", settings.llm_model)
        k = st.slider("Passages per question (k)", 1, 20, settings.k)
        try:
            environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("RAG_")))
            pipeline = get_pipeline(str(backend), base_url, model, environment)
        except (RagError, ValidationError) as e:
            problem(e)
            return None, k
        st.caption(md_text(f"In use: {pipeline.model_label}"))
        if note := indexed_pipeline(environment)[1]:
            st.info(md_text(note))
    return pipeline, k


def queue(action: tuple[str, Any]) -> None:
    """A button's callback: the action runs early in the next run, before the corpus list is drawn."""
    st.session_state.action = action


def queue_uploads() -> None:
    files = st.session_state.get("uploads") or []
    queue(("upload", [(f.name, f.getvalue()) for f in files]))


def queue_timeline() -> None:
    if topic := " ".join((st.session_state.get("timeline_topic") or "").split()):
        queue(("timeline", topic))


@st.fragment(run_every=5)
def follow_index(pipeline: Pipeline) -> None:
    """Every few seconds, whether the index changed meanwhile (`python -m rag watch`, as `make run` starts it,
    or another session); if so the whole page is drawn again, with the new files and a note of what came.
    This session's own re-index updates what was seen (see `reindex`): redrawing would wipe its messages."""
    files, version = len(pipeline.indexed_files()), pipeline.library.version()
    seen = st.session_state.setdefault("index_seen", (version, files))
    if seen[0] != version:
        st.session_state.index_seen = (version, files)
        if files != seen[1]:
            change = files - seen[1]
            articles = f"article{'s' * (abs(change) != 1)}"
            news = f"Indexed {change} new {articles}" if change > 0 else f"{-change} {articles} left the index"
            st.session_state.index_news = news
        st.rerun()


def files_page(files: dict[str, Entry], about: dict[str, tuple[str, str, str]]) -> None:
    """The indexed files matching the filter box (by name or title), FILES_PER_PAGE at a time, each with its
    title, outlet and date where known (`about`: path -> (title, date, outlet))."""
    wanted = st.text_input("Filter by name or title", key="corpus_filter", placeholder="e.g. 2024-03 or talks")
    wanted = wanted.strip().lower()
    names = [rel for rel in sorted(files) if wanted in rel.lower() or wanted in about.get(rel, ("",))[0].lower()]
    chunks = sum(e.chunks for e in files.values())
    st.caption(f"{len(files)} articles, {chunks} chunks" + (f"; {len(names)} match" if wanted else ""))
    pages = max(1, math.ceil(len(names) / FILES_PER_PAGE))
    if st.session_state.get("corpus_page", 1) > pages:  # the filter left fewer pages than the one shown
        st.session_state.corpus_page = pages
    page = st.number_input(f"Page (of {pages})", 1, pages, key="corpus_page") if pages > 1 else 1
    for rel in names[(page - 1) * FILES_PER_PAGE : page * FILES_PER_PAGE]:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(files[rel].indexed_at))
        title, date, outlet = about.get(rel, ("", "", ""))
        plain(title or rel, style="font-weight: 600")
        said = ", ".join(filter(None, [outlet, date, rel if title else ""]))
        st.caption(md_text(f"{said + '; ' if said else ''}{files[rel].chunks} chunks, indexed {when}"))
        st.button("Summarize", key=f"summarize-{rel}", on_click=queue, args=(("summarize", rel),))


def corpus_panel(pipeline: Pipeline) -> None:
    """The sidebar's corpus: counts, a name filter and a page of files (chunk counts, when indexed, a summarize
    button each), re-index, uploads. Only one page of files is drawn, so it stays quick at 10,000 files."""
    settings = pipeline.settings
    with st.sidebar:
        st.header("Corpus")
        files = pipeline.indexed_files()
        if news := st.session_state.pop("index_news", ""):
            st.success(f"{news} ({len(files)} in all)")
        follow_index(pipeline)
        if not files:
            st.info(f"No articles indexed yet: add some below or put them in {settings.corpus_dir}/.")
        else:
            files_page(files, pipeline.library.about())
        if files:
            st.radio("Summary length", ["short", "medium", "long"], index=1, horizontal=True, key="summary_length")
        if len(files) > 1:
            st.button("Summarize all articles", on_click=queue, args=(("summarize-all", ""),))
            st.button("This week's news (a digest)", on_click=queue, args=(("digest", "Summarize this week"),))
            with st.form("timeline", clear_on_submit=True, border=False):
                st.text_input("A timeline of", placeholder="a topic, e.g. the trade talks", key="timeline_topic")
                st.form_submit_button("Make the timeline", on_click=queue_timeline)
        st.button("Re-index the corpus folder", on_click=queue, args=(("reindex", ""),))

        st.header("Add articles")
        with st.form("upload", clear_on_submit=True):
            st.file_uploader(
                f"Articles ({', '.join(UPLOAD_TYPES)}; up to {settings.max_file_mb:g} MB each)",
                # No `type=`: with it, Streamlit itself raises on a name with a NUL byte, for the whole batch and
                # page; rag.corpus checks each file's name and type instead, one error per bad file.
                accept_multiple_files=True,
                key="uploads",
            )
            st.form_submit_button("Add and index", on_click=queue_uploads)
        followed_panel(pipeline)


def run_action(pipeline: Pipeline, action: tuple[str, Any]) -> None:
    kind, arg = action
    if kind == "reindex":
        reindex(pipeline)
    elif kind == "summarize":
        summarize(pipeline, f"Summarize {arg}", [arg])
    elif kind == "summarize-all":
        summarize(pipeline, "Summarize all articles", [], everything=True)
    elif kind == "digest":
        request = read_request(arg, dt.date.today())
        summarize(pipeline, arg, [], dates=request.dates if isinstance(request, Digest) else None)
    elif kind == "timeline":
        timeline(pipeline, f"Timeline of {arg}", arg, None)
    elif kind == "follow":
        st.success(md_text(f"Following: {pipeline.follows.add(arg).question}"))
    elif kind == "unfollow":
        pipeline.follows.remove(arg)
    elif kind == "follow-check":
        checked = pipeline.follows.check()
        show_followed(checked)
        if all(f.status == "unchanged" for f in checked):
            st.success("No followed answer changed.")
    elif kind == "upload":
        added = []
        for name, data in arg:
            try:
                added.append(pipeline.library.add_upload(name, data))
            except RagError as e:
                st.error(md_text(f"Not added: {e}"))
            except Exception as e:  # one bad upload never stops the batch
                logger.warning("upload %r failed", name, exc_info=True)
                st.error(md_text(f"Not added: {name!r}: {describe_error(e)}"))
        if not arg:
            st.warning("Choose one or more files first.")
        if added:
            st.success(md_text(f"Added {', '.join(added)}"))
            reindex(pipeline)


def main() -> None:
    st.set_page_config(page_title="cited", layout="wide")
    st.title("cited")
    st.caption("Ask the articles in the corpus folder; every answer cites its sources.")
    try:
        settings = Settings()
    except ValidationError as e:
        problem(e)
        return
    st.session_state.setdefault("turns", [])  # (request, Answer | Summary)
    pipeline, k = choose_model(settings)
    if pipeline is None:
        return
    if action := st.session_state.pop("action", None):
        try:
            run_action(pipeline, action)
        except Exception as e:
            problem(e)
    corpus_panel(pipeline)

    for turn, (request, result) in enumerate(st.session_state.turns):
        show_turn(pipeline, request, result, turn)

    if question := st.chat_input("Ask a question about the articles"):
        plain(question, st.chat_message("user"))
        with st.chat_message("assistant"):
            try:
                with st.spinner(f"Starting {pipeline.model_label}..."):
                    pipeline.start_model()  # slow only the first time
                request = read_request(question, dt.date.today())
                if isinstance(request, Digest | Timeline):
                    if isinstance(request, Digest):
                        summarize(pipeline, question, [], dates=request.dates)
                    else:
                        timeline(pipeline, question, request.topic, request.dates)
                    show_summary(pipeline, st.session_state.turns[-1][1])
                    return
                turns = [(q, a.answer) for q, a in st.session_state.turns if isinstance(a, Answer)]
                earlier = history(turn for q, a in turns for turn in (("user", q), ("assistant", a)))
                live, text, answer = st.empty(), "", None
                for item in pipeline.ask_stream(question, earlier, k=k):
                    if isinstance(item, str):
                        text += item
                        plain(text + " ▌", live)
                    else:
                        answer = item
                live.empty()
                if answer is not None:
                    show_answer(pipeline, answer)
                    st.session_state.turns.append((question, answer))
                    follow_button(question, len(st.session_state.turns) - 1)
            except Exception as e:
                problem(e)


main()
