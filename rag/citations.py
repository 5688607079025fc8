"""Parse an answer's citation markers and check each sentence against the passages it cites.

Support is lexical and deterministic: the share of a sentence's content words (lower-cased, stemmed, stop
words dropped) that occur in a passage, with two hard rules on top: a number or a capitalised name in the
sentence that the passage does not contain makes the sentence unsupported (small models invent figures and
borrow the question's names). It does not
understand paraphrase with different words, negation, or who-did-what; it catches invented facts and
citations that point at the wrong passage, which is what small local models get wrong most.
"""

from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass, field
from functools import cache

from rag.bm25 import stemmer

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# A sentence ends at . ! ? (plus closing quotes/brackets), then any citation markers, then whitespace; or at a
# line break. Not after an initial or a title ("U.S.", "Mr."): such a sentence is not split, at worst joined.
_SENTENCE_END = re.compile(
    r"""(?<!\b[A-Z])(?<!\bMr)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bMrs)(?<!\bvs)[.!?]["'\u201d\u2019)]*"""
    r"""((?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*)(?=\s|$)|\n+"""
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|\d+(?:[.,]\d+)*%?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*(?:st|nd|rd|th|%)?")
_STOP = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers him his how i if in into is it its itself just me more most my no nor not now of off on once only or
    other our ours out over own said same says she should so some such than that the their them then there these
    they this those through to too under until up very was we were what when where which while who whom why will
    with would you your also according reported report based information provided article articles passage
    passages mentioned""".split()
)


@dataclass
class Sentence:
    text: str  # without citation markers
    citations: list[int] = field(default_factory=list)  # passage numbers as written by the model
    supported: bool = False
    support: float = 0.0


def split_sentences(answer: str) -> list[tuple[str, list[int]]]:
    """Split an answer into (sentence without markers, cited numbers). Markers after the full stop count too;
    markers standing alone (or next to a copied section number like [II]) go to the sentence before them.

    >>> split_sentences("Besant left early [1]. The U.S. side had a hearing.[2][3] Done")
    [('Besant left early.', [1]), ('The U.S. side had a hearing.', [2, 3]), ('Done', [])]
    >>> split_sentences("They met in London. [II] [4]")
    [('They met in London.', [4])]
    """
    answer = re.sub(r"\[[IVXLC]+\]", "", answer)  # section numbers copied from the articles' headings
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(answer):
        pieces.append(answer[start : match.end()])
        start = match.end()
    pieces.append(answer[start:])
    result: list[tuple[str, list[int]]] = []
    for piece in pieces:
        cited = [int(n) for group in _MARKER.findall(piece) for n in re.split(r"\s*[,;]\s*", group)]
        text = re.sub(r"\s+([.!?,;:])", r"\1", _MARKER.sub("", piece)).strip()
        text = " ".join(text.split())
        if re.search(r"[^\W\d_]", text):
            result.append((text, list(dict.fromkeys(cited))))
        elif cited and result:
            result[-1] = (result[-1][0], list(dict.fromkeys(result[-1][1] + cited)))
    return result


@cache
def _stem(word: str) -> str:
    return str(stemmer().stemWord(word))


def _acronyms(text: str) -> str:
    """`U.S.` -> `US`, so that both spellings compare equal."""
    return re.sub(r"\b([A-Z])\.([A-Z])\.(?:([A-Z])\.)?", lambda m: "".join(g for g in m.groups() if g), text)


def content_words(text: str) -> set[str]:
    """Stemmed content words and numbers of `text`.

    >>> sorted(content_words("The U.S. talks were extended to Wednesday, 10 June."))
    ['10', 'extend', 'june', 'talk', 'us', 'wednesday']
    """
    words = set()
    for token in _WORD.findall(_acronyms(text).lower()):
        token = token.strip("'-")
        if token and token not in _STOP:
            words.add(token if token[0].isdigit() else _stem(token))
    return words


def numbers(text: str) -> set[str]:
    """Numbers as written, so that 10, 10% and 10th differ.

    >>> sorted(numbers("On the 10th, shares rose 1,200 points or 10%."))
    ['10%', '10th', '1200']
    """
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def names(text: str) -> set[str]:
    """Stemmed capitalised words that do not start the sentence: mostly names of people, places, bodies.

    >>> sorted(names("Then the European Union met Li Chenggang in London."))
    ['chenggang', 'european', 'li', 'london', 'union']
    """
    tokens = _WORD.findall(_acronyms(text))
    return content_words(" ".join(t for t in tokens[1:] if t[0].isupper()))


def support(sentence: str, passage: str, context: Set[str] = frozenset()) -> float:
    """How well `passage` supports `sentence`, 0..1: the share of its content words found in the passage,
    and 0 if it states a number the passage lacks, or a name found neither in the passage nor in the rest of
    what the model was shown (`context`: content words of all passages; an answer may name a person from
    one passage and an act from another).

    >>> support("Talks lasted five hours on Tuesday.", "Tuesday's talks lasted five hours before pausing.")
    1.0
    >>> support("The agreed tariff was 10 percent.", "No tariff figure was agreed.")
    0.0
    >>> support("The European Union welcomed the talks.", "Both sides welcomed the talks.")
    0.0
    """
    words = content_words(sentence)
    if not words:
        return 0.0
    found = content_words(passage)
    if not numbers(sentence) <= numbers(passage) or not names(sentence) <= found | context:
        return 0.0
    return len(words & found) / len(words)


def best_span(sentence: str, passage: str, context: Set[str] = frozenset()) -> tuple[int, int]:
    """The (start, end) of the passage sentence that best supports `sentence`, as offsets into `passage`."""
    spans = sentence_spans(passage) or [(0, len(passage))]
    return max(spans, key=lambda span: support(sentence, passage[span[0] : span[1]], context))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, surrounding whitespace excluded.

    >>> sentence_spans("One. Two [1]. Three")
    [(0, 4), (5, 13), (14, 19)]
    """
    spans, start = [], 0
    for match in [*_SENTENCE_END.finditer(text), None]:
        end = match.end() if match else len(text)
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        start = end
    return spans
