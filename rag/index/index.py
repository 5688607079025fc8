"""One data folder's index: the Chroma collection for the current settings, its manifest rows, its BM25 index,
the ingest lock, and the clean-up of collections made with other settings.

Parts are opened on first use (Chroma and the embedding model take seconds). One Index can serve many readers
at once (the chat page shares one between its backends and sessions); ingests are serialised by a file lock,
across processes too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from rag.errors import Conflict, RagError
from rag.index.bm25 import BM25Index, Chunk, Tokens
from rag.index.chunking import VERSION, make_splitter
from rag.index.embeddings import vectors_name
from rag.index.manifest import Manifest
from rag.index.search import HybridSearcher, stored_passage
from rag.types import Entry

if TYPE_CHECKING:
    import chromadb
    from langchain_core.embeddings import Embeddings

    from rag.config import Settings
    from rag.index.ingest import IngestReport, Progress
    from rag.index.store import Store
    from rag.types import Dates, Passage

logger = logging.getLogger(__name__)

# Chunks are written this many embedding batches at a time: enough for length-sorting to pay off (see
# Ingester._embed), few enough that a killed ingest loses little.
EMBED_BATCHES_PER_WRITE = 64
# `chunks_of` more files than this reads the whole collection once rather than file by file. A file's `where` against
# a pass over everything: 4.7 ms against 0.2 s at 2k chunks (a RealTime QA week), about 70 ms (the machine busy)
# against 17 s at 128k (the year).
ONE_PASS_FILES = 200
READ_PAGE = 5000  # chunks per Chroma `get` by ids
STAMP_SECONDS = 1.0  # on a Chroma server, the collection's stamp is read again after this long (searches ask)


CROWD_SHARE = 0.1  # an ingest that embedded this share of the index (and CROWD_MIN chunks) checks the graph
CROWD_MIN = 100


def crowded(report: IngestReport) -> bool:
    """Whether an ingest added enough of the index to have reshaped its HNSW graph (see Index.ingest).

    >>> from rag.index.ingest import IngestReport
    >>> crowded(IngestReport(chunks_embedded=2000, chunks_total=2007)), crowded(IngestReport(chunks_embedded=7))
    (True, False)
    >>> crowded(IngestReport(chunks_embedded=2500, chunks_total=125_000))  # a week added to a year
    False
    """
    return report.chunks_embedded >= max(CROWD_MIN, CROWD_SHARE * report.chunks_total)


class Index:
    """The searchable index of one data folder, for the chunking and embedding settings in `settings`.
    `display` maps a stored source (a path relative to the corpus folder) to the path users see."""

    def __init__(
        self,
        settings: Settings,
        embeddings: Embeddings,
        display: Callable[[str], str] = str,
        recall: Callable[[Store], float | None] | None = None,
    ) -> None:
        """`recall` measures the HNSW graph after an ingest (default rag.index.recall.sampled_recall; HNSW's
        construction is random, so a test that needs a degraded graph passes its own)."""
        self.settings = settings
        self.embeddings = embeddings
        self.display = display
        self._recall = recall
        self._ingests = 0  # ingests run by this object: SQLite's data_version only counts other connections'
        self._manifest: Manifest | None = None
        self._lock = threading.Lock()
        self._stamp_read = (-STAMP_SECONDS, "")  # (monotonic time, stamp) of the server's stamp, last read
        self._server_files: tuple[Hashable, dict[str, Entry]] | None = None
        self._copies: tuple[Hashable, dict[str, tuple[str, ...]]] | None = None
        self._client: chromadb.ClientAPI | None = None  # opened on first use, like the store and the searcher
        self._store: Store | None = None
        self._searcher: HybridSearcher | None = None

    @cached_property
    def signature(self) -> dict[str, Any]:
        """Everything that decides what a stored vector means; a change means a new collection."""
        s = self.settings
        return {
            "chunker": VERSION,
            "encoding": s.encoding,
            "chunk_size": s.chunk_size,
            "chunk_overlap": s.chunk_overlap,
            "embedding": vectors_name(s),
        }

    @cached_property
    def collection_name(self) -> str:
        """RAG_COLLECTION and a hash of the signature: other settings never share a collection."""
        digest = hashlib.sha256(json.dumps(self.signature, sort_keys=True).encode()).hexdigest()
        return f"{self.settings.collection}-{digest[:12]}"

    @property
    def client(self) -> chromadb.ClientAPI:
        """The Chroma client, made on first use (and again after `_discard`)."""
        from rag.index.store import make_client  # deferred: chromadb (seconds)

        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    @property
    def store(self) -> Store:
        """The collection, opened on first use (and again after it was replaced: `_forget_store`)."""
        from rag.index.store import open_collection  # deferred: chromadb (seconds)

        if self._store is None:
            self._store = open_collection(
                self.client, self.collection_name, self.embeddings, self.settings, self.signature
            )
        return self._store

    @property
    def manifest(self) -> Manifest:
        with self._lock:
            if self._manifest is None:
                self._manifest = Manifest(self.settings.data_dir / "manifest.sqlite", self.collection_name)
            return self._manifest

    @property
    def bm25_dir(self) -> Path:
        return self.settings.data_dir / "bm25" / self.collection_name

    @property
    def searcher(self) -> HybridSearcher:
        """Hybrid search over this index; it follows ingests by this object and by other processes."""
        if self._searcher is None:
            self._searcher = self._new_searcher()
        return self._searcher

    def _new_searcher(self) -> HybridSearcher:
        s = self.settings
        return HybridSearcher(
            self.store,
            lambda: self._load_bm25() or self._fresh_bm25(),
            candidates=s.candidates,
            rrf_k=s.rrf_k,
            half_life_days=s.recency_half_life_days,
            version=self.version,
            display=self.display,
            copies=self.copies,
        )

    @property
    def shared(self) -> bool:
        """On a Chroma server, which other processes (other machines) may fill: what the collection holds is
        known from the server (its chunks and the stamp kept with it), not from this folder's manifest."""
        return bool(self.settings.chroma_url)

    def version(self) -> Hashable:
        """Changes whenever the collection's contents may have: an ingest here or in another process (on a
        Chroma server, by any process that shares it)."""
        local = (self.manifest.data_version(), self._ingests)
        return (*local, self._stamp()) if self.shared else local

    # --- contents ----------------------------------------------------------------------------------------
    def files(self) -> dict[str, Entry]:
        """Indexed files, by path relative to the corpus folder. On a Chroma server, the files whose chunks the
        collection holds, whoever ingested them (read from the chunks' metadata once per change)."""
        if self.shared:
            return self._files_on_server()
        return {p: e for p, e in self.manifest.entries().items() if e.state == "done"}

    def _files_on_server(self) -> dict[str, Entry]:
        from rag.index.store import chunk_counts  # deferred: chromadb (seconds)

        key = (self.generation(), self.store.count())
        if self._server_files is not None and self._server_files[0] == key:
            return self._server_files[1]
        files = {
            path: Entry(path, by_hash.most_common(1)[0][0], sum(by_hash.values()), "done", 0.0)
            for path, by_hash in sorted(chunk_counts(self.store).items())
        }
        self._server_files = (key, files)
        return files

    def copies(self) -> dict[str, tuple[str, ...]]:
        """Each indexed file that has near-duplicates -> its group of copies, main copy first (paths relative to
        the corpus folder; see rag.index.duplicates). Read again after each change. On a Chroma server, only
        the files ingested from this data folder are grouped."""
        version = self.version()
        cached = self._copies
        if cached is None or cached[0] != version:
            cached = self._copies = (version, self.manifest.copies())
        return cached[1]

    def about(self) -> dict[str, tuple[str, str, str]]:
        """Each indexed file's (title, date, outlet), by path relative to the corpus folder ("" where unknown).
        On a Chroma server, only the files ingested from this data folder."""
        return self.manifest.about()

    def require(self) -> None:
        """Raise unless some file is indexed and its vectors are there: one row looked up and the chunks counted,
        cheap enough for every search."""
        if not (self.store.count() if self.shared else self.manifest.any_done()):
            if self.manifest.collections() - {self.collection_name}:
                raise RagError(
                    "the index was built with other settings (chunking, embedding model or runtime); run `python -m "
                    "rag ingest` to index the corpus again with these (the old index is dropped once that completes)"
                )
            raise RagError(
                f"the index is empty; put articles in {self.settings.corpus_dir} and run `python -m rag ingest`"
            )
        if not self.shared and (not (self.settings.data_dir / "chroma").is_dir() or self.store.count() == 0):
            raise RagError(
                f"the vector store in {self.settings.data_dir / 'chroma'} is missing or empty, yet the manifest lists "
                "indexed files (was it deleted?); run `python -m rag ingest` to index them again"
            )

    def sources(self, dates: Dates) -> set[str]:
        """The indexed files (paths relative to the corpus folder) with chunks dated within `dates`."""
        from rag.index.store import iter_chunks  # deferred: chromadb (seconds)

        return {str(m["source"]) for _, _, m in iter_chunks(self.store, ["metadatas"], where=dates.where())}

    def chunks(self, source: str) -> list[Passage]:
        """The stored chunks of one indexed file (a path relative to the corpus folder), as passages."""
        from rag.index.store import iter_chunks  # deferred: chromadb (seconds)

        chunks = iter_chunks(self.store, ["documents", "metadatas"], where={"source": source})
        return [stored_passage(i, t, m, self.display) for i, t, m in chunks]

    def chunks_of(self, sources: list[str]) -> dict[str, list[Passage]]:
        """The stored chunks of several indexed files, {source: passages} in the order given. More than
        ONE_PASS_FILES are read in one pass over the collection: Chroma answers a `where` on one file by scanning
        its metadata (70 ms a file at 128k chunks), so a year of news file by file took minutes (197 s, now 17 s)."""
        from rag.index.store import iter_chunks  # deferred: chromadb (seconds)

        if len(sources) <= ONE_PASS_FILES:
            return {source: self.chunks(source) for source in sources}
        found: dict[str, list[Passage]] = {source: [] for source in sources}
        for i, t, m in iter_chunks(self.store, ["documents", "metadatas"]):
            if (passages := found.get(str(m["source"]))) is not None:
                passages.append(stored_passage(i, t, m, self.display))
        return found

    # --- ingest ------------------------------------------------------------------------------------------
    def ingest(self, corpus_dir: Path, progress: Progress = False, rebuild: bool = False) -> IngestReport:
        """Bring the index in step with `corpus_dir` (see rag.index.ingest). `progress`: a terminal bar (True), or
        a function called with (chunks embedded, chunks to embed). `rebuild`: throw the stored index away first
        (damaged files are deleted, never opened) and index the whole corpus again.

        After an ingest that deleted chunks (files removed or changed), or that embedded a large share of the
        index (`crowded`: a file of thousands of near-identical lines can leave HNSW's graph unable to reach the
        other files), a sampled recall check of the graph runs, and a degraded graph is rebuilt from the stored
        chunks and measured again (`vectors_rebuilt` and `vector_recall` in the report): a rebuild clears
        deleted vectors out and builds the graph anew. A small addition to a large index is not checked: the
        check reads every stored vector (about 0.4 ms a chunk), and `check` finds what it would.
        """
        from rag.index.ingest import Ingester  # deferred: chromadb (seconds)

        s = self.settings
        started = time.perf_counter()
        with self._ingest_lock():
            if rebuild:
                self._discard()
            batch = s.embed_batch_size
            ingester = Ingester(
                self.store,
                self.manifest,
                make_splitter(s.chunk_size, s.chunk_overlap, s.encoding),
                max_bytes=s.max_file_bytes,
                embed_batch=batch,
                write_batch=EMBED_BATCHES_PER_WRITE * batch,
            )
            try:
                report = ingester.run(corpus_dir, progress=progress)
                report.rebuilt = self._drop_other_collections() or rebuild
                if report.removed or report.changed or report.repaired or crowded(report):
                    report.vector_recall = self._repair_vectors()
                    report.vectors_rebuilt = len(report.vector_recall) > 1
                if self.shared:  # the stamp that tells the other processes on the server what changed
                    self.store.set_stamp(self._manifest_generation())
                    self._stamp_read = (-STAMP_SECONDS, "")
                if self._load_bm25() is None:
                    self._build_bm25().save(self.bm25_dir)
                report.seconds = time.perf_counter() - started  # with the repairs and BM25, not only the files
            finally:
                self._ingests += 1  # even a failed ingest may have changed chunks
        return report

    def _repair_vectors(self) -> list[float]:
        """The graph's sampled recall, and if it is degraded, the collection rebuilt and its recall measured
        again: [] for an empty index, [recall] when healthy, [before, after] when rebuilt."""
        from rag.index.recall import MIN_RECALL, sampled_recall  # deferred: chromadb (seconds)

        measure = self._recall or sampled_recall
        recall = measure(self.store)
        if recall is None:
            return []
        if recall >= MIN_RECALL:
            return [recall]
        logger.warning("sampled recall %.2f after the ingest: rebuilding the collection", recall)
        self._copy_collection()
        return [recall, measure(self.store) or 0.0]

    def rebuild_collection(self) -> int:
        """Copy every stored chunk (vector, text, metadata) into a fresh collection and put it in place of the
        old one: repairs a degraded HNSW graph without reading the corpus or embedding. Returns the chunks."""
        with self._ingest_lock():
            copied = self._copy_collection()
            self._ingests += 1
        return copied

    def save_bm25(self, reuse: bool = False) -> int:
        """Rebuild the BM25 index from every stored chunk's text (with `reuse`, from the saved tokens and only
        new chunks' texts, as an ingest does) and save it; returns the chunks."""
        with self._ingest_lock():
            bm25 = self._build_bm25(reuse)
            bm25.save(self.bm25_dir)
            self._ingests += 1
        return len(bm25.ids)

    def _copy_collection(self) -> int:
        from rag.index.store import drop_collection, open_collection  # deferred: chromadb (seconds)

        spare = f"{self.collection_name}-rebuilt"  # left over by a crash: `_drop_other_collections` drops it
        drop_collection(self.client, spare)
        fresh = open_collection(self.client, spare, self.embeddings, self.settings, self.signature)
        copied = 0
        for page in self.store.pages():
            fresh.upsert(page["ids"], page["embeddings"], page["documents"], page["metadatas"])
            copied += len(page["ids"])
        drop_collection(self.client, self.collection_name)
        fresh.rename(self.collection_name)
        self._forget_store()
        return copied

    def _forget_store(self) -> None:
        """Drop the cached collection handles: the next use opens the collection by name again."""
        self._store = self._searcher = None

    def _discard(self) -> None:
        """Delete this data folder's stored index (every collection, the manifest, BM25) without opening the
        files: they may be damaged. Summaries and models stay."""
        from rag.index.store import drop_collection  # deferred: chromadb (seconds)

        self.close()
        if self.settings.chroma_url:
            prefix = f"{self.settings.collection}-"
            for collection in self.client.list_collections():
                if collection.name.startswith(prefix):
                    drop_collection(self.client, collection.name)
        else:
            if self._client is not None:
                self._client.clear_system_cache()
            shutil.rmtree(self.settings.data_dir / "chroma", ignore_errors=True)
            self._client = None
        for suffix in ("", "-wal", "-shm"):
            (self.settings.data_dir / f"manifest.sqlite{suffix}").unlink(missing_ok=True)
        shutil.rmtree(self.settings.data_dir / "bm25", ignore_errors=True)
        self._forget_store()

    @contextmanager
    def _ingest_lock(self) -> Iterator[None]:

        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.settings.data_dir / "ingest.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout as e:
            raise Conflict(
                f"another ingest is running on {self.settings.data_dir} (it holds {lock.lock_file}); "
                "wait for it to finish, then run this again"
            ) from e
        try:
            yield
        finally:
            lock.release()

    def _drop_other_collections(self) -> bool:
        """Delete collections made with other settings, now that this one is complete."""
        from rag.index.store import drop_collection  # deferred: chromadb (seconds)

        prefix = f"{self.settings.collection}-"
        others = {c for c in self.manifest.collections() if c != self.collection_name}
        others |= {c.name for c in self.client.list_collections() if c.name.startswith(prefix)} - {self.collection_name}
        for name in others:
            drop_collection(self.client, name)
            self.manifest.drop_collection(name)
            shutil.rmtree(self.settings.data_dir / "bm25" / name, ignore_errors=True)
        return bool(others)

    # --- BM25 --------------------------------------------------------------------------------------------
    def generation(self) -> str:
        """A stamp of the contents: it changes whenever the collection's contents do. On a Chroma server, the
        stamp the last ingest (by any process) kept with the collection."""
        if self.shared and (stamp := self._stamp()):
            return stamp
        return self._manifest_generation()

    def _manifest_generation(self) -> str:
        rows = sorted((e.path, e.sha256, e.chunks, e.state) for e in self.manifest.entries().values())
        return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]

    def _stamp(self) -> str:
        """The stamp kept with the collection on the server, read again at most every STAMP_SECONDS."""
        read_at, stamp = self._stamp_read
        if time.monotonic() - read_at >= STAMP_SECONDS:
            stamp = self.store.stamp()
            self._stamp_read = (time.monotonic(), stamp)
        return stamp

    def _load_bm25(self) -> BM25Index | None:
        """The saved BM25 index if it matches the collection's current contents, else None."""
        saved = BM25Index.load(self.bm25_dir)
        return saved if saved is not None and saved.generation == self.generation() else None

    def _fresh_bm25(self) -> BM25Index:
        """Built from the stored chunks (after an interrupted ingest, or on a Chroma server after another process
        changed the collection). On a server it is also saved here, so that this process builds it again only
        when the collection changes, not at every start; a folder it cannot write keeps it in memory."""
        bm25 = self._build_bm25()
        if self.shared:
            try:
                bm25.save(self.bm25_dir)
            except OSError:
                logger.warning(
                    "could not save the BM25 index in %s; it is kept in memory", self.bm25_dir, exc_info=True
                )
        return bm25

    def _build_bm25(self, reuse: bool = True) -> BM25Index:
        """From the stored chunks: every id is listed, but only chunks the saved index hasn't seen are read
        (all of them without `reuse`)."""

        def read(ids: list[str]) -> dict[str, Chunk]:
            chunks = {}
            for start in range(0, len(ids), READ_PAGE):
                got = self.store.get(ids=ids[start : start + READ_PAGE], include=["documents", "metadatas"])
                for i, text, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True):
                    chunks[i] = Chunk(text or "", str(meta["source"]), int(meta.get("day") or 0))
            return chunks

        previous = Tokens.load(self.bm25_dir) if reuse else None
        return BM25Index.update(self.store.ids(), read, previous, self.generation())

    def close(self) -> None:
        """Close the manifest's database connection (Chroma's client has nothing to close)."""
        with self._lock:
            if self._manifest is not None:
                self._manifest.close()
                self._manifest = None
