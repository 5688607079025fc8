"""The library: the corpus folder and its index together, as users name them. Files are named as users give
them (corpus/a.txt, a.txt or a full path) and shown as the corpus folder's paths; failures of the stored index
come out as one-line messages that say what to run (rag.index.state).

It brings the index in step with the folder, checks it, searches it, and adds, reads and removes articles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Hashable
from pathlib import Path
from typing import TYPE_CHECKING

from rag.corpus import Corpus
from rag.dates import asks_for_latest
from rag.errors import RagError
from rag.importing import Fields, ImportReport, import_jsonl
from rag.index.index import Index
from rag.index.search import HybridRetriever
from rag.index.state import explained
from rag.types import Dates, Entry, Hit, Passage

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.index.health import Finding
    from rag.index.ingest import IngestReport
    from rag.index.ingest import Progress as IngestProgress


class Library:
    """The articles of one corpus folder and the index of them."""

    def __init__(self, settings: Settings, corpus: Corpus, index: Index) -> None:
        self.settings = settings
        self.corpus = corpus
        self.index = index

    # --- the index's lifecycle ------------------------------------------------------------------------------
    @explained
    def ingest(self, progress: IngestProgress = False, rebuild: bool = False) -> IngestReport:
        """Bring the index in step with the corpus folder (see rag.index.ingest); `rebuild` starts from nothing."""
        self.corpus.require()
        return self.index.ingest(self.corpus.folder, progress, rebuild=rebuild)

    @explained
    def check(self, repair: bool = False) -> tuple[list[Finding], list[str]]:
        """What is wrong with the index, part by part (rag.index.health), and, with `repair`, what was rebuilt
        from the stored chunks (the findings are then those of a second check)."""
        from rag.index import health  # deferred: it reads the store, and the store imports chromadb (seconds)

        findings = health.check(self.index, self.corpus.folder)
        if not repair:
            return findings, []
        done = health.repair(self.index, findings)
        return (health.check(self.index, self.corpus.folder) if done else findings), done

    @explained
    def require(self) -> None:
        """Raise unless some file is indexed (cheap enough for every request)."""
        self.index.require()

    def version(self) -> Hashable:
        """Changes whenever the index's contents may have, here or in another process."""
        return self.index.version()

    # --- what is in it ------------------------------------------------------------------------------------
    @explained
    def files(self) -> dict[str, Entry]:
        """Files in the index, by path relative to the corpus folder."""
        return self.index.files()

    @explained
    def about(self) -> dict[str, tuple[str, str, str]]:
        """Indexed files' (title, date, outlet), by path relative to the corpus folder; for lists of articles."""
        return self.index.about()

    @explained
    def dated(self, dates: Dates) -> set[str]:
        """The indexed files (paths relative to the corpus folder) with articles dated within `dates`."""
        return self.index.sources(dates)

    @explained
    def chunks_of(self, rels: list[str]) -> dict[str, list[Passage]]:
        """The stored chunks of indexed files, {path as shown: passages}, in the order given."""
        return {self.corpus.display(rel): chunks for rel, chunks in self.index.chunks_of(rels).items()}

    def copies(self) -> dict[str, tuple[str, ...]]:
        """Each indexed file that has near-duplicates -> its group of copies, main copy first."""
        return self.index.copies()

    def resolve(self, given: str, indexed: Collection[str] | None = None) -> str:
        """The indexed file a user means by `given`: corpus/a.txt, a.txt or a full path all work. `indexed`: the
        indexed files, when the caller has just read them (else they are read here)."""
        return self.corpus.resolve(given, self.files() if indexed is None else indexed)

    def display(self, rel: str) -> str:
        """A file (a path relative to the corpus folder) as users see it."""
        return self.corpus.display(rel)

    def article_text(self, source: str) -> str:
        """The normalised text of an indexed file: what citation spans point into."""
        return self.corpus.article_text(self.resolve(source))

    # --- search -------------------------------------------------------------------------------------------
    @explained
    def search(
        self,
        query: str,
        k: int | None = None,
        source: str | None = None,
        dates: Dates | None = None,
        as_of: dt.date | None = None,
        prefer: Dates | None = None,
    ) -> list[Hit]:
        """The best passages for `query`; `source` limits them to one file (as given by the user), `dates` to
        articles dated within the range, `prefer` ranks articles within its range higher without leaving the
        others out (HybridSearcher.search). Articles dated far from `as_of` (default today) weigh less
        (RAG_RECENCY_HALF_LIFE_DAYS). A query that asks for the latest state ("now", "currently", ...) gets newer
        articles first where passages tie."""
        if not query.strip():
            raise RagError("the query is empty; ask something")
        self.index.require()
        rel = self.resolve(source) if source else None
        return self.index.searcher.search(
            query, k or self.settings.k, rel, dates, newest_first=asks_for_latest(query), as_of=as_of, prefer=prefer
        )

    def retriever(self, k: int | None = None, source: str | None = None) -> HybridRetriever:
        """The search as a LangChain retriever."""
        rel = self.resolve(source) if source else None
        return HybridRetriever(searcher=self.index.searcher, k=k or self.settings.k, source=rel)

    # --- adding and removing articles ---------------------------------------------------------------------
    def import_articles(self, source: Path, fields: Fields | None = None) -> ImportReport:
        """Write the articles of a JSON Lines file into the corpus folder as Markdown (rag.importing); not
        indexed yet."""
        return import_jsonl(source, self.corpus.folder, fields or Fields())

    def add_upload(self, name: str, data: bytes) -> str:
        """Save an uploaded article into the corpus folder after checking it (see rag.corpus); not indexed yet.
        Returns its path relative to the corpus folder."""
        return self.corpus.add_upload(name, data).relative_to(self.corpus.folder).as_posix()

    def remove_file(self, source: str) -> str:
        """Delete an indexed file from the corpus folder and return its path as shown; the next ingest removes
        it from the index. Only indexed files can be named, so nothing outside the folder can be."""
        rel = self.resolve(source)
        (self.corpus.folder / rel).unlink(missing_ok=True)
        return self.corpus.display(rel)
