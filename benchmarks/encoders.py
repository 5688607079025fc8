"""The MiniLM encoder several ways: `python -m benchmarks encoders [--docs N] [--ndcg] [--int8 VARIANT ...]`.

Issue 14's lever for ingest speed. The bundled MiniLM on torch (sentence-transformers, fp32, what ingest used
until the onnx runtime shipped) next to the same weights exported to ONNX as the product does it
(rag.index.onnx_encoder) and run with onnxruntime, in fp32 (shipped, the default `RAG_EMBEDDING_RUNTIME`) and
dynamically quantized to int8 (onnxruntime.quantization; with its defaults, per-channel weights (shipped
opt-in as `onnx-int8`), reduced range, or both: `--int8`). Measured in one run: encode throughput on the first
N SciFact abstracts (torch in batches of 64, onnx in runs of its RUN_BATCH; all cores), how close each ONNX
vector is to the torch one (cosine), and with `--ndcg` SciFact nDCG@10 of dense search (test split, title +
text), the quality gate: int8 ships only within 0.005 of fp32. The exported files go to DATA_DIR/models/onnx.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import BENCHDATA, require, table, write_json
from benchmarks.retrieval import load_queries, measures
from rag.config import Settings
from rag.index.embeddings import default_model_path, fingerprint
from rag.index.onnx_encoder import OnnxEmbeddings, export

SCIFACT = BENCHDATA / "scifact"
TORCH = "torch fp32 (sentence-transformers)"


# int8 variants (onnxruntime's dynamic quantization): its defaults, then the two options its documentation
# gives for accuracy lost on AVX2/AVX-512 machines, where u8 x s8 products can saturate.
INT8 = {
    "int8": {},
    "int8 per-channel": {"per_channel": True},
    "int8 reduce-range": {"reduce_range": True},
    "int8 per-channel reduce-range": {"per_channel": True, "reduce_range": True},
}


def int8(fp32: Path, name: str) -> Path:
    """The exported model quantized to int8 as `INT8[name]` says; made once, then reused."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = fp32.with_name(f"{fp32.stem}-{name.replace(' ', '-')}.onnx")
    if not quantized.exists():
        quantize_dynamic(str(fp32), str(quantized), weight_type=QuantType.QInt8, **INT8[name])
    return quantized


def ndcg_at_10(vectors: np.ndarray, doc_ids: list[str], queries: np.ndarray, relevant: list[dict[str, int]]) -> float:
    """Mean nDCG@10 of ranking every document by cosine, as the retrieval benchmark measures it."""
    rankings = ([doc_ids[j] for j in np.argsort(-(vectors @ query))[:100]] for query in queries)
    scores = [measures(ranking, judged)["ndcg@10"] for ranking, judged in zip(rankings, relevant, strict=True)]
    return sum(scores) / len(scores)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks encoders", description=__doc__)
    parser.add_argument("--docs", type=int, default=1000, help="SciFact abstracts timed per encoder")
    parser.add_argument("--ndcg", action="store_true", help="also SciFact nDCG@10 per encoder (minutes each)")
    parser.add_argument("--int8", nargs="*", choices=list(INT8), default=list(INT8), help="int8 variants measured")
    args = parser.parse_args(argv)

    from sentence_transformers import SentenceTransformer

    path = default_model_path()
    model = SentenceTransformer(str(path), device="cpu")
    fp32 = export(path, Settings().data_dir / "models" / "onnx" / f"{fingerprint(path)}.onnx")

    def onnx(embeddings: OnnxEmbeddings) -> Callable[[list[str]], np.ndarray]:
        return lambda texts: np.asarray(embeddings.embed_documents(texts), dtype=np.float32)

    encoders: dict[str, Callable[[list[str]], np.ndarray]] = {
        TORCH: lambda texts: np.asarray(
            model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        ),
        "onnx fp32 (shipped)": onnx(OnnxEmbeddings(fp32, path, batch_size=64)),
        **{f"onnx {name}": onnx(OnnxEmbeddings(int8(fp32, name), path, batch_size=64)) for name in args.int8},
    }
    corpus = [json.loads(line) for line in require(SCIFACT / "corpus.jsonl").open(encoding="utf-8")]
    docs = [f"{c['title']} {c['text']}".strip() for c in corpus]
    sample = docs[: args.docs]
    reference = encoders[TORCH](sample[:200])
    results: dict[str, dict[str, Any]] = {}
    for name, encode in encoders.items():
        encode(sample[:64])  # warm up
        started = time.perf_counter()
        encode(sample)
        seconds = time.perf_counter() - started
        cosine = (encode(sample[:200]) * reference).sum(1)
        results[name] = {
            "docs_per_s": round(len(sample) / seconds, 1),
            "cosine_min": round(float(cosine.min()), 4),
            "cosine_median": round(float(np.median(cosine)), 4),
        }
        print(f"  {name}: {results[name]['docs_per_s']} docs/s", flush=True)
    if args.ndcg:
        queries, qrels = load_queries("test")
        asked = sorted(qrels)
        doc_ids = [c["_id"] for c in corpus]
        for name, encode in encoders.items():
            started = time.perf_counter()
            vectors, query_vectors = encode(docs), encode([queries[q] for q in asked])
            results[name]["ndcg_at_10"] = round(
                ndcg_at_10(vectors, doc_ids, query_vectors, [qrels[q] for q in asked]), 4
            )
            print(
                f"  {name}: nDCG@10 {results[name]['ndcg_at_10']} ({time.perf_counter() - started:.0f} s)", flush=True
            )
    base = results[TORCH]["docs_per_s"]
    rows = [
        (
            name,
            f"{r['docs_per_s']:.1f}",
            f"{r['docs_per_s'] / base:.2f}x",
            f"{r['cosine_min']:.4f} / {r['cosine_median']:.4f}",
            f"{r['ndcg_at_10']:.4f}" if "ndcg_at_10" in r else "-",
        )
        for name, r in results.items()
    ]
    print(table(rows, ("encoder", "docs/s", "vs torch", "cosine to torch min / median", "SciFact nDCG@10")))
    print(f"written: {write_json('encoders', {'docs': len(sample), 'encoders': results})}")
    return 0
