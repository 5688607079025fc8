"""Is the index sound? `check` looks at every part and says what is wrong and which command fixes it;
`repair` rebuilds what can be rebuilt from the stored chunks, without reading the corpus or embedding again.

The vector check is rag.index.recall's sampled recall of the HNSW graph.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import describe_error
from rag.index.bm25 import BM25Index
from rag.index.ingest import scan
from rag.index.recall import MIN_RECALL, K, sampled_recall
from rag.index.state import REBUILD

if TYPE_CHECKING:
    from rag.index.index import Index

logger = logging.getLogger(__name__)

REPAIR = "python -m rag check --repair"
INGEST = "python -m rag ingest"


@dataclass
class Finding:
    part: str  # manifest, store, bm25, vectors, corpus
    ok: bool
    detail: str
    fix: str = ""  # the command that repairs it, when not ok

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check(index: Index, corpus: Path) -> list[Finding]:
    """Every part of the index, checked in order; a part that cannot be opened stops the checks after it."""
    findings: list[Finding] = []
    try:
        rows = index.manifest.entries()
        problems = index.manifest.integrity()
    except sqlite3.DatabaseError as e:
        return [Finding("manifest", False, f"cannot be read ({describe_error(e)})", REBUILD)]
    done = {p: e for p, e in rows.items() if e.state == "done"}
    pending = sorted(p for p, e in rows.items() if e.state != "done")
    findings.append(
        Finding("manifest", False, f"damaged: {problems}", REBUILD)
        if problems
        else Finding("manifest", True, f"{len(done)} files indexed")
    )
    try:
        count = index.store.count()
    except Exception as e:  # Chroma raises its own InternalError, or sqlite errors, on a damaged store
        logger.info("the vector store cannot be opened", exc_info=True)
        return [*findings, Finding("store", False, f"cannot be opened ({describe_error(e)})", REBUILD)]
    expected = sum(e.chunks for e in done.values())
    if pending:
        findings.append(Finding("store", False, f"an ingest was interrupted ({len(pending)} files unfinished)", INGEST))
    elif count != expected:
        findings.append(Finding("store", False, f"{count} chunks stored, the manifest expects {expected}", INGEST))
    else:
        findings.append(Finding("store", True, f"{count} chunks"))
    findings.append(_check_bm25(index))
    recall = sampled_recall(index.store)
    if recall is None:
        findings.append(Finding("vectors", True, "empty"))
    elif recall < MIN_RECALL:
        detail = f"nearest-neighbour search is degraded: sampled recall@{K} {recall:.2f} (below {MIN_RECALL})"
        findings.append(Finding("vectors", False, detail, REPAIR))
    else:
        findings.append(Finding("vectors", True, f"sampled recall@{K} {recall:.2f}"))
    findings.append(_check_corpus(done, corpus))
    return findings


def _check_bm25(index: Index) -> Finding:
    saved = BM25Index.load(index.bm25_dir)
    if saved is None:
        return Finding("bm25", False, "missing or unreadable (searches rebuild it in memory each time)", REPAIR)
    if saved.generation != index.generation():
        return Finding("bm25", False, "older than the stored chunks (searches rebuild it in memory)", REPAIR)
    if set(saved.ids) != set(index.store.ids()):
        detail = "does not match the stored chunks (keyword search finds wrong chunks or none)"
        return Finding("bm25", False, detail, REPAIR)
    return Finding("bm25", True, f"{len(saved.ids)} chunks")


def _check_corpus(done: dict[str, Any], corpus: Path) -> Finding:
    if not corpus.is_dir():
        return Finding("corpus", False, f"the corpus folder {corpus} does not exist", "")
    found = scan(corpus)
    present = {rel for rel, _ in found.files}
    new = present - set(done)
    gone = set(done) - present
    changed = {rel for rel, path in found.files if rel in done and _changed(path, done[rel])}
    if new or gone or changed:
        detail = f"{len(new)} new, {len(changed)} changed, {len(gone)} removed since the last ingest"
        return Finding("corpus", False, detail, INGEST)
    return Finding("corpus", True, f"{len(present)} files, all indexed")


def _changed(path: Path, entry: Any) -> bool:
    """Whether the file differs from what was indexed: its content hash, as ingest compares it, read only when it
    was modified after the ingest (a touched file whose content is the same is not changed). A file that cannot
    be read counts as changed: ingest will say why."""
    try:
        if path.stat().st_mtime <= entry.indexed_at:
            return False
        return bool(hashlib.sha256(path.read_bytes()).hexdigest() != entry.sha256)
    except OSError:
        return True


def repair(index: Index, findings: list[Finding]) -> list[str]:
    """Rebuild what `check` found broken and can be rebuilt from the stored chunks: the HNSW graph (a fresh
    collection from the stored vectors) and the BM25 index. Returns what was done."""
    done = []
    broken = {f.part for f in findings if not f.ok and f.fix == REPAIR}
    if "vectors" in broken:
        done.append(f"vectors: rebuilt the collection from {index.rebuild_collection()} stored chunks")
    if "bm25" in broken or "vectors" in broken:
        done.append(f"bm25: rebuilt from {index.save_bm25()} stored chunks")
    return done
