"""The vector store: a Chroma collection, embedded on disk or on a Chroma server.

The collection's name carries a hash of everything that decides what a vector means (chunker settings,
embedding model), so chunks made with other settings are never mixed into it: new settings get a new
collection, and the old one is dropped once the new one is complete.

`Store` is langchain-chroma's vector store plus the few calls it lacks (count, upsert of vectors we embedded
ourselves, queries by vector); it is the only code that reaches into Chroma's private collection object.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma

from rag.errors import RagError

if TYPE_CHECKING:
    from chromadb.api.collection_configuration import CreateHNSWConfiguration
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

    from rag.config import Settings

logger = logging.getLogger(__name__)


class Store(Chroma):
    """A Chroma collection through LangChain, with what ingest and benchmarks need besides."""

    def count(self) -> int:
        return self._collection.count()

    def upsert(
        self,
        ids: list[str],
        vectors: Sequence[Sequence[float]] | np.ndarray,
        texts: list[str],
        metadatas: list[dict[str, Any]],
    ) -> None:
        """Write chunks with vectors computed beforehand (LangChain's add_texts would embed them itself)."""
        self._collection.upsert(ids=ids, embeddings=vectors, documents=texts, metadatas=metadatas)  # type: ignore[arg-type]

    def nearest(self, vectors: np.ndarray, k: int) -> list[list[str]]:
        """The ids of the `k` nearest chunks to each vector, per the HNSW index."""
        return self._collection.query(query_embeddings=vectors, n_results=k, include=[])["ids"]

    def nearest_among(self, vector: list[float], ids: list[str], n: int) -> list[tuple[Document, float]]:
        """The `n` chunks among `ids` nearest to `vector`, as (document, cosine distance), by exact comparison with
        their stored vectors: for a few thousand ids it is quicker than Chroma's `where` (no HNSW, no filter)."""
        if not ids:
            return []
        found = self._collection.get(ids=ids, include=["embeddings"])
        vectors = np.asarray(found["embeddings"], dtype=np.float32)
        query = np.asarray(vector, dtype=np.float32)
        similarity = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query) + 1e-12)
        order = np.argsort(-similarity, kind="stable")[:n]
        docs = {str(d.id): d for d in self.get_by_ids([found["ids"][i] for i in order])}
        return [(docs[found["ids"][i]], 1.0 - float(similarity[i])) for i in order if found["ids"][i] in docs]

    def nearest_distances(self, vectors: np.ndarray, k: int) -> list[list[float]]:
        """The cosine distances of the `k` nearest chunks to each vector, per the HNSW index."""
        found = self._collection.query(query_embeddings=vectors, n_results=k, include=["distances"])
        return [list(map(float, row)) for row in found["distances"] or []]

    def ids(self) -> list[str]:
        """Every chunk id, read in pages."""
        return [i for i, _, _ in iter_chunks(self, [])]

    def vectors(self, ids: list[str]) -> np.ndarray:
        """The stored vectors of `ids`, in that order."""
        got = self._collection.get(ids=ids, include=["embeddings"])
        by_id = dict(zip(got["ids"], got["embeddings"], strict=True))  # type: ignore[arg-type]
        return np.asarray([by_id[i] for i in ids], dtype=np.float32)

    def pages(self, page: int = 5000) -> Iterator[dict[str, Any]]:
        """Every chunk with its vector, text and metadata, a page at a time (Chroma's `get` result per page)."""
        offset = 0
        while True:
            batch = self._collection.get(include=["embeddings", "documents", "metadatas"], limit=page, offset=offset)
            if batch["ids"]:
                yield dict(batch)
            if len(batch["ids"]) < page:
                return
            offset += page

    def update_metadata(self, ids: list[str], metadatas: list[dict[str, Any]]) -> None:
        self._collection.update(ids=ids, metadatas=metadatas)  # type: ignore[arg-type]

    def rename(self, name: str) -> None:
        self._collection.modify(name=name)

    def stamp(self) -> str:
        """The contents' stamp kept in the collection's metadata ("" if none was written), read afresh: on a
        Chroma server another process may have changed it."""
        fresh = self._client.get_collection(self._collection.name)
        return str((fresh.metadata or {}).get("generation", ""))

    def set_stamp(self, stamp: str) -> None:
        """Keep `stamp` with the collection (its other metadata stays)."""
        self._collection.modify(metadata={**(self._collection.metadata or {}), "generation": stamp})


def make_client(settings: Settings) -> chromadb.ClientAPI:
    """A Chroma client: HTTP when `RAG_CHROMA_URL` is set, else persistent under the data folder."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if not settings.chroma_url:
        path = settings.data_dir / "chroma"
        if path.is_dir() and not os.access(path, os.W_OK):
            path = _writable_copy(path)
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    url = urlparse(settings.chroma_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise RagError(f"RAG_CHROMA_URL must look like http://HOST:PORT, not {settings.chroma_url!r}")
    try:
        return chromadb.HttpClient(
            host=url.hostname,
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    except Exception as e:  # chromadb raises ValueError or httpx errors, depending on where it failed
        logger.warning("cannot reach the Chroma server at %s", settings.chroma_url, exc_info=True)
        raise RagError(
            f"cannot reach the Chroma server at {settings.chroma_url} ({e}); start it with "
            "`chroma run --path DIR --host 127.0.0.1 --port PORT`, or unset RAG_CHROMA_URL to use the embedded store"
        ) from e


COPY_PREFIX = "cited-readonly-"  # then the pid of the process that made the copy


def _writable_copy(path: Path) -> Path:
    """A temporary copy of a read-only Chroma folder, deleted at exit. Chroma cannot open a store it may not
    write to (it writes on opening), so a read-only data folder is searched through a copy: a start-up cost
    proportional to the index's size, and nothing written to it is kept. The copy takes the contents, not the
    read-only modes (else Chroma could not open it and nothing could delete it); copies left by a process that
    was killed are deleted first."""
    _remove_stale_copies()
    root = Path(tempfile.mkdtemp(prefix=f"{COPY_PREFIX}{os.getpid()}-"))
    copy = root / "chroma"
    logger.warning("%s is read-only: searching a temporary copy in %s", path, copy)
    shutil.copytree(path, copy, copy_function=shutil.copyfile)
    _make_writable(copy)
    atexit.register(_remove, root)
    return copy


def _make_writable(folder: Path) -> None:
    for item in [folder, *folder.rglob("*")]:
        item.chmod(0o700 if item.is_dir() else 0o600)


def _remove(folder: Path) -> None:
    if not folder.exists():
        return
    try:
        _make_writable(folder)
    except OSError:
        logger.warning("cannot make %s writable to delete it", folder, exc_info=True)
    shutil.rmtree(folder, ignore_errors=True)


def _remove_stale_copies() -> None:
    """Delete the temporary copies of processes that are gone (killed before their exit handler ran)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{COPY_PREFIX}*-*"):
        pid = folder.name.removeprefix(COPY_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            _remove(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def open_collection(
    client: chromadb.ClientAPI, name: str, embeddings: Embeddings, settings: Settings, signature: dict[str, Any]
) -> Store:
    """The LangChain vector store over collection `name`, created with cosine HNSW if it is new.

    We always pass our embeddings, so Chroma's default embedding function (an ONNX download) never runs.
    """
    hnsw: CreateHNSWConfiguration = {
        "space": "cosine",
        "ef_construction": settings.hnsw_ef_construction,
        "ef_search": settings.hnsw_ef_search,
        "max_neighbors": settings.hnsw_max_neighbors,
    }
    return Store(
        collection_name=name,
        embedding_function=embeddings,
        client=client,
        collection_metadata={"signature": json.dumps(signature, sort_keys=True)},
        collection_configuration={"hnsw": hnsw},
    )


def iter_chunks(
    store: Store, include: list[str], where: dict[str, Any] | None = None, page: int = 5000
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every chunk (matching `where`) as (id, text, metadata), read in pages: Chroma caps one `get`.

    The text is "" unless `include` asks for documents.
    """
    offset = 0
    while True:
        batch = store.get(include=include, where=where, limit=page, offset=offset)
        texts = batch.get("documents") or [""] * len(batch["ids"])
        yield from zip(batch["ids"], texts, batch["metadatas"] or [{}] * len(batch["ids"]), strict=True)
        if len(batch["ids"]) < page:
            return
        offset += page


def chunk_counts(store: Store, source: str | None = None) -> dict[str, Counter[str]]:
    """For every source in the collection (or just `source`), how many chunks it has per file hash."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for _, _, meta in iter_chunks(store, ["metadatas"], where={"source": source} if source else None):
        counts[str(meta.get("source"))][str(meta.get("sha256"))] += 1
    return dict(counts)


def drop_collection(client: chromadb.ClientAPI, name: str) -> None:
    try:
        client.delete_collection(name)
    except Exception:  # already gone: chromadb raises NotFoundError or ValueError, by version
        logger.info("collection %s was not there to drop", name, exc_info=True)
