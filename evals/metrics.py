"""Scoring one answer against one case, and totals over a run. Pure functions on plain values.

An answer here is what `rag` returns (`Answer.to_json()`): its text, whether it refused, and its citations; a
summary is `Summary.to_json()`, and only its supported bullets count (an unsupported one is shown marked).
A `choices` case is graded by `matched_choice`, with a similarity function passed in (MiniLM in `python -m evals`).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
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
    choice: int | None = None  # for a choices case: the choice the answer states (None: none clearly)
    choice_correct: bool | None = None  # None for a facts case
    words: int = 0  # a summary's words (its bullets')
    supported: float | None = None  # a summary's share of supported bullets

    @property
    def fully_correct(self) -> bool:
        if not self.refusal_correct:
            return False
        if self.refused:  # and it should have: nothing else to check
            return True
        return (
            all(self.facts_found)
            and self.choice_correct is not False
            and self.right_citation
            and not self.wrong_citations
        )


def fact_found(alternatives: Sequence[str], text: str) -> bool:
    """Any alternative (a case-insensitive regex) occurs in `text`.

    >>> fact_found(["congress", "hearing"], "He went to a Hearing.")
    True
    """
    return any(re.search(a, text, re.IGNORECASE) for a in alternatives)


Similarity = Callable[[str, list[str]], list[float]]  # (text, others) -> cosine similarity of each to the text
_YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def choice_scores(
    text: str, choices: Sequence[str], similarity: Similarity | None = None, question: str = ""
) -> list[float]:
    """How clearly `text` states each choice: the share of the choice's own content words (stemmed; numbers as
    digits) that `text` holds, plus, with `similarity`, the choice's cosine similarity to the closest sentence
    of `text` (by meaning: "the country's grid collapsed" is closer to "power outages" than to "floods"). A
    choice's own words leave out those of the question and those every choice shares ("Luke Humphries" for
    "Who beat Luke Littler?" is stated by "Humphries", not by "Luke"). A yes/no choice counts only as the
    text's first word, since "no" is a stop word and either may appear in passing.

    >>> choice_scores("Greece became the first Orthodox country to legalise it [1].", ["Romania", "Greece"])
    [0.0, 1.0]
    >>> choice_scores("No, he is not [2].", ["Yes", "No", "It's uncertain"])
    [0.0, 1.0, 0.0]
    >>> choice_scores("GM will cut 1,000 jobs [1].", ["General Motors", "Ford"])
    [1.0, 0.0]
    """
    return [words + meaning for words, meaning in _choice_parts(text, choices, similarity, question)]


def _choice_parts(
    text: str, choices: Sequence[str], similarity: Similarity | None, question: str
) -> list[tuple[float, float]]:
    """(words, meaning) for each choice, as choice_scores describes them."""
    from rag.text import content_words, numbers, sentence_spans

    said, stated_numbers = content_words(text), numbers(text)
    common = set.intersection(*(content_words(c) for c in choices)) if len(choices) > 1 else set()
    asked = content_words(question) | common
    first = _YES_NO.match(text)
    sentences = [text[s:e] for s, e in sentence_spans(text)] or [text]
    parts = []
    for choice in choices:
        if choice.strip().lower() in ("yes", "no"):
            parts.append((1.0 if first and first.group(1).lower() == choice.strip().lower() else 0.0, 0.0))
            continue
        wanted = (content_words(choice) | numbers(choice)) - asked or content_words(choice) | numbers(choice)
        words = len(wanted & (said | stated_numbers)) / len(wanted) if wanted else 0.0
        if (short := initials(choice)) and re.search(rf"(?<![\w&]){short}(?![\w&])", text):
            words = 1.0  # "GM" states "General Motors"
        meaning = max(similarity(choice, sentences)) if similarity is not None else 0.0
        parts.append((words, meaning))
    return parts


def initials(name: str) -> str:
    """The initials a name of two or more capitalised words is often shortened to, or "".

    >>> initials("General Motors"), initials("Philadelphia 76ers"), initials("Jon Stewart"), initials("Hulu")
    ('GM', '', 'JS', '')
    """
    words = name.split()
    if len(words) < 2 or not all(w[:1].isupper() and w[:1].isalpha() for w in words):
        return ""
    return "".join(w[0] for w in words)


STATED_WORDS = 0.5  # a choice is stated by half of its words ...
STATED_MEANING = 0.5  # ... or by a sentence this close in meaning (MiniLM cosine)


def matched_choice(
    text: str, choices: Sequence[str], similarity: Similarity | None = None, question: str = ""
) -> int | None:
    """The index of the choice `text` states most clearly (see choice_scores), or None when two tie or when the
    best one is not stated at all: by at least half of its words, or by a sentence close to it in meaning
    (cosine >= 0.5). Without that floor, an answer about something else still "matched" whichever choice it
    happened to be least far from (checked by reading 50 verdicts: docs/benchmarks.md).

    >>> matched_choice("Members of the Central Park Five sued Trump [1].", ["Central Park Five", "Chicago Seven"])
    0
    >>> matched_choice("The articles don't say.", ["Bees", "Moss"]) is None
    True
    """
    parts = _choice_parts(text, choices, similarity, question)
    scores = [words + meaning for words, meaning in parts]
    best = max(range(len(scores)), key=scores.__getitem__) if scores else None
    if best is None or sum(abs(s - scores[best]) < 1e-9 for s in scores) > 1:
        return None
    words, meaning = parts[best]
    return best if words >= STATED_WORDS or meaning >= STATED_MEANING else None


def score(
    case: Case, answer: dict[str, Any], retrieved_sources: Sequence[str] = (), similarity: Similarity | None = None
) -> Score:
    """Score one answer. A refusal finds no facts and states no choice; citations of a refusal do not count."""
    text = "" if answer["refused"] else answer["answer"]
    choice = matched_choice(text, case.choices, similarity, case.question) if case.choices and text else None
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
        choice=choice,
        choice_correct=(choice == case.answer) if case.choices else None,
    )


def score_summary(case: Case, summary: dict[str, Any]) -> Score:
    """Score one summary: facts in its supported bullets; its citations must be in the files summarized."""
    bullets = summary["bullets"]
    text = "\n".join(b["text"] for b in bullets if b["supported"])
    cited = list(dict.fromkeys(c["source"] for c in summary["citations"]))
    expected = set(case.summarize) | set(summary["sources"])  # as written in the case, and as the summary names them
    return Score(
        id=case.id,
        facts_found=[fact_found(fact, text) for fact in case.facts],
        cited=cited,
        wrong_citations=[c for c in cited if c not in expected],
        right_citation=bool(cited),
        seconds=float(summary.get("timings", {}).get("total_s", 0.0)),
        words=sum(len(b["text"].split()) for b in bullets),
        supported=ratio(sum(b["supported"] for b in bullets), len(bullets)) if bullets else 0.0,
    )


def summary_totals(scores: Sequence[Score]) -> dict[str, float]:
    """Totals over summary cases: fact coverage, fully covered summaries, length, support and time."""
    facts = [f for s in scores for f in s.facts_found]
    times = sorted(s.seconds for s in scores)
    return {
        "summary_coverage": ratio(sum(facts), len(facts)),
        "summaries_covered": float(sum(s.fully_correct for s in scores)),
        "summaries": float(len(scores)),
        "summary_words": statistics.mean(s.words for s in scores) if scores else 0.0,
        "summary_supported": statistics.mean(s.supported or 0.0 for s in scores) if scores else 0.0,
        "summary_median_s": statistics.median(times) if times else 0.0,
        "summary_p95_s": _p95(times),
    }


def _p95(times: list[float]) -> float:
    return times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] if times else 0.0


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
        "answer_accuracy": ratio(sum(s.fully_correct for _, s in answerable), len(answerable)),
        "wrong_refusal_rate": 1.0 - ratio(sum(not s.refused for _, s in answerable), len(answerable)),
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
        "p95_s": _p95(times),
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
