"""`python -m benchmarks NAME [options]`; `python -m benchmarks` lists the names."""

from __future__ import annotations

import importlib
import sys

NAMES = {
    "ingest": "SciFact ingest speed, re-ingest cost, raw embedding throughput and HNSW recall",
    "retrieval": "SciFact retrieval quality (nDCG@10 ...) for dense, BM25 and hybrid, and search latency",
    "scale": "search latency at 100k chunks (SciFact repeated) next to the original index, index sizes",
    "answers": "answer latency of the bundled model on the seed corpus: first token, total, tokens/s, overhead",
    "summaries": "CNN/DailyMail ROUGE of the summaries (extractive, bundled model) next to Lead-3",
    "support": "the support judge (lexical, bundled models) against human labels (QAGS-XSum) and synthetic errors",
    "check": "what the sampled recall check of the vector graph costs and sees: SciFact, and SciFact with a crowd",
    "qa": "right answers, refusals and latency on RealTime QA 2024 and the seed set: cited vs a LangChain chain",
    "context": "whether the sentence context still holds the answer (no model): RealTime QA, per prompt budget",
    "relevance": "whether answer sentences relate to the question (MiniLM): RealTime QA answers vs unrelated, obeyed",
    "archive": "a year of news (RealTime QA 2024): import, ingest, one more week, search with dates, recall@5",
    "duplicates": "near-duplicate groups (MinHash) in RealTime QA 2024 whole: counts, sizes, pairs to read",
    "encoders": "MiniLM on torch (shipped) vs exported to ONNX, fp32 and int8: throughput, agreement, SciFact nDCG",
    "confidence": "p_correct and bands: accuracy per band, coverage, calibration; validation, held-out weeks, seed",
    "follow": "follow check on 50 followed questions after a 1-article ingest, against asking them all again",
    "api": "the HTTP API under load: 1/4/16 clients, extractive and the bundled model, next to the CLI",
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in NAMES:
        print("usage: python -m benchmarks NAME [--help]\n")
        for name, what in NAMES.items():
            print(f"  {name:10} {what}")
        return 2
    module = importlib.import_module(f"benchmarks.{sys.argv[1]}")
    return int(module.main(sys.argv[2:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
