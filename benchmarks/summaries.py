"""Summaries: ROUGE on CNN/DailyMail, and the facts the summary eval cases expect.

1. ROUGE: the first N CNN/DailyMail validation articles (default 100) are written as .txt files, indexed with
the project's ingest and summarized one by one with `Pipeline.summarize` (default length, cache bypassed) for
each backend asked for. ROUGE-1, ROUGE-2 and ROUGE-Lsum F1 x 100 (rouge-score, Porter stemming; bullets one per
line) against the references, next to Lead-3 (the article's first three sentences) on the same articles;
Lead-3 over all 1,000 articles checks our scoring against the published figure (R1 28.58, R2 10.61, RLsum
25.37). Also: words per summary (mean), time per summary (median, p95), bullets, the share that pass the check.
2. Fact coverage: the summary eval cases (evals/summaries.yaml on the seed corpus, evals/summaries-realtimeqa.yaml
on 16 RealTime QA 2024 articles), scored as `python -m evals` scores them (facts in supported bullets).
3. A digest of one RealTime QA 2024 week (`--digest-week`, default 20240726): every article of that week's
corpus dated up to the quiz date (`summarize --until DATE`, about 150-230 articles): time, articles, stories,
bullets, and the share of bullets that pass the support check. With `--digest-year`, also a digest of the whole
year (`summarize --all` on the 8,819 articles that `python -m benchmarks archive` imports and indexes; run that
first, with the same RAG_EMBEDDING_RUNTIME): the same measures and the peak memory.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.common import BENCHDATA, RESULTS, ROOT, median, p95, peak_rss_mb, require, table, write_json
from rag.config import Settings
from rag.pipeline import Pipeline
from rag.text import sentence_spans

PUBLISHED_LEAD3 = {"rouge1": 28.58, "rouge2": 10.61, "rougeLsum": 25.37}
KEYS = ("rouge1", "rouge2", "rougeLsum")
BACKENDS = {  # name: (RAG_LLM, bundled model)
    "extractive": ("extractive", "qwen2.5-coder-1.5b"),
    "bundled": ("bundled", "qwen2.5-coder-1.5b"),
    "bundled-0.5b": ("bundled", "qwen2.5-coder-0.5b"),
}


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


def pipeline_for(backend: str, corpus: Path, data: Path) -> Pipeline:
    llm, bundled = BACKENDS[backend]
    settings = Settings(
        _env_file=None,
        corpus_dir=corpus,
        data_dir=data,
        llm=llm,
        bundled_model=bundled,
        models_dir=ROOT / "data" / "models",
    )
    return Pipeline(settings)


def run_rouge(backend: str, articles: list[dict[str, str]], folder: Path) -> dict[str, Any]:
    pipeline = pipeline_for(backend, folder / "corpus", folder / "data")
    pipeline.ingest()
    pairs, seconds, words, bullets, supported, notes = [], [], [], 0, 0, 0
    try:
        for n, row in enumerate(articles, start=1):
            started = time.perf_counter()
            summary = pipeline.summarize([f"{row['id']}.txt"], refresh=True)
            seconds.append(time.perf_counter() - started)
            pairs.append(("\n".join(b.text for b in summary.bullets), row["highlights"]))
            words.append(sum(len(b.text.split()) for b in summary.bullets))
            bullets += len(summary.bullets)
            supported += sum(b.supported for b in summary.bullets)
            notes += bool(summary.note)
            if n % 10 == 0 or n == len(articles):
                print(f"  {backend}: {n}/{len(articles)} articles, median {median(seconds):.1f} s each", flush=True)
    finally:
        pipeline.close()
    return {
        **rouge(pairs),
        "articles": len(articles),
        "model": pipeline.model_label,
        "words": round(statistics.mean(words), 1),
        "median_s": round(median(seconds), 2),
        "p95_s": round(p95(seconds), 2),
        "bullets_per_summary": round(bullets / len(articles), 2),
        "supported_share": round(supported / bullets, 3) if bullets else 0.0,
        "with_note": notes,  # the model failed (an extractive stand-in) or ran out of time (partial)
        "peak_rss_mb": round(peak_rss_mb()),
    }


def run_facts(backend: str) -> dict[str, Any]:
    """Fact coverage on the summary eval cases: the seed ones on the project's corpus (its own index in a
    results folder), the RealTime QA ones on their gathered corpus (imported from ../shared first)."""
    from benchmarks.realtimeqa import SUMMARY_CASES, summary_corpus
    from evals import dataset, metrics

    sets = [
        ("seed", ROOT / "evals" / "summaries.yaml", ROOT / "corpus", RESULTS / "summary-cases" / "seed"),
        ("realtimeqa", SUMMARY_CASES, summary_corpus(), RESULTS / "summary-cases" / "realtimeqa"),
    ]
    out: dict[str, Any] = {}
    every = []
    for name, path, corpus, data in sets:
        pipeline = pipeline_for(backend, corpus, data / backend)
        pipeline.ingest()
        try:
            cases = dataset.load(path)
            scores = [metrics.score_summary(c, pipeline.summarize(c.summarize, refresh=True).to_json()) for c in cases]
        finally:
            pipeline.close()
        every += scores
        out[name] = {
            **metrics.summary_totals(scores),
            "missed": {s.id: s.facts_found for s in scores if not all(s.facts_found)},
        }
        print(f"  {backend}: {name} cases, fact coverage {out[name]['summary_coverage']:.3f}", flush=True)
    out["all"] = metrics.summary_totals(every)
    return out


def run_digest(backend: str, week: str) -> dict[str, Any]:
    """A digest of the week's articles dated up to the quiz date."""
    from benchmarks.realtimeqa import BENCH, imported
    from rag.types import Dates

    pipeline = pipeline_for(backend, imported(week), BENCH / week / "data")
    pipeline.ingest()
    return timed_digest(pipeline, backend, week, dates=Dates("", f"{week[:4]}-{week[4:6]}-{week[6:]}"))


def run_year_digest(backend: str) -> dict[str, Any]:
    """A digest of the whole year (`summarize --all`) on the index `python -m benchmarks archive` left."""
    from benchmarks.archive import week_files, work_folder

    work = work_folder(len(week_files(None)))
    if not (work / "data" / "manifest.sqlite").exists():
        raise SystemExit(f"no index in {work / 'data'}: run `python -m benchmarks archive` first")
    pipeline = pipeline_for(backend, work / "corpus", work / "data")
    return {**timed_digest(pipeline, backend, "the year", everything=True), "peak_rss_mb": round(peak_rss_mb())}


def timed_digest(pipeline: Pipeline, backend: str, label: str, **what: Any) -> dict[str, Any]:
    """`pipeline.summarize(**what)` timed (cache bypassed), printed and measured; the pipeline is closed."""
    try:
        started = time.perf_counter()
        summary = pipeline.summarize(refresh=True, **what)
        seconds = time.perf_counter() - started
    finally:
        pipeline.close()
    bullets = summary.bullets
    print(f"  {backend}: digest of {label} in {seconds:.0f} s: {summary.title}", flush=True)
    for b in bullets:
        print(f"    - {b.heading()}: {b.text}{'' if b.supported else ' (unsupported)'}", flush=True)
    return {
        "week": label,
        "title": summary.title,
        "articles": len(summary.sources),
        "stories_written": len(bullets),
        "seconds": round(seconds, 1),
        # reading the articles' chunks from the index, then grouping them into stories, then writing the bullets
        "read_s": round(seconds - summary.timings.get("total_s", 0.0), 1),
        "stories_s": round(summary.timings.get("stories_s", 0.0), 1),
        "written_s": round(summary.timings.get("total_s", 0.0) - summary.timings.get("stories_s", 0.0), 1),
        "supported_share": round(sum(b.supported for b in bullets) / len(bullets), 3) if bullets else 0.0,
        "note": summary.note,
        "bullets": [{"text": b.text, "supported": b.supported, "story": b.story} for b in bullets],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks summaries", description=__doc__)
    parser.add_argument("--limit", type=int, default=100, help="how many articles (default 100)")
    parser.add_argument("--offset", type=int, default=0, help="skip this many first (a tuning slice: 500)")
    parser.add_argument("--backend", action="append", choices=list(BACKENDS), help="repeatable; default: all three")
    parser.add_argument("--skip-rouge", action="store_true", help="only the fact coverage of the eval cases")
    parser.add_argument("--skip-facts", action="store_true", help="no fact coverage of the eval cases")
    parser.add_argument("--skip-digest", action="store_true", help="no digest of a RealTime QA week")
    parser.add_argument("--digest-week", default="20240726", help="the RealTime QA 2024 week to digest")
    parser.add_argument(
        "--digest-year", action="store_true", help="also digest the whole year (after `python -m benchmarks archive`)"
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

    results: dict[str, dict[str, Any]] = {}
    if not args.skip_rouge:
        results["lead3 (all 1,000)"] = {
            **rouge([(lead3(r["article"]), r["highlights"]) for r in every]),
            "articles": len(every),
        }
        results["lead3"] = {
            **rouge([(lead3(r["article"]), r["highlights"]) for r in articles]),
            "articles": len(articles),
            "words": round(statistics.mean(len(lead3(r["article"]).split()) for r in articles), 1),
        }
    facts: dict[str, dict[str, Any]] = {}
    digests: dict[str, dict[str, Any]] = {}
    for backend in args.backend or list(BACKENDS):
        if not args.skip_rouge:
            results[backend] = run_rouge(backend, articles, folder)
        if not args.skip_facts:
            facts[backend] = run_facts(backend)
        if not args.skip_digest:
            digests[backend] = run_digest(backend, args.digest_week)
        if args.digest_year:
            digests[f"{backend}, the year"] = run_year_digest(backend)

    def cell(r: dict[str, Any], key: str, form: str) -> str:
        return format(r[key], form) if key in r else "-"

    if results:
        rows = [
            (
                name,
                str(r["articles"]),
                *(f"{r[k]:.2f}" for k in KEYS),
                cell(r, "words", ".1f"),
                cell(r, "median_s", ".2f"),
                cell(r, "p95_s", ".2f"),
                cell(r, "bullets_per_summary", ".1f"),
                cell(r, "supported_share", ".3f"),
            )
            for name, r in results.items()
        ]
        rows.append(("lead3, published (all 1,000)", "1000", *(f"{PUBLISHED_LEAD3[k]:.2f}" for k in KEYS), *"-" * 5))
        heads = ("summarizer", "articles", "R1", "R2", "RLsum", "words", "median s", "p95 s", "bullets", "supported")
        print(table(rows, heads))
    if facts:
        coverage = [
            (
                name,
                *(f"{f[part]['summary_coverage']:.3f}" for part in ("seed", "realtimeqa", "all")),
                f"{int(f['all']['summaries_covered'])}/{int(f['all']['summaries'])}",
                f"{f['all']['summary_words']:.0f}",
                f"{f['all']['summary_median_s']:.2f}",
                f"{f['all']['summary_p95_s']:.2f}",
            )
            for name, f in facts.items()
        ]
        facts_heads = ("summarizer", "facts seed", "facts RTQA", "facts all", "all facts", "words", "median s", "p95 s")
        print("\nFact coverage on the summary eval cases (facts in supported bullets):")
        print(table(coverage, facts_heads))
    if digests:
        digest_rows = [
            (
                name,
                d["week"],
                str(d["articles"]),
                str(d["stories_written"]),
                f"{d['seconds']:.0f}",
                f"{d['read_s']:.0f} / {d['stories_s']:.0f} / {d['written_s']:.0f}",
                f"{d['supported_share']:.3f}",
            )
            for name, d in digests.items()
        ]
        print("\nDigest of a RealTime QA week (articles dated up to the quiz date) or of the year (every article):")
        digest_heads = (
            "summarizer",
            "week",
            "articles",
            "bullets",
            "seconds",
            "read / grouped / written s",
            "supported",
        )
        print(table(digest_rows, digest_heads))
    payload = {"results": results, "facts": facts, "digests": digests, "published_lead3": PUBLISHED_LEAD3}
    path = write_json("summaries", payload)
    print(f"\nwritten {path}")
    return 0
