"""Summaries, digests and timelines of what the library holds, cached by content, model and settings.

This decides what to read (some files, every file, the passages about a topic, the articles in a date range)
and the title; the backend writes the bullets (rag.answering.models). A summary that fell back to the
extractive summarizer, or was cut short by its time budget, is not cached: the model may do better next time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.answering.digest import MAX_STORIES
from rag.answering.summarize import LENGTHS, Progress, Shown, Summary, SummaryCache
from rag.answering.timeline import TIMELINE_PASSAGES
from rag.errors import RagError
from rag.index.duplicates import one_of_each
from rag.index.state import explained
from rag.types import Dates, Passage

if TYPE_CHECKING:
    from rag.answering.models import Backend
    from rag.config import Settings
    from rag.library import Library

TOPIC_PASSAGES = 10  # a topic summary reads at least this many passages (or twice RAG_K)


class Summaries:
    """Cited summaries and timelines of `library`'s articles, written by `backend`."""

    def __init__(self, settings: Settings, library: Library, backend: Backend) -> None:
        self.settings = settings
        self.library = library
        self.backend = backend
        self.cache = SummaryCache(settings.data_dir / "summaries")

    @explained
    def summarize(
        self,
        files: Sequence[str] = (),
        *,
        everything: bool = False,
        topic: str = "",
        progress: Progress | None = None,
        refresh: bool = False,
        dates: Dates | None = None,
        length: str = "medium",
        on_note: Shown | None = None,
    ) -> Summary:
        """A cited summary of some files, of every file, or of the passages about a topic (exactly one of them);
        with `dates`, of every file or the topic's passages within that range. `refresh` ignores the cache.
        `dates` without files or a topic make a digest: a bullet per story (rag.answering.digest), and so does
        `everything` when the corpus holds more articles than a digest has stories (MAX_STORIES): a summary of
        each would not fit. `length`: short, medium or long (rag.answering.summarize.LENGTHS). `progress` is
        called before each model step, `on_note` with each bullet checked on the way (a preview)."""
        if length not in LENGTHS:
            raise RagError(f"unknown summary length {length!r}: use one of {', '.join(LENGTHS)}")
        topic = topic.strip()
        digest = bool(dates) and not files and not topic  # a date range alone (or with --all): a digest
        everything = everything or digest
        if sum([bool(files), everything, bool(topic)]) != 1:
            raise RagError(
                "say what to summarize: one or more files, --all, --topic TEXT (only one of them), or a date range "
                "(--since/--until) for a digest"
            )
        if dates and files:
            raise RagError("--since/--until go with --all or --topic, not with files")
        library = self.library
        library.require()
        indexed = library.files()
        rels = [library.resolve(f, indexed) for f in files] if files else sorted(indexed)
        if dates and everything:
            rels = sorted(set(rels) & library.dated(dates))
        rels = list(dict.fromkeys(rels))
        digest = digest or (everything and not topic and len(rels) > MAX_STORIES)
        if not digest:  # a digest counts copies as coverage; a summary would repeat their facts
            rels = one_of_each(rels, library.copies())
        articles, title = self._articles(rels, everything, topic, dates)
        key = self._key(
            files={rel: indexed[rel].sha256 for rel in sorted(indexed) if library.display(rel) in articles},
            passages={src: [p.id for p in passages] for src, passages in articles.items()} if topic else {},
            topic=topic,
            dates=dates,
            length="digest" if digest else length,
        )
        if not refresh and (cached := self.cache.get(key)) is not None:
            return cached
        if not articles:  # a topic nothing in the corpus is about, or no article in the date range
            summary = self.backend.extractive_summarizer.summarize({}, title, topic, length=length)
            summary.note = (
                "the articles say nothing about this: no passage is relevant enough"
                if topic
                else "no indexed article is dated within the range"
            )
            return summary
        if digest:
            summary = self.backend.digest(articles, title, progress, on_note)
        else:
            summary = self.backend.summarize(articles, title, topic, progress, length, on_note)
        return self._kept(key, summary)

    @explained
    def timeline(
        self,
        topic: str,
        *,
        dates: Dates | None = None,
        progress: Progress | None = None,
        refresh: bool = False,
        on_note: Shown | None = None,
    ) -> Summary:
        """The articles about `topic` (within `dates`, if given) in date order, a dated, cited bullet each
        (rag.answering.timeline). Cached like summaries; `progress` and `on_note` as for `summarize`."""
        topic = topic.strip()
        if not topic:
            raise RagError('a timeline needs a topic, e.g. python -m rag timeline "the London trade talks"')
        hits = self.library.search(topic, k=TIMELINE_PASSAGES, dates=dates)
        indexed = self.library.files()
        found = {self.library.resolve(h.source, indexed) for h in hits}
        key = self._key(
            files={rel: indexed[rel].sha256 for rel in sorted(found)},
            passages={source: [h.id for h in hits if h.source == source] for source in {h.source for h in hits}},
            topic=topic,
            dates=dates,
            length="timeline",
        )
        if not refresh and (cached := self.cache.get(key)) is not None:
            return cached
        title = f"Timeline of {topic}{_when(dates)}"
        return self._kept(key, self.backend.timeline(hits, topic, title, progress, on_note))

    def _articles(
        self, rels: list[str], everything: bool, topic: str, dates: Dates | None
    ) -> tuple[dict[str, list[Passage]], str]:
        """What to summarize ({display path: chunks}) and the summary's title."""
        when = _when(dates)
        if topic:
            articles: dict[str, list[Passage]] = {}
            hits = self.library.search(topic, k=max(TOPIC_PASSAGES, 2 * self.settings.k), dates=dates)
            for hit in hits:
                if (hit.dense_score or 0.0) >= self.settings.min_relevance:
                    articles.setdefault(hit.source, []).append(hit)
            return articles, f"What the articles{when} say about {topic}"
        articles = self.library.chunks_of(rels)
        if len(rels) == 1 and not dates:
            first = next(iter(articles.values()))
            return articles, (first[0].title if first and first[0].title else Path(rels[0]).stem)
        if dates:
            return articles, f"The articles dated{when}: {len(rels)} articles"
        return articles, f"{'The whole corpus' if everything else 'Several articles'}: {len(rels)} articles"

    def _key(self, *, dates: Dates | None, **parts: Any) -> dict[str, Any]:
        """The cache key of a summary of these parts, with this model, index and settings."""
        return self.cache.key(
            self.settings,
            self.backend.label,
            self.library.index.collection_name,
            dates=[dates.since, dates.until] if dates else [],
            **parts,
        )

    def _kept(self, key: dict[str, Any], summary: Summary) -> Summary:
        """`summary`, cached unless it has a note (a fallback's or one cut short: the model may work next time)."""
        if not summary.note:
            self.cache.put(key, summary)
        return summary


def _when(dates: Dates | None) -> str:
    return f" from {dates.since or 'the first'} to {dates.until or 'the last'}" if dates else ""
