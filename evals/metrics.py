"""Scoring one answer against one case, and totals over a run. Pure functions on plain values.

An answer here is what `rag` returns (`Answer.to_json()`): its text, whether it refused, and its citations.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.dataset import Case


@dataclass
class Score:
    id: str
    facts_found: list[bool] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)  # distinct files the answer cites
    wrong_citations: list[str] = field(default_factory=list)
    right_citation: bool = False
    refused: bool = False
    refusal_correct: bool = True
    retrieval_hit: bool | None = None  # None for questions without expected sources
    seconds: float = 0.0

    @property
    def fully_correct(self) -> bool:
        if not self.refusal_correct:
            return False
        if self.refused:  # and it should have: nothing else to check
            return True
        return all(self.facts_found) and self.right_citation and not self.wrong_citations


def fact_found(alternatives: Sequence[str], text: str) -> bool:
    """Any alternative (a case-insensitive regex) occurs in `text`.

    >>> fact_found(["congress", "hearing"], "He went to a Hearing.")
    True
    """
    return any(re.search(a, text, re.IGNORECASE) for a in alternatives)


def score(case: Case, answer: dict[str, Any], retrieved_sources: Sequence[str] = ()) -> Score:
    """Score one answer. A refusal finds no facts; citations of a refusal do not count."""
    text = "" if answer["refused"] else answer["answer"]
    cited = [] if answer["refused"] else list(dict.fromkeys(c["source"] for c in answer["citations"]))
    expected = set(case.sources)
    return Score(
        id=case.id,
        facts_found=[fact_found(fact, text) for fact in case.facts],
        cited=cited,
        wrong_citations=[c for c in cited if expected and c not in expected],
        right_citation=bool(set(cited) & expected) if expected else bool(cited),
        refused=answer["refused"],
        refusal_correct=answer["refused"] == case.refuse,
        retrieval_hit=bool(set(retrieved_sources) & expected) if expected else None,
        seconds=float(answer.get("timings", {}).get("total_s", 0.0)),
    )


def ratio(part: int, whole: int) -> float:
    """part / whole, and 1.0 for 0 / 0 (nothing to get wrong)."""
    return part / whole if whole else 1.0


def totals(cases: Sequence[Case], scores: Sequence[Score]) -> dict[str, float]:
    answerable = [(c, s) for c, s in zip(cases, scores, strict=True) if not c.refuse]
    facts = [f for _, s in answerable for f in s.facts_found]
    cited = [(c, s) for c, s in answerable if s.cited]
    refusals = [s for s in scores if s.refused]
    should = [s for c, s in zip(cases, scores, strict=True) if c.refuse]
    hits = [s.retrieval_hit for s in scores if s.retrieval_hit is not None]
    times = sorted(s.seconds for s in scores)
    return {
        "fact_recall": ratio(sum(facts), len(facts)),
        "citation_precision": ratio(
            sum(len(s.cited) - len(s.wrong_citations) for _, s in cited), sum(len(s.cited) for _, s in cited)
        ),
        "citation_recall": ratio(sum(s.right_citation for _, s in answerable), len(answerable)),
        "refusal_precision": ratio(sum(s.refusal_correct for s in refusals), len(refusals)),
        "refusal_recall": ratio(sum(s.refused for s in should), len(should)),
        "refusal_accuracy": ratio(sum(s.refusal_correct for s in scores), len(scores)),
        "retrieval_recall": ratio(sum(bool(h) for h in hits), len(hits)),
        "fully_correct": float(sum(s.fully_correct for s in scores)),
        "questions": float(len(scores)),
        "median_s": statistics.median(times) if times else 0.0,
        "p95_s": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] if times else 0.0,
    }


def fact_changes(baseline: dict[str, list[bool]], scores: Sequence[Score]) -> tuple[dict, dict]:
    """Against a baseline run, per question id: indexes of facts newly found, and of facts newly missed.

    >>> fact_changes({"q1": [True, False]}, [Score("q1", facts_found=[False, True])])
    ({'q1': [1]}, {'q1': [0]})
    """
    found: dict[str, list[int]] = {}
    missed: dict[str, list[int]] = {}
    for s in scores:
        pairs = list(enumerate(zip(baseline.get(s.id, []), s.facts_found, strict=False)))
        if gained := [i for i, (was, now) in pairs if now and not was]:
            found[s.id] = gained
        if lost := [i for i, (was, now) in pairs if was and not now]:
            missed[s.id] = lost
    return found, missed
