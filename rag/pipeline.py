"""The composition root: builds the corpus, the index and the answer backend from Settings, and delegates.

The CLI, the chat page, the evals and the benchmarks only call this. Everything heavy is built on first use.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from rag.config import Settings, configure_logging
from rag.corpus import Corpus
from rag.errors import RagError

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.messages import BaseMessage

    from rag.answering.answer import Answer, Answerer
    from rag.answering.summarize import Progress, Shown, Summary
    from rag.importing import Fields, ImportReport
    from rag.index.health import Finding
    from rag.index.index import Index
    from rag.index.ingest import IngestReport
    from rag.index.ingest import Progress as IngestProgress
    from rag.index.manifest import Entry
    from rag.index.search import HybridRetriever
    from rag.types import Dates, Hit, Passage

TOPIC_PASSAGES = 10  # a topic summary reads at least this many passages (or twice RAG_K)

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def _explaining(settings: Settings) -> Iterator[None]:
    """Failures of the stored index (damaged, read-only, full, unreachable) become a one-line RagError saying
    what to run (rag.index.state); anything else passes unchanged."""
    from rag.index.state import explain

    try:
        yield
    except RagError:
        raise
    except Exception as e:
        if (explained := explain(e, settings)) is not None:
            raise explained from e
        raise


def _explained(method: Callable[P, R]) -> Callable[P, R]:
    """A Pipeline method whose failures of the stored index are explained (see _explaining)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _explaining(args[0].settings):  # type: ignore[attr-defined]
            return method(*args, **kwargs)

    return wrapper


class Pipeline:
    """cited for one Settings: ingest, search, ask, summarize. `embeddings`, `index` and `chat_model` replace
    the parts it would build (tests share one loaded model; the chat page shares one Index between backends;
    a test's scripted chat model enters here)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embeddings: Embeddings | None = None,
        index: Index | None = None,
        chat_model: Any = None,
    ) -> None:
        from rag.answering.models import Backend
        from rag.index.embeddings import configured_embeddings
        from rag.index.index import Index

        self.settings = s = settings or Settings()
        configure_logging(s.log_level)
        self.corpus = Corpus(s.corpus_dir, s.max_file_bytes)
        self.embeddings = embeddings or (index.embeddings if index else configured_embeddings(s))
        self.index = index or Index(s, self.embeddings, display=self.corpus.display)
        self.backend = Backend(s, self.embeddings, chat_model=chat_model)
        self._owns_index = index is None
        self._answerer: Answerer | None = None
        self._lock = threading.Lock()

    def answerer(self) -> Answerer:
        """The answer chain for the configured backend; the bundled model starts here (seconds, once)."""
        from rag.answering.answer import Answerer, similarity_to

        with self._lock:
            if self._answerer is None:
                s, backend = self.settings, self.backend
                self._answerer = Answerer(
                    retrieve=self.search,
                    generate=backend.generation(),
                    condense=backend.condenser(),
                    model=backend.label,
                    context_tokens=s.context_tokens,
                    min_support=s.min_support,
                    min_relevance=s.min_relevance,
                    fallback=backend.extractive,
                    judge=backend.judge(),
                    relevance=similarity_to(self.embeddings),
                    min_answer_relevance=s.min_answer_relevance,
                    style=backend.answer_style,
                    picker=backend.picker(),
                    answerability=backend.answerability(),
                    min_answerable=s.min_answerable,
                )
            return self._answerer

    @property
    def model_label(self) -> str:
        """The answer model as shown to users and used in cache keys; known without starting it."""
        return self.backend.label

    def start_model(self) -> None:
        """Build the answer chain now (the bundled model starts: seconds); instant once done."""
        self.answerer()

    def close(self) -> None:
        """Stop the bundled model and close the index's database if this pipeline opened it (a later use
        reopens them)."""
        with self._lock:
            self._answerer = None
        self.backend.close()
        if self._owns_index:
            self.index.close()

    # --- index -------------------------------------------------------------------------------------------
    @_explained
    def ingest(self, progress: IngestProgress = False, rebuild: bool = False) -> IngestReport:
        """Bring the index in step with the corpus folder (see rag.index.ingest); `rebuild` starts from nothing."""
        self.corpus.require()
        return self.index.ingest(self.corpus.folder, progress, rebuild=rebuild)

    @_explained
    def check(self, repair: bool = False) -> tuple[list[Finding], list[str]]:
        """What is wrong with the index, part by part (rag.index.health), and, with `repair`, what was rebuilt
        from the stored chunks (the findings are then those of a second check)."""
        from rag.index import health

        findings = health.check(self.index, self.corpus.folder)
        if not repair:
            return findings, []
        done = health.repair(self.index, findings)
        return (health.check(self.index, self.corpus.folder) if done else findings), done

    @_explained
    def indexed_files(self) -> dict[str, Entry]:
        """Files in the index, by path relative to the corpus folder."""
        return self.index.files()

    def about_files(self) -> dict[str, tuple[str, str, str]]:
        """Indexed files' (title, date, outlet), by path relative to the corpus folder; for lists of articles."""
        return self.index.about()

    @_explained
    def search(
        self,
        query: str,
        k: int | None = None,
        source: str | None = None,
        dates: Dates | None = None,
        as_of: dt.date | None = None,
    ) -> list[Hit]:
        """The best passages for `query`; `source` limits them to one file (as given by the user), `dates` to
        articles dated within the range. Articles dated far from `as_of` (default today) weigh less
        (RAG_RECENCY_HALF_LIFE_DAYS). A query that asks for the latest state ("now", "currently", ...) gets newer
        articles first where passages tie."""
        from rag.dates import asks_for_latest

        if not query.strip():
            raise RagError("the query is empty; ask something")
        self.index.require()
        rel = self.resolve_source(source) if source else None
        return self.index.searcher.search(
            query, k or self.settings.k, rel, dates, newest_first=asks_for_latest(query), as_of=as_of
        )

    def retriever(self, k: int | None = None, source: str | None = None) -> HybridRetriever:
        from rag.index.search import HybridRetriever

        rel = self.resolve_source(source) if source else None
        return HybridRetriever(searcher=self.index.searcher, k=k or self.settings.k, source=rel)

    # --- answers -------------------------------------------------------------------------------------------
    def ask_stream(
        self,
        question: str,
        history: Sequence[BaseMessage] = (),
        k: int | None = None,
        dates: Dates | None = None,
        as_of: dt.date | None = None,
        source: str | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[str | Answer]:
        """Tokens as the model writes them, then the verified Answer; `k` passages retrieved (default RAG_K),
        only from articles within `dates` and from the file `source` if given; without `dates`, a phrase in the
        question such as "last week" (read against `as_of`, default today) sets the range, and the answer's note
        says so. Setting `stop` stops the model (rag.answering.answer.Stopped): set it before closing early."""
        from rag.answering.answer import Answer
        from rag.dates import phrase_dates

        phrase = ""
        if dates is None:
            dates, phrase = phrase_dates(question, as_of or dt.date.today())
        with _explaining(self.settings):
            if source:  # an unknown file is an error before anything is asked
                self.resolve_source(source)
            for item in self.answerer().stream(question, history, k, dates, source, stop, as_of=as_of):
                if isinstance(item, Answer) and phrase and dates:
                    searched = f"searched articles dated {dates.since} to {dates.until} (from {phrase!r})"
                    item.note = f"{searched}; {item.note}" if item.note else searched
                    item.trace["dates"] = {"since": dates.since, "until": dates.until, "phrase": phrase}
                yield item

    def ask(
        self,
        question: str,
        history: Sequence[BaseMessage] = (),
        k: int | None = None,
        dates: Dates | None = None,
        as_of: dt.date | None = None,
        source: str | None = None,
    ) -> Answer:
        """The verified Answer (see `ask_stream`)."""
        from rag.answering.answer import final_answer

        return final_answer(self.ask_stream(question, history, k, dates, as_of, source))

    # --- summaries ---------------------------------------------------------------------------------------
    @_explained
    def summarize(
        self,
        files: Sequence[str] = (),
        *,
        everything: bool = False,
        topic: str = "",
        progress: Progress | None = None,
        refresh: bool = False,
        dates: Dates | None = None,
        length: str = "medium",
        on_note: Shown | None = None,
    ) -> Summary:
        """A cited summary of some files, of every file, or of the passages about a topic (exactly one of them);
        with `dates`, of every file or the topic's passages within that range. Cached by content, model and
        settings; `refresh` ignores the cache. `dates` without files or a topic make a digest: a bullet per story
        (rag.answering.digest), and so does `everything` when the corpus holds more articles than a digest has
        stories (MAX_STORIES): a summary of each would not fit. `length`: short, medium or long (see
        rag.answering.summarize.LENGTHS).
        `progress` is called before each model step, `on_note` with each bullet checked on the way (a preview).
        If the model fails, the summary is extractive, with a note (and not cached); one cut short by the time
        budget (RAG_SUMMARY_SECONDS) says so in its note and is not cached either."""
        from rag.answering.digest import MAX_STORIES
        from rag.answering.summarize import LENGTHS, SummaryCache
        from rag.index.duplicates import one_of_each

        if length not in LENGTHS:
            raise RagError(f"unknown summary length {length!r}: use one of {', '.join(LENGTHS)}")

        topic = topic.strip()
        digest = bool(dates) and not files and not topic  # a date range alone (or with --all): a digest
        everything = everything or digest
        if sum([bool(files), everything, bool(topic)]) != 1:
            raise RagError(
                "say what to summarize: one or more files, --all, --topic TEXT (only one of them), or a date range "
                "(--since/--until) for a digest"
            )
        if dates and files:
            raise RagError("--since/--until go with --all or --topic, not with files")
        self.index.require()
        indexed = self.indexed_files()
        rels = [self.resolve_source(f) for f in files] if files else sorted(indexed)
        if dates and everything:
            rels = sorted(set(rels) & self.index.sources(dates))
        rels = list(dict.fromkeys(rels))
        digest = digest or (everything and not topic and len(rels) > MAX_STORIES)
        if not digest:  # a digest counts copies as coverage; a summary would repeat their facts
            rels = one_of_each(rels, self.index.copies())
        articles, title = self._summary_input(rels, everything, topic, dates)
        cache = SummaryCache(self.settings.data_dir / "summaries")
        key = cache.key(
            self.settings,
            self.model_label,
            self.index.collection_name,
            files={rel: indexed[rel].sha256 for rel in sorted(indexed) if self.corpus.display(rel) in articles},
            passages={src: [p.id for p in passages] for src, passages in articles.items()} if topic else {},
            topic=topic,
            dates=[dates.since, dates.until] if dates else [],
            length="digest" if digest else length,
        )
        if not refresh and (cached := cache.get(key)) is not None:
            return cached
        if not articles:  # a topic nothing in the corpus is about, or no article in the date range
            summary = self.backend.extractive_summarizer.summarize({}, title, topic, length=length)
            summary.note = (
                "the articles say nothing about this: no passage is relevant enough"
                if topic
                else "no indexed article is dated within the range"
            )
            return summary
        if digest:
            summary = self.backend.digest(articles, title, progress, on_note)
        else:
            summary = self.backend.summarize(articles, title, topic, progress, length, on_note)
        if not summary.note:  # a fallback's summary is not kept: the model may work next time
            cache.put(key, summary)
        return summary

    @_explained
    def timeline(
        self,
        topic: str,
        *,
        dates: Dates | None = None,
        progress: Progress | None = None,
        refresh: bool = False,
        on_note: Shown | None = None,
    ) -> Summary:
        """The articles about `topic` (within `dates`, if given) in date order, a dated, cited bullet each
        (rag.answering.timeline). Cached like summaries; `progress` and `on_note` as for `summarize`."""
        from rag.answering.summarize import SummaryCache
        from rag.answering.timeline import TIMELINE_PASSAGES

        topic = topic.strip()
        if not topic:
            raise RagError('a timeline needs a topic, e.g. python -m rag timeline "the London trade talks"')
        hits = self.search(topic, k=TIMELINE_PASSAGES, dates=dates)
        when = f" from {dates.since or 'the first'} to {dates.until or 'the last'}" if dates else ""
        cache = SummaryCache(self.settings.data_dir / "summaries")
        indexed = self.indexed_files()
        found = {self.corpus.resolve(h.source, indexed) for h in hits}  # one read of the indexed files
        key = cache.key(
            self.settings,
            self.model_label,
            self.index.collection_name,
            files={rel: indexed[rel].sha256 for rel in sorted(found)},
            passages={source: [h.id for h in hits if h.source == source] for source in {h.source for h in hits}},
            topic=topic,
            dates=[dates.since, dates.until] if dates else [],
            length="timeline",
        )
        if not refresh and (cached := cache.get(key)) is not None:
            return cached
        summary = self.backend.timeline(hits, topic, f"Timeline of {topic}{when}", progress, on_note)
        if not summary.note:  # a fallback's timeline is not kept: the model may work next time
            cache.put(key, summary)
        return summary

    def _summary_input(
        self, rels: list[str], everything: bool, topic: str, dates: Dates | None = None
    ) -> tuple[dict[str, list[Passage]], str]:
        """What to summarize ({display path: chunks}) and the summary's title."""
        articles: dict[str, list[Passage]] = {}
        when = f" from {dates.since or 'the first'} to {dates.until or 'the last'}" if dates else ""
        if topic:
            hits = self.search(topic, k=max(TOPIC_PASSAGES, 2 * self.settings.k), dates=dates)
            for hit in hits:
                if (hit.dense_score or 0.0) >= self.settings.min_relevance:
                    articles.setdefault(hit.source, []).append(hit)
            return articles, f"What the articles{when} say about {topic}"
        for rel, chunks in self.index.chunks_of(rels).items():
            articles[self.corpus.display(rel)] = chunks
        if len(rels) == 1 and not dates:
            first = next(iter(articles.values()))
            return articles, (first[0].title if first and first[0].title else Path(rels[0]).stem)
        if dates:
            return articles, f"The articles dated{when}: {len(rels)} articles"
        return articles, f"{'The whole corpus' if everything else 'Several articles'}: {len(rels)} articles"

    # --- files -------------------------------------------------------------------------------------------
    def import_articles(self, source: Path, fields: Fields | None = None) -> ImportReport:
        """Write the articles of a JSON Lines file into the corpus folder as Markdown (rag.importing); not
        indexed yet."""
        from rag.importing import Fields, import_jsonl

        return import_jsonl(source, self.corpus.folder, fields or Fields())

    def article_text(self, source: str) -> str:
        """The normalised text of an indexed file: what citation spans point into."""
        return self.corpus.article_text(self.resolve_source(source))

    def add_upload(self, name: str, data: bytes) -> Path:
        """Save an uploaded article into the corpus folder after checking it (see rag.corpus); not indexed yet."""
        return self.corpus.add_upload(name, data)

    def remove_file(self, source: str) -> str:
        """Delete an indexed file from the corpus folder and return its path as shown; the next ingest removes
        it from the index. Only indexed files can be named, so nothing outside the folder can be."""
        rel = self.resolve_source(source)
        (self.corpus.folder / rel).unlink(missing_ok=True)
        return self.corpus.display(rel)

    def resolve_source(self, given: str) -> str:
        """The indexed file a user means by `given`: corpus/a.txt, a.txt or a full path all work."""
        return self.corpus.resolve(given, self.indexed_files())
