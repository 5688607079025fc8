"""The one place that wires the parts together from Settings. Everything heavy is built on first use."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from rag.config import Settings
from rag.errors import RagError

if TYPE_CHECKING:
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings
    from langchain_core.messages import BaseMessage

    from rag.answer import Answer, Answerer
    from rag.bm25 import BM25Index
    from rag.ingest import IngestReport
    from rag.ingest import Progress as IngestProgress
    from rag.manifest import Entry, Manifest
    from rag.retrieve import Hit, HybridRetriever, HybridSearcher
    from rag.summarize import Progress, Summarizer, Summary


class Pipeline:
    def __init__(self, settings: Settings | None = None, *, embeddings: Embeddings | None = None) -> None:
        """`embeddings` replaces the configured model (tests share one loaded model this way)."""
        self.settings = settings or Settings()
        self._searched_version = -1  # the manifest's data_version when the searcher was built
        if embeddings is not None:
            self.embeddings = embeddings

    # --- parts -------------------------------------------------------------------------------------------
    @cached_property
    def model_path(self) -> Path:
        from rag.embeddings import resolve_model_path

        try:
            return resolve_model_path(self.settings.embedding_model)
        except FileNotFoundError as e:
            raise RagError(str(e)) from e

    @cached_property
    def signature(self) -> dict[str, Any]:
        """Everything that decides what a stored vector means; a change means a new collection."""
        from rag.chunking import VERSION
        from rag.embeddings import fingerprint

        s = self.settings
        return {
            "chunker": VERSION,
            "encoding": s.encoding,
            "chunk_size": s.chunk_size,
            "chunk_overlap": s.chunk_overlap,
            "embedding": fingerprint(self.model_path),
        }

    @cached_property
    def collection_name(self) -> str:
        from rag.store import collection_name

        return collection_name(self.settings.collection, self.signature)

    @cached_property
    def embeddings(self) -> Embeddings:
        from rag.embeddings import LazyEmbeddings, load_embeddings

        s = self.settings
        return LazyEmbeddings(lambda: load_embeddings(self.model_path, s.embed_batch_size, s.torch_threads))

    @cached_property
    def client(self) -> chromadb.ClientAPI:
        from rag.store import make_client

        return make_client(self.settings)

    @cached_property
    def store(self) -> Chroma:
        from rag.store import open_collection

        return open_collection(self.client, self.collection_name, self.embeddings, self.settings, self.signature)

    @cached_property
    def manifest(self) -> Manifest:
        from rag.manifest import Manifest

        return Manifest(self.settings.data_dir / "manifest.sqlite", self.collection_name)

    @property
    def bm25_dir(self) -> Path:
        return self.settings.data_dir / "bm25" / self.collection_name

    # --- ingest ------------------------------------------------------------------------------------------
    def ingest(self, progress: IngestProgress = False) -> IngestReport:
        """Bring the index in step with the corpus folder (see rag.ingest). `progress`: a terminal bar (True), or
        a function called with (chunks embedded, chunks to embed)."""
        from rag.chunking import make_splitter
        from rag.ingest import Ingester

        s = self.settings
        if not s.corpus_dir.is_dir():
            raise RagError(
                f"corpus folder {s.corpus_dir} does not exist; create it and put .txt, .md, .html or .pdf "
                "articles in it, or point RAG_CORPUS_DIR at your folder"
            )
        with self._ingest_lock():
            splitter = make_splitter(s.chunk_size, s.chunk_overlap, s.encoding)
            # Chunks are written 64 embedding batches at a time: enough for length-sorting to pay off (see _embed).
            batch = s.embed_batch_size
            ingester = Ingester(
                self.store,
                self.manifest,
                splitter,
                max_bytes=s.max_file_bytes,
                embed_batch=batch,
                write_batch=64 * batch,
            )
            report = ingester.run(s.corpus_dir, progress=progress)
            report.rebuilt = self._drop_other_collections()
            if self._load_bm25() is None:
                self._build_bm25().save(self.bm25_dir)
        self.__dict__.pop("searcher", None)  # a searcher built before this ingest holds the old BM25 index
        return report

    @contextmanager
    def _ingest_lock(self) -> Iterator[None]:
        from filelock import FileLock, Timeout

        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.settings.data_dir / "ingest.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout as e:
            raise RagError(
                f"another ingest is running on {self.settings.data_dir} (it holds {lock.lock_file}); "
                "wait for it to finish, then run this again"
            ) from e
        try:
            yield
        finally:
            lock.release()

    def _drop_other_collections(self) -> bool:
        """Delete collections made with other settings, now that this one is complete."""
        from rag.store import drop_collection

        prefix = f"{self.settings.collection}-"
        others = {c for c in self.manifest.collections() if c != self.collection_name}
        others |= {c.name for c in self.client.list_collections() if c.name.startswith(prefix)} - {self.collection_name}
        for name in others:
            drop_collection(self.client, name)
            self.manifest.drop_collection(name)
            shutil.rmtree(self.settings.data_dir / "bm25" / name, ignore_errors=True)
        return bool(others)

    # --- BM25 --------------------------------------------------------------------------------------------
    def _generation(self) -> str:
        """A stamp of the manifest rows: it changes whenever the collection's contents do."""
        rows = sorted((e.path, e.sha256, e.chunks, e.state) for e in self.manifest.entries().values())
        return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]

    def _load_bm25(self) -> BM25Index | None:
        """The saved BM25 index if it matches the collection's current contents, else None."""
        from rag.bm25 import BM25Index

        saved = BM25Index.load(self.bm25_dir)
        return saved if saved is not None and saved.generation == self._generation() else None

    def _build_bm25(self) -> BM25Index:
        from rag.bm25 import BM25Index
        from rag.store import iter_chunks

        chunks = list(iter_chunks(self.store, ["documents", "metadatas"]))
        return BM25Index.build(
            [i for i, _, _ in chunks],
            [t for _, t, _ in chunks],
            [str(m["source"]) for _, _, m in chunks],
            self._generation(),
        )

    # --- search ------------------------------------------------------------------------------------------
    @cached_property
    def searcher(self) -> HybridSearcher:
        from rag.retrieve import HybridSearcher

        self._searched_version = self.manifest.data_version()
        bm25 = self._load_bm25() or self._build_bm25()  # stale after an interrupted ingest: rebuilt in memory
        s = self.settings
        return HybridSearcher(self.store, bm25, candidates=s.candidates, rrf_k=s.rrf_k, display=self.display_path)

    def search(self, query: str, k: int | None = None, source: str | None = None) -> list[Hit]:
        """The best passages for `query`; `source` limits them to one file (as given by the user)."""
        if not query.strip():
            raise RagError("the query is empty; ask something")
        self._require_index()
        rel = self.resolve_source(source) if source else None
        if self.manifest.data_version() != self._searched_version:  # another process or pipeline re-indexed
            self.__dict__.pop("searcher", None)
        return self.searcher.search(query, k or self.settings.k, rel)

    def retriever(self, k: int | None = None, source: str | None = None) -> HybridRetriever:
        from rag.retrieve import HybridRetriever

        rel = self.resolve_source(source) if source else None
        return HybridRetriever(searcher=self.searcher, k=k or self.settings.k, source=rel)

    # --- answers -------------------------------------------------------------------------------------------
    @cached_property
    def answerer(self) -> Answerer:
        """The answer chain for the configured backend; the bundled model starts here (seconds)."""
        from langchain_core.runnables import RunnableLambda

        from rag.answer import Answerer, llm_condenser, llm_generation

        s = self.settings
        generate: Any = RunnableLambda(self._extractive)
        condense = None
        if s.backend != "extractive":
            generate, condense = llm_generation(self.chat_model), llm_condenser(self.chat_model)
        return Answerer(
            retrieve=self.search,
            generate=generate,
            condense=condense,
            model=self.model_label,
            context_tokens=s.context_tokens,
            min_support=s.min_support,
            min_relevance=s.min_relevance,
            fallback=self._extractive,
        )

    @property
    def model_label(self) -> str:
        """The answer model as shown to users and used in cache keys; known without starting it."""
        from rag.bundled import MODELS

        s = self.settings
        if s.backend == "bundled":
            return f"bundled:{MODELS[s.bundled_model].name}"
        return "extractive" if s.backend == "extractive" else f"openai:{s.llm_model}"

    @cached_property
    def chat_model(self) -> Any:
        """A LangChain chat model on an OpenAI-compatible server: the bundled one (started here) or the user's."""
        from langchain_openai import ChatOpenAI

        from rag.bundled import MODELS, ensure_gguf, start_server

        s = self.settings
        if s.backend == "bundled":
            bundled = MODELS[s.bundled_model]
            gguf = ensure_gguf(bundled, s.models_dir or s.data_dir / "models")
            self._server, base_url = start_server(gguf, n_ctx=4096, threads=s.llm_threads)
            name = bundled.name
        else:
            base_url, name = str(s.llm_base_url), s.llm_model
        return ChatOpenAI(
            base_url=base_url,
            api_key=s.llm_api_key or SecretStr("unused"),
            model=name,
            temperature=0,
            seed=0,
            timeout=s.llm_timeout,
            max_retries=0,
            max_completion_tokens=s.llm_max_tokens,
        )

    def _extractive(self, prompt: dict[str, Any]) -> str:
        from rag.extractive import extractive_answer

        return extractive_answer(prompt["question"], [h.text for h in prompt["hits"]], self.embeddings)

    def start_model(self) -> None:
        """Build the answer chain now (the bundled model starts: seconds); instant once done."""
        self.answerer  # noqa: B018

    def ask_stream(
        self, question: str, history: Sequence[BaseMessage] = (), k: int | None = None
    ) -> Iterator[str | Answer]:
        """Tokens as the model writes them, then the verified Answer; `k` passages retrieved (default RAG_K)."""
        _require_question(question)
        yield from self.answerer.stream(question, history, k)

    def ask(self, question: str, history: Sequence[BaseMessage] = (), k: int | None = None) -> Answer:
        _require_question(question)
        return self.answerer.ask(question, history, k)

    # --- summaries ---------------------------------------------------------------------------------------
    def summarizer(self, extractive: bool = False) -> Summarizer:
        """The summarizer for the configured backend (or the extractive one); the bundled model starts here."""
        from rag.summarize import Summarizer

        s = self.settings
        if extractive or s.backend == "extractive":
            return Summarizer(self.embeddings, "extractive", budget=s.context_tokens, min_support=s.min_support)
        return Summarizer(
            self.embeddings,
            self.model_label,
            llm=self.chat_model.bind(max_completion_tokens=s.summary_max_tokens),
            budget=s.context_tokens,
            min_support=s.min_support,
        )

    def summarize(
        self,
        files: Sequence[str] = (),
        *,
        everything: bool = False,
        topic: str = "",
        progress: Progress | None = None,
        refresh: bool = False,
    ) -> Summary:
        """A cited summary of some files, of every file, or of the passages about a topic (exactly one of them).
        Cached by content, model and settings; `refresh` ignores the cache. If the model fails, the summary is
        extractive, with a note (and not cached)."""
        from rag.summarize import SummaryCache

        if sum([bool(files), everything, bool(topic.strip())]) != 1:
            raise RagError("say what to summarize: one or more files, --all, or --topic TEXT (only one of them)")
        self._require_index()
        indexed = self.indexed_files()
        rels = [self.resolve_source(f) for f in files] if files else sorted(indexed)
        articles, title = self._summary_input(list(dict.fromkeys(rels)), everything, topic.strip())
        s = self.settings
        key = {
            "model": self.model_label,
            "server": s.llm_base_url if s.backend == "openai" else None,
            "max_tokens": s.summary_max_tokens,
            "collection": self.collection_name,  # chunking and embedding settings
            "budget": s.context_tokens,
            "min_support": s.min_support,
            "files": {rel: indexed[rel].sha256 for rel in sorted(indexed) if self.display_path(rel) in articles},
            "passages": {src: [h.id for h in hits] for src, hits in articles.items()} if topic else {},
            "topic": topic.strip(),
        }
        cache = SummaryCache(s.data_dir / "summaries")
        if not refresh and (cached := cache.get(key)) is not None:
            return cached
        if not articles:  # a topic nothing in the corpus is about
            summary = self.summarizer(extractive=True).summarize({}, title, topic=topic.strip())
            summary.note = "the articles say nothing about this: no passage is relevant enough"
            return summary
        try:
            summary = self.summarizer().summarize(articles, title, topic=topic.strip(), progress=progress)
        except RagError:
            raise
        except Exception as e:  # a model server down, slow or broken: the extractive summary instead
            from rag.answer import describe_error

            summary = self.summarizer(extractive=True).summarize(articles, title, topic=topic.strip())
            summary.note = f"the model failed ({describe_error(e)}); this is an extractive summary instead"
            return summary
        cache.put(key, summary)
        return summary

    def _summary_input(self, rels: list[str], everything: bool, topic: str) -> tuple[dict[str, list[Hit]], str]:
        """What to summarize ({display path: chunks}) and the summary's title."""
        from rag.retrieve import stored_hit
        from rag.store import iter_chunks

        if topic:
            hits = self.search(topic, k=max(10, 2 * self.settings.k))
            relevant = [h for h in hits if (h.dense_score or 0.0) >= self.settings.min_relevance]
            articles: dict[str, list[Hit]] = {}
            for hit in relevant:
                articles.setdefault(hit.source, []).append(hit)
            return articles, f"What the articles say about {topic}"
        articles = {}
        for rel in rels:
            chunks = iter_chunks(self.store, ["documents", "metadatas"], where={"source": rel})
            articles[self.display_path(rel)] = [stored_hit(i, t, m, self.display_path) for i, t, m in chunks]
        if len(rels) == 1:
            first = next(iter(articles.values()))
            return articles, (first[0].title if first and first[0].title else Path(rels[0]).stem)
        return articles, f"{'The whole corpus' if everything else 'Several articles'}: {len(rels)} articles"

    # --- files -------------------------------------------------------------------------------------------
    def article_text(self, source: str) -> str:
        """The normalised text of an indexed file: what citation spans point into. Read once per file version
        (the chat shows it for every citation on every rerun)."""
        from rag.documents import SkipFile

        path = self.settings.corpus_dir / self.resolve_source(source)
        try:
            stat = path.stat()
            return _article_text(path, stat.st_mtime_ns, stat.st_size)
        except (OSError, SkipFile) as e:
            raise RagError(f"{source} cannot be read any more: {e}") from e

    def add_upload(self, name: str, data: bytes) -> Path:
        """Save an uploaded article into the corpus folder after checking it (see rag.uploads); not indexed yet."""
        from rag.uploads import save_upload

        return save_upload(self.settings.corpus_dir, name, data, self.settings.max_file_bytes)

    def indexed_files(self) -> dict[str, Entry]:
        """Files in the index, by path relative to the corpus folder."""
        return {p: e for p, e in self.manifest.entries().items() if e.state == "done"}

    def _require_index(self) -> None:
        """Raise if nothing is indexed; cheap enough for every search."""
        if not self.manifest.any_done():
            raise RagError(
                f"the index is empty; put articles in {self.settings.corpus_dir} and run `python -m rag ingest`"
            )

    def display_path(self, rel: str) -> str:
        """How a stored source is shown: under the corpus folder as configured, e.g. corpus/a.txt."""
        return (self.settings.corpus_dir / rel).as_posix()

    def resolve_source(self, given: str) -> str:
        """The indexed file a user means by `given`: corpus/a.txt, a.txt or a full path all work."""
        corpus = self.settings.corpus_dir
        candidates = [given, Path(given).as_posix()]
        path = Path(given)
        with suppress(ValueError):  # not inside the corpus folder
            candidates.append(path.resolve().relative_to(corpus.resolve()).as_posix())
        indexed = self.indexed_files()
        for candidate in candidates:
            if candidate in indexed:
                return candidate
        known = ", ".join(self.display_path(p) for p in sorted(indexed)) or "none"
        raise RagError(f"{given} is not an indexed file; indexed files: {known}")


@lru_cache(maxsize=64)
def _article_text(path: Path, mtime_ns: int, size: int) -> str:
    """`load(path).text`, cached per file version (modification time and size are part of the key)."""
    from rag.documents import load

    return load(path).text


def _require_question(question: str) -> None:
    if not question.strip():
        raise RagError("the question is empty; ask something")
