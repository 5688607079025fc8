"""Summaries on CNN/DailyMail: ROUGE of the project's summaries against the reference highlights.

The first N validation articles (default 100) are written as .txt files, indexed with the project's ingest,
and summarized one by one with `Pipeline.summarize` (cache bypassed) for each backend asked for. ROUGE-1,
ROUGE-2 and ROUGE-Lsum F1 x 100 (rouge-score, Porter stemming; bullets one per line) against the
references, next to Lead-3 (the article's first three sentences) on the same articles; Lead-3 over all 1,000
articles checks our scoring against the published figure (R1 28.58, R2 10.61, RLsum 25.37).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

from benchmarks.common import BENCHDATA, RESULTS, median, peak_rss_mb, require, table, write_json
from rag.config import Settings
from rag.pipeline import Pipeline
from rag.text import sentence_spans

PUBLISHED_LEAD3 = {"rouge1": 28.58, "rouge2": 10.61, "rougeLsum": 25.37}
KEYS = ("rouge1", "rouge2", "rougeLsum")


def load_articles() -> list[dict[str, str]]:
    with require(BENCHDATA / "cnn_dailymail" / "cnn_dailymail_validation_subset.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def lead3(article: str) -> str:
    return "\n".join(article[a:b] for a, b in sentence_spans(article)[:3])


def rouge(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Mean F1 x 100 of (summary, reference) pairs; references' sentences are one per line already."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(KEYS), use_stemmer=True)
    totals = dict.fromkeys(KEYS, 0.0)
    for summary, reference in pairs:
        scores = scorer.score(reference, summary)
        for key in KEYS:
            totals[key] += scores[key].fmeasure
    return {key: round(100 * value / len(pairs), 2) for key, value in totals.items()}


def run_backend(backend: str, articles: list[dict[str, str]], folder: Path, bundled: str) -> dict[str, Any]:
    settings = Settings(
        _env_file=None,
        corpus_dir=folder / "corpus",
        data_dir=folder / "data",
        llm=backend,
        bundled_model=bundled,
        models_dir=Path("data") / "models",
    )
    pipeline = Pipeline(settings)
    pipeline.ingest()
    pairs, seconds, bullets, supported, notes = [], [], 0, 0, 0
    for n, row in enumerate(articles, start=1):
        started = time.perf_counter()
        summary = pipeline.summarize([f"{row['id']}.txt"], refresh=True)
        seconds.append(time.perf_counter() - started)
        pairs.append(("\n".join(b.text for b in summary.bullets), row["highlights"]))
        bullets += len(summary.bullets)
        supported += sum(b.supported for b in summary.bullets)
        notes += bool(summary.note)
        if n % 10 == 0 or n == len(articles):
            print(f"  {backend}: {n}/{len(articles)} articles, median {median(seconds):.1f} s each", flush=True)
    return {
        **rouge(pairs),
        "articles": len(articles),
        "model": pipeline.model_label,
        "median_s": round(median(seconds), 2),
        "bullets_per_summary": round(bullets / len(articles), 2),
        "supported_share": round(supported / bullets, 3) if bullets else 0.0,
        "fallbacks": notes,  # summaries where the model failed and the extractive one stood in
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks summaries", description=__doc__)
    parser.add_argument("--limit", type=int, default=100, help="how many articles (default 100)")
    parser.add_argument("--offset", type=int, default=0, help="skip this many first (a tuning slice: 500)")
    parser.add_argument(
        "--backend", action="append", choices=["extractive", "bundled"], help="repeatable; default: both"
    )
    parser.add_argument(
        "--bundled-model", default="qwen2.5-coder-1.5b", choices=["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"]
    )
    args = parser.parse_args(argv)

    every = load_articles()
    articles = every[args.offset : args.offset + args.limit]
    folder = RESULTS / "cnndm" / f"{args.offset}-{args.offset + len(articles)}"
    (folder / "corpus").mkdir(parents=True, exist_ok=True)
    for row in articles:
        path = folder / "corpus" / f"{row['id']}.txt"
        if not path.exists():
            path.write_text(row["article"], encoding="utf-8")

    results: dict[str, dict[str, Any]] = {
        "lead3 (all 1,000)": {**rouge([(lead3(r["article"]), r["highlights"]) for r in every]), "articles": len(every)},
        "lead3": {**rouge([(lead3(r["article"]), r["highlights"]) for r in articles]), "articles": len(articles)},
    }
    for backend in args.backend or ["extractive", "bundled"]:
        results[backend] = run_backend(backend, articles, folder, args.bundled_model)

    rows = [
        (
            name,
            str(r["articles"]),
            *(f"{r[k]:.2f}" for k in KEYS),
            f"{r['median_s']:.2f}" if "median_s" in r else "-",
            f"{r['bullets_per_summary']:.1f}" if "bullets_per_summary" in r else "-",
            f"{r['supported_share']:.3f}" if "supported_share" in r else "-",
        )
        for name, r in results.items()
    ]
    rows.append(("lead3, published (all 1,000)", "1000", *(f"{PUBLISHED_LEAD3[k]:.2f}" for k in KEYS), "-", "-", "-"))
    print(table(rows, ("summarizer", "articles", "R1", "R2", "RLsum", "median s", "bullets", "supported")))
    path = write_json("summaries", {"results": results, "published_lead3": PUBLISHED_LEAD3})
    print(f"\nwritten {path}")
    return 0
