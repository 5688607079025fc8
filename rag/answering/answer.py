"""A cited answer and the values the answer path passes between its stages (rag.answering.answerer): the
Evidence gathered for a question, the model's Draft, the Checked draft, and the Answer shown or refused.

The rules for refusing live here too: `relevance_refusal` before the model is asked, `refusal_reason` after
its answer is checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rag.answering.citations import Citation, Sentence, Verified
from rag.answering.evidence import Reply
from rag.answering.pick import Choice
from rag.errors import RagError
from rag.text import count_tokens
from rag.types import Dates, Hit

REFUSAL = "The articles don't answer this question."


class Stopped(RagError):
    """The answer was withdrawn while the model wrote it (an HTTP client went away)."""


DONT_KNOW = re.compile(
    r"\b(i don'?t know|i do not know|cannot answer|can'?t answer|unable to answer|no information|"
    r"(?:do|does|did) not (?:say|mention|specify|state|provide|contain)|not (?:mentioned|stated|specified))\b",
    re.IGNORECASE,
)
# A small model sometimes copies the prompt's passages, headers ("[2] (file.txt)") and all, instead of answering.
# A file name in parentheses inside a quoted sentence is not a header (articles may say "(goats.txt)").
_ECHO = re.compile(r"(?:^|\[\d+\])\s*\(\S+\.(?:txt|md|html?|pdf)\)", re.MULTILINE)
MAX_SENTENCES = 6  # more than this is a copied passage, not an answer


@dataclass
class Answer:
    question: str
    condensed_question: str
    answer: str
    refused: bool
    sentences: list[Sentence]
    citations: list[Citation]
    passages: list[Hit]  # what the model saw (for a refusal: the closest passages)
    model: str
    timings: dict[str, float] = field(default_factory=dict)
    note: str = ""
    trace: dict[str, Any] = field(default_factory=dict)  # how it was found and checked (see rag.answering.answerer)
    # how far to trust it (rag.answering.confidence): P(it states the right answer), and checked/unsure/refused
    p_correct: float = 0.0
    band: str = "refused"
    band_reason: str = ""  # one line on why, for people

    @property
    def confidence(self) -> str:
        """How the answer held up: supported (every sentence shown passed the check), partly supported, or
        refused; from the support check's verdicts on the sentences, never from what the model says of itself."""
        if self.refused:
            return "refused"
        return "supported" if all(s.supported for s in self.sentences) else "partly supported"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["confidence"] = self.confidence
        data["sentences"] = [
            {
                "text": s.text,
                "citations": s.citations,
                "supported": s.supported,
                "flag": s.flag,
                "check": s.check,  # what decided: lexical, rules, checker or model
                "score": round(s.support, 4),  # its score: the checker's P(supported), the lexical share...
            }
            for s in self.sentences
        ]
        data["passages"] = [
            {"source": h.source, "start": h.start, "end": h.end, "text": h.text, "copies": list(h.copies)}
            for h in self.passages
        ]
        data["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        return data


def relevance_refusal(passages: Sequence[Hit], min_relevance: float) -> str | None:
    """Why to refuse before asking the model, or None: no passage, or none similar enough to the question.

    >>> relevance_refusal([], 0.2)
    'no passage is relevant enough (best similarity 0.00)'
    """
    relevance = max((h.dense_score or 0.0 for h in passages), default=0.0)
    if not passages or relevance < min_relevance:
        return f"no passage is relevant enough (best similarity {relevance:.2f})"
    return None


def refusal_reason(text: str, sentences: Sequence[Sentence]) -> str | None:
    """Why the model's reply `text`, checked into `sentences`, must be shown as a refusal, or None to show it.

    >>> refusal_reason("I don't know based on the articles.", [Sentence("I don't know based on the articles.")])
    'the model found no answer in the passages'
    >>> refusal_reason("Talks lasted two days [1].", [Sentence("Talks lasted two days.", [1], supported=True)])
    """
    if not text.strip():
        return "the model returned an empty answer"
    if _ECHO.search(text) or len(sentences) > MAX_SENTENCES:
        return "the model repeated the passages instead of answering"
    if DONT_KNOW.search(text) and not any(s.supported for s in sentences if not DONT_KNOW.search(s.text)):
        return "the model found no answer in the passages"
    if not any(s.supported for s in sentences):
        return "no sentence of the model's answer is supported"
    return None


def select_passages(hits: Sequence[Hit], budget: int) -> list[Hit]:
    """The best hits that fit in `budget` tokens, in article order (source, then position), so that similar
    questions give the model the same prompt prefix and llama.cpp can reuse its cache."""
    chosen: list[Hit] = []
    used = 0
    for hit in hits:
        cost = count_tokens(hit.text) + 20
        if used + cost > budget and chosen:
            continue
        chosen.append(hit)
        used += cost
    return sorted(chosen, key=lambda h: (h.source, h.start))


@dataclass
class Evidence:
    """What an answer is made from: the question as the user asked it, as searched and as the model answers it;
    the passages found and those the model reads; and what the checks before the model learned."""

    question: str  # as the user asked it
    searched: str  # what was searched for: a follow-up joined to, or condensed with, the history
    asked: str  # what the model answers: the condensed question, else the question itself
    hits: list[Hit]  # what the search found, best first
    passages: list[Hit]  # what the model reads: select_passages, or their sentence windows (rag.answering.context)
    started: float  # time.perf_counter() when the question came in
    timings: dict[str, float]
    note: str = ""
    dates: Dates | None = None  # the search range: the caller's (a filter), or read from `phrase` (preferred)
    phrase: str = ""  # that phrase ("last week"), when the range was read from it
    prompt: dict[str, Any] = field(default_factory=dict)  # the answer step's inputs (see Answerer.generate)
    answerable: float | None = None  # P(the passages answer it), where the model was asked
    choice: Choice | None = None  # pick first: the model's choice of sentence
    formatted: str = ""  # the passages as the prompt shows them
    context: dict[str, Any] = field(default_factory=dict)  # how the context was built (kind, what was cut, tokens)
    generation: dict[str, Any] = field(default_factory=dict)  # how the reply ended, its tokens' log-probabilities


@dataclass(frozen=True)
class Draft:
    """The model's reply as written (`text`) and the answer read from it, to be checked; `refusal` says why the
    reply itself is a refusal ("none", or nothing to check)."""

    text: str
    answer: str
    reply: Reply | None  # the quote that came with the answer (evidence first, pick first), else None
    failed: bool  # the model failed: `text` is the extractive fallback's
    note: str
    refusal: str | None = None


@dataclass(frozen=True)
class Checked:
    """The draft after the support check: each sentence with its verdict, the trace, and why it must be shown
    as a refusal (or None to show it)."""

    verified: Verified
    note: str
    trace: dict[str, Any]
    refusal: str | None


def final_answer(stream: Iterable[str | Answer]) -> Answer:
    """The Answer at the end of an answer stream (its tokens are dropped)."""
    for item in stream:
        if isinstance(item, Answer):
            return item
    raise RuntimeError("the answer chain ended without a result")
