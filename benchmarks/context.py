"""Does the prompt still hold the answer? `python -m benchmarks context [--budgets N ...] [--offset N] [--limit N]`

No model is asked. For each answerable question of the RealTime QA dev set (evals/realtimeqa.yaml, each week's
corpus as benchmarks/qa imports it), the passages an answer would read are gathered as for an answer (the
question's date phrase, the search as of the question's week, the selection within RAG_CONTEXT_TOKENS), and the
sentence context (rag.answering.context) is built from them at each budget. A context holds the answer when one
of its sentences states the right choice, by the grader of benchmarks/qa (evals.metrics.matched_choice). The
whole passages are the baseline. Reported per context: how many answerable questions it holds the answer for,
and the median prompt tokens (rag.answering.prompts.prompt_tokens). A model cannot answer from a context that
lost the answer, so this bounds what a smaller prompt can cost before any model is run.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from benchmarks.common import median, table, write_json
from benchmarks.qa import corpus_settings, prepare, realtimeqa_cases
from evals import metrics

DEFAULT_BUDGETS = (400, 500, 600, 800)


def holds(texts: list[str], choices: list[str], right: int, similarity: Any, question: str) -> bool:
    """Whether one of the sentences of `texts` states the right choice."""
    from rag.text import sentence_spans

    for text in texts:
        for a, b in sentence_spans(text):
            if metrics.matched_choice(text[a:b], choices, similarity, question) == right:
                return True
    return False


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks context", description=__doc__)
    parser.add_argument("--budgets", nargs="+", type=int, default=list(DEFAULT_BUDGETS), help="RAG_PROMPT_TOKENS")
    parser.add_argument("--limit", type=int, help="at most N questions per week")
    parser.add_argument("--offset", type=int, default=0, help="skip each week's first N")
    args = parser.parse_args(argv)

    from rag.answering.answerer import similarity_to
    from rag.answering.context import SentenceContext, wants_passages
    from rag.answering.prompts import format_passages, prompt_tokens
    from rag.config import Settings
    from rag.index.embeddings import configured_embeddings
    from rag.pipeline import Pipeline

    embeddings = configured_embeddings(Settings())
    similarity = similarity_to(embeddings)
    weeks = realtimeqa_cases(args.limit, args.offset)
    arms = ["passages", *(f"sentences {b}" for b in args.budgets)]
    rows: list[dict[str, Any]] = []
    for week, cases in weeks.items():
        prepare(week, embeddings)
        pipeline = Pipeline(corpus_settings(week, llm="extractive"), embeddings=embeddings)
        try:
            answerer = pipeline.answerer()
            for case in cases:
                if case.refuse or case.answer is None:
                    continue
                as_of = dt.date.fromisoformat(case.as_of) if case.as_of else None
                evidence = answerer.gather({"question": case.question, "as_of": as_of})
                row: dict[str, Any] = {"id": case.id, "account": wants_passages(case.question)}
                passages = evidence.passages
                texts = [p.text for p in passages]
                row["passages"] = {
                    "holds": holds(texts, case.choices, case.answer, similarity, case.question),
                    "tokens": prompt_tokens(format_passages(passages), case.question),
                }
                for arm in arms[1:]:
                    budget = int(arm.split()[1])
                    built = SentenceContext(embeddings, budget).build(case.question, passages) if passages else None
                    windows = [w.text for w in built.windows] if built else []
                    row[arm] = {
                        "holds": holds(windows, case.choices, case.answer, similarity, case.question),
                        "tokens": prompt_tokens(built.text, case.question) if built else 0,
                    }
                rows.append(row)
                print(case.id, " ".join(f"{arm}:{int(row[arm]['holds'])}" for arm in arms), flush=True)
        finally:
            pipeline.close()
    totals = {
        arm: {
            "holds": sum(r[arm]["holds"] for r in rows),
            "answerable": len(rows),
            "median_prompt_tokens": median([r[arm]["tokens"] for r in rows]),
        }
        for arm in arms
    }
    write_json("context", {"offset": args.offset, "limit": args.limit, "totals": totals, "rows": rows})
    print(
        table(
            [(arm, f"{t['holds']}/{t['answerable']}", f"{t['median_prompt_tokens']:.0f}") for arm, t in totals.items()],
            ("context", "holds the right choice", "median prompt tokens"),
        )
    )
    return 0
