"""Answers to learn confidence from: `python -m training.answers [--weeks W ...] [--limit N]`.

cited as shipped (the bundled 1.5B, the default settings) answers every question of each RealTime QA 2024 week
over that week's articles (imported and indexed under data/bench/realtimeqa/WEEK, as `benchmarks qa` does), with
the question's week as the reference date. Each answer is kept whole (`Answer.to_json()`: its sentences with
their checks, citations, passages and trace) in data/confidence/answers/WEEK.jsonl with the question, its
choices and the right one, so grading and features can change without asking again. A stopped run goes on
where it stopped (questions already in a week's file are skipped).

Weeks: FIT_WEEKS (12 of the 15 weeks of evals/realtimeqa.yaml, every question of each, labelled or not; the
other three, 20240126, 20240223 and 20240517, did not fit in the session that collected these answers) to fit
the combiner (training.confidence), and HELD_OUT_WEEKS, two other weeks, used for nothing but reporting. On 2
cores each week takes about 2 minutes to index and 5 to answer: some 85 minutes for the fit weeks, 15 for the
others. Run alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import realtimeqa
from benchmarks.common import ROOT

ANSWERS = ROOT / "data" / "confidence" / "answers"
FIT_WEEKS = (
    "20240105", "20240209", "20240308", "20240419", "20240607", "20240726",
    "20240816", "20240913", "20241025", "20241115", "20241206", "20241213",
)  # fmt: skip
HELD_OUT_WEEKS = ("20240705", "20241108")
MODEL = "qwen2.5-coder-1.5b"


def path(week: str) -> Path:
    return ANSWERS / f"{week}.jsonl"


def read(weeks: Sequence[str]) -> list[dict[str, Any]]:
    """The rows kept for `weeks` (those that exist), in file order."""
    rows = []
    for week in weeks:
        if path(week).exists():
            lines = path(week).read_text(encoding="utf-8").splitlines()
            rows += [json.loads(line) for line in lines if line.strip()]
    return rows


def labels() -> dict[str, bool]:
    """{question id: answerable} for the questions evals/realtimeqa.yaml labels (a subset of the fit weeks)."""
    import yaml

    return {x["id"]: bool(x["answerable"]) for x in yaml.safe_load(realtimeqa.DEV_SET.read_text(encoding="utf-8"))}


def collect(weeks: Sequence[str], limit: int | None = None) -> None:
    """Answer the questions of `weeks` not yet kept, appending each row as it is answered."""
    from benchmarks.qa import cited, prepare
    from rag.answering.models import Backend
    from rag.config import Settings
    from rag.index.embeddings import configured_embeddings

    embeddings = configured_embeddings(Settings())
    answerable = labels()
    backend = Backend(Settings(llm="bundled", bundled_model=MODEL, models_dir=ROOT / "data" / "models"), embeddings)
    try:
        with cited(MODEL, embeddings, backend.chat_model()) as answer:
            for week in weeks:
                done = {row["id"] for row in read([week])}
                todo = [q for q in realtimeqa.questions(week) if q["question_id"] not in done][:limit]
                if not todo:
                    continue
                prepare(week, embeddings)
                path(week).parent.mkdir(parents=True, exist_ok=True)
                for question in todo:
                    case = _case(question, week)
                    row = {**_row(question, week, answerable), "answer": answer(week, case)}
                    with path(week).open("a", encoding="utf-8") as out:
                        out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    shown = "refused" if row["answer"]["refused"] else row["answer"]["answer"][:70]
                    print(f"{row['id']:12} {row['answer']['timings'].get('total_s', 0):5.1f}s {shown}", flush=True)
    finally:
        backend.close()


def _row(question: dict[str, Any], week: str, answerable: dict[str, bool]) -> dict[str, Any]:
    return {
        "id": question["question_id"],
        "week": week,
        "question": question["question_sentence"],
        "choices": question["choices"],
        "right_choice": int(question["answer"][0]),
        "answerable": answerable.get(question["question_id"]),  # None: not labelled
    }


def _case(question: dict[str, Any], week: str) -> Any:
    from evals import dataset

    raw = {
        "id": question["question_id"],
        "question": question["question_sentence"],
        "choices": question["choices"],
        "answer": int(question["answer"][0]),
        "as_of": dt.date(int(week[:4]), int(week[4:6]), int(week[6:])).isoformat(),
    }
    return dataset.parse_case(raw, 1, realtimeqa.DEV_SET)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.answers", description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", nargs="+", default=[*FIT_WEEKS, *HELD_OUT_WEEKS])
    parser.add_argument("--limit", type=int, default=None, help="at most this many new questions a week")
    args = parser.parse_args(argv)
    collect(args.weeks, args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
