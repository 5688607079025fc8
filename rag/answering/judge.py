"""The support judge: does a passage support every part of a sentence? Used on model-written answers and
summary points, as RAG_SUPPORT says (extractive text is quoted, and checked lexically).

Two stages. Stage 1 is deterministic and free: a sentence that states a number or a name the passages lack,
or only restates the question, is unsupported without asking a model (small models invent figures and
borrow names); a sentence of eight words or more that stands word for word in a passage is supported.
Stage 2 asks a model a strict yes/no question per sentence (MiniCheck-style: "do the passages
support every part of the claim?") and reads the answer from the first token's log-probabilities, not from
free text: the score is P(yes) / (P(yes) + P(no)), so it can be thresholded. The judge prompt starts exactly
like the answer prompt (same system text, same numbered passages), so llama.cpp reuses the answer's cached
prompt and each sentence costs only its own few tokens.

`CheckerJudge` is stage 1, then the support checker trained here (rag.answering.checker: a small
cross-encoder: milliseconds a sentence, with no call to the answer model, so it works the same behind any
backend). `LexicalJudge` is the old check alone (the share of a sentence's content words found in the passage, see
rag.answering.citations.support): fast, deterministic, blind to a wrong relation between right words.
What the model judge still misses is measured in docs/benchmarks.md (`make bench NAME=support`).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rag.answering.citations import Verdict, support
from rag.answering.prompts import ANSWERABLE, JUDGE, format_passages
from rag.errors import RagError
from rag.text import content_words, names, numbers
from rag.types import Passage

logger = logging.getLogger(__name__)

TOP_LOGPROBS = 10  # alternatives asked for at the first token: "Yes", "yes", " Yes", "No", ... are among them


class Judge(Protocol):
    name: str  # what the trace calls it: "lexical", "judge" or "checker" (RAG_SUPPORT's values)

    def judge(self, claims: Sequence[str], passages: Sequence[Passage], question: str = "") -> list[Verdict]:
        """A verdict per claim, each against all of `passages` (what the model saw)."""
        ...


def rule_check(claim: str, passages: Sequence[Passage], question: str = "") -> str | None:
    """Stage 1: why `claim` is unsupported whatever a model would say, or None.

    >>> p = [Passage("c", "a.txt", 0, 40, "Talks in London lasted five hours.", "", "")]
    >>> rule_check("Talks in London lasted 6 hours.", p)
    'states 6, which the passages do not'
    >>> rule_check("Talks in London lasted 5 hours.", p) is None  # five is 5
    True
    >>> rule_check("Talks in Paris lasted five hours.", p)
    'names Paris, which the passages do not'
    >>> rule_check("The talks lasted.", p, question="How long did the talks last?")
    'only restates the question'
    >>> rule_check("Talks in London lasted five hours.", p) is None
    True
    >>> dated = [Passage("c", "a.txt", 0, 40, "Talks in London ended on the 10th.", "", "2025-06-10")]
    >>> rule_check("Talks in London ended on June 10, 2025.", dated) is None  # the article's date, as shown
    True
    """
    text = " ".join(f"{p.title} {_written(p.date)} {p.text}" for p in passages)  # as the prompt shows them
    missing_numbers = numbers(claim) - numbers(text)
    if missing_numbers:
        return f"states {', '.join(sorted(missing_numbers))}, which the passages do not"
    missing_names = names(claim) - content_words(text)
    if missing_names:
        written = [w for w in dict.fromkeys(re.findall(r"[A-Z][\w'-]*", claim)) if content_words(w) & missing_names]
        return f"names {', '.join(written or sorted(missing_names))}, which the passages do not"
    if question and not content_words(claim) - content_words(question):
        return "only restates the question"
    return None


def _written(date: str) -> str:
    """An article's ISO date as a model may write it ("2025-06-10" -> "2025-06-10 June 10, 2025"), "" for none."""
    try:
        day = dt.date.fromisoformat(date[:10])
    except ValueError:
        return ""
    return f"{date[:10]} {day:%B} {day.day}, {day.year}"


def quoted(claim: str, passages: Sequence[Passage], min_words: int = 8) -> bool:
    """Whether `claim` (at least `min_words` words) stands word for word in a passage: a quote needs no model.
    Case, spacing and the final full stop are ignored; a shorter fragment can mean something else out of place.

    >>> p = [Passage("c", "a.txt", 0, 70, "On Tuesday the talks lasted five hours before pausing at noon.", "", "")]
    >>> quoted("The talks lasted five hours before pausing at noon.", p), quoted("The talks lasted five hours.", p)
    (True, False)
    """
    words = _plain(claim)
    return len(words.split()) >= min_words and any(words in _plain(p.text) for p in passages)


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[\u201c\u201d\u2018\u2019\"]", "'", text).lower().split()).rstrip(".")


def stage_one(claim: str, passages: Sequence[Passage], question: str = "") -> Verdict | None:
    """The verdict the rules settle without a model (a rule broken: unsupported; a quote: supported), or None."""
    if (reason := rule_check(claim, passages, question)) is not None:
        return Verdict(False, 0.0, reason, "rules")
    if quoted(claim, passages):
        return Verdict(True, 1.0, "quoted word for word from a passage", "rules")
    return None


@dataclass(frozen=True)
class LexicalJudge:
    """Stage 1, then the share of the claim's content words found in the best single passage."""

    threshold: float
    name: str = "lexical"

    def judge(self, claims: Sequence[str], passages: Sequence[Passage], question: str = "") -> list[Verdict]:
        verdicts = []
        for claim in claims:
            if (reason := rule_check(claim, passages, question)) is not None:
                verdicts.append(Verdict(False, 0.0, reason, "rules"))
                continue
            score = max((support(claim, p.text) for p in passages), default=0.0)
            supported = score >= self.threshold
            share = f"{score:.0%} of its words are in a passage"
            verdicts.append(Verdict(supported, score, share, "lexical"))
        return verdicts


class Scorer(Protocol):
    """What CheckerJudge needs of rag.answering.checker.Checker (a test's fake enters here)."""

    threshold: float

    def scores(self, pairs: Sequence[tuple[str, Sequence[str]]]) -> list[float]: ...


class CheckerJudge:
    """Stage 1, then the trained support checker's P(supported) of each claim against the passages, at the
    threshold shipped in its card. `load` gives the checker (rag.answering.checker.Checker) on first use; if its
    files are missing or damaged, `judge` raises CheckerUnavailable, every time, and the caller checks
    lexically instead."""

    name = "checker"

    def __init__(self, load: Callable[[], Scorer]) -> None:
        self._load = load
        self._checker: Scorer | None = None
        self._failed: RagError | None = None
        self._lock = threading.Lock()

    def judge(self, claims: Sequence[str], passages: Sequence[Passage], question: str = "") -> list[Verdict]:
        settled = [stage_one(claim, passages, question) for claim in claims]
        asked = [claim for claim, verdict in zip(claims, settled, strict=True) if verdict is None]
        checker = self.checker()
        texts = [p.text for p in passages]
        scores = iter(checker.scores([(claim, texts) for claim in asked]))
        verdicts = []
        for verdict in settled:
            if verdict is None:
                score = next(scores)
                supported = score >= checker.threshold
                said = "supports" if supported else "does not support"
                reason = f"the checker says the passages {said} it (P={score:.2f})"
                verdict = Verdict(supported, score, reason, "checker")
            verdicts.append(verdict)
        return verdicts

    def checker(self) -> Scorer:
        """The checker, loaded once; its CheckerUnavailable, logged once and raised on every call."""
        with self._lock:
            if self._checker is None and self._failed is None:
                try:
                    self._checker = self._load()
                except RagError as e:
                    logger.warning("%s", e)
                    self._failed = e
            if self._failed is not None:
                raise self._failed
            assert self._checker is not None
            return self._checker


class ModelJudge:
    """Stage 1, then a yes/no question to a chat model (an OpenAI-compatible one that returns logprobs)."""

    name = "judge"

    def __init__(self, chat_model: Any, threshold: float) -> None:
        self.llm = yes_no(chat_model)
        self.threshold = threshold

    def judge(self, claims: Sequence[str], passages: Sequence[Passage], question: str = "") -> list[Verdict]:
        verdicts = []
        formatted = format_passages(passages)
        for claim in claims:
            if (settled := stage_one(claim, passages, question)) is not None:
                verdicts.append(settled)
                continue
            score = self.score(formatted, claim)
            supported = score >= self.threshold
            said = "supports" if supported else "does not support"
            verdicts.append(Verdict(supported, score, f"the judge says the passage {said} it (P={score:.2f})", "model"))
        return verdicts

    def score(self, formatted_passages: str, claim: str) -> float:
        """P(yes) / (P(yes) + P(no)) at the judge's first token; 0.5 when it says neither."""
        message = (JUDGE | self.llm).invoke({"passages": formatted_passages, "claim": claim})
        return yes_share(message.response_metadata.get("logprobs"))


class Answerability:
    """The answer model asked, before it answers, whether the passages answer the question at all; read from
    the first token's log-probabilities like the judge. Its prompt is the (free) answer prompt up to the
    question, so the answer that follows reuses the model server's cache and the check costs a few tokens more
    than the answer alone (evidence-first answers start otherwise and read the passages twice). It sees only
    what the answer would see: a question whose answer is in an article but not in the chosen passages is
    judged unanswerable."""

    def __init__(self, chat_model: Any) -> None:
        self.llm = yes_no(chat_model)

    def __call__(self, formatted_passages: str, question: str) -> float:
        """P(yes) / (P(yes) + P(no)) that the passages answer `question`; 0.5 when the model says neither."""
        message = (ANSWERABLE | self.llm).invoke({"passages": formatted_passages, "question": question})
        return yes_share(message.response_metadata.get("logprobs"))


def yes_no(chat_model: Any) -> Any:
    """`chat_model` set to write one token and return the log-probabilities of its likeliest alternatives."""
    return chat_model.bind(logprobs=True, top_logprobs=TOP_LOGPROBS, max_completion_tokens=1)


def first_token_options(logprobs: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The first token's likeliest alternatives ({"token", "logprob"}) from an OpenAI-style `logprobs` object;
    [] (logged) when there are none to read."""
    try:
        first = logprobs["content"][0] if logprobs else None
        return list(first.get("top_logprobs") or [first]) if first else []
    except (KeyError, IndexError, TypeError, AttributeError):
        logger.warning("the model's reply has no readable logprobs: %.200r", logprobs)
        return []


def yes_share(logprobs: dict[str, Any] | None) -> float:
    """P(yes) / (P(yes) + P(no)) from an OpenAI-style `logprobs` object of the first token; 0.5 if neither shows.

    >>> first = {"content": [{"token": "Yes", "logprob": -0.1, "top_logprobs": [
    ...     {"token": "Yes", "logprob": -0.1}, {"token": "No", "logprob": -2.4}, {"token": " yes", "logprob": -5.0}]}]}
    >>> round(yes_share(first), 3)
    0.909
    >>> yes_share({"content": [{"token": "Maybe", "logprob": -0.1, "top_logprobs": []}]})
    0.5
    """
    options = first_token_options(logprobs)
    yes = sum(math.exp(o["logprob"]) for o in options if o["token"].strip().lower() == "yes")
    no = sum(math.exp(o["logprob"]) for o in options if o["token"].strip().lower() == "no")
    return yes / (yes + no) if yes + no > 0 else 0.5
