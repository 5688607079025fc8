"""A timeline of a topic: the articles about it in date order, one dated, cited bullet each.

The passages about the topic come from the hybrid search (the pipeline asks for TIMELINE_PASSAGES, within a date
range if one is given; copies of one article are already one), are kept where they are similar enough to the
topic (RAG_MIN_RELEVANCE), and are grouped by article. The MAX_EVENTS articles found first (by their best
passage) are kept, undated ones left out (the title says how many), and each gets one bullet written from its
best PASSAGES_PER_EVENT passages about the topic (at most OPENING_TOKENS) by the summarizer (the model or the
extractive one), checked like any summary bullet. The bullets are in date order, each with its date, outlet and
copies.

Limits: one bullet per article, so an article that tells several steps of a story gets one, and two articles of
one day about the same step both appear; articles that never name the topic's words may be missed by search.
"""

from __future__ import annotations

import time

from rag.answering.digest import OPENING_TOKENS, Story, story_summary, write_stories
from rag.answering.summarize import Progress, Shown, Summarizer, Summary, sections, tile
from rag.types import Hit, Passage

MAX_EVENTS = 12
TIMELINE_PASSAGES = 40  # passages searched for a timeline's topic
PASSAGES_PER_EVENT = 2  # an article's best passages about the topic that its bullet is written from


def timeline(
    summarizer: Summarizer,
    fallback: Summarizer,
    hits: list[Hit],
    topic: str,
    title: str,
    *,
    min_relevance: float,
    seconds: float,
    progress: Progress | None = None,
    on_note: Shown | None = None,
) -> Summary:
    """The timeline of `topic` from the search's `hits` (best first) as a Summary: one bullet per article, in
    date order (kind "story"; `Bullet.story` holds the article's date, outlet, and copies). Past `seconds`, or
    where the model fails, articles are quoted by `fallback`, and the note says so."""
    started = time.perf_counter()
    by_article: dict[str, list[Hit]] = {}
    for hit in hits:
        if (hit.dense_score or 0.0) >= min_relevance:
            by_article.setdefault(hit.source, []).append(hit)
    dated = [source for source, found in by_article.items() if found[0].date]
    chosen = sorted(dated[:MAX_EVENTS], key=lambda source: (by_article[source][0].date, source))
    shown: list[tuple[Story, dict[str, list[Passage]]]] = []
    for source in chosen:
        best = by_article[source][0]
        story = Story([source, *best.copies], best.date, best.date, [best.outlet] if best.outlet else [])
        passages = sections(tile(by_article[source][:PASSAGES_PER_EVENT]), OPENING_TOKENS)[0]
        shown.append((story, {source: passages}))
    kept, notes, note = write_stories(summarizer, fallback, shown, topic, seconds, progress, on_note)
    left_out = [
        f"{n} {what} left out"
        for n, what in ((len(by_article) - len(dated), "undated"), (len(dated) - len(chosen), "more"))
        if n
    ]
    title += f": {len(kept)} article{'s' * (len(kept) != 1)}" + (f" ({', '.join(left_out)})" if left_out else "")
    return story_summary(title, list(by_article), kept, notes, summarizer.model, started, note, topic)
