"""Sampled recall of the HNSW graph: how often Chroma's approximate nearest neighbours are the true ones.

HNSW is approximate by design, and a graph full of identical vectors, or of deleted ones, can lose its way:
exact matches go missing from the top results. This compares Chroma's answers with exact (brute-force) nearest
neighbours for a sample of stored vectors. Recall compares distances rank by rank (the i-th result found
against the true i-th nearest), so ties among identical vectors do not count as misses.
"""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING

import numpy as np

from rag.index.store import iter_chunks

if TYPE_CHECKING:
    from rag.index.store import Store

MIN_RECALL = 0.9  # sampled recall@10 below this: the HNSW graph is degraded (a healthy one measures ~1.0)
SAMPLE = 50
K = 10


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
