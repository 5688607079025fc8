"""Following questions: `python -m benchmarks follow [--backend extractive|bundled] [--questions 50]`.

A copy of one RealTime QA week's corpus and index (20240105, imported and indexed as `benchmarks qa` does)
follows `--questions` of that year's questions (the week's, then the next weeks'); then one article from a later
week is added and ingested, and `follow check` runs. Reported: the time to check them all, how many were asked
again (their evidence changed) and how many answers changed, against the baseline in the same run, asking all
of them again. The goal (issue 41): the check within 5 s when no evidence changed. The copy lives in
data/bench/follow and is made again each run.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Sequence

from benchmarks import realtimeqa
from benchmarks.common import ROOT, table, write_json

WEEK = "20240105"
LATER = "20241213"  # the article added comes from this week


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks follow", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["extractive", "bundled"], default="bundled")
    parser.add_argument("--questions", type=int, default=50)
    args = parser.parse_args(argv)

    from benchmarks.qa import corpus_settings, prepare
    from rag.answering.answer import Answer
    from rag.config import Settings
    from rag.index.embeddings import configured_embeddings
    from rag.pipeline import Pipeline

    embeddings = configured_embeddings(Settings())
    prepare(WEEK, embeddings)
    source = corpus_settings(WEEK)
    folder = ROOT / "data" / "bench" / "follow"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source.corpus_dir, folder / "corpus")
    shutil.copytree(
        source.data_dir, folder / "data", ignore=shutil.ignore_patterns("tutorial-chroma", "follows.sqlite")
    )
    overrides = {"llm": args.backend} if args.backend == "extractive" else {"llm": "bundled"}
    settings = Settings(
        corpus_dir=folder / "corpus", data_dir=folder / "data", models_dir=ROOT / "data" / "models", **overrides
    )
    pipeline = Pipeline(settings, embeddings=embeddings)
    asked: list[str] = []

    def ask(question: str) -> Answer:
        asked.append(question)
        return pipeline.ask(question)

    follows = pipeline.follows_asking(ask)
    try:
        weeks = sorted(p.name[:8] for p in realtimeqa.DATA.glob("*_qa.jsonl"))
        questions = [q["question_sentence"] for w in weeks[weeks.index(WEEK) :] for q in realtimeqa.questions(w)]
        started = time.perf_counter()
        for question in questions[: args.questions]:
            follows.add(question)
        added_s = time.perf_counter() - started
        article = realtimeqa.articles(LATER)[0]
        (settings.corpus_dir / "added-later.md").write_text(f"# {article['title']}\n\n{article['text']}\n")
        started = time.perf_counter()
        report = pipeline.ingest()
        ingest_s = time.perf_counter() - started
        asked.clear()
        started = time.perf_counter()
        checked = follows.check()
        check_s = time.perf_counter() - started
        again = len(asked)
        changed = sum(f.status != "unchanged" for f in checked)
        started = time.perf_counter()
        for question in questions[: args.questions]:
            pipeline.ask(question)
        baseline_s = time.perf_counter() - started
    finally:
        pipeline.close()
    rows = [
        ("follow check", f"{check_s:.2f}", str(again), str(changed)),
        ("baseline: ask all again", f"{baseline_s:.2f}", str(args.questions), "-"),
    ]
    ingested = report.summary().splitlines()[0]
    print(f"{args.questions} followed ({added_s:.1f} s to add), one article ingested ({ingest_s:.1f} s: {ingested})")
    print(table(rows, ("what", "seconds", "asked again", "changed")))
    payload = {
        "backend": args.backend,
        "questions": args.questions,
        "add_s": added_s,
        "ingest_s": ingest_s,
        "check_s": check_s,
        "asked_again": again,
        "changed": changed,
        "baseline_s": baseline_s,
        "reasons": [f.reason for f in checked if f.status != "unchanged"],
    }
    print(f"wrote {write_json(f'follow-{args.backend}', payload)}")
    return 0
