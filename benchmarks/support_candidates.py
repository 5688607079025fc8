"""Sentences the bundled models wrote, each with the passage it cited, for labelling by hand (evals/support.yaml).

`python -m benchmarks.support_candidates --answers RUN.json ... --summaries MODEL ... --realtimeqa WEEK ... --out
FILE.yaml`: `--answers` reads `python -m evals --json` runs (shown answers and the sentences of refused ones,
from their trace); `--summaries` summarizes each seed article and both together with that bundled model;
`--realtimeqa` asks a RealTime QA 2024 week's dev-set questions (evals/realtimeqa.yaml) with a bundled model
(`--realtimeqa-model`, default the 1.5B) over that week's articles, as `make bench NAME=qa` does (imported
under data/bench/realtimeqa/WEEK), and reads the answers like `--answers`. A shown sentence's passage is the
one holding the citation the answer shows; a refused answer's sentence's passage is
the prompt passage its marker named (as the model wrote it); a bullet's, the chunk holding its first
citation. The output has `label: ""` and `reason: ""` for a person to fill in by reading the passage.
The passage is kept as file + span, never as text, so the file can point into data that must not be
committed (RealTime QA articles).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import yaml

from benchmarks import qa
from benchmarks.common import ROOT

MARKER = re.compile(r"\[(\d+)\]")


def from_answers(path: Path) -> list[dict[str, Any]]:
    run = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for item in run["questions"]:
        answer, case = item["answer"], item["case"]
        shown = answer["trace"]["prompt"]["passages"]
        refused = "model said: " in answer["note"]
        raw = answer["note"].split("model said: ", 1)[1] if refused else ""  # the model's own markers
        quotes = {c["id"]: c for c in answer["citations"]}
        for sentence in answer["trace"]["sentences"]:
            passage = None
            if refused:  # the passage its marker named in the prompt
                own = [int(m) for m in MARKER.findall(_after(raw, sentence["text"]))]
                passage = shown[own[0] - 1] if own and 1 <= own[0] <= len(shown) else None
            else:  # the passage holding the citation the answer shows
                ids: list[int] = next(
                    (s["citations"] for s in answer["sentences"] if s["text"] == sentence["text"]), []
                )
                cited = quotes[ids[0]] if ids else None
                passage = cited and next(
                    (p for p in shown if p["source"] == cited["source"] and p["start"] <= cited["start"] < p["end"]),
                    None,
                )
            if passage is None:
                continue
            rows.append(
                {
                    "sentence": sentence["text"],
                    "source": passage["source"],
                    "start": passage["start"],
                    "end": passage["end"],
                    "model": answer["model"],
                    "from": f"answer to {case['id']}: {case['question']}",
                }
            )
    return rows


def _after(raw: str, sentence: str) -> str:
    """The part of the model's raw reply from `sentence` to the next sentence (where its markers are)."""
    at = raw.find(sentence[:30])
    return raw[at : at + len(sentence) + 20] if at >= 0 else ""


def from_summaries(model: str, corpus: Path) -> list[dict[str, Any]]:
    from rag.config import Settings
    from rag.pipeline import Pipeline

    pipeline = Pipeline(Settings(llm="bundled", bundled_model=model))
    rows = []
    try:
        pipeline.ingest()
        requests: list[dict[str, Any]] = [{"files": [f.name]} for f in sorted(corpus.glob("*.txt"))]
        for request in [*requests, {"everything": True}]:
            summary = pipeline.summarize(
                request.get("files", ()), everything=request.get("everything", False), refresh=True
            )
            if summary.note:  # the model failed: extractive bullets are quotes, not model sentences
                continue
            quotes = {c.id: c for c in summary.citations}
            for bullet in summary.bullets:
                if not bullet.citations:
                    continue
                c = quotes[bullet.citations[0]]
                chunk = next(
                    p for p in pipeline.index.chunks(pipeline.resolve_source(c.source)) if p.start <= c.start < p.end
                )
                rows.append(
                    {
                        "sentence": bullet.text,
                        "source": c.source,
                        "start": chunk.start,
                        "end": chunk.end,
                        "model": summary.model,
                        "from": f"summary of {', '.join(summary.sources)}",
                    }
                )
    finally:
        pipeline.close()
    return rows


def realtimeqa_answers(weeks: list[str], out: Path, model: str = "qwen2.5-coder-1.5b") -> Path:
    """The dev-set questions of `weeks` answered by the bundled `model`, written to `out` as a `python -m evals
    --json` run (the `questions` part), sources shown relative to the project."""
    from rag.config import Settings
    from rag.index.embeddings import configured_embeddings
    from rag.pipeline import Pipeline

    embeddings = configured_embeddings(Settings())
    cases = qa.realtimeqa_cases(None)
    questions = []
    for week in weeks:
        qa.prepare(week, embeddings)
        settings = qa.corpus_settings(week, llm="bundled", bundled_model=model, models_dir=ROOT / "data" / "models")
        pipeline = Pipeline(settings, embeddings=embeddings)
        try:
            for case in cases[week]:
                as_of = dt.date.fromisoformat(case.as_of) if case.as_of else None
                text = json.dumps(pipeline.ask(case.question, as_of=as_of).to_json())
                answer = json.loads(text.replace(f"{ROOT.as_posix()}/", ""))  # data/bench/... as the files are named
                questions.append({"answer": answer, "case": {"id": case.id, "question": case.question}})
                print(f"{case.id}: {answer['answer'][:80]!r}", flush=True)
        finally:
            pipeline.close()
    out.write_text(json.dumps({"questions": questions}, ensure_ascii=False, indent=1), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.support_candidates", description=__doc__)
    parser.add_argument("--answers", type=Path, action="append", default=[], help="a `python -m evals --json` run")
    parser.add_argument("--summaries", action="append", default=[], help="a bundled model to summarize with")
    parser.add_argument("--realtimeqa", action="append", default=[], metavar="WEEK", help="e.g. 20240726")
    parser.add_argument("--realtimeqa-model", default="qwen2.5-coder-1.5b", help="the bundled model for them")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.realtimeqa:
        answers = args.out.with_suffix(".answers.json")
        args.answers.append(realtimeqa_answers(args.realtimeqa, answers, args.realtimeqa_model))
    rows = [row for path in args.answers for row in from_answers(path)]
    rows += [row for model in args.summaries for row in from_summaries(model, args.corpus)]
    unique = list({(r["sentence"], r["source"], r["start"]): r for r in rows}.values())
    labelled = [{"id": f"s{n:03d}", **row, "label": "", "reason": ""} for n, row in enumerate(unique, start=1)]
    args.out.write_text(yaml.safe_dump(labelled, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    print(f"{len(labelled)} sentences -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
