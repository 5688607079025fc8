"""Is the index sound? `check` looks at every part and says what is wrong and which command fixes it;
`repair` rebuilds what can be rebuilt from the stored chunks, without reading the corpus or embedding again.

The vector check compares Chroma's HNSW answers with exact (brute-force) nearest neighbours for a sample of
stored vectors. HNSW is approximate by design, and a graph full of identical vectors, or of deleted ones, can
lose its way: exact matches go missing from the top results. Recall compares distances rank by rank (the i-th
result found against the true i-th nearest), so ties among identical vectors do not count as misses.
"""

from __future__ import annotations

import itertools
import logging
import random
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import describe_error
from rag.index.state import REBUILD
from rag.index.store import iter_chunks

if TYPE_CHECKING:
    from rag.index.index import Index
    from rag.index.store import Store

logger = logging.getLogger(__name__)

REPAIR = "python -m rag check --repair"
INGEST = "python -m rag ingest"
MIN_RECALL = 0.9  # sampled recall@10 below this: the HNSW graph is degraded (a healthy one measures ~1.0)
SAMPLE = 50
K = 10


@dataclass
class Finding:
    part: str  # manifest, store, bm25, vectors, corpus
    ok: bool
    detail: str
    fix: str = ""  # the command that repairs it, when not ok

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sampled_recall(store: Store, sample: int = SAMPLE, k: int = K, seed: int = 0) -> float | None:
    """Recall@k of HNSW against brute force with `sample` stored vectors as queries, 0..1; None for an empty
    store. Reads every stored vector once, a page at a time.

    The queries are spread over the files (one chunk from each in turn) and recall is averaged per file: a
    graph that a crowd of identical vectors has taken over still answers queries from inside the crowd well;
    it fails the other files. Recall compares rank by rank (the i-th found is as near as the true i-th), so
    ties among identical vectors are not misses."""
    by_source: dict[str, list[str]] = {}
    for chunk_id, _, meta in iter_chunks(store, ["metadatas"]):
        by_source.setdefault(str(meta.get("source")), []).append(chunk_id)
    if not by_source:
        return None
    rng = random.Random(seed)
    for ids in by_source.values():
        rng.shuffle(ids)
    turns = itertools.zip_longest(*([(src, i) for i in ids] for src, ids in by_source.items()))
    picked_with_source = [pair for turn in turns for pair in turn if pair is not None][:sample]
    picked = [i for _, i in picked_with_source]
    k = min(k, sum(len(ids) for ids in by_source.values()))
    queries = _unit(store.vectors(picked))
    best = np.full((len(queries), k), -np.inf, dtype=np.float32)  # the k highest similarities so far, per query
    for page in store.pages():
        similarity = _unit(np.asarray(page["embeddings"], dtype=np.float32)) @ queries.T  # (page, queries)
        best = -np.sort(-np.concatenate([best, similarity.T], axis=1), axis=1)[:, :k]
    found = 1.0 - np.asarray(store.nearest_distances(queries, k), dtype=np.float32)  # similarities, best first
    found = -np.sort(-found, axis=1)
    per_query = (found >= best - 1e-4).mean(axis=1)  # the i-th found is as near as the true i-th
    sources = [src for src, _ in picked_with_source]
    per_source = [per_query[[n for n, s in enumerate(sources) if s == src]].mean() for src in dict.fromkeys(sources)]
    return float(np.mean(per_source))  # each file counts once: a crowd of one file's vectors cannot hide the rest


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def check(index: Index, corpus: Path) -> list[Finding]:
    """Every part of the index, checked in order; a part that cannot be opened stops the checks after it."""
    findings: list[Finding] = []
    try:
        rows = index.manifest.entries()
        problems = index.manifest.integrity()
    except sqlite3.DatabaseError as e:
        return [Finding("manifest", False, f"cannot be read ({describe_error(e)})", REBUILD)]
    done = {p: e for p, e in rows.items() if e.state == "done"}
    pending = sorted(p for p, e in rows.items() if e.state != "done")
    findings.append(
        Finding("manifest", False, f"damaged: {problems}", REBUILD)
        if problems
        else Finding("manifest", True, f"{len(done)} files indexed")
    )
    try:
        count = index.store.count()
    except Exception as e:  # Chroma raises its own InternalError, or sqlite errors, on a damaged store
        logger.info("the vector store cannot be opened", exc_info=True)
        return [*findings, Finding("store", False, f"cannot be opened ({describe_error(e)})", REBUILD)]
    expected = sum(e.chunks for e in done.values())
    if pending:
        findings.append(Finding("store", False, f"an ingest was interrupted ({len(pending)} files unfinished)", INGEST))
    elif count != expected:
        findings.append(Finding("store", False, f"{count} chunks stored, the manifest expects {expected}", INGEST))
    else:
        findings.append(Finding("store", True, f"{count} chunks"))
    findings.append(_check_bm25(index))
    recall = sampled_recall(index.store)
    if recall is None:
        findings.append(Finding("vectors", True, "empty"))
    elif recall < MIN_RECALL:
        detail = f"nearest-neighbour search is degraded: sampled recall@{K} {recall:.2f} (below {MIN_RECALL})"
        findings.append(Finding("vectors", False, detail, REPAIR))
    else:
        findings.append(Finding("vectors", True, f"sampled recall@{K} {recall:.2f}"))
    findings.append(_check_corpus(done, corpus))
    return findings


def _check_bm25(index: Index) -> Finding:
    from rag.index.bm25 import BM25Index

    saved = BM25Index.load(index.bm25_dir)
    if saved is None:
        return Finding("bm25", False, "missing or unreadable (searches rebuild it in memory each time)", REPAIR)
    if saved.generation != index.generation():
        return Finding("bm25", False, "older than the stored chunks (searches rebuild it in memory)", REPAIR)
    if set(saved.ids) != set(index.store.ids()):
        detail = "does not match the stored chunks (keyword search finds wrong chunks or none)"
        return Finding("bm25", False, detail, REPAIR)
    return Finding("bm25", True, f"{len(saved.ids)} chunks")


def _check_corpus(done: dict[str, Any], corpus: Path) -> Finding:
    from rag.index.ingest import scan

    if not corpus.is_dir():
        return Finding("corpus", False, f"the corpus folder {corpus} does not exist", "")
    found = scan(corpus)
    present = {rel for rel, _ in found.files}
    new = present - set(done)
    gone = set(done) - present
    changed = {rel for rel, path in found.files if rel in done and _mtime(path) > done[rel].indexed_at}
    if new or gone or changed:
        detail = f"{len(new)} new, {len(changed)} changed, {len(gone)} removed since the last ingest"
        return Finding("corpus", False, detail, INGEST)
    return Finding("corpus", True, f"{len(present)} files, all indexed")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def repair(index: Index, findings: list[Finding]) -> list[str]:
    """Rebuild what `check` found broken and can be rebuilt from the stored chunks: the HNSW graph (a fresh
    collection from the stored vectors) and the BM25 index. Returns what was done."""
    done = []
    broken = {f.part for f in findings if not f.ok and f.fix == REPAIR}
    if "vectors" in broken:
        done.append(f"vectors: rebuilt the collection from {index.rebuild_collection()} stored chunks")
    if "bm25" in broken or "vectors" in broken:
        done.append(f"bm25: rebuilt from {index.save_bm25()} stored chunks")
    return done
