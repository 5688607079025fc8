"""How an eval run is shown: a row per question while it runs, totals, and a Markdown report of failures."""

from __future__ import annotations

from typing import Any

from evals.dataset import Case
from evals.metrics import Score

HEADER = f"{'id':8} {'facts':>5} {'cites':7} {'refusal':8} {'retrieval':9} {'time':>7}  ok"


def row(case: Case, s: Score) -> str:
    facts = f"{sum(s.facts_found)}/{len(s.facts_found)}" if case.facts else "-"
    if case.choices and not s.refused:  # the choice the answer states, against the right one
        facts = f"{'-' if s.choice is None else s.choice}/{case.answer}"
    cites = "-" if s.refused or not case.sources else "none"
    if case.sources and s.cited:
        cites = "wrong" if s.wrong_citations else ("ok" if s.right_citation else "none")
    refusal = ("refused" if s.refused else "answered") + ("" if s.refusal_correct else "!")
    if case.summarize:  # no refusal to judge; the summary's length instead
        cites = "wrong" if s.wrong_citations else ("ok" if s.cited else "none")
        refusal = f"{s.words} w"
    hit = "-" if s.retrieval_hit is None else ("hit" if s.retrieval_hit else "miss")
    return (
        f"{case.id:8} {facts:>5} {cites:7} {refusal:8} {hit:9} {s.seconds:6.1f}s  {'yes' if s.fully_correct else 'NO'}"
    )


def summary(totals: dict[str, float], k: int, model: str) -> str:
    """The run's totals: for questions and for summaries, whichever the run had."""
    t = totals
    lines = []
    if "answer_accuracy" in t:
        lines += [
            f"\n{model}, k={k}: {int(t['fully_correct'])}/{int(t['questions'])} fully correct "
            f"(answerable: {t['answer_accuracy']:.3f} right, {t['wrong_refusal_rate']:.3f} refused)",
            f"fact recall {t['fact_recall']:.3f} | citation precision {t['citation_precision']:.3f}, "
            f"recall {t['citation_recall']:.3f} | refusal precision {t['refusal_precision']:.3f}, "
            f"recall {t['refusal_recall']:.3f}, accuracy {t['refusal_accuracy']:.3f}",
            f"retrieval recall@{k} {t['retrieval_recall']:.3f} | latency median {t['median_s']:.2f} s, "
            f"p95 {t['p95_s']:.2f} s",
        ]
    if "summary_coverage" in t:
        lines += [
            f"\n{model} summaries: {int(t['summaries_covered'])}/{int(t['summaries'])} cover every fact | "
            f"fact coverage {t['summary_coverage']:.3f} | {t['summary_words']:.0f} words on average | "
            f"supported bullets {t['summary_supported']:.3f} | median {t['summary_median_s']:.2f} s, "
            f"p95 {t['summary_p95_s']:.2f} s",
        ]
    return "\n".join(lines)


def baseline_facts(baseline: dict[str, Any]) -> dict[str, list[bool]]:
    return {q["case"]["id"]: q["score"]["facts_found"] for q in baseline.get("questions", [])}


def changes(found: dict[str, list[int]], missed: dict[str, list[int]]) -> str:
    lines = ["against the baseline:"]
    lines += [f"  {qid}: newly found fact(s) {[i + 1 for i in idx]}" for qid, idx in found.items()]
    lines += [f"  {qid}: newly MISSED fact(s) {[i + 1 for i in idx]}" for qid, idx in missed.items()]
    return "\n".join(lines if len(lines) > 1 else ["against the baseline: no change in facts"])


def markdown(
    results: list[tuple[Case, dict[str, Any], Score]],
    totals: dict[str, float],
    gates: dict[str, float],
    failed: list[str],
) -> str:
    model = results[0][1]["model"] if results else "-"
    lines = [f"# Eval report ({model})", "", "| measure | value |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in totals.items()]
    lines += ["", "Gates: " + ", ".join(f"{k} {v}" for k, v in gates.items()), ""]
    lines += [f"**Failed:** {f}" for f in failed] or ["All gates hold."]
    failures = [(c, a, s) for c, a, s in results if not s.fully_correct]
    lines += ["", f"## Failing questions ({len(failures)})"]
    for case, answer, s in failures:
        if case.summarize:
            lines += ["", f"### {case.id}: summary of {', '.join(case.summarize)}", ""]
            lines += [f"- {b['text']}{'' if b['supported'] else ' (unsupported)'}" for b in answer["bullets"]]
            if answer.get("note"):
                lines.append(f"Note: {answer['note']}")
            missed = [" / ".join(f) for f, ok in zip(case.facts, s.facts_found, strict=True) if not ok]
            lines += ["Missed facts: " + "; ".join(f"`{m}`" for m in missed)] if missed else []
            lines += ["Citations outside the files: " + ", ".join(s.wrong_citations)] if s.wrong_citations else []
            continue
        lines += [
            "",
            f"### {case.id}: {case.question}",
            "",
            f"Answer{' (refused)' if answer['refused'] else ''}: {answer['answer']}",
        ]
        if answer.get("note"):
            lines.append(f"Note: {answer['note']}")
        if case.choices:
            stated = "none clearly" if s.choice is None else repr(case.choices[s.choice])
            lines.append(f"Choices: {case.choices}; right: {case.choices[case.answer or 0]!r}; stated: {stated}")
        missed = [" / ".join(f) for f, ok in zip(case.facts, s.facts_found, strict=True) if not ok]
        if missed:
            lines.append("Missed facts: " + "; ".join(f"`{m}`" for m in missed))
        if not s.refusal_correct:
            lines.append("Expected a refusal." if case.refuse else "Refused, but the corpus holds the answer.")
        if s.wrong_citations:
            lines.append("Wrong citations: " + ", ".join(s.wrong_citations))
        for c in answer["citations"]:
            lines.append(f'- [{c["id"]}] {c["source"]}:{c["start"]}-{c["end"]}: "{" ".join(c["quote"].split())}"')
        if answer["refused"]:
            lines += [f"- closest: {p['source']}:{p['start']}-{p['end']}" for p in answer["passages"]]
    return "\n".join(lines) + "\n"
