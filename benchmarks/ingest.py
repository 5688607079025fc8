"""Ingest benchmark on BEIR SciFact (5,183 abstracts, title + text per document).

Measures, in one run: full ingest time and chunks/s with the project's own ingest; the raw throughput of the
same encoder on 4,000 of the same chunks alone, and of sentence-transformers on torch (the runtime before
onnx) on the same 4,000; re-ingest
of the unchanged corpus; re-ingest after changing one document; peak RSS; and HNSW recall@10 of the
collection against brute-force search over its own stored vectors, for the 300 test queries, with our HNSW
settings and with Chroma's defaults.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import BENCHDATA, peak_rss_mb, require, table, write_json
from rag.config import Settings
from rag.index.embeddings import resolve_model_path
from rag.index.store import iter_chunks
from rag.pipeline import Pipeline


def write_corpus(folder: Path, limit: int | None) -> int:
    folder.mkdir(parents=True)
    lines = require(BENCHDATA / "scifact" / "corpus.jsonl").read_text().splitlines()[:limit]
    for line in lines:
        doc = json.loads(line)
        (folder / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}")
    return len(lines)


def test_queries() -> list[str]:
    wanted = {line.split("\t")[0] for line in (BENCHDATA / "scifact/qrels/test.tsv").read_text().splitlines()[1:]}
    queries = [json.loads(line) for line in (BENCHDATA / "scifact/queries.jsonl").read_text().splitlines()]
    return [q["text"] for q in queries if q["_id"] in wanted]


def stored_vectors(pipeline: Pipeline) -> tuple[list[str], np.ndarray]:
    ids, vectors, offset = [], [], 0
    while True:
        batch = pipeline.index.store.get(include=["embeddings"], limit=5000, offset=offset)
        ids += batch["ids"]
        vectors.append(np.asarray(batch["embeddings"], dtype=np.float32))
        if len(batch["ids"]) < 5000:
            return ids, np.vstack(vectors)
        offset += 5000


def recall_at_10(found: list[list[str]], truth: list[set[str]]) -> float:
    return float(np.mean([len(set(f) & t) / 10 for f, t in zip(found, truth, strict=True)]))


def hnsw_recall(pipeline: Pipeline, queries: list[str]) -> list[dict[str, Any]]:
    ids, vectors = stored_vectors(pipeline)
    q = np.asarray([pipeline.embeddings.embed_query(text) for text in queries], dtype=np.float32)
    truth = [{ids[i] for i in row} for row in np.argsort(-(q @ vectors.T), axis=1)[:, :10]]
    s = pipeline.settings
    ours = f"cited (ef_construction {s.hnsw_ef_construction}, ef_search {s.hnsw_ef_search}, M {s.hnsw_max_neighbors})"
    rows = [{"config": ours, "recall@10": recall_at_10(pipeline.index.store.nearest(q, 10), truth)}]
    default = pipeline.index.client.create_collection(
        "bench-chroma-defaults", configuration={"hnsw": {"space": "cosine"}}
    )
    for start in range(0, len(ids), 5000):
        default.add(ids=ids[start : start + 5000], embeddings=vectors[start : start + 5000])
    nearest = default.query(query_embeddings=q, n_results=10, include=[])["ids"]
    rows.append({"config": "Chroma defaults (cosine)", "recall@10": recall_at_10(nearest, truth)})
    pipeline.index.client.delete_collection("bench-chroma-defaults")
    return rows


def raw_throughput(pipeline: Pipeline, texts: list[str]) -> float:
    """Chunks/s of the ingest's own encoder alone (`RAG_EMBEDDING_RUNTIME`) on the same chunks and batch size."""
    started = time.perf_counter()
    pipeline.embeddings.embed_documents(texts)
    return len(texts) / (time.perf_counter() - started)


def torch_throughput(pipeline: Pipeline, texts: list[str]) -> float:
    """Chunks/s of sentence-transformers `encode` on torch (the runtime before onnx), same chunks and batch size."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resolve_model_path(pipeline.settings.embedding_model)), device="cpu")
    model.encode(texts[:64], batch_size=pipeline.settings.embed_batch_size)  # warm up
    started = time.perf_counter()
    model.encode(texts, batch_size=pipeline.settings.embed_batch_size, normalize_embeddings=True)
    return len(texts) / (time.perf_counter() - started)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks ingest", description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents")
    parser.add_argument("--batch", type=int, default=64, help="embedding batch size")
    parser.add_argument("--threads", type=int, default=None, help="encoder threads (default: the runtime's choice)")
    parser.add_argument(
        "--runtime", choices=["onnx", "onnx-int8", "torch"], default="onnx", help="RAG_EMBEDDING_RUNTIME"
    )
    parser.add_argument("--skip-raw", action="store_true", help="skip the raw encode throughput run")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="cited-bench-"))
    docs = write_corpus(work / "corpus", args.limit)
    settings = Settings(
        _env_file=None,
        corpus_dir=work / "corpus",
        data_dir=work / "data",
        embed_batch_size=args.batch,
        torch_threads=args.threads,
        embedding_runtime=args.runtime,
    )
    pipeline = Pipeline(settings)
    started = time.perf_counter()
    pipeline.embeddings.embed_query("warm up")  # load the model outside the timed ingest
    load_s = time.perf_counter() - started

    full = pipeline.ingest(progress=True)
    rss = peak_rss_mb()
    again = Pipeline(settings).ingest()
    one = sorted((work / "corpus").iterdir())[0]
    one.write_text(one.read_text() + "\n\nAn added closing sentence.")
    changed = Pipeline(settings, embeddings=pipeline.embeddings).ingest()
    expected_changed = pipeline.index.manifest.entries()[one.name].chunks

    texts = [text for _, text, _ in iter_chunks(pipeline.index.store, ["documents"])]
    sample = random.Random(0).sample(texts, min(4000, len(texts)))
    raw = None if args.skip_raw else raw_throughput(pipeline, sample)
    on_torch = None if args.skip_raw else torch_throughput(pipeline, sample)
    recall = hnsw_recall(pipeline, test_queries())

    ingest_rate = full.chunks_embedded / full.seconds
    result = {
        "documents": docs,
        "chunks": full.chunks_total,
        "batch_size": args.batch,
        "model_load_s": load_s,
        "full_ingest_s": full.seconds,
        "ingest_chunks_per_s": ingest_rate,
        "embedding_runtime": settings.embedding_runtime,
        "raw_encode_chunks_per_s": raw,
        "ingest_vs_raw": ingest_rate / raw if raw else None,
        "torch_encode_chunks_per_s": on_torch,
        "peak_rss_mb_after_ingest": rss,
        "reingest_unchanged_s": again.seconds,
        "reingest_unchanged_chunks_embedded": again.chunks_embedded,
        "reingest_unchanged_share_of_full": again.seconds / full.seconds,
        "one_doc_changed_chunks_embedded": changed.chunks_embedded,
        "one_doc_changed_expected": expected_changed,
        "one_doc_changed_s": changed.seconds,
        "hnsw_recall_at_10": recall,
    }
    rows = [
        ("documents / chunks", f"{docs} / {full.chunks_total}"),
        ("model load", f"{load_s:.1f} s"),
        ("full ingest", f"{full.seconds:.1f} s, {ingest_rate:.1f} chunks/s"),
        ("encoder", settings.embedding_runtime),
        ("raw encode, same encoder, 4,000 of the chunks", f"{raw:.1f} chunks/s" if raw else "skipped"),
        ("ingest / raw", f"{ingest_rate / raw:.0%}" if raw else "-"),
        ("raw encode on torch (sentence-transformers), same chunks", f"{on_torch:.1f} chunks/s" if on_torch else "-"),
        ("peak RSS after ingest", f"{rss:.0f} MB"),
        (
            "re-ingest, unchanged",
            f"{again.seconds:.2f} s ({again.seconds / full.seconds:.2%} of full), "
            f"{again.chunks_embedded} chunks embedded",
        ),
        ("re-ingest, one doc changed", f"{changed.chunks_embedded} chunks embedded (its chunks: {expected_changed})"),
        *((f"HNSW recall@10, {r['config']}", f"{r['recall@10']:.4f}") for r in recall),
    ]
    print(table(rows, ("measure", "value")))
    print(f"wrote {write_json('ingest', result)}")
    return 0
