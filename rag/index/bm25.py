"""BM25 over the same chunks as the vector store, with `bm25s`, saved next to the index.

The index is rebuilt from the collection's contents after every ingest that changed something (bm25s
indexes 20k chunks in about a second), and carries the ingest generation it was built from, so a stale or
missing one is detected and rebuilt rather than silently used. English stop words are dropped and words
stemmed (Snowball, via PyStemmer).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.text import stemmer

if TYPE_CHECKING:
    import bm25s


def tokenize(texts: list[str]) -> list[list[str]]:
    import bm25s

    tokens = bm25s.tokenize(texts, lower=True, stopwords="en", stemmer=stemmer(), return_ids=False, show_progress=False)
    return [list(t) for t in tokens]


@dataclass
class BM25Index:
    ids: list[str]
    sources: list[str]
    generation: str
    model: bm25s.BM25 | None  # None when there are no chunks
    days: list[int]  # each chunk's date as a number (rag.types.day_number), 0 if none

    @classmethod
    def build(
        cls, ids: list[str], texts: list[str], sources: list[str], generation: str, days: list[int] | None = None
    ) -> BM25Index:
        model = None
        if ids:
            import bm25s

            model = bm25s.BM25()
            model.index(tokenize(texts), show_progress=False)
        return cls(ids, sources, generation, model, days if days is not None else [0] * len(ids))

    def save(self, folder: Path) -> None:
        """Write to `folder` atomically enough: files go to a temp folder that then replaces the old one."""
        tmp = folder.with_name(folder.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        if self.model is not None:
            self.model.save(str(tmp))
        (tmp / "chunks.json").write_text(
            json.dumps({"generation": self.generation, "ids": self.ids, "sources": self.sources, "days": self.days})
        )
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> BM25Index | None:
        """The saved index, or None if there is none (or it is unreadable)."""
        try:
            info = json.loads((folder / "chunks.json").read_text())
            model = None
            if info["ids"]:
                import bm25s

                model = bm25s.BM25.load(str(folder))
            days = info["days"]  # saved before date filters: missing, so the index is rebuilt
        except (OSError, ValueError, KeyError):
            return None
        return cls(info["ids"], info["sources"], info["generation"], model, days)

    def ids_within(self, days: tuple[int, int]) -> list[str]:
        """The ids of the chunks dated within `days` (day numbers, both included)."""
        numbers = np.asarray(self.days)
        return [self.ids[i] for i in np.nonzero((numbers >= days[0]) & (numbers <= days[1]))[0]]

    def search(
        self, query: str, n: int, source: str | None = None, days: tuple[int, int] | None = None
    ) -> list[tuple[str, float]]:
        """Up to `n` (chunk id, BM25 score) pairs, best first; only chunks of `source`, and dated within `days`
        (inclusive day numbers), if given."""
        tokens = tokenize([query])[0]
        if self.model is None or not tokens:
            return []
        mask = None
        if source is not None or days is not None:
            keep = np.ones(len(self.ids), dtype=bool)
            if source is not None:
                keep &= np.array([s == source for s in self.sources])
            if days is not None:
                numbers = np.asarray(self.days)
                keep &= (numbers >= days[0]) & (numbers <= days[1])
            if not keep.any():
                return []
            mask = keep.astype(np.float32)
        docs, scores = self.model.retrieve([tokens], k=min(n, len(self.ids)), show_progress=False, weight_mask=mask)
        return [(self.ids[d], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
