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
from collections.abc import Sequence, Set
from dataclasses import dataclass, field

from rag.dates import without_asked_dates
from rag.text import SENTENCE_END, content_words, names, numbers, sentence_spans
from rag.types import Hit, Passage

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
SECTION_NUMBER = re.compile(r"\[[IVXLC]+\]")  # "[IV]": a section number copied from an article's headings
_LINK = re.compile(r"\b(?:https?://|www\.)\S+|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
LINK_FLAG = "passes on a link or address from the articles; check who wrote it before you follow it"


def defang_markers(text: str) -> str:
    """Passage text with bracketed numbers written as (n): a fake marker in an article ("[3] (other.txt)")
    copied into an answer must never become a citation.

    >>> defang_markers("See [3] (other.txt) and [1, 2].")
    'See (3) (other.txt) and (1, 2).'
    """
    return _MARKER.sub(r"(\1)", text)


@dataclass(frozen=True)
class Verdict:
    """A support judge's decision on one claim (rag.answering.judge)."""

    supported: bool
    score: float  # 0..1: the lexical share, the checker's P(supported) or the model's P(yes)
    reason: str
    stage: str  # "rules" (settled without a model), "lexical", "model" or "checker"


@dataclass
class Citation:
    """A quoted span of an article: `quote` is the article's normalised text[start:end]."""

    id: int
    source: str
    start: int
    end: int
    quote: str
    title: str = ""  # the article's, for people: "title (outlet, date)" next to the path
    date: str = ""
    outlet: str = ""
    copies: list[str] = field(default_factory=list)  # other articles holding the same text (near-duplicates)

    @property
    def about(self) -> str:
        """The article as a reader knows it: `Title (outlet, date)`, or "" when nothing is known.

        >>> Citation(1, "a.md", 0, 1, "q", "Talks resume", "2024-03-04", "cnn.com").about
        'Talks resume (cnn.com, 2024-03-04)'
        """
        extra = ", ".join(filter(None, [self.outlet, self.date]))
        return " ".join(filter(None, [self.title, f"({extra})" if extra else ""]))


def copies_of(passage: Passage) -> list[str]:
    """The other articles a search found holding the passage's text (a plain passage knows of none)."""
    return list(passage.copies) if isinstance(passage, Hit) else []


@dataclass
class Sentence:
    text: str  # without citation markers
    citations: list[int] = field(default_factory=list)  # passage numbers as written by the model
    supported: bool = False
    support: float = 0.0  # the lexical share, or the judge's (the checker's) score
    reason: str = ""  # the judge's, when a judge decided
    check: str = ""  # what decided: "lexical", "rules", "checker" or "model" (a Verdict's stage)
    flag: str = ""  # a warning for the reader, supported or not (a link passed on from an article)


@dataclass
class Verified:
    """A text checked against its passages: its sentences, their citations, and the text with markers renumbered."""

    sentences: list[Sentence]
    citations: list[Citation]
    text: str


def split_sentences(answer: str) -> list[tuple[str, list[int]]]:
    """Split an answer into (sentence without markers, cited numbers). Markers after the full stop count too;
    markers standing alone (or next to a copied section number like [II]) go to the sentence before them.

    >>> split_sentences("Besant left early [1]. The U.S. side had a hearing.[2][3] Done")
    [('Besant left early.', [1]), ('The U.S. side had a hearing.', [2, 3]), ('Done', [])]
    >>> split_sentences("They met in London. [II] [4]")
    [('They met in London.', [4])]
    >>> split_sentences("Fast Car shot to No. 1 on iTunes [2]. No. It did not.")
    [('Fast Car shot to No. 1 on iTunes.', [2]), ('No.', []), ('It did not.', [])]
    """
    answer = SECTION_NUMBER.sub("", answer)
    pieces, start = [], 0
    for match in SENTENCE_END.finditer(answer):
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


def verify(
    text: str,
    passages: Sequence[Passage],
    threshold: float,
    question: str = "",
    *,
    combine: bool = False,
    verdicts: Sequence[Verdict] | None = None,
) -> Verified:
    """Check each sentence of `text` against the passages. A citation is the passage sentence that best supports
    the answer sentence (file + span), numbered 1..n in order of first use; two answer sentences supported by
    the same passage sentence share its number. A sentence that only restates the question (no content word of
    its own) is never supported: it would always "match" the passage the question was retrieved with.
    With `combine`, a sentence citing several passages may also be supported by them together (a summary's
    "A says x, while B says y"). With `verdicts` (a support judge's, one per sentence of `split_sentences(text)`),
    the judge decides what is supported and the lexical scores only choose what to cite: a sentence the judge
    supports that cites nothing valid cites the passage closest in words.

    >>> passage = Passage("c1", "a.txt", 100, 140, "Talks resumed at 8 PM. Nobody spoke.", "", "")
    >>> checked = verify("They resumed at 8 PM [1]. They resumed at 9 PM [1].", [passage], 0.65)
    >>> [(s.supported, s.citations) for s in checked.sentences]
    [(True, [1]), (False, [1])]
    >>> checked.citations[0].start, checked.citations[0].quote
    (100, 'Talks resumed at 8 PM.')
    """
    asked = content_words(question)
    context = set().union(*(content_words(p.text) for p in passages))
    sentences: list[Sentence] = []
    citations: dict[tuple[int, int, int], Citation] = {}  # (passage number, start, end) -> citation
    for i, (raw, cited) in enumerate(split_sentences(text)):
        claim = without_asked_dates(raw, question)  # "... this week", echoed from the question, is not checked
        valid = [n for n in cited if 1 <= n <= len(passages)]
        scores = {n: support(claim, passages[n - 1].text, context) for n in range(1, len(passages) + 1)}
        best_cited = max((scores[n] for n in valid), default=0.0)
        if combine and len(valid) > 1:
            together = " ".join(passages[n - 1].text for n in valid)
            best_cited = max(best_cited, support(claim, together, context))
        best_any = max(scores, key=lambda n: scores[n]) if scores else None
        verdict = verdicts[i] if verdicts is not None else None
        if best_cited < threshold and best_any is not None and scores[best_any] >= threshold:
            valid = [best_any]  # nothing (valid) cited supports it, but one passage clearly does
            best_cited = scores[best_any]
        elif verdict is not None and verdict.supported and not valid and best_any is not None and scores[best_any]:
            valid = [best_any]  # the judge supports it: cite the passage closest in words
        ids = []
        for n in valid:
            passage = passages[n - 1]
            a, b = best_span(claim, passage.text, context)
            key = (n, a, b)
            if key not in citations:
                start = passage.start
                citations[key] = Citation(
                    len(citations) + 1,
                    passage.source,
                    start + a,
                    start + b,
                    passage.text[a:b],
                    passage.title,
                    passage.date,
                    passage.outlet,
                    copies_of(passage),
                )
            ids.append(citations[key].id)
        ids = list(dict.fromkeys(ids))
        if verdict is not None:  # the judge's rules already refuse a restated question
            supported = bool(valid) and verdict.supported
            sentences.append(
                Sentence(raw, ids, supported, support=verdict.score, reason=verdict.reason, check=verdict.stage)
            )
        else:
            supported = bool(valid) and best_cited >= threshold and bool(content_words(claim) - asked)
            sentences.append(Sentence(raw, ids, supported=supported, support=best_cited, check="lexical"))
        sentences[-1].flag = LINK_FLAG if _LINK.search(raw) else ""
    rendered = " ".join(s.text + "".join(f" [{c}]" for c in s.citations) for s in sentences)
    return Verified(sentences, list(citations.values()), rendered)
