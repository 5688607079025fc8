"""Sentence-level evidence: the answer prompt holds the passage sentences that matter, not whole passages.

After retrieval, the chosen passages of each article are joined where they overlap (chunks share 40 tokens)
and split into sentences; every sentence is scored against the question (the extractive backend's score: the
share of the question's content words it holds and its MiniLM similarity); the best are kept with one
neighbour on each side, adjacent windows merged, until the prompt's token budget (instructions and question
included) is spent. Each window is a Hit whose text is its article's text[start:end], so citations, quotes and
the support check work on it as on a passage: a sentence is checked against the window it cites. Windows are
grouped by article under its title and date, newest article first where dates differ (then by best sentence).

Questions that ask for an account rather than a fact ("what happened", "summarize", "compare", "timeline", ...)
keep whole passages (`wants_passages`; English phrasings only). Limits: a fact that is stated only in a
sentence the score ranks low is cut (the trace says how much was), and a "he said" whose subject is two
sentences away loses it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from rag.answering.citations import defang_markers
from rag.answering.extractive import sentence_scores
from rag.answering.prompts import neutralise, prompt_tokens
from rag.text import count_tokens, sentence_spans
from rag.types import Hit, day_number

# Questions answered from whole passages: they ask for an account, a comparison or a sequence, not one fact.
_ACCOUNT = re.compile(
    r"\b(what (?:has )?happen(?:ed|s|ing)|what(?:'s| is) going on|summar(?:y|i[sz]e)|overview|describe|explain|"
    r"tell me (?:about|more)|background|compar(?:e|ed|ison)|differ(?:ence|ent|s)?\b|timeline|chronolog|"
    r"how (?:has|have|did) .{1,60}? (?:change|evolve|develop|unfold)|what led to|what do we know|"
    r"what are the (?:main|key|latest)|list (?:the|all)|in detail)",
    re.IGNORECASE,
)
WINDOW_TOKENS = 4  # the "[n] " marker and the line break of each window
ARTICLE_TOKENS = 6  # an article's header line, beyond its title and date
TITLE_WORDS = 16


def wants_passages(question: str) -> str | None:
    """Why `question` is answered from whole passages (it asks for an account, not a fact), or None.

    >>> wants_passages("What happened at the London talks?"), wants_passages("Where were the talks held?")
    ('it asks for an account ("What happened")', None)
    >>> wants_passages("How did the tariff dispute change over the year?")
    'it asks for an account ("How did the tariff dispute change")'
    """
    match = _ACCOUNT.search(question)
    return f'it asks for an account ("{match[0]}")' if match else None


@dataclass(frozen=True)
class _Segment:
    """A stretch of one article covered by the chosen passages: text[start:end] of the article, and the best
    passage that covers it (whose scores and metadata the windows carry)."""

    hit: Hit
    start: int
    end: int
    text: str


def segments(passages: Sequence[Hit]) -> list[_Segment]:
    """The passages joined per article where they overlap or touch (in article order).

    >>> a = Hit("a", "f.txt", 0, 10, "One. Two. ", "", "", score=0.2)
    >>> b = Hit("b", "f.txt", 5, 16, "Two. Three.", "", "", score=0.5)
    >>> [(s.start, s.end, s.text, s.hit.id) for s in segments([a, b])]
    [(0, 16, 'One. Two. Three.', 'b')]
    """
    joined: list[_Segment] = []
    for hit in sorted(passages, key=lambda h: (h.source, h.start)):
        last = joined[-1] if joined else None
        if last is not None and last.hit.source == hit.source and hit.start <= last.end:
            text = last.text + hit.text[last.end - hit.start :] if hit.end > last.end else last.text
            best = hit if hit.score > last.hit.score else last.hit
            joined[-1] = _Segment(best, last.start, max(last.end, hit.end), text)
        else:
            joined.append(_Segment(hit, hit.start, hit.end, hit.text))
    return joined


@dataclass(frozen=True)
class Context:
    """What the model reads: `windows` (each an exact span of an article), formatted for the prompt, and what
    building it did (for the trace)."""

    windows: list[Hit]
    text: str
    trace: dict[str, Any]


class SentenceContext:
    """Builds a sentence-level context within `budget` prompt tokens (cl100k counts: the bundled Qwen model's
    tokenizer counts a few percent differently)."""

    def __init__(self, embeddings: Embeddings, budget: int = 600) -> None:
        self.embeddings = embeddings
        self.budget = budget

    def build(self, question: str, passages: Sequence[Hit]) -> Context | None:
        """The windows for `question`, or None when the passages have no sentence (the caller keeps them)."""
        parts = segments(passages)
        spans = [(n, a, b) for n, part in enumerate(parts) for a, b in sentence_spans(part.text)]
        if not spans:
            return None
        texts = [" ".join(parts[n].text[a:b].split()) for n, a, b in spans]
        scores = sentence_scores(question, texts, self.embeddings)
        cost = [count_tokens(t) + 1 for t in texts]
        used = prompt_tokens("", question)
        chosen: set[int] = set()
        articles: set[str] = set()

        def take(want: list[int]) -> bool:
            """Add the sentences `want` if they fit in the budget (the first always does)."""
            nonlocal used
            source = parts[spans[want[0]][0]].hit.source
            header = 0 if source in articles else ARTICLE_TOKENS + _header_tokens(parts[spans[want[0]][0]].hit)
            extra = sum(cost[j] for j in want if j not in chosen) + header + WINDOW_TOKENS
            if used + extra > self.budget and chosen:
                return False
            chosen.update(want)
            articles.add(source)
            used += extra
            return True

        def near(i: int) -> list[int]:
            return [j for j in (i - 1, i, i + 1) if 0 <= j < len(spans) and spans[j][0] == spans[i][0]]

        for i in sorted(range(len(spans)), key=lambda i: -scores[i]):
            if i not in chosen:
                take(near(i)) or take([i])  # with its neighbours if they fit, else alone
        windows, best = _windows(parts, spans, sorted(chosen), scores)
        ordered = _by_article(windows, best)
        text = format_windows(ordered)
        dropped = {p.source for p in passages} - articles
        trace = {
            "kind": "sentences",
            "sentences": len(chosen),
            "of_sentences": len(spans),
            "windows": len(ordered),
            "passages_read": len(passages),
            "budget": self.budget,
            "cut": f"{len(spans) - len(chosen)} of {len(spans)} sentences of {len(passages)} passages left out"
            + (f"; {len(dropped)} of their articles not shown" if dropped else ""),
        }
        return Context(ordered, text, trace)


def _header_tokens(hit: Hit) -> int:
    return count_tokens(_header(hit))


def _header(hit: Hit) -> str:
    """An article's header line: its title (else file name) and date; the title is article text, so it is
    treated like it (markers defanged, instruction-like text replaced)."""
    title = " ".join(defang_markers(hit.title).split()[:TITLE_WORDS]) if hit.title.strip() else Path(hit.source).name
    return f"Article: {neutralise(title)}" + (f" ({hit.date})" if hit.date else "")


def _windows(
    parts: Sequence[_Segment], spans: Sequence[tuple[int, int, int]], chosen: Sequence[int], scores: Sequence[float]
) -> tuple[list[Hit], list[float]]:
    """Runs of chosen sentences that follow each other in one segment, as Hits (exact article spans), with the
    best sentence score of each."""
    windows: list[Hit] = []
    best: list[float] = []
    run: list[int] = []
    for i in [*chosen, None]:
        if run and (i is None or i != run[-1] + 1 or spans[i][0] != spans[run[-1]][0]):
            part = parts[spans[run[0]][0]]
            a, b = spans[run[0]][1], spans[run[-1]][2]
            start, end = part.start + a, part.start + b
            window = replace(part.hit, id=f"{part.hit.id}@{start}-{end}", start=start, end=end, text=part.text[a:b])
            windows.append(window)
            best.append(max(scores[j] for j in run))
            run = []
        if i is not None:
            run.append(i)
    return windows, best


def _by_article(windows: Sequence[Hit], best: Sequence[float]) -> list[Hit]:
    """Windows grouped by article, newest article first (undated last), then by its best sentence; in article
    order within one."""
    top: dict[str, float] = {}
    for window, score in zip(windows, best, strict=True):
        top[window.source] = max(top.get(window.source, score), score)
    return sorted(windows, key=lambda w: (-day_number(w.date), -top[w.source], w.source, w.start))


def format_windows(windows: Sequence[Hit]) -> str:
    """Numbered windows for the prompt, under a header line per article; markers inside their text are defanged
    and instruction-like sentences replaced, as for passages (rag.answering.prompts.format_passages).

    >>> w = [Hit("a", "x/a.md", 0, 9, "Talks  resumed.", "London talks", "2025-06-10"),
    ...      Hit("b", "x/a.md", 30, 40, "They ended.", "London talks", "2025-06-10")]
    >>> print(format_windows(w))
    Article: London talks (2025-06-10)
    [1] Talks resumed.
    [2] They ended.
    """
    lines: list[str] = []
    for n, window in enumerate(windows, start=1):
        if n == 1 or window.source != windows[n - 2].source:
            lines += ([""] if lines else []) + [_header(window)]
        lines.append(f"[{n}] {neutralise(defang_markers(' '.join(window.text.split())))}")
    return "\n".join(lines)
