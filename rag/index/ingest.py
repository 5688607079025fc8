"""Incremental ingest: bring the index in step with the corpus folder, embedding only what changed.

Per file, the manifest records the content hash and chunk count. A file whose hash and index signature are
unchanged is not read further; a new or changed one is chunked and embedded (new chunks are written before
the old version's are deleted, so it stays searchable throughout); a deleted one loses its chunks. A file
that cannot be read is skipped with its reason, and any version of it already indexed stays. Files are
marked `pending` before their chunks change, so a run that is killed is finished by the next one.

Each indexed file is also signed for the search of near-duplicates, and after any change the groups of copies
are found again over all signatures (rag.index.duplicates; half a second at 8,819 articles).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from rag.errors import describe_error
from rag.index import documents, duplicates
from rag.index.chunking import chunk_text
from rag.index.recall import MIN_RECALL
from rag.index.store import chunk_counts, iter_chunks
from rag.terminal import one_line
from rag.types import Entry, day_number

logger = logging.getLogger(__name__)

# True: a progress bar on the terminal; a callable: called with (chunks embedded, chunks to embed) as it goes
Progress = bool | Callable[[int, int], object]

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.index.manifest import Manifest
    from rag.index.store import Store


SHOWN_REPAIRED = 5  # files named in the summary's line on repairs (`paths_repaired` in the JSON has them all)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}
    unchanged: int = 0
    repaired: list[str] = field(default_factory=list)
    rebuilt: bool = False
    vectors_rebuilt: bool = False  # the HNSW graph was degraded after the ingest and was rebuilt
    vector_recall: list[float] = field(default_factory=list)  # its sampled recall after the ingest (and rebuild)
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "files_added": len(self.added),
            "files_changed": len(self.changed),
            "files_removed": len(self.removed),
            "files_skipped": self.skipped,
            "files_unchanged": self.unchanged,
            "files_repaired": len(self.repaired),
            "paths_added": self.added,
            "paths_changed": self.changed,
            "paths_removed": self.removed,
            "paths_repaired": self.repaired,
            "rebuilt": self.rebuilt,
            "vectors_rebuilt": self.vectors_rebuilt,
            "vector_recall": [round(r, 3) for r in self.vector_recall],  # [] when not measured
            "chunks_embedded": self.chunks_embedded,
            "chunks_total": self.chunks_total,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        """What the ingest did, for people: one line, then a line per note (skipped files, repairs, rebuilds).

        >>> print(IngestReport(repaired=[f"{n}.md" for n in range(7)]).summary().splitlines()[1])
          repaired after an interrupted ingest: 0.md, 1.md, 2.md, 3.md, 4.md and 2 more
        """
        line = (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{len(self.skipped)} skipped, {self.unchanged} unchanged; {self.chunks_embedded} chunks embedded, "
            f"{self.chunks_total} in the index; {self.seconds:.1f} s"
        )
        notes = [f"  skipped {one_line(s['path'])}: {s['reason']}" for s in self.skipped]
        if self.repaired:
            named = ", ".join(map(one_line, self.repaired[:SHOWN_REPAIRED]))
            more = len(self.repaired) - SHOWN_REPAIRED
            notes.append(f"  repaired after an interrupted ingest: {named}" + (f" and {more} more" if more > 0 else ""))
        if self.rebuilt:
            notes.append("  the index was rebuilt (new chunker or embedding settings, or --rebuild)")
        if self.vectors_rebuilt:
            before, after = self.vector_recall
            if after >= MIN_RECALL:
                notes.append(
                    f"  nearest-neighbour search had degraded (sampled recall {before:.2f}; near-identical or "
                    f"deleted vectors): rebuilt it, recall now {after:.2f}"
                )
            else:
                notes.append(
                    f"  nearest-neighbour search is degraded (sampled recall {before:.2f}, {after:.2f} after a "
                    "rebuild): files of near-identical text crowd it; `python -m rag check --repair` builds it anew "
                    "(HNSW is random), or move such files out of the corpus and ingest again"
                )
        return "\n".join([line, *notes])


@dataclass
class _Job:
    """A file to (re)index: its chunks, and how many are still to be written."""

    path: str
    sha256: str
    chunks: list[dict[str, Any]]
    left: int
    replaces: bool  # an earlier version of the file may have chunks to delete once this one is complete
    signed: duplicates.Signed


@dataclass
class Scan:
    """What a walk of the corpus folder found: files to index as (path relative to the corpus, full path),
    sorted; what it passed over, with the reason; and folders it could not read (their files stay indexed)."""

    files: list[tuple[str, Path]]
    skipped: list[dict[str, str]]
    unreadable: list[str]


def scan(corpus: Path) -> Scan:
    """Walk the corpus folder. Links to anything outside it, links to folders (never followed: no loops),
    dangling links, special files and unreadable folders are passed over with a reason; hidden files and
    folders are ignored without one."""
    root = corpus.resolve()
    found = Scan([], [], [])

    def unreadable(error: OSError) -> None:
        rel = Path(error.filename).relative_to(corpus).as_posix() if error.filename else "."
        found.unreadable.append(rel)
        found.skipped.append({"path": rel, "reason": f"folder cannot be read ({error.strerror or error})"})

    for folder, dirs, names in os.walk(corpus, onerror=unreadable):
        base = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        try:
            links = [d for d in dirs if (base / d).is_symlink()]
            kinds = {name: (base / name).is_symlink() for name in names if not name.startswith(".")}
        except OSError as e:  # listed but not entered (a folder of mode 0600): nothing in it can be looked at
            unreadable(OSError(e.errno, e.strerror, folder))
            dirs[:] = []
            continue
        for name in links:
            dirs.remove(name)
            rel = (base / name).relative_to(corpus).as_posix()
            found.skipped.append({"path": rel, "reason": _link_reason(base / name, root, folder=True)})
        for name, link in kinds.items():
            path = base / name
            rel = path.relative_to(corpus).as_posix()
            reason = _link_reason(path, root) if link else ""
            if not reason and not _is_regular(path):
                reason = "not a regular file (a pipe, socket or device); not read"
            if reason:
                found.skipped.append({"path": rel, "reason": reason})
            else:
                found.files.append((rel, path))
    found.files.sort()
    found.skipped.sort(key=lambda s: s["path"])
    return found


def _is_regular(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # cannot be looked at: reading it says why
        return True


def _within(rel: str, folder: str) -> bool:
    return folder == "." or rel.startswith(folder + "/")


def _link_reason(link: Path, root: Path, folder: bool = False) -> str:
    """Why a symbolic link is not followed, or "" for a link to a file inside the corpus folder."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError) as e:  # dangling, a loop, or a folder on the way cannot be searched
        return f"broken link ({getattr(e, 'strerror', None) or e}); not followed"
    if not target.is_relative_to(root):
        return "link to a file outside the corpus folder; not followed (copy the file in to index it)"
    if folder:
        return "link to a folder; not followed (no loops, no files indexed twice)"
    return ""


def chunk_id(path: str, sha256: str, index: int) -> str:
    return f"{hashlib.sha1(path.encode()).hexdigest()[:10]}-{sha256[:16]}-{index:05d}"


class Ingester:
    """Brings one collection in step with the corpus folder. Not thread-safe: hold the ingest lock."""

    def __init__(
        self,
        store: Store,
        manifest: Manifest,
        splitter: RecursiveCharacterTextSplitter,
        *,
        max_bytes: int,
        embed_batch: int,
        write_batch: int,
    ) -> None:
        self.store = store
        self.manifest = manifest
        self.splitter = splitter
        self.max_bytes = max_bytes
        self.embed_batch = embed_batch
        self.write_batch = write_batch

    def run(self, corpus: Path, progress: Progress = False) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        entries = self.manifest.entries()
        if not any(e.state == "pending" for e in entries.values()):
            self._reconcile(entries)
            entries = self.manifest.entries()
        self._backfill_days()
        found = scan(corpus)
        files = found.files
        report.skipped += found.skipped
        present = {rel for rel, _ in files}
        present |= {rel for rel in entries if any(_within(rel, folder) for folder in found.unreadable)}
        jobs: list[_Job] = []
        signed = self.manifest.signed()
        for rel, path in files:
            entry = entries.get(rel)
            try:
                data = documents.read(path, self.max_bytes)
                sha = hashlib.sha256(data).hexdigest()
                if entry and entry.state == "done" and entry.sha256 == sha:
                    report.unchanged += 1
                    if rel not in signed or signed[rel][0] != sha:  # indexed before copies were looked for
                        self._sign(rel, path, sha, data)
                    continue
                article = documents.parse(path, data)
                chunks = self._chunk(rel, sha, article)
            except documents.SkipFile as e:
                report.skipped.append({"path": rel, "reason": self._skip_reason(rel, str(e), entry)})
                continue
            except Exception as e:  # a reader's bug or a file no reader expected: skip this file, index the rest
                logger.warning("could not read %s", path, exc_info=True)
                reason = f"could not be read ({describe_error(e)})"
                report.skipped.append({"path": rel, "reason": self._skip_reason(rel, reason, entry)})
                continue
            jobs.append(_Job(rel, sha, chunks, 0, replaces=entry is not None, signed=_signed(rel, article)))
            if entry is None:
                report.added.append(rel)
            elif entry.state == "pending":
                report.repaired.append(rel)
            else:
                report.changed.append(rel)
        gone = sorted(set(entries) - present)
        self._remove(gone)
        report.removed = [p for p in gone if entries[p].state == "done"]
        report.repaired += [p for p in gone if entries[p].state == "pending"]
        report.chunks_embedded = self._write(jobs, progress)
        self._group_copies()
        report.chunks_total = self.store.count()
        report.seconds = time.perf_counter() - started
        return report

    def _sign(self, rel: str, path: Path, sha: str, data: bytes) -> None:
        """Sign an indexed file for the search of copies (once, no embedding)."""
        try:
            self.manifest.sign(rel, sha, _signed(rel, documents.parse(path, data)))
        except Exception:  # it stays indexed, in no group of copies
            logger.warning("could not sign %s for the search of copies", path, exc_info=True)

    def _group_copies(self) -> None:
        """Find the groups of copies again if the signed files changed since they were last found (a note keeps
        which; a run killed before this point leaves the old note, so the next run does it)."""
        signed = self.manifest.signed()
        key = hashlib.sha256(repr(sorted((p, sha) for p, (sha, _) in signed.items())).encode()).hexdigest()[:16]
        if self.manifest.note("copies") != key:
            self.manifest.set_copies(duplicates.groups(s for _, s in signed.values()))
            self.manifest.set_note("copies", key)

    def _skip_reason(self, rel: str, reason: str, entry: Entry | None) -> str:
        """Explain a skip: a version indexed earlier stays (unless a killed run left only half of one)."""
        if entry and entry.state == "pending" and not self._settle_pending(rel, entry.sha256):
            entry = None
        return f"{reason} (the version indexed earlier stays searchable)" if entry else reason

    def _settle_pending(self, rel: str, pending_sha: str) -> bool:
        """Drop the half-written chunks of `rel`; record the complete version that is left, if there is one."""
        self.store.delete(where={"$and": [{"source": rel}, {"sha256": pending_sha}]})
        left = chunk_counts(self.store, source=rel).get(rel)
        if not left:
            self.manifest.remove([rel])
            return False
        sha, count = left.most_common(1)[0]
        self.manifest.mark_done(rel, sha, count)
        return True

    def _chunk(self, rel: str, sha: str, article: documents.Article) -> list[dict[str, Any]]:
        """The file's chunks to store. A chunk whose text repeats an earlier chunk of the same file is left out:
        it adds nothing a search could find, and thousands of identical vectors (a file of repeated text) wreck
        the HNSW graph for every other file. Chunks keep their position numbers, so ids stay stable."""
        seen: set[str] = set()
        pieces = []
        for i, c in enumerate(chunk_text(article.text, self.splitter)):
            if c.text not in seen:
                seen.add(c.text)
                pieces.append((i, c))
        return [
            {
                "id": chunk_id(rel, sha, i),
                "text": c.text,
                "metadata": {
                    "source": rel,
                    "sha256": sha,
                    "chunk": i,
                    "start": c.start,
                    "end": c.end,
                    "title": article.title,
                    "date": article.date,
                    "url": article.url,
                    "outlet": article.outlet,
                    "day": day_number(article.date),
                },
            }
            for i, c in pieces
        ]

    def _remove(self, paths: list[str]) -> None:
        """Delete the chunks of files that are gone; chunks first, so a crash leaves the row to retry."""
        for rel in paths:
            self.store.delete(where={"source": rel})
        self.manifest.remove(paths)

    def _write(self, jobs: list[_Job], progress: Progress) -> int:
        """Embed and store every job's chunks in batches across files; finish each file as its last batch lands."""
        if not jobs:
            return 0
        self.manifest.mark_pending([(job.path, job.sha256) for job in jobs])
        total, todo = 0, sum(len(j.chunks) for j in jobs)
        with _progress_bar(todo, progress is True) as bar:

            def advance(n: int) -> None:
                bar.update(n)
                if callable(progress):
                    progress(int(bar.n), todo)

            for batch in _batches(jobs, self.write_batch):
                chunks = [c for _, c in batch]
                vectors = self._embed([c["text"] for c in chunks], advance)
                self.store.upsert(
                    [c["id"] for c in chunks], vectors, [c["text"] for c in chunks], [c["metadata"] for c in chunks]
                )
                total += len(batch)
                for job, _ in batch:
                    job.left -= 1
                    if job.left == 0:
                        self._finish(job)
        return total

    def _embed(self, texts: list[str], advance: Callable[[int], object]) -> list[list[float]]:
        """Embed `texts` in small batches of similar length, reporting progress after each.

        LangChain's `add_texts` would embed a whole write batch in one call: no progress until it is done.
        Sorting by length first keeps padding low, as sentence-transformers does within one call; the larger
        the write batch, the closer the lengths in each embedding batch. On SciFact's 15,726 chunks, sorting
        within write batches of 1,024 pads to 6 % more word pieces than one sort of all chunks, 4,096 to
        1.5 %; hence write batches of 64 embedding batches (4,096 by default). The price: a killed ingest
        redoes up to one write batch (about 100 s here), and a first ingest makes files searchable a write
        batch at a time.
        """
        embeddings = self.store.embeddings
        assert embeddings is not None, "the store was opened without embeddings"
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.embed_batch):
            part = order[start : start + self.embed_batch]
            for i, vector in zip(part, embeddings.embed_documents([texts[i] for i in part]), strict=True):
                vectors[i] = vector
            advance(len(part))
        return vectors

    def _finish(self, job: _Job) -> None:
        """The new version is complete: delete every other version's chunks, then mark the file done.

        A file the manifest did not know has no other version (chunks are deleted before manifest rows, and
        `_reconcile` removes chunks of unknown files), so the delete, a query per file, is skipped for it.
        """
        if job.replaces:
            self.store.delete(where={"$and": [{"source": job.path}, {"sha256": {"$ne": job.sha256}}]})
        self.manifest.mark_done(job.path, job.sha256, len(job.chunks))
        self.manifest.sign(job.path, job.sha256, job.signed)

    def _backfill_days(self) -> None:
        """Give chunks stored before date filters existed their `day` (from their `date`), once per collection:
        a metadata update, no embedding."""
        if self.manifest.note("days") == "1":
            return
        stale = [(i, m) for i, _, m in iter_chunks(self.store, ["metadatas"]) if "day" not in m]
        for start in range(0, len(stale), 5000):
            part = stale[start : start + 5000]
            self.store.update_metadata(
                [i for i, _ in part], [{**m, "day": day_number(str(m.get("date", "")))} for _, m in part]
            )
        self.manifest.set_note("days", "1")

    def _reconcile(self, entries: dict[str, Entry]) -> None:
        """If the collection's size disagrees with the manifest, compare them file by file and mark the
        disagreeing files pending (to be redone) and delete chunks of files the manifest does not know."""
        expected = sum(e.chunks for e in entries.values())
        if self.store.count() == expected:
            return
        counts = chunk_counts(self.store)
        for source in set(counts) - set(entries):
            self.store.delete(where={"source": source})
        stale = [(rel, e.sha256) for rel, e in entries.items() if counts.get(rel, {}) != {e.sha256: e.chunks}]
        if stale:
            self.manifest.mark_pending(stale)


def _signed(rel: str, article: documents.Article) -> duplicates.Signed:
    signature = duplicates.signature(article.text)
    return duplicates.Signed(rel, signature, article.date, len(article.text), article.title, article.outlet)


def _batches(jobs: list[_Job], size: int) -> Iterator[list[tuple[_Job, dict[str, Any]]]]:
    for job in jobs:
        job.left = len(job.chunks)
    batch: list[tuple[_Job, dict[str, Any]]] = []
    for job in jobs:
        for chunk in job.chunks:
            batch.append((job, chunk))
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def _progress_bar(total: int, enabled: bool) -> Any:
    return tqdm(total=total, desc="embedding", unit="chunk", disable=not enabled, dynamic_ncols=True)
