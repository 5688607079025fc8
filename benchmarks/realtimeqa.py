"""RealTime QA 2024 in the weekly setting: a week's questions over that week's articles.

The data stays in ../shared/benchdata/realtimeqa/2024: `YYYYMMDD_qa.jsonl` (questions with four choices) and
`YYYYMMDD_gcs.jsonl` (per question, the news articles found that week). A week's corpus is every article found
for any of its questions, de-duplicated by URL and written by `python -m rag import` into a folder outside the
project. The dev set evals/realtimeqa.yaml holds question ids and labels only; `cases` adds the question text
and choices from the data at run time, so no article or question text is committed.

`python -m benchmarks.realtimeqa WEEK [WEEK ...]` prints, for each question, the right choice and the article
sentences that share the most words with the question and that choice: a reading aid for labelling a question
answerable (an article states it) or not. The label is decided by reading, not by this score.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import BENCHDATA, ROOT, require

DATA = BENCHDATA / "realtimeqa" / "2024"
DEV_SET = ROOT / "evals" / "realtimeqa.yaml"
SUMMARY_CASES = ROOT / "evals" / "summaries-realtimeqa.yaml"
BENCH = ROOT / "data" / "bench" / "realtimeqa"  # each week's imported articles and index (never committed)


def imported(week: str) -> Path:
    """The corpus folder of `week`'s articles, written once with `rag import` from the data. File names come
    from dates and titles in the data's order, so an import from scratch names every file as before (files
    referenced by evals/support.yaml rely on it)."""
    from rag.importing import Fields, import_jsonl

    folder = BENCH / week / "corpus"
    if not any(folder.glob("*.md")):
        report = import_jsonl(require(DATA / f"{week}_gcs.jsonl"), folder, Fields(list_field="search_result"))
        print(f"{week}: imported {len(report.imported)} articles", flush=True)
    return folder


def source_file(source: str) -> Path:
    """The file of a passage's `source` (relative to the project); one under data/bench/realtimeqa/WEEK is
    imported first if it is missing (a fresh clone)."""
    path = ROOT / source
    parts = Path(source).parts
    if not path.exists() and parts[:3] == ("data", "bench", "realtimeqa") and len(parts) > 3:
        imported(parts[3])
    return path


def summary_corpus(path: Path = SUMMARY_CASES) -> Path:
    """The corpus folder for the summary cases in `path` (files named WEEK/NAME): each file copied from its week's
    import, which is made first where missing. Returns the folder; its index goes in the folder beside it,
    `data` (see `summary_settings`)."""
    import shutil

    folder = BENCH / "summaries" / "corpus"
    for case in yaml.safe_load(path.read_text(encoding="utf-8")):
        for name in case["summarize"]:
            week, _, file = name.partition("/")
            target = folder / week / file
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(require(imported(week) / file), target)
    return folder


def questions(week: str) -> list[dict[str, Any]]:
    path = require(DATA / f"{week}_qa.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def articles(week: str) -> list[dict[str, Any]]:
    """The week's distinct articles with a text (by URL), in the order they were first found."""
    path = require(DATA / f"{week}_gcs.jsonl")
    seen: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        for article in json.loads(line)["search_result"] if line.strip() else []:
            if isinstance(article.get("text"), str) and article["text"].strip():
                seen.setdefault(article.get("url") or article.get("title", ""), article)
    return list(seen.values())


def week_of(question_id: str) -> str:
    """`20240105_3` -> `20240105`."""
    return question_id.split("_", 1)[0]


def cases(path: Path = DEV_SET) -> list[dict[str, Any]]:
    """The dev set as eval cases (evals' `choices` format): labels from `path`, texts from the data."""
    labels = yaml.safe_load(path.read_text(encoding="utf-8"))
    by_id = {q["question_id"]: q for week in {week_of(x["id"]) for x in labels} for q in questions(week)}
    out = []
    for label in labels:
        q = by_id[label["id"]]
        week = week_of(label["id"])
        out.append(
            {
                "id": label["id"],
                "question": q["question_sentence"],
                "choices": q["choices"],
                "answer": int(q["answer"][0]),
                "refuse": not label["answerable"],
                "as_of": f"{week[:4]}-{week[4:6]}-{week[6:]}",  # some question_date values are wrong
            }
        )
    return out


def evidence(question: dict[str, Any], sentences: list[tuple[str, str]], top: int = 4) -> list[tuple[float, str, str]]:
    """The `top` (score, title, sentence) holding most of the right choice's stemmed words, then most of the
    question's."""
    from rag.text import content_words

    right = question["choices"][int(question["answer"][0])]
    wanted, asked = content_words(right), content_words(question["question_sentence"])
    scored = []
    for title, sentence in sentences:
        words = content_words(sentence)
        score = len(words & wanted) / max(len(wanted), 1) * (1 + 3 * len(words & asked) / max(len(asked), 1))
        scored.append((score, title, sentence))
    return sorted(scored, key=lambda s: -s[0])[:top]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.realtimeqa", description=__doc__)
    p.add_argument("weeks", nargs="+", help="weeks as YYYYMMDD")
    p.add_argument("--per-source", type=int, default=5, help="questions per quiz source and week")
    p.add_argument("--exact", action="store_true", help="only questions whose right choice an article holds verbatim")
    args = p.parse_args(argv)
    from rag.text import sentence_spans

    for week in args.weeks:
        found = articles(week)
        sentences = [(a["title"], a["text"][s:e]) for a in found for s, e in sentence_spans(a["text"])]
        taken: dict[str, int] = {}
        for q in questions(week):
            right = q["choices"][int(q["answer"][0])]
            exact = any(right.lower() in a["text"].lower() for a in found)
            if taken.setdefault(q["question_source"], 0) >= args.per_source or (args.exact and not exact):
                continue
            taken[q["question_source"]] += 1
            print(f"\n## {q['question_id']} ({q['question_date']}): {q['question_sentence']}")
            print(f"   choices {q['choices']} -> {right!r}{' (word for word in an article)' if exact else ''}")
            for score, title, sentence in evidence(q, sentences):
                print(f"   {score:.2f} [{title[:40]}] {' '.join(sentence.split())[:240]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
