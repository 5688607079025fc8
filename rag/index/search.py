"""Hybrid retrieval: dense (Chroma, cosine) and BM25 candidates fused with reciprocal rank fusion, optionally
weighed by how far each article's date is from the day asked about (see `by_age`).

Fusion is written here rather than taken from LangChain's EnsembleRetriever (now in langchain-classic)
because each hit must keep both retrievers' ranks and scores, and the source filter must reach both.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from rag.types import Dates, Hit, Passage, day_date

COPIES_SLACK = 3  # with groups of copies, this many times k candidates are read to find k passages
DATE_OVERSAMPLE = 10  # a date-filtered search first reads this many times its candidates unfiltered (see _dense)
EXACT_CHUNKS = 2000  # a date range of at most this many chunks is searched exactly (about 55 ms at 2,000)

if TYPE_CHECKING:
    from rag.index.bm25 import BM25Index
    from rag.index.store import Store


def by_age(scores: dict[str, float], days: dict[str, int], as_of: dt.date, half_life_days: float) -> dict[str, float]:
    """`scores` halved for every `half_life_days` by which a chunk's article date (`days`: day numbers, 0 for
    undated) is further from `as_of`, before or after it, than the nearest dated chunk's. The nearest keeps its
    score, and so do undated chunks: a folder whose articles are all a year old, beside undated notes, is not
    searched as if the notes were newer.

    News on one subject recurs: the week's answer sits beside last year's similar event (another host returning,
    another primary), and a small model shown both may answer from the wrong one. Measured on the RealTime QA dev
    set (docs/benchmarks.md), any half-life from a month to two years leaves fewer passages that state a wrong
    choice among the top five, and as many that state the right one; a year is the value suggested, not the best.
    Opt-in (RAG_RECENCY_HALF_LIFE_DAYS): fused scores are close together, so a question about an older event,
    asked without a date, can lose to a newer article only loosely about it.

    >>> scores = {"old": 0.04, "new": 0.03, "undated": 0.02}
    >>> weighed = by_age(scores, {"old": 20230601, "new": 20240601, "undated": 0}, dt.date(2025, 6, 1), 365)
    >>> {i: round(s, 4) for i, s in weighed.items()}
    {'old': 0.02, 'new': 0.03, 'undated': 0.02}
    """
    if half_life_days <= 0:
        return dict(scores)
    ages = {i: age for i in scores if (age := _days_from(days.get(i, 0), as_of)) is not None}
    nearest = min(ages.values(), default=0)
    return {i: s * 0.5 ** ((ages[i] - nearest) / half_life_days) if i in ages else s for i, s in scores.items()}


def _days_from(day: int, as_of: dt.date) -> int | None:
    """Days between a day number and `as_of`, either way; None for 0 (undated) or a number that is no date."""
    date = day_date(day)
    return abs((as_of - date).days) if date else None


def rrf(rankings: list[list[str]], k: int) -> dict[str, float]:
    """Reciprocal rank fusion: each list adds 1 / (k + rank) to the ids it ranks.

    >>> rrf([["a", "b"], ["b", "c"]], k=1)
    {'a': 0.5, 'b': 0.8333333333333333, 'c': 0.3333333333333333}
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return scores


class HybridSearcher:
    """Searches one collection and its BM25 index. `display` maps a stored source to the path users see.

    The BM25 index is loaded with `load_bm25` on first use and again whenever `version()` changes (an ingest by
    this process or another), so a searcher never answers from a BM25 view older than the collection. Safe to
    share between threads.
    """

    def __init__(
        self,
        store: Store,
        load_bm25: Callable[[], BM25Index],
        *,
        candidates: int,
        rrf_k: int,
        version: Callable[[], Hashable] = lambda: 0,
        display: Callable[[str], str] = str,
        copies: Callable[[], dict[str, tuple[str, ...]]] = dict,
        exact_chunks: int = EXACT_CHUNKS,
        half_life_days: float = 0.0,
    ) -> None:
        self.store = store
        self.half_life_days = half_life_days
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.display = display
        self._load_bm25 = load_bm25
        self._version = version
        self._copies = copies
        self.exact_chunks = exact_chunks
        self._bm25: BM25Index | None = None
        self._seen: Hashable = None
        self._lock = threading.Lock()

    @property
    def bm25(self) -> BM25Index:
        """The BM25 index for the collection as it is now."""
        version = self._version()
        with self._lock:
            if self._bm25 is None or version != self._seen:
                self._bm25, self._seen = self._load_bm25(), version
            return self._bm25

    def search(
        self,
        query: str,
        k: int,
        source: str | None = None,
        dates: Dates | None = None,
        newest_first: bool = False,
        as_of: dt.date | None = None,
        prefer: Dates | None = None,
    ) -> list[Hit]:
        """The `k` best passages for `query`, optionally only from `source` (a path relative to the corpus) and
        only from articles dated within `dates`; both filters reach both retrievers. Of a group of copies
        (`copies`: path -> the group, main copy first) one article's passages are shown, the main copy's when it
        is among the candidates, and each hit names the other copies. `newest_first`: of passages with the same
        fused score (frequent: rank n in one retriever and unranked in the other), the newer article's first. With
        `half_life_days`, fused scores are weighed by how far each article's date is from `as_of` (default: today;
        see `by_age`).

        `prefer` (a range read from a phrase in a question, "in 2024") ranks and never filters: both retrievers
        run once more within the range and the four rankings are fused, so passages from inside the range
        count about twice, and a passage from outside it, or undated, is still found when nothing inside the
        range matches (a phrase names when the event happened, not when its article appeared). Ignored when
        `dates` is given."""
        n = max(self.candidates, k)
        dense = self._dense(query, n, k, source, dates)
        dense_ids = [str(doc.id) for doc, _ in dense]
        sparse = self.bm25.search(query, n, source, dates.bounds if dates else None)
        rankings = [dense_ids, [i for i, _ in sparse]]
        if prefer and not dates:
            inside = self._dense(query, n, k, source, prefer)
            rankings += [
                [str(d.id) for d, _ in inside],
                [i for i, _ in self.bm25.search(query, n, source, prefer.bounds)],
            ]
            seen = set(dense_ids)  # those found only in the range rank after the unfiltered candidates
            dense += [(d, distance) for d, distance in inside if str(d.id) not in seen]
        fused = rrf(rankings, self.rrf_k)
        if self.half_life_days > 0:  # the BM25 index knows every chunk's day, as for date ranges (`_dense`)
            fused = by_age(fused, self.bm25.days_of(fused), as_of or dt.date.today(), self.half_life_days)
        copies = self._copies()
        # room for copies to be passed over (at most k - 1 per group shown), and for ties at the k-th place
        top = sorted(fused, key=lambda i: -fused[i])[: k * COPIES_SLACK if copies or newest_first else k]
        docs = {str(doc.id): doc for doc, _ in dense}
        missing = [i for i in top if i not in docs]
        if missing:
            docs.update({str(d.id): d for d in self.store.get_by_ids(missing)})
        if newest_first:
            top.sort(key=lambda i: (-round(fused[i], 12), -int(docs[i].metadata.get("day") or 0) if i in docs else 0))
        sources = {i: str(docs[i].metadata["source"]) for i in top if i in docs}
        shown = one_copy_each(list(sources), sources, copies)[:k]
        dense_info = {str(doc.id): (rank, 1.0 - dist) for rank, (doc, dist) in enumerate(dense, start=1)}
        bm25_info = {i: (rank, s) for rank, (i, s) in enumerate(sparse, start=1)}
        return [self._hit(docs[i], fused[i], dense_info.get(i), bm25_info.get(i), others) for i, others in shown]

    def _dense(
        self, query: str, n: int, k: int, source: str | None, dates: Dates | None
    ) -> list[tuple[Document, float]]:
        """The `n` nearest chunks within the filters, as (document, cosine distance).

        Chroma's `where` costs hundreds of milliseconds at 100k+ chunks, so a date range alone is applied another
        way. A range of at most `exact_chunks` chunks (the BM25 index knows each chunk's day) is searched exactly,
        against those chunks' stored vectors. A wider one is applied to a wider unfiltered search (DATE_OVERSAMPLE
        times `n`): its in-range chunks are the nearest ones in range (as far as HNSW finds them), and if they
        are at least `k` they are the candidates; else the filtered search runs after all.
        """
        if dates and not source:
            low, high = dates.bounds
            within = self.bm25.ids_within((low, high))
            if len(within) <= self.exact_chunks:
                assert self.store.embeddings is not None, "the store was opened without embeddings"
                return self.store.nearest_among(self.store.embeddings.embed_query(query), within, n)
            wide = self.store.similarity_search_with_score(query, k=n * DATE_OVERSAMPLE)
            inside = [(d, s) for d, s in wide if low <= int(d.metadata.get("day") or 0) <= high][:n]
            if len(inside) >= k or len(wide) < n * DATE_OVERSAMPLE:  # enough, or the whole collection was read
                return inside
        conditions = ([{"source": source}] if source else []) + ([dates.where()] if dates else [])
        where: dict[str, Any] | None = (
            conditions[0] if len(conditions) == 1 else {"$and": conditions} if conditions else None
        )
        return self.store.similarity_search_with_score(query, k=n, filter=where)

    def _hit(
        self,
        doc: Document,
        score: float,
        dense: tuple[int, float] | None,
        bm25: tuple[int, float] | None,
        copies: tuple[str, ...],
    ) -> Hit:
        return Hit.of(
            stored_passage(str(doc.id), doc.page_content, doc.metadata, self.display),
            score=score,
            dense_score=dense[1] if dense else None,
            bm25_score=bm25[1] if bm25 else None,
            dense_rank=dense[0] if dense else None,
            bm25_rank=bm25[0] if bm25 else None,
            copies=tuple(self.display(p) for p in copies),
        )


def one_copy_each(
    ids: list[str], sources: dict[str, str], copies: dict[str, tuple[str, ...]]
) -> list[tuple[str, tuple[str, ...]]]:
    """`ids` (best first) without the passages of copies: of each group of copies (path -> the group, main copy
    first) only one article's passages stay, the main copy's if it has any here, else the best ranked copy's.
    Each id comes with the other copies of its article.

    >>> group = ("a.md", "b.md")
    >>> one_copy_each(["1", "2", "3"], {"1": "b.md", "2": "c.md", "3": "a.md"}, {"a.md": group, "b.md": group})
    [('2', ()), ('3', ('b.md',))]
    """
    present = set(sources.values())
    kept: dict[str, str] = {}  # a group's main copy -> the copy whose passages are shown
    out = []
    for i in ids:
        group = copies.get(sources[i], ())
        if group and sources[i] != kept.setdefault(group[0], group[0] if group[0] in present else sources[i]):
            continue
        out.append((i, tuple(p for p in group if p != sources[i])))
    return out


def stored_passage(chunk_id: str, text: str, meta: dict[str, Any], display: Callable[[str], str] = str) -> Passage:
    """A stored chunk as a Passage."""
    return Passage(
        id=chunk_id,
        source=display(str(meta["source"])),
        start=int(meta["start"]),
        end=int(meta["end"]),
        text=text,
        title=str(meta.get("title", "")),
        date=str(meta.get("date", "")),
        url=str(meta.get("url", "")),
        outlet=str(meta.get("outlet", "")),
    )


class HybridRetriever(BaseRetriever):
    """The hybrid search as a LangChain retriever, for chains. Each Document's metadata is its Hit."""

    searcher: Any
    k: int
    source: str | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.searcher.search(query, self.k, self.source)
        return [Document(page_content=h.text, metadata=h.to_json(), id=h.id) for h in hits]
