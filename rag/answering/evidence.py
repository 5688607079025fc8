"""Evidence first: the model copies the passage sentence that answers the question (or says none does), then
answers from it. Reading what it wrote, and streaming only the answer.

A small model chooses well and composes badly: asked to quote first, it commits to one passage before it
writes, says "none" when no passage answers (a refusal that needs no threshold), and a bare reply ("1755",
"Yes") gets a sentence to check: the quote it chose. The quote itself is not trusted: the answer is checked
against the passages as any answer is (rag.answering.citations.verify), and a short answer is shown joined to
its quote so that the check covers both ("Tigger: The bouncy tiger jumped into the public domain [1].").
A "Yes" or "No" is not checked beyond its quote: the polarity is the model's. Measured against free answers
(docs/benchmarks.md): a few more right answers, fewer unanswerable questions refused, about twice the time with
the bundled 1.5B (it copies long quotes); so it is opt-in (RAG_ANSWER_STYLE=evidence).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from rag.answering.citations import SECTION_NUMBER
from rag.text import content_words, names, numbers, sentence_spans

_EVIDENCE = re.compile(r"^\W*evidence\W*:?\s*(?P<rest>.*)$", re.IGNORECASE)
_ANSWER = re.compile(r"^\W*answer\W*:?\s*(?P<rest>.*)$", re.IGNORECASE)
_NONE = re.compile(r"^\W*(none|no (?:passage|evidence|sentence)|n/?a)\b", re.IGNORECASE)
_MARKER = re.compile(r"\[(\d+)\]")
QUOTES = "\"' \u201c\u201d\u2018\u2019"  # straight and curly quotation marks
_YES_NO = re.compile(r"^(yes|no)\b", re.IGNORECASE)
SHORT = 4  # an answer of at most this many words is shown joined to its quote
_STRAIGHT = str.maketrans("\u201c\u201d\u2018\u2019", "\"\"''")


@dataclass
class Reply:
    """What an evidence-first reply says: the quotes it chose ((passage number or None, text)), its answer,
    and whether it said that no passage answers."""

    evidence: list[tuple[int | None, str]] = field(default_factory=list)
    answer: str = ""
    none: bool = False

    def shown(self) -> str:
        """The answer as shown and checked: a short answer joined to its first quote, else the answer as written.

        >>> Reply([(1, "The bouncy tiger Tigger entered the public domain.")], "Tigger.").shown()
        'Tigger: The bouncy tiger Tigger entered the public domain. [1]'
        >>> Reply([(2, "It was reported that the talks might be extended.")], "Yes, they were expected to.").shown()
        'Yes: It was reported that the talks might be extended. [2]'
        >>> Reply([(2, "Talks lasted two days.")], "The first round of talks lasted two days [2].").shown()
        'The first round of talks lasted two days [2].'
        """
        answer = self.answer.strip()
        bare = _MARKER.sub("", answer).strip().rstrip(".!")
        quotes = [(n, q) for n, q in self.evidence if q]
        if quotes and not bare:  # no answer line: the quote is the answer
            n, quote = quotes[0]
            return quote + (f" [{n}]" if n is not None else "")
        yes_no = _YES_NO.match(bare)
        if quotes and (len(bare.split()) <= SHORT or yes_no):
            n, quote = quotes[0]
            quote = _closest_sentence(quote, bare)
            if yes_no:  # "Yes, it was expected to be extended": the quote is what can be checked
                bare = yes_no[1].capitalize()
            if n is None:
                found = _MARKER.findall(answer)
                n = int(found[0]) if found else None
            return f"{bare}: {quote}" + (f" [{n}]" if n is not None else "")
        return answer

    def keep_quotes_from(self, passages: Sequence[str]) -> None:
        """Keep only the quotes copied from `passages` (see quoted_from). When none is and there is no answer
        line, what was offered as quotes becomes the answer: read as a free answer and checked as one."""
        copied = [(n, q) for n, q in self.evidence if quoted_from(q, passages)]
        if not copied and not self.answer:
            self.answer = " ".join(q + (f" [{n}]" if n else "") for n, q in self.evidence)
        self.evidence = copied


def _plain(text: str) -> str:
    """Text reduced for comparing a quote with its source: lower case, straight quotes, no section numbers, no
    punctuation or space differences."""
    text = re.sub(r"\(\d+\)", " ", SECTION_NUMBER.sub(" ", text.translate(_STRAIGHT)))
    return " ".join(re.sub(r"[^\w%$]+", " ", text.lower()).split())


def quoted_from(quote: str, passages: Sequence[str], share: float = 0.8) -> bool:
    """Whether `quote` is copied from one of the passages: at least `share` of its words appear there in the same
    order (case, punctuation and spacing aside; a small model drops or adds a word like "The" or "U.S."), and
    every number and name it states is in that passage. A paraphrase is not a quote.

    >>> passage = 'U.S. Commerce Secretary Rutnick joined the talks. The phrase "take it slow" stands out.'
    >>> quoted_from("The Commerce Secretary Rutnick joined the talks [IV]", [passage])
    True
    >>> quoted_from("Commerce Secretary Lutnick joined the talks.", [passage])
    False
    >>> quoted_from("The commentary says the talks were joined by Rutnick.", [passage])
    False
    """

    words = _plain(quote).split()
    if not words:
        return False
    quote = SECTION_NUMBER.sub("", quote)  # a copied section number is not a name
    stated, named = numbers(quote), names(quote)
    for passage in passages:
        matcher = SequenceMatcher(None, words, _plain(passage).split(), autojunk=False)
        same = sum(block.size for block in matcher.get_matching_blocks())
        if same >= share * len(words) and stated <= numbers(passage) and named <= content_words(passage):
            return True
    return False


def joined_to_its_sentence(answer: str, passages: Sequence[str], question: str = "") -> str:
    """A short free answer ("171 [1]", "Bluesky [2].", "Yes [1]") joined to the passage sentence that states it,
    so that the support check has a sentence to check (a bare answer has none and was always refused); any
    longer answer is returned unchanged. The sentence comes from the passages the answer cites (else, when they
    lack it, from any passage): one holding every number of the answer and the most of its words, then the most of the
    question's; for a bare Yes or No, the one closest in words to the question (the polarity stays the model's).
    Unchanged when no passage sentence holds the answer: it is then refused as before.

    >>> passages = ["The FAA grounded 171 Boeing 737 Max 9 jets. Shares fell.", "Bluesky gained users."]
    >>> joined_to_its_sentence("171 [1]", passages, "How many jets were grounded?")
    '171: The FAA grounded 171 Boeing 737 Max 9 jets. [1]'
    >>> joined_to_its_sentence("Bluesky.", passages), joined_to_its_sentence("Threads [2]", passages)
    ('Bluesky: Bluesky gained users. [2]', 'Threads [2]')
    """

    bare = _MARKER.sub("", answer).strip().rstrip(".!").strip()
    if not bare or len(bare.split()) > SHORT:
        return answer
    cited = [int(n) for n in _MARKER.findall(answer) if 1 <= int(n) <= len(passages)]
    yes_no = _YES_NO.match(bare)
    wanted, stated, asked = content_words(bare), numbers(bare), content_words(question)
    best: tuple[tuple[int, int], int, str] | None = None
    for group in (cited, range(1, len(passages) + 1)):  # a small model often cites the wrong number
        for n in group:
            text = passages[n - 1]
            for a, b in sentence_spans(text):
                words = content_words(text[a:b])
                held = len(wanted & words) + len(stated & numbers(text[a:b]))
                if not yes_no and (not stated <= numbers(text[a:b]) or not held):
                    continue
                rank = (0 if yes_no else held, len(asked & words))
                if best is None or rank > best[0]:
                    best = (rank, n, text[a:b])
        if best is not None:
            break
    if best is None:
        return answer
    _, n, sentence = best
    return f"{yes_no[1].capitalize() if yes_no else bare}: {sentence} [{n}]"


def _closest_sentence(quote: str, answer: str) -> str:
    """The sentence of a (possibly long) quote that shares the most words with a short answer."""

    wanted = content_words(answer)
    sentences = [quote[a:b] for a, b in sentence_spans(quote)] or [quote]
    return max(sentences, key=lambda s: len(content_words(s) & wanted))


def parse(text: str) -> Reply:
    """Read an evidence-first reply. Lines after "Answer:" belong to the answer; a reply with neither label is
    taken as the answer (a model that ignored the form).

    >>> parse('Evidence: "Talks resumed at 8 PM." [2]\\nAnswer: At 8 PM [2].')
    Reply(evidence=[(2, 'Talks resumed at 8 PM.')], answer='At 8 PM [2].', none=False)
    >>> parse("Evidence: none").none, parse("Evidence: None of the passages say.\\nAnswer: I don't know.").none
    (True, True)
    """
    reply = Reply()
    answer: list[str] | None = None
    text = re.sub(r"[ \t]+(answer\s*:)", r"\n\1", text, flags=re.IGNORECASE)  # both on one line
    for line in text.splitlines():
        if answer is not None:
            answer.append(line)
        elif m := _ANSWER.match(line):
            answer = [m["rest"]]
        elif m := _EVIDENCE.match(line):
            rest = m["rest"].strip()
            if _NONE.match(rest):
                reply.none = True
                continue
            numbers = [int(n) for n in _MARKER.findall(rest)]
            quote = _MARKER.sub("", rest).strip().strip(QUOTES).strip()
            if quote:
                reply.evidence.append((numbers[0] if numbers else None, quote))
    if answer is None and not reply.evidence and not reply.none:
        return Reply(answer=text.strip())
    reply.answer = " ".join(" ".join(answer or []).split())
    return reply


def answer_start(text: str) -> int | None:
    """Where the answer starts in a reply being streamed: after its "Answer:" label, once a character of the
    answer has come (None before). The quotes before it are not streamed; the checked answer replaces the
    stream anyway.

    >>> text = "Evidence: x [1]\\nAnswer: Two days [1]."
    >>> text[answer_start(text):], answer_start("Evidence: x [1]\\nAnswer:")
    ('Two days [1].', None)
    """
    m = re.search(r"(?im)^\W*answer\W*:\s?", text)
    return m.end() if m and m.end() < len(text) else None
