"""How far to trust an answer: `p_correct`, the probability that it states the right answer, and a band.

Bands: `checked` (p_correct at or above the fitted level, every sentence supported, and only for the model it
was fitted on), `unsure` (shown, with a warning to read the sources) and `refused` (the pipeline refused:
nothing is stated, so p_correct is 0). An answer that only restates the question is never `checked`, whatever
its score; with no fitted level (none was right often enough), nothing is.

p_correct comes from a logistic regression over signals every answer already carries (`signals`: the support
check's scores, the margin between the best retrieval score and the next ones, the answerability score, what
the answer adds to the question, the question's kind, and the model's token log-probabilities where its server
sends them), fitted on RealTime QA 2024 weeks by `make fit-confidence` (training.confidence) into
confidence.json beside this file: its coefficients, the band level, the model it was fitted on, and its data.
It is calibrated for that model on news quizzes; for any other backend the probability is the same formula,
untested, and the band is at most `unsure`. The best retrieval score itself is not a signal: its scale depends
on how questions are worded against their corpus (a quiz question copies its article's words, a user's short
question does not), and fitted on quizzes it alone put a right answer on the seed corpus at 8 %.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.text import content_words, sentence_spans

log = logging.getLogger(__name__)

FITTED = Path(__file__).with_name("confidence.json")
BANDS = ("checked", "unsure", "refused")
# The question's kind, by its first words: what kind of fact a right answer states.
_KINDS = {
    "yes_no": re.compile(r"^(is|are|was|were|do|does|did|can|could|will|would|has|have|had|should)\b", re.I),
    "number": re.compile(r"\bhow (many|much|long|old|far)\b|\bwhat (percentage|number|share|amount|price)\b", re.I),
    "date": re.compile(r"^when\b|\bwhat (year|day|date|month|time)\b|\bon which (day|date)\b", re.I),
    "name": re.compile(r"^(who|whom|whose)\b|\bwhich\b|\bwhat is the name\b|\bwhat is \w+ called\b", re.I),
}
_NUMBER = re.compile(
    r"\d+(?:[,.]\d+)*|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
    r"thousand|million|billion|trillion|dozen|half|percent)\b",
    re.I,
)
_NAME = re.compile(r"\b[A-Z][\w'-]*")
_STARTERS = set("the a an it he she they this that these there in on at yes no".split())  # capitalised, not names
_DATE = re.compile(
    r"\b(1[89]|20)\d\d\b|\b(january|february|march|april|may|june|july|august|september|october|november|"
    r"december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow)\b|\d+",
    re.I,
)
SIGNALS = (
    "support_min",
    "support_mean",
    "supported_share",
    "answerable",
    "dense_margin",
    "novelty",
    "agreement",
    "fills_slot",
    "sentences",
    *(f"kind_{kind}" for kind in _KINDS),
    "logprob_mean",
    "logprob_min",
)
# Signals an answer may lack (a backend that sends no log-probabilities, the extractive fallback): a missing one
# counts as the fit's mean, so it moves the probability neither way.
OPTIONAL = ("logprob_mean", "logprob_min")


def question_kind(question: str) -> str:
    """yes_no, number, date, name or other.

    >>> [question_kind(q) for q in ["Did talks end?", "How many died?", "When did it open?", "Who won?", "Why?"]]
    ['yes_no', 'number', 'date', 'name', 'other']
    """
    return next((kind for kind, pattern in _KINDS.items() if pattern.search(question.strip())), "other")


# Irregular past forms, so that "left" restates "leave" (the stemmer keeps them apart); the common verbs of news.
_IRREGULAR = dict(
    pair.split(":")
    for pair in (
        "began:begin begun:begin broke:break broken:break brought:bring built:build bought:buy came:come "
        "chose:choose chosen:choose did:do done:do drew:draw drawn:draw drove:drive driven:drive ate:eat "
        "eaten:eat fell:fall fallen:fall felt:feel fought:fight found:find fled:flee flew:fly flown:fly "
        "forgot:forget gave:give given:give went:go gone:go grew:grow grown:grow had:have held:hold hid:hide "
        "hit:hit hurt:hurt kept:keep knew:know known:know laid:lay led:lead left:leave lent:lend lost:lose "
        "made:make meant:mean met:meet paid:pay ran:run rose:rise risen:rise said:say saw:see seen:see "
        "sought:seek sold:sell sent:send set:set shot:shoot shut:shut sank:sink sat:sit slept:sleep "
        "spoke:speak spoken:speak spent:spend stood:stand stole:steal stolen:steal struck:strike swore:swear "
        "sworn:swear took:take taken:take taught:teach told:tell thought:think threw:throw thrown:throw "
        "understood:understand woke:wake won:win wrote:write written:write withdrew:withdraw "
        "withdrawn:withdraw"
    ).split()
)


def _words(text: str) -> set[str]:
    text = re.sub(r"\[\d+\]", " ", text)
    return content_words(re.sub(r"[A-Za-z]+", lambda m: _IRREGULAR.get(m[0].lower(), m[0]), text))


def novelty(question: str, answer: str) -> float:
    """The share of the answer's content words that the question does not hold: 0 for an answer that only
    restates the question.

    >>> novelty("Why did the Treasury Secretary leave London early?", "The Treasury Secretary left London early [1].")
    0.0
    >>> round(novelty("Why did the Treasury Secretary leave London?", "He left for a Senate hearing [1]."), 2)
    0.67
    """
    said = _words(answer)
    return len(said - _words(question)) / len(said) if said else 0.0


def signals(answer: Mapping[str, Any]) -> dict[str, float]:
    """The combiner's inputs, from an answer as `Answer.to_json()` writes it (a live answer or a kept one)."""
    sentences = answer.get("sentences") or []
    scores = [float(s.get("score", 0.0)) for s in sentences]
    trace = answer.get("trace") or {}
    dense = sorted(
        (float(h["dense_score"]) for h in trace.get("retrieved", []) if h.get("dense_score") is not None), reverse=True
    )
    question = answer.get("condensed_question") or answer.get("question", "")
    kind = question_kind(question)
    answerable = trace.get("answerable")
    generation = trace.get("generation") or {}
    scored = {name: float(generation[name]) for name in OPTIONAL if generation.get(name) is not None}
    return {
        "support_min": min(scores, default=0.0),
        "support_mean": sum(scores) / len(scores) if scores else 0.0,
        "supported_share": sum(bool(s.get("supported")) for s in sentences) / len(sentences) if sentences else 0.0,
        "answerable": 0.5 if answerable is None else float(answerable),  # not asked: no evidence either way
        "dense_margin": dense[0] - sum(dense[1:5]) / len(dense[1:5]) if len(dense) > 1 else 0.0,
        "novelty": novelty(question, answer.get("answer", "")),
        "agreement": agreement(question, answer),
        "fills_slot": fills_slot(kind, question, answer.get("answer", "")),
        "sentences": float(len(sentences)),
        **{f"kind_{k}": float(kind == k) for k in _KINDS},
        **scored,  # the model's tokens' mean and lowest log-probability, where the server sent them
    }


def fills_slot(kind: str, question: str, answer: str) -> float:
    """1 when the answer holds something of the kind the question asks for that the question does not: a
    number for "how many", a date for "when", a name (a capitalised word other than "The", "It"...) for "who"
    or "which"; a yes/no question and any other kind count as filled.

    >>> fills_slot("number", "How many jets were grounded in 2024?", "The FAA grounded 171 jets [1].")
    1.0
    >>> fills_slot("number", "How many jets were grounded in 2024?", "Jets were grounded in 2024 [1].")
    0.0
    >>> fills_slot("name", "Which comedian will return to TV?", "A comedian will return to TV next month [1].")
    0.0
    """
    text = re.sub(r"\[\d+\]", " ", answer)
    pattern = {"number": _NUMBER, "date": _DATE, "name": _NAME}.get(kind)
    if pattern is None:
        return 1.0
    found = {m.group(0).lower() for m in pattern.finditer(text)}
    return float(bool(found - {m.group(0).lower() for m in pattern.finditer(question)} - _STARTERS))


def agreement(question: str, answer: Mapping[str, Any]) -> float:
    """1 when the answer cites the sentence an extractive answer would quote (of the passages the model read,
    the one sharing most of the question's content words), else 0. Words only (no embeddings), so it can be
    computed again from a kept answer."""
    asked = content_words(question)
    best, where = 0.0, None
    for passage in answer.get("passages") or []:
        text = passage.get("text", "")
        for start, end in sentence_spans(text):
            share = len(asked & content_words(text[start:end])) / len(asked) if asked else 0.0
            if share > best:
                best, where = share, (passage["source"], passage["start"] + start, passage["start"] + end)
    if where is None:
        return 0.0
    source, start, end = where
    cited = answer.get("citations") or []
    return float(any(c["source"] == source and c["start"] < end and start < c["end"] for c in cited))


@dataclass(frozen=True)
class Combiner:
    """A fitted logistic regression over `signals` (standardised with the fit's means and scales)."""

    names: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float
    checked_at: float | None  # the lowest p_correct shown as checked; None: no level was right often enough
    model: str  # the answering model it was fitted on ("bundled:qwen2.5-coder-1.5b")
    version: int = 1

    @classmethod
    def load(cls, path: Path = FITTED) -> Combiner | None:
        """The shipped combiner, or None (logged) when its file is missing or damaged."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            sizes = {len(data[key]) for key in ("signals", "means", "scales", "weights")}
            if len(sizes) != 1 or not all(float(scale) > 0 for scale in data["scales"]):
                raise ValueError("its signals, means, scales and weights do not fit together")
            return cls(
                names=tuple(data["signals"]),
                means=tuple(map(float, data["means"])),
                scales=tuple(map(float, data["scales"])),
                weights=tuple(map(float, data["weights"])),
                intercept=float(data["intercept"]),
                checked_at=None if data["checked_at"] is None else float(data["checked_at"]),
                model=str(data["model"]),
                version=int(data["version"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("no answer confidence: %s cannot be read (%s); run `make fit-confidence`", path, error)
            return None

    def probability(self, values: Mapping[str, float]) -> float:
        """P(right) for an answer's `values`; a signal it lacks counts as the fit's mean (no push either way)."""
        z = self.intercept + sum(
            w * (values.get(name, m) - m) / s
            for name, m, s, w in zip(self.names, self.means, self.scales, self.weights, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


@dataclass(frozen=True)
class Rating:
    p_correct: float
    band: str
    why: str  # one line for people
    signals: Mapping[str, float] = field(default_factory=dict)  # what it was computed from (none for a refusal)


class Confidence:
    """Rates answers with a Combiner (None: every shown answer is `unsure`, p_correct from nothing is 0.5)."""

    def __init__(self, combiner: Combiner | None, model: str):
        self.combiner = combiner
        self.model = model

    def rate(self, answer: Mapping[str, Any]) -> Rating:
        if answer.get("refused"):
            return Rating(0.0, "refused", "the articles do not answer it, or nothing in the answer could be checked")
        values = signals(answer)
        if self.combiner is None:
            return Rating(0.5, "unsure", "no confidence model is installed", values)
        p = round(self.combiner.probability(values), 4)
        why = weakest(answer, values)
        level = self.combiner.checked_at
        if level is not None and p >= level and eligible(values) and self.model == self.combiner.model:
            return Rating(p, "checked", "every check held", values)
        if why is None:
            if self.model != self.combiner.model:
                why = f"confidence is measured for {self.combiner.model} only"
            elif level is None:
                why = "no answer of this model is right often enough to show as checked"
            else:
                why = "below the level shown as checked"
        return Rating(p, "unsure", why, values)


def eligible(values: Mapping[str, float]) -> bool:
    """Whether an answer may be checked at all: every sentence passed the support check and it says more than
    the question did."""
    return values["supported_share"] == 1.0 and values["novelty"] > 0


def describe(band: str, p_correct: float, reason: str) -> str:
    """The band in words, for people.

    >>> describe("unsure", 0.62, "sentence 2 is not supported by its source")
    'Unsure (estimated 62% likely right): sentence 2 is not supported by its source. Read the sources.'
    >>> describe("refused", 0.0, "the articles do not answer it")
    'Refused: the articles do not answer it.'
    """
    label = {"checked": "Checked", "unsure": "Unsure", "refused": "Refused"}.get(band, band)
    odds = "" if band == "refused" else f" (estimated {p_correct:.0%} likely right)"
    advice = " Read the sources." if band == "unsure" else ""
    return f"{label}{odds}: {reason}.{advice}"


def weakest(answer: Mapping[str, Any], values: Mapping[str, float]) -> str | None:
    """One line on the weakest part of an answer, or None when nothing stands out."""
    sentences: Sequence[Mapping[str, Any]] = answer.get("sentences") or []
    for n, s in enumerate(sentences, start=1):
        if not s.get("supported"):
            return f"sentence {n} is not supported by its source"
    if values["novelty"] == 0:
        return "the answer only restates the question"
    if values["answerable"] < 0.5:
        return f"the passages may not answer the question (P {values['answerable']:.2f})"
    for n, s in enumerate(sentences, start=1):
        if float(s.get("score", 1.0)) < 0.7:
            return f"sentence {n} is only weakly supported by its source ({float(s['score']):.2f})"
    return None
