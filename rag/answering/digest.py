"""A digest of many articles (a week's news): the articles grouped into stories, one cited bullet per story.

Stories: each article is embedded by its title and opening (MiniLM), and articles are grouped by
agglomerative clustering (scikit-learn, average linkage, cosine): articles whose openings are this similar on
average are one story (syndicated copies and updated versions land together, and so do reports of one event
by several outlets). Stories are ordered by how much coverage they got: articles, then outlets, then the
latest date. For each of the first `MAX_STORIES`, the summarizer (the model or the extractive one) writes one
bullet from the opening (OPENING_TOKENS) of the story's most central article (the one closest to the story's mean),
checked like any summary bullet, and the bullet carries the story's date range, outlets and articles.

Reading only the most central article's opening is what keeps a week (~200 articles) to a few minutes with
the bundled model, and what makes a digest of the whole corpus possible (one prompt per story, whatever the
story's size). Limits: a story is what the openings share, so two events in one place may merge and one
event told from two angles may split; the bullet says what one article says, not what all of them do.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.answering.summarize import (
    Length,
    Note,
    Progress,
    Shown,
    Summarizer,
    Summary,
    finish,
    sections,
    tile,
    within,
)
from rag.errors import RagError
from rag.types import Passage

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

logger = logging.getLogger(__name__)

# Articles whose openings are this similar (mean cosine, MiniLM) are one story. Chosen on three RealTime QA
# weeks (597 articles): pairs grouped at 0.55 were found for the same quiz question 77 % of the time (0.5: 72 %,
# 0.6: 81 %, with ever more stories of one article).
STORY_SIMILARITY = 0.55
MAX_STORIES = 10
STORY = Length("story", 35, 1, 1, 25)  # one bullet per story
OPENING_WORDS = 80  # of an article, with its title, to tell its story
# The passage tokens a story's bullet is written from: the opening of its most central article, where news puts
# the gist. The prompt's size is what a small model's time goes on (the 1.5B reads ~95 tokens/s on 2 cores).
OPENING_TOKENS = 400


@dataclass(frozen=True)
class Story:
    sources: list[str]  # the story's articles, the most central first
    first: str  # the earliest and latest date of its articles (ISO, "" when none has one)
    last: str
    outlets: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "articles": len(self.sources),
            "sources": self.sources,
            "since": self.first,
            "until": self.last,
            "outlets": self.outlets,
        }


def stories(articles: dict[str, list[Passage]], embeddings: Embeddings) -> list[Story]:
    """The articles ({source: passages in order}) grouped into stories, most covered first."""
    from sklearn.cluster import AgglomerativeClustering  # deferred: scikit-learn takes about a second to import

    sources = [s for s, passages in articles.items() if passages]
    if not sources:
        return []
    vectors = np.asarray(embeddings.embed_documents([_opening(articles[s]) for s in sources]))
    if len(sources) == 1:
        labels = np.zeros(1, dtype=int)
    else:
        clustering = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=1 - STORY_SIMILARITY
        )
        labels = clustering.fit(vectors).labels_
    found = []
    for label in set(labels.tolist()):
        members = [i for i, x in enumerate(labels) if x == label]
        centre = vectors[members].mean(axis=0)
        members.sort(key=lambda i: -float(vectors[i] @ centre))
        dates = sorted(d for i in members if (d := articles[sources[i]][0].date))
        outlets = list(dict.fromkeys(o for i in members if (o := articles[sources[i]][0].outlet)))
        found.append(
            Story([sources[i] for i in members], dates[0] if dates else "", dates[-1] if dates else "", outlets)
        )
    found.sort(key=lambda s: s.last, reverse=True)  # the latest first among stories with the same coverage
    return sorted(found, key=lambda s: (-len(s.sources), -len(s.outlets)))


def digest(
    summarizer: Summarizer,
    fallback: Summarizer,
    articles: dict[str, list[Passage]],
    embeddings: Embeddings,
    title: str,
    *,
    seconds: float,
    progress: Progress | None = None,
    on_note: Shown | None = None,
) -> Summary:
    """The digest as a Summary: a bullet per story (kind "story", with the story in `Bullet.story`), the first
    MAX_STORIES by coverage; the title says how many stories there are. Past `seconds`, or where the model
    fails, stories are quoted by `fallback` (the extractive summarizer), and the note says so."""
    started = time.perf_counter()
    found = stories(articles, embeddings)
    grouped = time.perf_counter() - started
    shown = [
        (story, {story.sources[0]: _opening_passages(articles[story.sources[0]])}) for story in found[:MAX_STORIES]
    ]
    kept, notes, note = write_stories(summarizer, fallback, shown, "", seconds, progress, on_note)
    if len(found) > MAX_STORIES:
        title += f", {len(found)} stories (the {MAX_STORIES} most covered)"
    else:
        title += f", {len(found)} {'story' if len(found) == 1 else 'stories'}"
    summary = story_summary(title, list(articles), kept, notes, summarizer.model, started, note)
    summary.timings["stories_s"] = grouped  # embedding the openings and grouping them
    return summary


def story_summary(
    title: str,
    sources: list[str],
    kept: list[Story],
    notes: list[Note],
    model: str,
    started: float,
    note: str,
    topic: str = "",
) -> Summary:
    """A Summary of one bullet per story (kind "story", with the story in `Bullet.story`)."""
    bullets, citations = finish(notes)
    for bullet, story in zip(bullets, kept, strict=True):
        bullet.kind, bullet.story = "story", story.to_json()
    return Summary(
        title=title,
        sources=sources,
        bullets=bullets,
        citations=citations,
        model=model,
        sections=len(kept),
        topic=topic,
        timings={"total_s": time.perf_counter() - started},
        note=note,
    )


def write_stories(
    summarizer: Summarizer,
    fallback: Summarizer,
    shown: list[tuple[Story, dict[str, list[Passage]]]],
    topic: str,
    seconds: float,
    progress: Progress | None = None,
    on_note: Shown | None = None,
) -> tuple[list[Story], list[Note], str]:
    """One bullet for each story from the passages given with it (about `topic`, if one is given), by
    `summarizer`, or past `seconds` or where it fails by `fallback`. Returns the stories that got a bullet,
    their notes (one each), and a note for the reader ("" if all went well)."""
    progress = progress or (lambda *_: None)
    on_note = on_note or (lambda *_: None)
    deadline = time.monotonic() + seconds
    notes: list[Note] = []
    kept: list[Story] = []
    quoted, failed = 0, 0
    for n, (story, passages) in enumerate(shown, start=1):
        progress(n, len(shown), f"story {n} of {len(shown)} ({len(story.sources)} articles): {story.sources[0]}")
        writer = summarizer if time.monotonic() < deadline else fallback
        quoted += writer is not summarizer
        try:
            written, _ = writer.notes(passages, topic, lambda *_: None, STORY, on_note)
        except RagError:  # the user's to see (a model that is not installed), as in rag.answering.fallback
            raise
        except Exception:
            logger.warning("the model failed on a story; it is quoted instead", exc_info=True)
            failed += 1
            written, _ = fallback.notes(passages, topic, lambda *_: None, STORY, on_note)
        if first := within(written, STORY)[:1]:
            notes += first
            kept.append(story)
    said = []
    if quoted:
        said.append(
            f"the time budget ({seconds:.0f} s, RAG_SUMMARY_SECONDS) ran out: the last {quoted} stories are quoted"
        )
    if failed:
        said.append(f"the model failed on {failed} stories: they are quoted")
    return kept, notes, "; ".join(said)


def _opening_passages(chunks: list[Passage]) -> list[Passage]:
    """An article's opening as passages: its first OPENING_TOKENS tokens, where news puts the gist."""
    return sections(tile(chunks), OPENING_TOKENS)[0]


def _opening(passages: list[Passage]) -> str:
    """An article's title and first OPENING_WORDS words: what it is about."""
    words = " ".join(p.text for p in passages[:3]).split()[:OPENING_WORDS]
    return f"{passages[0].title}. {' '.join(words)}"
