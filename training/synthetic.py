"""Synthetic (claim, evidence, label) pairs from news articles, made the FactCC way.

A sentence of an article is a claim its window (the sentences around it) supports; the same sentence changed
in one way the window does not support is a claim it does not:

- `entity`: a name swapped for another name of the article;
- `number`: a number changed, or swapped for another number of the article;
- `date`: a weekday, a month or a year changed;
- `negation`: "was" made "was not" (or a "not" taken out);
- `roles`: two names of the sentence swapped (who did what to whom);
- `detail`: a detail the window does not state added ("left London" -> "left London early");
- `clause`: a clause of another article's sentence added (", after talks with the unions");
- `elsewhere`: a sentence from elsewhere in the article, not in the window, that shares words with it;
- `other`: the sentence of another article on the same subject that shares most words with the window.

Positives besides the sentence itself: the sentence with a trailing clause or a parenthesis dropped (shorter,
still supported), and, where the article has them, its human-written highlights against the whole article
(CNN/DailyMail; the model reads the article's sentences nearest the highlight, as it reads any evidence).

Limits: a change can leave a claim that is still true by the window (a number swapped for one the window
also states in that role, a detail the window implies); the perturbations are English patterns; the labels
are the recipe's, not a person's.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag.text import content_words, sentence_spans

WINDOW_WORDS = 150  # about 200 tokens: the size of a passage the product cites
MIN_WORDS, MAX_WORDS = 8, 45  # sentences outside this are not used as claims
NEAR_COPIES = 2  # changed copies made of each sentence (training.checker caps how many of each kind it reads)

_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
]  # fmt: skip
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*\b")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?![\w])")
_YEAR = re.compile(r"\b(19|20)\d{2}\b")
_AUXILIARY = re.compile(r"\b(is|are|was|were|has|have|had|will|would|could|should|can|did|does|do)\b")
_NOT = re.compile(r"\b(is|are|was|were|has|have|had|will|would|could|should|did|does|do) not\b")
_DETAILS = [
    "early", "for the second time", "on Tuesday", "after a long delay", "in secret", "without warning",
    "last year", "for the first time", "in a surprise move", "at the request of the police", "twice",
    "by a wide margin", "at night", "under pressure from investors",
]  # fmt: skip
_TRAILING = re.compile(r",\s+(?:which|who|while|as|after|before|according to|because|although)\b[^,]*$")
_PARENTHESIS = re.compile(r"\s*\([^)]{2,60}\)")


@dataclass(frozen=True)
class Pair:
    claim: str
    evidence: str
    label: int  # 1: the evidence supports every part of the claim
    kind: str  # how it was made (see the module's docstring), or the source file for labelled data
    group: str  # the article it comes from: a split never puts one article on both sides


@dataclass(frozen=True)
class Article:
    id: str
    text: str
    highlights: tuple[str, ...] = ()


def sentences(text: str) -> list[str]:
    return [" ".join(text[a:b].split()) for a, b in sentence_spans(text)]


def window_around(sents: Sequence[str], index: int, size: int = WINDOW_WORDS) -> tuple[int, int]:
    """The sentences around `index` (it included), about `size` words, as many before as after where they fit."""
    first, end = index, index + 1
    words = len(sents[index].split())
    while words < size and (first > 0 or end < len(sents)):
        if first > 0:
            first -= 1
            words += len(sents[first].split())
        if end < len(sents) and words < size:
            words += len(sents[end].split())
            end += 1
    return first, end


def article_pairs(article: Article, rng: random.Random, others: Sequence[Article] = (), claims: int = 2) -> list[Pair]:
    """Pairs from one article: for each of up to `claims` sentences, a positive and negatives (see the module)."""
    sents = sentences(article.text)
    usable = [i for i, s in enumerate(sents) if MIN_WORDS <= len(s.split()) <= MAX_WORDS]
    if len(sents) < 4 or not usable:
        return []
    pairs: list[Pair] = []
    names = sorted({m.group(0) for s in sents for m in _NAME.finditer(s)})
    numbers = sorted({m.group(0) for s in sents for m in _NUMBER.finditer(s)})
    for index in rng.sample(usable, min(claims, len(usable))):
        claim = sents[index]
        first, end = window_around(sents, index)
        window = " ".join(sents[first:end])
        made: list[tuple[str | None, int, str]] = [(claim, 1, "sentence"), (shortened(claim), 1, "shortened")]
        changes = [
            ("entity", swap_entity(claim, window, names, rng)),
            ("number", change_number(claim, window, numbers, rng)),
            ("date", change_date(claim, rng)),
            ("negation", negate(claim)),
            ("roles", swap_roles(claim)),
            ("detail", add_detail(claim, window, rng)),
            ("clause", add_clause(claim, window, others, rng)),
        ]
        possible = [(kind, text) for kind, text in changes if text and text != claim]
        made += [(text, 0, kind) for kind, text in rng.sample(possible, min(NEAR_COPIES, len(possible)))]
        outside = [i for i in usable if i < first or i >= end]
        if outside and (not others or rng.random() < 0.5):
            wanted = content_words(window)
            made.append((sents[max(outside, key=lambda i: len(wanted & content_words(sents[i])))], 0, "elsewhere"))
        elif others:
            made.append((other_sentence(window, others, rng), 0, "other"))
        pairs += [Pair(text, window, label, kind, article.id) for text, label, kind in made if text]
    for highlight in article.highlights:
        if MIN_WORDS <= len(highlight.split()) <= MAX_WORDS:
            pairs.append(Pair(highlight, article.text, 1, "highlight", article.id))
    return pairs


def shortened(claim: str) -> str | None:
    """The claim without a trailing clause or a parenthesis: shorter, still supported."""
    for pattern in (_TRAILING, _PARENTHESIS):
        short = pattern.sub("", claim.rstrip(".")).strip()
        if short != claim.rstrip(".") and len(short.split()) >= MIN_WORDS - 2:
            return short + "."
    return None


def swap_entity(claim: str, window: str, names: Sequence[str], rng: random.Random) -> str | None:
    """A name of the claim replaced by a name of the article that the window does not hold."""
    present = [m.group(0) for m in _NAME.finditer(claim)]
    candidates = [n for n in names if n not in window and n not in claim]
    if not present or not candidates:
        return None
    old = rng.choice(present)
    return re.sub(rf"\b{re.escape(old)}\b", rng.choice(candidates), claim, count=1)


def change_number(claim: str, window: str, numbers: Sequence[str], rng: random.Random) -> str | None:
    """A number of the claim changed to one the window does not state.

    >>> change_number("It cost 40 dollars.", "It cost 40 dollars.", [], random.Random(0)) != "It cost 40 dollars."
    True
    """
    found = list(_NUMBER.finditer(claim))
    if not found:
        return None
    match = rng.choice(found)
    old = match.group(0)
    others = [n for n in numbers if n != old and n not in window]
    if others and rng.random() < 0.5:
        new = rng.choice(others)
    else:
        value = float(old.replace(",", ""))
        changed = value + rng.choice([-1, 1]) * max(1, round(value * rng.choice([0.1, 0.25, 0.5, 1.0])))
        new = f"{int(changed):,}" if "," in old else str(int(changed)) if "." not in old else f"{changed:.1f}"
    if new == old or new in window:
        return None
    return claim[: match.start()] + new + claim[match.end() :]


def change_date(claim: str, rng: random.Random) -> str | None:
    """A weekday, a month or a year of the claim changed."""
    for names in (_WEEKDAYS, _MONTHS):
        for name in names:
            if re.search(rf"\b{name}\b", claim):
                other = rng.choice([n for n in names if n != name])
                return re.sub(rf"\b{name}\b", other, claim, count=1)
    if year := _YEAR.search(claim):
        new = str(int(year.group(0)) + rng.choice([-2, -1, 1, 2]))
        return claim[: year.start()] + new + claim[year.end() :]
    return None


def negate(claim: str) -> str | None:
    """ "was" made "was not", or a "not" taken out.

    >>> negate("The talks were extended by a day.")
    'The talks were not extended by a day.'
    >>> negate("He did not attend the hearing.")
    'He did attend the hearing.'
    """
    if found := _NOT.search(claim):
        return claim[: found.start()] + found.group(1) + claim[found.end() :]
    if found := _AUXILIARY.search(claim):
        return claim[: found.end()] + " not" + claim[found.end() :]
    return None


def swap_roles(claim: str) -> str | None:
    """The first two different names of the claim swapped.

    >>> swap_roles("Later, Smith told Jones about the deal.")
    'Later, Jones told Smith about the deal.'
    """
    found: list[re.Match[str]] = []
    for match in _NAME.finditer(claim):
        if all(match.group(0) != m.group(0) for m in found):
            found.append(match)
        if len(found) == 2:
            break
    if len(found) < 2:
        return None
    a, b = found
    return claim[: a.start()] + b.group(0) + claim[a.end() : b.start()] + a.group(0) + claim[b.end() :]


def add_detail(claim: str, window: str, rng: random.Random) -> str | None:
    """A detail the window does not state added before the final full stop."""
    held = content_words(window)
    fresh = [d for d in _DETAILS if not content_words(d) <= held]
    if not fresh or not claim.endswith("."):
        return None
    return f"{claim[:-1]} {rng.choice(fresh)}."


def add_clause(claim: str, window: str, others: Sequence[Article], rng: random.Random, tries: int = 10) -> str | None:
    """The trailing clause of a sentence of another article (", after ...", ", which ...") added to `claim`,
    when the window holds few of its words: a plausible detail that the evidence does not state."""
    if not claim.endswith(".") or _TRAILING.search(claim.rstrip(".")):
        return None
    held = content_words(window)
    for other in rng.sample(list(others), min(tries, len(others))):
        for sentence, _ in _claims(other.text):
            found = _TRAILING.search(sentence.rstrip("."))
            if found and 3 <= len(found.group(0).split()) <= 12:
                words = content_words(found.group(0))
                if len(words - held) >= 2:
                    return f"{claim[:-1]}{found.group(0)}."
    return None


def other_sentence(window: str, others: Sequence[Article], rng: random.Random, tries: int = 20) -> str | None:
    """Of a few other articles, the sentence that shares most words with `window` (a claim on the same subject
    that the window does not make)."""
    wanted = content_words(window)
    best, best_shared = None, 2  # at least three shared words: on the subject
    for other in rng.sample(list(others), min(tries, len(others))):
        for sentence, words in _claims(other.text):
            shared = len(wanted & words)
            if shared > best_shared and sentence not in window:
                best, best_shared = sentence, shared
    return best


@lru_cache(maxsize=4096)
def _claims(text: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """The sentences of `text` usable as claims, with their content words (read once per article)."""
    return tuple((s, frozenset(content_words(s))) for s in sentences(text) if MIN_WORDS <= len(s.split()) <= MAX_WORDS)


def corpus_pairs(articles: Sequence[Article], seed: int, claims: int = 2) -> Iterator[Pair]:
    """Pairs from every article, each with `others` drawn from the rest (fixed `seed`)."""
    rng = random.Random(seed)
    for n, article in enumerate(articles):
        others = [*articles[:n], *articles[n + 1 :]] if len(articles) < 200 else rng.sample(list(articles), 200)
        yield from article_pairs(article, rng, [o for o in others if o.id != article.id], claims)
