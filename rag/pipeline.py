"""The composition root: builds cited's parts from Settings and hands them out.

The CLI, the chat page, the API, the evals and the benchmarks only call this. It wires; the work is done by
the parts it builds: the library (rag.library: the corpus folder and its index), the answer path
(rag.answering.answerer), summaries and timelines (rag.summaries), and the backend that holds the model
(rag.answering.models). The embedding model loads and the bundled model starts on first use, not here.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rag.answering.answer import Answer, final_answer
from rag.answering.answerer import Answerer, similarity_to
from rag.answering.models import Backend
from rag.config import Settings, configure_logging
from rag.corpus import Corpus
from rag.follows import Followed, Follows, FollowStore
from rag.index.embeddings import configured_embeddings
from rag.index.index import Index
from rag.index.state import explaining
from rag.library import Library
from rag.summaries import Summaries

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.messages import BaseMessage

    from rag.answering.summarize import Summary
    from rag.index.health import Finding
    from rag.index.ingest import IngestReport
    from rag.index.ingest import Progress as IngestProgress
    from rag.types import Dates, Entry, Hit


class Pipeline:
    """cited for one Settings. `embeddings`, `index` and `chat_model` replace the parts it would build (tests
    share one loaded model; the chat page shares one Index between backends; a test's scripted chat model
    enters here).

    Parts, for what the shortcuts below do not cover: `library` (files, search, uploads), `summaries`
    (summaries, digests, timelines), `follows` (followed questions), `backend` (the model), `index`, `corpus`,
    `embeddings`, `settings`."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embeddings: Embeddings | None = None,
        index: Index | None = None,
        chat_model: Any = None,
    ) -> None:
        self.settings = s = settings or Settings()
        configure_logging(s.log_level)
        self.corpus = Corpus(s.corpus_dir, s.max_file_bytes)
        self.embeddings = embeddings or (index.embeddings if index else configured_embeddings(s))
        self.index = index or Index(s, self.embeddings, display=self.corpus.display)
        self.backend = Backend(s, self.embeddings, chat_model=chat_model)
        self.library = Library(s, self.corpus, self.index)
        self.summaries = Summaries(s, self.library, self.backend)
        self._owns_index = index is None
        self._answerer: Answerer | None = None
        self.follows = self.follows_asking(self.ask)
        self._lock = threading.Lock()

    def follows_asking(self, ask: Callable[[str], Answer]) -> Follows:
        """Followed questions over this pipeline's store and search, answered by `ask` (the pipeline's own
        answers for `self.follows`; a benchmark or test passes one that counts its calls)."""
        s = self.settings
        return Follows(
            FollowStore(s.data_dir / "follows.sqlite"),
            ask=ask,
            search=lambda question: self.search(question),
            same_facts=self.backend.same_facts,
            indexed=lambda: {self.library.display(rel) for rel in self.indexed_files()},
            floor=s.min_relevance,
        )

    def sharing_index(self, settings: Settings) -> Pipeline:
        """A pipeline for other settings (another backend) on this one's index: the page switches models so."""
        return Pipeline(settings, index=self.index)

    def answerer(self) -> Answerer:
        """The answer path for the configured backend; the bundled model starts here (seconds, once)."""
        with self._lock:
            if self._answerer is None:
                s, backend = self.settings, self.backend
                self._answerer = Answerer(
                    retrieve=self.library.search,
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
                    context=backend.context(),
                    confidence=backend.confidence(),
                )
            return self._answerer

    @property
    def model_label(self) -> str:
        """The answer model as shown to users and used in cache keys; known without starting it."""
        return self.backend.label

    def start_model(self) -> None:
        """Build the answer path now (the bundled model starts: seconds); instant once done."""
        self.answerer()

    def close(self) -> None:
        """Stop the bundled model and close the index's database if this pipeline opened it (a later use
        reopens them)."""
        with self._lock:
            self._answerer = None
        self.backend.close()
        if self._owns_index:
            self.index.close()

    # --- shortcuts to the parts ---------------------------------------------------------------------------
    def ingest(self, progress: IngestProgress = False, rebuild: bool = False) -> IngestReport:
        """Bring the index in step with the corpus folder (Library.ingest)."""
        return self.library.ingest(progress, rebuild)

    def check_follows(self, after: IngestReport | None = None) -> list[Followed]:
        """The followed questions checked (rag.follows), changed ones first; after an ingest, only when it
        changed the index. [] when none are followed."""
        if after is not None and not (after.added or after.changed or after.removed):
            return []
        return self.follows.check()

    def check(self, repair: bool = False) -> tuple[list[Finding], list[str]]:
        """What is wrong with the index and, with `repair`, what was rebuilt (Library.check)."""
        return self.library.check(repair)

    def indexed_files(self) -> dict[str, Entry]:
        """Files in the index, by path relative to the corpus folder."""
        return self.library.files()

    def resolve_source(self, given: str) -> str:
        """The indexed file a user means by `given` (Library.resolve)."""
        return self.library.resolve(given)

    def search(
        self,
        query: str,
        k: int | None = None,
        source: str | None = None,
        dates: Dates | None = None,
        as_of: dt.date | None = None,
        prefer: Dates | None = None,
    ) -> list[Hit]:
        """The best passages for `query` (Library.search)."""
        return self.library.search(query, k, source, dates, as_of, prefer)

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
        """Tokens as the model writes them, then the checked Answer (Answerer.stream); `source`, if given, must
        be an indexed file. Setting `stop` stops the model (Stopped): set it before closing early."""
        with explaining(self.settings):
            if source:  # an unknown file is an error before anything is asked
                self.library.resolve(source)
            yield from self.answerer().stream(question, history, k, dates, source, stop, as_of=as_of)

    def ask(
        self,
        question: str,
        history: Sequence[BaseMessage] = (),
        k: int | None = None,
        dates: Dates | None = None,
        as_of: dt.date | None = None,
        source: str | None = None,
    ) -> Answer:
        """The checked Answer (see `ask_stream`)."""
        return final_answer(self.ask_stream(question, history, k, dates, as_of, source))

    def summarize(self, files: Sequence[str] = (), **options: Any) -> Summary:
        """A cited summary of files, of everything, of a topic, or a digest (Summaries.summarize: the options)."""
        return self.summaries.summarize(files, **options)

    def timeline(self, topic: str, **options: Any) -> Summary:
        """The articles about `topic` in date order, a cited bullet each (Summaries.timeline: the options)."""
        return self.summaries.timeline(topic, **options)
