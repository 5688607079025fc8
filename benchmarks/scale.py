"""Search latency as the index grows: SciFact's real chunks, repeated up to N chunks (default 100,000).

Copies keep their text (so BM25 sees repeated real text) and get their vector nudged (Gaussian noise, then
re-normalised: cosine ~0.98 to the original) so that the HNSW graph holds N distinct points. The copies go
straight into a Chroma collection with the project's HNSW settings (no re-embedding: that would take 40
minutes), a BM25 index is built over them, and the project's HybridSearcher (embed the query + dense + BM25
+ fusion, k=10) answers the 300 SciFact test queries. Reported next to the same search on the original
index: p50 / p95 latency, index sizes on disk, build times, peak RSS.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS, median, p95, peak_rss_mb, table, write_json
from benchmarks.ingest import stored_vectors, test_queries
from benchmarks.retrieval import scifact_settings
from rag.index.bm25 import BM25Index
from rag.index.search import HybridSearcher
from rag.index.store import iter_chunks, make_client, open_collection
from rag.pipeline import Pipeline


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def latencies(searcher: HybridSearcher, queries: list[str]) -> list[float]:
    searcher.search(queries[0], 10)  # warm up
    times = []
    for query in queries:
        started = time.perf_counter()
        searcher.search(query, 10)
        times.append(1000 * (time.perf_counter() - started))
    return times


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scale", description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000, help="index size to reach (default 100,000)")
    args = parser.parse_args(argv)

    settings = scifact_settings()
    pipeline = Pipeline(settings)
    pipeline.ingest(progress=True)  # incremental: instant once `python -m benchmarks retrieval` has run
    queries = test_queries()
    small = latencies(pipeline.index.searcher, queries)

    ids, vectors = stored_vectors(pipeline)
    stored = {i: (t, m) for i, t, m in iter_chunks(pipeline.index.store, ["documents", "metadatas"])}
    texts = [stored[i][0] for i in ids]
    metas = [stored[i][1] for i in ids]
    folder = RESULTS / "scale" / str(args.chunks)
    shutil.rmtree(folder, ignore_errors=True)
    big_settings = settings.model_copy(update={"data_dir": folder})
    store = open_collection(
        make_client(big_settings), "scale", pipeline.embeddings, big_settings, {"scale": args.chunks}
    )
    rng = np.random.default_rng(0)
    all_ids, all_texts, all_sources = [], [], []
    started = time.perf_counter()
    for start in range(0, args.chunks, 5000):
        numbers = range(start, min(start + 5000, args.chunks))
        base_rows = [r % len(ids) for r in numbers]
        noisy = vectors[base_rows] + rng.normal(0, 0.01, (len(base_rows), vectors.shape[1])).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        copies = [(b, r // len(ids)) for r, b in zip(numbers, base_rows, strict=True)]
        copy_ids = [f"{ids[b]}~{c}" for b, c in copies]
        copy_metas = [{**metas[b], "source": f"{metas[b]['source']}~{c}"} for b, c in copies]
        documents = [texts[b] for b in base_rows]
        store.upsert(copy_ids, noisy, documents, copy_metas)
        all_ids += copy_ids
        all_texts += [texts[b] for b in base_rows]
        all_sources += [str(m["source"]) for m in copy_metas]
        print(f"  {len(all_ids)}/{args.chunks} chunks added", flush=True)
    build_dense_s = time.perf_counter() - started
    started = time.perf_counter()
    bm25 = BM25Index.build(all_ids, all_texts, all_sources, "scale")
    build_bm25_s = time.perf_counter() - started
    bm25.save(folder / "bm25")
    searcher = HybridSearcher(store, lambda: bm25, candidates=settings.candidates, rrf_k=settings.rrf_k)
    large = latencies(searcher, queries)

    result: dict[str, Any] = {
        "original": {"chunks": len(ids), "p50_ms": median(small), "p95_ms": p95(small)},
        "scaled": {
            "chunks": args.chunks,
            "p50_ms": median(large),
            "p95_ms": p95(large),
            "chroma_mb": size_mb(folder) - size_mb(folder / "bm25"),
            "bm25_mb": size_mb(folder / "bm25"),
            "build_dense_s": build_dense_s,
            "build_bm25_s": build_bm25_s,
        },
        "peak_rss_mb": peak_rss_mb(),
        "queries": len(queries),
    }
    s = result["scaled"]
    rows = [
        (
            f"{len(ids):,} (SciFact)",
            f"{median(small):.1f}",
            f"{p95(small):.1f}",
            f"{size_mb(settings.data_dir):.0f}",
            "-",
        ),
        (
            f"{args.chunks:,} (repeated)",
            f"{s['p50_ms']:.1f}",
            f"{s['p95_ms']:.1f}",
            f"{s['chroma_mb']:.0f} + BM25 {s['bm25_mb']:.0f}",
            f"dense {build_dense_s:.0f} s, BM25 {build_bm25_s:.0f} s",
        ),
    ]
    print(table(rows, ("chunks", "p50 ms", "p95 ms", "index MB", "build")))
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB; goal: p95 <= 50 ms at 100k chunks")
    path = write_json("scale", result)
    print(f"\nwritten {path}")
    return 0
