"""The vector check: `python -m benchmarks check`. What sampled recall costs and what it sees, on real vectors.

`rag check`, and every ingest that deletes chunks, measure sampled recall@10 (rag.index.health): 50
stored vectors as queries, spread over the files, HNSW's top 10 compared rank by rank with brute force over
every stored vector, averaged per file. Measured on the SciFact index (15,726 MiniLM chunks of 5,183
abstracts; built by `python -m benchmarks retrieval` or here, incrementally), and on a copy of it into which
a tenth as many identical vectors (one abstract's chunk, repeated, as "crowd.txt") went first: the crowd of
the hostile-input issue, at a size where it does not take over the graph. Reports the time of one check
(median of 3) and the recall. Random vectors are no stand-in: in 384 dimensions they have no near
neighbours to find, and HNSW's recall on them is about 0.5 at any size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import table, write_json
from benchmarks.retrieval import scifact_settings
from rag.index.recall import sampled_recall
from rag.index.store import Store, make_client, open_collection
from rag.pipeline import Pipeline


def timed_recall(store: Store) -> tuple[float, float | None]:
    times, recall = [], None
    for _ in range(3):
        started = time.perf_counter()
        recall = sampled_recall(store)
        times.append(time.perf_counter() - started)
    return float(np.median(times)), recall


def crowded_copy(pipeline: Pipeline, folder: Path, crowd: int) -> Store:
    """The pipeline's chunks in a fresh collection, after `crowd` copies of its first chunk's vector."""
    settings = pipeline.settings.model_copy(update={"data_dir": folder})
    store = open_collection(make_client(settings), "crowded", pipeline.embeddings, settings, {"crowd": crowd})
    pages = list(pipeline.index.store.pages())
    one = np.asarray(pages[0]["embeddings"][0], dtype=np.float32)
    for start in range(0, crowd, 5000):
        n = min(5000, crowd - start)
        ids = [f"crowd-{i}" for i in range(start, start + n)]
        store.upsert(ids, np.tile(one, (n, 1)), ["crowd"] * n, [{"source": "crowd.txt"}] * n)
    for page in pages:
        store.upsert(page["ids"], page["embeddings"], page["documents"], page["metadatas"])
    return store


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks check", description=__doc__.split("\n")[0])
    parser.parse_args(argv)
    pipeline = Pipeline(scifact_settings())
    pipeline.ingest(progress=True)  # incremental: instant once the SciFact index exists
    chunks = pipeline.index.store.count()
    results: list[dict[str, Any]] = []
    seconds, recall = timed_recall(pipeline.index.store)
    results.append({"collection": "SciFact", "chunks": chunks, "check_s": seconds, "recall": recall})
    with tempfile.TemporaryDirectory() as tmp:
        store = crowded_copy(pipeline, Path(tmp), chunks // 10)
        seconds, recall = timed_recall(store)
        results.append(
            {"collection": "SciFact + a tenth identical", "chunks": store.count(), "check_s": seconds, "recall": recall}
        )
    rows = [(r["collection"], f"{r['chunks']:,}", f"{r['check_s']:.2f}", f"{r['recall']:.3f}") for r in results]
    print(table(rows, ("collection", "chunks", "check s (median of 3)", "sampled recall@10")))
    print(f"\nwritten to {write_json('check', {'results': results})}")
    return 0
