"""A year of news: `python -m benchmarks archive [--weeks N] [--queries N] [--skip-raw] [--search-only|--week-only]`.

The corpus is RealTime QA 2024 (../shared/benchdata/realtimeqa/2024): the first N weeks' search results (default
all 52) imported with `rag import` into a fresh folder under data/bench/realtimeqa/archive-N (never committed),
every week but the last first. Measured in one run:

- import of every week (seconds) and the full ingest of all but the last week: seconds, chunks, chunks/s, and as
  as its bases the raw throughput of the same encoder and of fp32 MiniLM on torch (sentence-transformers
  `encode`, the encoder before onnx) on the same 2,000 of its chunks; peak RSS; size on disk;
- re-ingest with nothing changed; then the last week imported and ingested end to end (BM25 included), and a
  full BM25 rebuild from the stored chunks on its own (what each ingest that changes anything pays);
- search latency (k = 5) for the weeks' quiz questions: no filter, a 7-day range, and "until the question's
  date" (p50 / p95 in ms);
- copies found (groups of near-duplicates);
- retrieval quality: recall@5 of an article that holds the right choice's words (all its stemmed content words;
  the articles found for that question, by URL), with no date awareness, with nothing newer than the question's
  date, and with that plus the range of a phrase in the question ("this week", ...). Questions for which no
  article holds the right choice are left out (counted).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import BENCHDATA, ROOT, median, p95, peak_rss_mb, require, table, write_json
from benchmarks.ingest import raw_throughput, torch_throughput
from benchmarks.scale import size_mb
from rag.config import Settings
from rag.pipeline import Pipeline
from rag.types import Dates

DATA = BENCHDATA / "realtimeqa" / "2024"


def week_files(weeks: int | None) -> list[Path]:
    return sorted(require(DATA).glob("*_gcs.jsonl"))[:weeks]


def work_folder(weeks: int) -> Path:
    """Where the archive of the first `weeks` weeks is imported and indexed (its corpus/ and data/)."""
    return ROOT / "data" / "bench" / "realtimeqa" / f"archive-{weeks}"


def import_weeks(files: list[Path], corpus: Path) -> float:
    from rag.importing import Fields, import_jsonl

    started = time.perf_counter()
    for source in files:
        import_jsonl(source, corpus, Fields(list_field="search_result"))
    return time.perf_counter() - started


def questions(files: list[Path]) -> list[dict[str, Any]]:
    """The weeks' quiz questions, each with its date and the URLs of the articles found for it."""
    from rag.importing import normalise_url

    out = []
    for gcs in files:
        week = gcs.name[:8]
        found = {}
        for line in gcs.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                found[record["question_id"]] = record["search_result"]
        qa = DATA / f"{week}_qa.jsonl"
        for line in qa.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            q = json.loads(line)
            results = found.get(q["question_id"], [])
            out.append(
                {
                    "question": q["question_sentence"],
                    "right": q["choices"][int(q["answer"][0])],
                    "as_of": dt.date(int(week[:4]), int(week[4:6]), int(week[6:])),
                    "articles": [
                        (normalise_url(a["url"]), a.get("text") or "") for a in results if isinstance(a, dict)
                    ],
                }
            )
    return out


def relevant_files(question: dict[str, Any], by_url: dict[str, str]) -> set[str]:
    """Files of the articles found for the question that hold every content word of the right choice."""
    from rag.text import content_words

    wanted = content_words(question["right"])
    if not wanted:
        return set()
    return {by_url[url] for url, text in question["articles"] if url in by_url and wanted <= content_words(text)}


def files_by_url(corpus: Path) -> dict[str, str]:
    from rag.importing import front_matter_url

    return {url: path.name for path in corpus.glob("*.md") if (url := front_matter_url(path))}


def search_ms(pipeline: Pipeline, queries: Sequence[tuple[str, Dates | None]]) -> list[float]:
    pipeline.search(queries[0][0], k=5)  # warm up
    times = []
    for query, dates in queries:
        started = time.perf_counter()
        pipeline.search(query, k=5, dates=dates)
        times.append(1000 * (time.perf_counter() - started))
    return times


def searches(pipeline: Pipeline, files: list[Path], corpus: Path, queries: int) -> dict[str, Any]:
    """Search latency with and without date filters, and recall@5 with and without date awareness."""
    from rag.dates import phrase_dates

    asked = questions(files)
    by_url = files_by_url(corpus)
    timed = random.Random(1).sample(asked, min(queries, len(asked)))
    week = [
        (q["question"], Dates((q["as_of"] - dt.timedelta(days=6)).isoformat(), q["as_of"].isoformat())) for q in timed
    ]
    until = [(q["question"], Dates("", q["as_of"].isoformat())) for q in timed]
    latency = {
        "none": search_ms(pipeline, [(q["question"], None) for q in timed]),
        "7 days": search_ms(pipeline, week),
        "until the question's date": search_ms(pipeline, until),
    }
    recall: dict[str, list[bool]] = {
        "no dates": [],
        "until the question's date": [],
        "+ the question's phrase": [],
        "no dates, the phrase's range preferred": [],
    }
    left_out = 0
    for q in asked:
        relevant = relevant_files(q, by_url)
        if not relevant:
            left_out += 1
            continue
        said, _ = phrase_dates(q["question"], q["as_of"])
        cap = Dates("", q["as_of"].isoformat())
        for kind, dates, prefer in (
            ("no dates", None, None),
            ("until the question's date", cap, None),
            (
                "+ the question's phrase",
                Dates(said.since, min(said.until or cap.until, cap.until)) if said else cap,
                None,
            ),
            ("no dates, the phrase's range preferred", None, said),  # as `ask` does now
        ):
            hits = pipeline.search(q["question"], k=5, dates=dates, prefer=prefer)
            recall[kind].append(any(Path(h.source).name in relevant for h in hits))
    return {
        "search_ms": {k: {"p50": median(v), "p95": p95(v), "n": len(v)} for k, v in latency.items()},
        "recall_at_5": {k: sum(v) / len(v) if v else None for k, v in recall.items()},
        "questions_scored": len(recall["no dates"]),
        "questions_left_out": left_out,
    }


def search_rows(found: dict[str, Any]) -> list[tuple[str, str]]:
    n = found["questions_scored"]
    return [
        *[(f"search p50 / p95, {k}", f"{v['p50']:.1f} / {v['p95']:.1f} ms") for k, v in found["search_ms"].items()],
        *[
            (f"recall@5, {k} ({n} questions)", f"{v:.3f}" if v is not None else "-")
            for k, v in found["recall_at_5"].items()
        ],
    ]


def week_again(settings: Settings, files: list[Path], corpus: Path) -> int:
    """The last week's own articles (imported by no earlier week) taken out of the index and added again: the
    week's ingest on the whole year, then BM25 built again reusing saved tokens and from every text."""
    from rag.importing import front_matter_url, known_urls

    with tempfile.TemporaryDirectory() as scratch:
        earlier, last = Path(scratch) / "earlier", Path(scratch) / "last"
        import_weeks(files[:-1], earlier)
        import_weeks(files[-1:], last)
        urls = known_urls(last) - known_urls(earlier)
    own = [p for p in sorted(corpus.glob("*.md")) if front_matter_url(p) in urls]
    aside = corpus.with_name("week-aside")  # beside the corpus, not in a temporary folder: never lost
    aside.mkdir(exist_ok=True)
    pipeline = Pipeline(settings)
    pipeline.embeddings.embed_query("warm up")  # the model loads outside the timed ingest
    try:
        for path in own:
            path.rename(aside / path.name)
        removed = pipeline.ingest()
    finally:
        for path in own:
            if (aside / path.name).exists():
                (aside / path.name).rename(path)
    added = pipeline.ingest()
    timings = {}
    for reuse in (True, False):
        started = time.perf_counter()
        pipeline.index.save_bm25(reuse=reuse)
        timings[reuse] = time.perf_counter() - started
    pipeline.close()
    result = {
        "weeks": len(files),
        "embedding_runtime": settings.embedding_runtime,
        "chunks": added.chunks_total,
        "week_articles": len(added.added),
        "week_chunks": added.chunks_embedded,
        "week_removed_s": removed.seconds,
        "week_added_s": added.seconds,
        "bm25_reusing_tokens_s": timings[True],
        "bm25_from_every_text_s": timings[False],
    }
    rows = [
        ("chunks, encoder", f"{added.chunks_total}, {settings.embedding_runtime}"),
        (f"the last week's {len(own)} articles taken out: ingest", f"{removed.seconds:.1f} s"),
        (
            f"and added again ({len(added.added)} articles, {added.chunks_embedded} chunks): ingest",
            f"{added.seconds:.1f} s",
        ),
        ("BM25 built again, reusing saved tokens (nothing new)", f"{timings[True]:.1f} s"),
        ("BM25 built again from every stored text", f"{timings[False]:.1f} s"),
    ]
    print(table(rows, ("archive: one week again", "value")))
    print(f"\nwrote {write_json(f'archive-{len(files)}-week', result)}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks archive", description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", type=int, default=None, help="only the first N weeks (a quick run: --weeks 3)")
    parser.add_argument("--queries", type=int, default=300, help="questions timed per search kind (default 300)")
    parser.add_argument("--skip-raw", action="store_true", help="skip the raw encode throughput")
    parser.add_argument(
        "--search-only", action="store_true", help="only the searches, on the index the last full run left"
    )
    parser.add_argument(
        "--week-only",
        action="store_true",
        help="only the last week taken out of the index a full run left and added again (minutes)",
    )
    args = parser.parse_args(argv)
    files = week_files(args.weeks)
    if len(files) < 2:
        raise SystemExit("--weeks must be at least 2 (the last week is added at the end)")
    work = work_folder(len(files))
    corpus, data = work / "corpus", work / "data"
    settings = Settings(_env_file=None, corpus_dir=corpus, data_dir=data, llm="extractive")
    if args.search_only:
        if not (data / "manifest.sqlite").exists():
            raise SystemExit(f"no index in {data}: run without --search-only first")
        pipeline = Pipeline(settings)
        found = searches(pipeline, files, corpus, args.queries)
        pipeline.close()
        print(table(search_rows(found), ("archive (searches only)", "value")))
        print(f"({found['questions_left_out']} questions left out: no article found for them holds the right choice)")
        print(f"\nwrote {write_json(f'archive-{len(files)}-search', {'weeks': len(files), **found})}")
        return 0
    if args.week_only:
        if not (data / "manifest.sqlite").exists():
            raise SystemExit(f"no index in {data}: run without --week-only first")
        return week_again(settings, files, corpus)
    shutil.rmtree(work, ignore_errors=True)

    import_s = import_weeks(files[:-1], corpus)
    pipeline = Pipeline(settings)
    pipeline.embeddings.embed_query("warm up")  # the model loads outside the timed ingest
    full = pipeline.ingest(progress=True)
    rss = peak_rss_mb()
    disk = size_mb(data)
    again = Pipeline(settings, embeddings=pipeline.embeddings).ingest()

    import_s += (week_s := import_weeks(files[-1:], corpus))
    started = time.perf_counter()
    added = pipeline.ingest()
    added_s = time.perf_counter() - started
    started = time.perf_counter()
    pipeline.index.save_bm25()
    bm25_s = time.perf_counter() - started

    from rag.index.store import iter_chunks

    texts = [t for _, t, _ in iter_chunks(pipeline.index.store, ["documents"])]
    sample = random.Random(0).sample(texts, min(2000, len(texts)))
    raw = None if args.skip_raw else raw_throughput(pipeline, sample)
    fp32 = None if args.skip_raw else torch_throughput(pipeline, sample)
    groups = set(pipeline.index.copies().values())
    found = searches(pipeline, files, corpus, args.queries)
    pipeline.close()

    ingest_rate = full.chunks_embedded / full.seconds
    result: dict[str, Any] = {
        "weeks": len(files),
        "embedding_runtime": settings.embedding_runtime,
        "articles": len(list(corpus.glob("*.md"))),
        "chunks": added.chunks_total,
        "import_s": import_s,
        "ingest_s": full.seconds,
        "ingest_chunks": full.chunks_embedded,
        "ingest_chunks_per_s": ingest_rate,
        "raw_encode_chunks_per_s": raw,
        "ingest_vs_raw": ingest_rate / raw if raw else None,
        "fp32_torch_encode_chunks_per_s": fp32,
        "ingest_vs_fp32_torch": ingest_rate / fp32 if fp32 else None,
        "peak_rss_mb": rss,
        "disk_mb": disk,
        "reingest_unchanged_s": again.seconds,
        "week_added": {"articles": len(added.added), "import_s": week_s, "ingest_s": added_s},
        "bm25_rebuild_s": bm25_s,
        "copy_groups": len(groups),
        "articles_in_copy_groups": sum(len(g) for g in groups),
        **found,
    }
    rows = [
        ("weeks / articles / chunks", f"{len(files)} / {result['articles']} / {result['chunks']}"),
        ("encoder (RAG_EMBEDDING_RUNTIME)", settings.embedding_runtime),
        ("import, all weeks", f"{import_s:.1f} s"),
        (
            f"ingest, all but the last week ({full.chunks_embedded} chunks)",
            f"{full.seconds / 60:.1f} min, {ingest_rate:.1f} chunks/s",
        ),
        ("raw encode, same encoder, 2,000 of the chunks", f"{raw:.1f} chunks/s" if raw else "-"),
        ("raw encode, fp32 on torch, the same 2,000", f"{fp32:.1f} chunks/s" if fp32 else "-"),
        ("peak RSS / disk", f"{rss:.0f} MB / {disk:.0f} MB"),
        ("re-ingest, nothing changed", f"{again.seconds:.1f} s"),
        (f"one more week ({len(added.added)} articles): import + ingest", f"{week_s:.1f} s + {added_s:.1f} s"),
        ("BM25 rebuilt from every stored chunk", f"{bm25_s:.1f} s"),
        ("groups of copies (articles in them)", f"{len(groups)} ({result['articles_in_copy_groups']})"),
        *search_rows(found),
    ]
    print(table(rows, ("archive", "value")))
    print(f"({found['questions_left_out']} questions left out: no article found for them holds the right choice)")
    print(f"\nwrote {write_json(f'archive-{len(files)}', result)}")
    return 0
