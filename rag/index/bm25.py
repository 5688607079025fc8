"""BM25 over the same chunks as the vector store, with `bm25s`, saved next to the index.

The index is rebuilt from the collection's contents after every ingest that changed something, and carries
the ingest generation it was built from, so a stale or missing one is detected and rebuilt rather than
silently used. English stop words are dropped and words stemmed (Snowball, via PyStemmer).

bm25s can't add to an index (its scores depend on every document's length and every word's frequency), so
each build scores all chunks again; what it can skip is reading and tokenizing the chunks it has seen: each
chunk's tokens are saved beside the index (`Tokens`), and the next build reads and tokenizes only the new
chunks (at 128k chunks a full build took 17 s: 7-12 s reading texts from Chroma, 6.5 s tokenizing, 4.5 s
scoring).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.text import stemmer

if TYPE_CHECKING:
    import bm25s  # deferred: it imports scipy (a quarter of a second)

logger = logging.getLogger(__name__)


TOKENIZER = "bm25s-en-snowball-1"  # saved with the tokens; change it when `tokenize` changes, so they are redone


def tokenize(texts: list[str]) -> list[list[str]]:
    import bm25s  # deferred: it imports scipy (a quarter of a second)

    tokens = bm25s.tokenize(texts, lower=True, stopwords="en", stemmer=stemmer(), return_ids=False, show_progress=False)
    return [list(t) for t in tokens]


@dataclass
class Chunk:
    """What BM25 needs of one new chunk."""

    text: str
    source: str
    day: int = 0


@dataclass
class Tokens:
    """Each chunk's tokens as numbers into one vocabulary, with its source and day: what a build reuses."""

    ids: list[str]
    sources: list[str]
    days: list[int]
    vocab: list[str]
    flat: np.ndarray  # every chunk's token numbers, one chunk after another
    offsets: np.ndarray  # chunk i's are flat[offsets[i]:offsets[i + 1]]

    @classmethod
    def combine(cls, ids: list[str], new: dict[str, Chunk], previous: Tokens | None) -> Tokens:
        """`ids` in order: those in `new` tokenized now, the others taken from `previous`. Words no chunk
        uses any more leave the vocabulary."""
        number = {word: i for i, word in enumerate(previous.vocab)} if previous else {}
        at = {chunk: i for i, chunk in enumerate(previous.ids)} if previous else {}
        tokenized = dict(zip(new, tokenize([c.text for c in new.values()]), strict=True))
        parts, sources, days = [], [], []
        for chunk in ids:
            if chunk in tokenized:
                words = tokenized[chunk]
                parts.append(np.fromiter((number.setdefault(w, len(number)) for w in words), np.int64, len(words)))
                sources.append(new[chunk].source)
                days.append(new[chunk].day)
            else:
                assert previous is not None, f"chunk {chunk} is neither new nor in the previous tokens"
                i = at[chunk]
                parts.append(previous.flat[previous.offsets[i] : previous.offsets[i + 1]].astype(np.int64))
                sources.append(previous.sources[i])
                days.append(previous.days[i])
        flat = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        used = np.flatnonzero(np.bincount(flat, minlength=len(number)))
        renumber = np.zeros(len(number), np.int64)
        renumber[used] = np.arange(len(used))
        words = list(number)  # in number order: setdefault numbered them as they came
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts], dtype=np.int64)])
        return cls(ids, sources, days, [words[u] for u in used], renumber[flat].astype(np.int32), offsets)

    def lists(self) -> list[list[int]]:
        flat = self.flat.tolist()
        return [flat[a:b] for a, b in zip(self.offsets[:-1].tolist(), self.offsets[1:].tolist(), strict=True)]

    def save(self, folder: Path) -> None:
        np.savez(folder / "tokens.npz", flat=self.flat, offsets=self.offsets)
        (folder / "tokens.json").write_text(json.dumps({"tokenizer": TOKENIZER, "vocab": self.vocab}))

    @classmethod
    def load(cls, folder: Path) -> Tokens | None:
        """The tokens saved with the index in `folder`, or None (none saved, another tokenizer, unreadable)."""
        try:
            info = json.loads((folder / "tokens.json").read_text())
            chunks = json.loads((folder / "chunks.json").read_text())
            with np.load(folder / "tokens.npz") as arrays:
                flat, offsets = arrays["flat"], arrays["offsets"]
            if info["tokenizer"] != TOKENIZER or len(offsets) != len(chunks["ids"]) + 1:
                return None
            return cls(chunks["ids"], chunks["sources"], chunks["days"], info["vocab"], flat, offsets)
        except (OSError, ValueError, KeyError):
            return None


@dataclass
class BM25Index:
    ids: list[str]
    sources: list[str]
    generation: str
    model: bm25s.BM25 | None  # None when there are no chunks
    days: list[int]  # each chunk's date as a number (rag.types.day_number), 0 if none
    tokens: Tokens | None = field(default=None, repr=False)  # saved with it, for the next build; not loaded
    tokenized: int = 0  # chunks this build tokenized (the others came from the previous build's tokens)
    _positions: dict[str, int] | None = field(default=None, init=False, repr=False)

    @classmethod
    def build(
        cls, ids: list[str], texts: list[str], sources: list[str], generation: str, days: list[int] | None = None
    ) -> BM25Index:
        """From every chunk's text."""
        days = days if days is not None else [0] * len(ids)
        chunks = {i: Chunk(t, s, d) for i, t, s, d in zip(ids, texts, sources, days, strict=True)}
        return cls.update(ids, lambda wanted: {i: chunks[i] for i in wanted}, None, generation)

    @classmethod
    def update(
        cls,
        ids: list[str],
        read: Callable[[list[str]], dict[str, Chunk]],
        previous: Tokens | None,
        generation: str,
    ) -> BM25Index:
        """For the chunks `ids`, reading (`read`) and tokenizing only those `previous` doesn't have. Ids that
        `read` doesn't return (deleted meanwhile) are left out."""
        known = set(previous.ids) if previous else set()
        new = read([i for i in ids if i not in known])
        tokens = Tokens.combine([i for i in ids if i in known or i in new], new, previous)
        model = None
        if tokens.ids:
            import bm25s  # deferred: it imports scipy (a quarter of a second)

            model = bm25s.BM25()
            model.index(
                bm25s.tokenization.Tokenized(tokens.lists(), {word: i for i, word in enumerate(tokens.vocab)}),
                show_progress=False,
            )
        return cls(tokens.ids, tokens.sources, generation, model, tokens.days, tokens, len(new))

    def save(self, folder: Path) -> None:
        """Write to `folder` so that no reader sees a mix of two saves. The files go to a temporary folder of this
        save's own, which then takes the old one's place. Several processes may save at once (on a Chroma server
        each may rebuild the index): each writes its own folder, and one of them lands whole. A reader between
        the two renames finds no index and rebuilds it. A process killed while saving leaves its temporary
        folder behind."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{folder.name}.tmp-", dir=folder.parent))
        tmp.chmod(0o755)  # mkdtemp's folder is private; the index was readable like the rest of the data folder
        old = folder.with_name(f"{folder.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
        try:
            if self.model is not None:
                self.model.save(str(tmp))
            if self.tokens is not None:
                self.tokens.save(tmp)
            info = {"generation": self.generation, "ids": self.ids, "sources": self.sources, "days": self.days}
            (tmp / "chunks.json").write_text(json.dumps(info))
            with contextlib.suppress(FileNotFoundError):  # none yet, or another save moved it away just now
                folder.rename(old)
            try:
                tmp.rename(folder)
            except OSError as e:  # another save landed between the two renames: it stays (loads check generations)
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                logger.info("another process saved the BM25 index in %s at the same time; its copy stays", folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> BM25Index | None:
        """The saved index, or None if there is none (or it is unreadable)."""
        try:
            info = json.loads((folder / "chunks.json").read_text())
            model = None
            if info["ids"]:
                import bm25s  # deferred: it imports scipy (a quarter of a second)

                model = bm25s.BM25.load(str(folder))
            days = info["days"]  # saved before date filters: missing, so the index is rebuilt
        except (OSError, ValueError, KeyError):
            return None
        return cls(info["ids"], info["sources"], info["generation"], model, days)

    def days_of(self, ids: Iterable[str]) -> dict[str, int]:
        """Each id's day number (rag.types.day_number): 0 when undated or not in this index."""
        if self._positions is None:
            self._positions = {i: n for n, i in enumerate(self.ids)}
        positions = self._positions
        return {i: self.days[positions[i]] if i in positions else 0 for i in ids}

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
