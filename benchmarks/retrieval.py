"""Retrieval quality on BEIR SciFact, with the project's own ingest, chunker and retrievers.

Indexes the 5,183 abstracts (title + text per document) into a cached folder under benchmarks/results/, one
per chunking (incremental: later runs embed nothing), then for each query of the chosen split ranks documents
by their best chunk and reports nDCG@10, MRR@10, recall@10 and recall@100 for dense only, BM25 only and the
hybrid (reciprocal rank fusion of each retriever's top `candidates`, as `HybridSearcher` does), next to the
published baselines; and the hybrid search latency per query. `--grid` scores the hybrid for a grid of fusion
settings from the same rankings: tune on `--split train`, report on test.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.common import BENCHDATA, RESULTS, median, p95, require, table, write_json
from rag.config import Settings
from rag.index.search import rrf
from rag.pipeline import Pipeline

GRID_RRF_K = (1, 5, 10, 20, 30, 60, 100)
GRID_CANDIDATES = (10, 20, 30, 50, 100, 300)
PUBLISHED = {"dense": (0.6451, "all-MiniLM-L6-v2, MTEB"), "bm25": (0.6874, "bm25s, MTEB"), "hybrid": (None, "")}


def write_corpus(folder: Path) -> None:
    if folder.is_dir() and any(folder.iterdir()):
        return
    folder.mkdir(parents=True, exist_ok=True)
    for line in require(BENCHDATA / "scifact" / "corpus.jsonl").read_text().splitlines():
        doc = json.loads(line)
        (folder / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}")


def scifact_settings(**overrides: Any) -> Settings:
    """Settings for the SciFact index (corpus written if missing); `None` overrides keep the default.

    One index folder per chunking, so comparing chunkings does not rebuild the others.
    """
    base = RESULTS / "scifact"
    write_corpus(base / "corpus")
    settings = Settings(_env_file=None, **{k: v for k, v in overrides.items() if v is not None})
    folder = base / f"data-{settings.chunk_size}-{settings.chunk_overlap}"
    return settings.model_copy(update={"corpus_dir": base / "corpus", "data_dir": folder})


def load_queries(split: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for line in require(BENCHDATA / "scifact" / "qrels" / f"{split}.tsv").read_text().splitlines()[1:]:
        qid, doc, rel = line.split("\t")
        qrels[qid][doc] = int(rel)
    texts = {}
    for line in (BENCHDATA / "scifact" / "queries.jsonl").read_text().splitlines():
        q = json.loads(line)
        if q["_id"] in qrels:
            texts[q["_id"]] = q["text"]
    return texts, dict(qrels)


def fuse(dense: list[str], sparse: list[str], candidates: int, rrf_k: int) -> list[str]:
    """The project's fusion (`HybridSearcher`): the top `candidates` of each retriever, reciprocal rank fused.

    The searcher's top 10 come from its candidates; asked for more passages than that, it fuses more
    (`max(candidates, k)`), so the ranking goes on with the fusion of both whole rankings.
    """

    def fused(n: int) -> list[str]:
        scores = rrf([dense[:n], sparse[:n]], rrf_k)
        return sorted(scores, key=lambda i: -scores[i])

    return list(dict.fromkeys(fused(candidates) + fused(max(len(dense), len(sparse)))))


def grid(
    runs: list[tuple[list[str], list[str], dict[str, int]]], doc_of: dict[str, str]
) -> dict[tuple[int, int], list[float]]:
    """Hybrid nDCG@10 per query for each (rrf_k, candidates) pair, from the same dense and BM25 rankings."""
    return {
        (k, c): [measures(doc_ranking(fuse(d, s, c, k), doc_of), rel)["ndcg@10"] for d, s, rel in runs]
        for k in GRID_RRF_K
        for c in GRID_CANDIDATES
    }


def paired_gain(new: list[float], old: list[float]) -> tuple[float, float]:
    """Mean per-query gain of `new` over `old` and its standard error (the same queries, so paired)."""
    gains = [a - b for a, b in zip(new, old, strict=True)]
    return statistics.mean(gains), statistics.stdev(gains) / math.sqrt(len(gains))


def doc_ranking(chunk_ids: list[str], doc_of: dict[str, str]) -> list[str]:
    """Documents in the order of their best chunk."""
    return list(dict.fromkeys(doc_of[c] for c in chunk_ids))


def measures(ranking: list[str], relevant: dict[str, int]) -> dict[str, float]:
    gains = [relevant.get(d, 0) for d in ranking[:10]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    first = next((i for i, d in enumerate(ranking[:10], start=1) if d in relevant), None)
    return {
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "mrr@10": 1.0 / first if first else 0.0,
        "recall@10": len(set(ranking[:10]) & set(relevant)) / len(relevant),
        "recall@100": len(set(ranking[:100]) & set(relevant)) / len(relevant),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks retrieval", description=__doc__)
    parser.add_argument("--split", choices=["test", "train"], default="test", help="tune on train, report test")
    parser.add_argument("--depth", type=int, default=300, help="chunks dense and BM25 rank alone per query")
    parser.add_argument("--rrf-k", type=int, default=None, help="fusion constant (default: RAG_RRF_K)")
    parser.add_argument("--candidates", type=int, default=None, help="fused per retriever (default: RAG_CANDIDATES)")
    parser.add_argument("--chunk-size", type=int, default=None, help="chunk size in tokens (default: RAG_CHUNK_SIZE)")
    parser.add_argument(
        "--chunk-overlap", type=int, default=None, help="overlap in tokens (default: RAG_CHUNK_OVERLAP)"
    )
    parser.add_argument("--grid", action="store_true", help="also score the hybrid over a grid of rrf_k x candidates")
    args = parser.parse_args(argv)

    settings = scifact_settings(
        rrf_k=args.rrf_k, candidates=args.candidates, chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap
    )
    pipeline = Pipeline(settings)
    report = pipeline.ingest(progress=True)
    print(f"index: {report.summary()}")
    searcher = pipeline.index.searcher
    doc_of = {i: Path(s).stem for i, s in zip(searcher.bm25.ids, searcher.bm25.sources, strict=True)}

    texts, qrels = load_queries(args.split)
    scores: dict[str, list[dict[str, float]]] = defaultdict(list)
    runs: list[tuple[list[str], list[str], dict[str, int]]] = []
    latencies = []
    same_as_searcher = 0
    for qid, text in texts.items():
        dense = [str(d.id) for d, _ in pipeline.index.store.similarity_search_with_score(text, k=args.depth)]
        sparse = [i for i, _ in searcher.bm25.search(text, args.depth)]
        hybrid = fuse(dense, sparse, settings.candidates, settings.rrf_k)
        for name, ranking in (("dense", dense), ("bm25", sparse), ("hybrid", hybrid)):
            scores[name].append(measures(doc_ranking(ranking, doc_of), qrels[qid]))
        runs.append((dense, sparse, qrels[qid]))
        started = time.perf_counter()
        hits = pipeline.search(text, k=10)
        latencies.append(time.perf_counter() - started)
        same_as_searcher += [h.id for h in hits] == hybrid[:10]

    results = {name: {m: sum(s[m] for s in rows) / len(rows) for m in rows[0]} for name, rows in scores.items()}
    latencies.sort()
    rows = []
    for name, r in results.items():
        published, source = PUBLISHED[name]
        rows.append(
            (
                name,
                f"{r['ndcg@10']:.4f}",
                f"{published:.4f} ({source})" if published else "-",
                f"{r['mrr@10']:.4f}",
                f"{r['recall@10']:.4f}",
                f"{r['recall@100']:.4f}",
            )
        )
    print(
        f"\nSciFact {args.split}: {len(texts)} queries, {len(doc_of)} chunks, chunk size {settings.chunk_size}, "
        f"overlap {settings.chunk_overlap}; hybrid: rrf_k {settings.rrf_k}, {settings.candidates} candidates each; "
        f"dense and BM25 alone: depth {args.depth}"
    )
    print(table(rows, ("retriever", "nDCG@10", "published nDCG@10", "MRR@10", "R@10", "R@100")))
    p50, p95_s = median(latencies), p95(latencies)
    print(
        f"hybrid search latency (embed query + dense + BM25 + fusion, k=10): p50 {p50 * 1000:.1f} ms, "
        f"p95 {p95_s * 1000:.1f} ms"
    )
    print(f"the searcher's own top 10 equals the hybrid row's for {same_as_searcher} of {len(texts)} queries")
    per_query = grid(runs, doc_of) if args.grid else {}
    tuning = {f"{k},{c}": statistics.mean(v) for (k, c), v in per_query.items()}
    if tuning:
        print(f"\nhybrid nDCG@10 by rrf_k (rows) and candidates per retriever (columns), {args.split} split:")
        cells = [(str(k), *(f"{tuning[f'{k},{c}']:.4f}" for c in GRID_CANDIDATES)) for k in GRID_RRF_K]
        print(table(cells, ("rrf_k", *map(str, GRID_CANDIDATES))))
        k, c = max(per_query, key=lambda cell: tuning[f"{cell[0]},{cell[1]}"])
        gain, se = paired_gain(per_query[k, c], [q["ndcg@10"] for q in scores["hybrid"]])
        print(f"best: rrf_k {k}, {c} candidates: {gain:+.4f} +- {se:.4f} (paired standard error) over these settings")
    out = write_json(
        f"retrieval-{args.split}-{settings.chunk_size}-{settings.chunk_overlap}",
        {
            "split": args.split,
            "queries": len(texts),
            "chunks": len(doc_of),
            "chunk_size": settings.chunk_size,
            "chunk_overlap": settings.chunk_overlap,
            "rrf_k": settings.rrf_k,
            "candidates": settings.candidates,
            "depth": args.depth,
            "results": results,
            "latency_p50_s": p50,
            "latency_p95_s": p95_s,
            "same_top10_as_searcher": same_as_searcher,
            "grid_ndcg@10": tuning,
            "hybrid_ndcg@10_per_query": dict(zip(texts, (q["ndcg@10"] for q in scores["hybrid"]), strict=True)),
        },
    )
    print(f"wrote {out}")
    return 0
