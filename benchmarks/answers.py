"""Answer latency of the default bundled model on the seed corpus.

Asks the seed eval set's questions (evals/seed.yaml; the first N, default all 37) one by one through
`Pipeline.ask_stream`, as the chat does, and reports medians of: time to first token, total time per answer,
generation speed (tokens after the first / time after the first; tokens counted with tiktoken's
cl100k_base, so an approximation of the model's own count), and the pipeline's overhead: everything but the
model's work (condensing, retrieval, verification, plumbing), as a share of the total. The first question
(model start, cold prompt cache) is reported apart. Peak RSS of the whole process.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks.common import ROOT, median, p95, peak_rss_mb, table, write_json
from evals.dataset import load
from rag.answering.answer import Answer
from rag.config import Settings
from rag.pipeline import Pipeline
from rag.text import count_tokens


def measure(pipeline: Pipeline, question: str) -> dict[str, Any]:
    started = time.perf_counter()
    first, text, answer = None, "", None
    for item in pipeline.ask_stream(question):
        if isinstance(item, Answer):
            answer = item
        else:
            first = first or time.perf_counter()
            text += item
    total = time.perf_counter() - started
    assert answer is not None
    timings = answer.timings
    model = timings.get("generate_s", 0.0)  # reading the prompt + writing the answer
    tokens = count_tokens(text)
    after_first = (started + total - first) if first else 0.0
    return {
        "question": question,
        "first_token_s": (first - started) if first else None,
        "total_s": total,
        "model_s": model,
        "overhead_s": total - model,
        "overhead_share": (total - model) / total,
        "tokens": tokens,
        "tokens_per_s": (tokens - 1) / after_first if first and tokens > 1 and after_first > 0 else None,
        "refused": answer.refused,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks answers", description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument(
        "--bundled-model", default="qwen2.5-coder-1.5b", choices=["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"]
    )
    args = parser.parse_args(argv)

    questions = [case.question for case in load(ROOT / "evals" / "seed.yaml")][: args.limit]
    folder = ROOT / "benchmarks" / "results" / "answers"
    settings = Settings(
        _env_file=None,
        corpus_dir=ROOT / "corpus",
        data_dir=folder,
        llm="bundled",
        bundled_model=args.bundled_model,
        models_dir=ROOT / "data" / "models",
    )
    pipeline = Pipeline(settings)
    pipeline.ingest()
    started = time.perf_counter()
    pipeline.start_model()
    start_s = time.perf_counter() - started
    rows = []
    for n, question in enumerate(questions, start=1):
        rows.append(measure(pipeline, question))
        print(f"  {n}/{len(questions)}  {rows[-1]['total_s']:.2f} s  {question[:60]}", flush=True)
    first, rest = rows[0], rows[1:]

    def med(key: str, items: list[dict[str, Any]]) -> float:
        return median([r[key] for r in items if r[key] is not None])

    summary = {
        "model": pipeline.model_label,
        "questions": len(rows),
        "model_start_s": round(start_s, 2),
        "first_question": {k: v for k, v in first.items() if k != "question"},
        "median_first_token_s": round(med("first_token_s", rest), 3),
        "median_total_s": round(med("total_s", rest), 3),
        "p95_total_s": round(p95([r["total_s"] for r in rest]), 3),
        "median_tokens_per_s": round(med("tokens_per_s", rest), 1),
        "median_overhead_s": round(med("overhead_s", rest), 3),
        "median_overhead_share": round(med("overhead_share", rest), 3),
        "overhead_share_of_all_time": round(sum(r["overhead_s"] for r in rest) / sum(r["total_s"] for r in rest), 3),
        "peak_rss_mb": round(peak_rss_mb()),
    }
    print(
        table(
            [
                ("model start (join/check GGUF once, load)", f"{start_s:.2f} s"),
                ("first question (cold prompt cache)", f"{first['total_s']:.2f} s"),
                (f"time to first token, median of {len(rest)}", f"{summary['median_first_token_s']:.3f} s"),
                ("total per answer, median / p95", f"{summary['median_total_s']:.2f} / {summary['p95_total_s']:.2f} s"),
                ("generation speed, median", f"{summary['median_tokens_per_s']:.1f} tokens/s"),
                ("pipeline overhead, median", f"{summary['median_overhead_s'] * 1000:.0f} ms"),
                (
                    "overhead share, median / of all time",
                    f"{summary['median_overhead_share']:.1%} / "
                    f"{summary['overhead_share_of_all_time']:.1%} (goal <= 10 %)",
                ),
                ("peak RSS (MiniLM + Chroma + model)", f"{summary['peak_rss_mb']} MB"),
            ],
            ("measure", summary["model"]),
        )
    )
    path = write_json("answers", {"summary": summary, "rows": rows})
    print(f"\nwritten {path}")
    return 0
