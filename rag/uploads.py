"""Saving an uploaded article into the corpus folder, safely.

The file name is reduced to a plain name inside the corpus folder (no folders, no "..", no hidden files);
the type, size and contents are checked with the same reader the ingest uses before anything is written;
an existing article is never overwritten; the file is written under a hidden temporary name and renamed, so
a half-written upload is never indexed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from rag import documents
from rag.errors import RagError


def safe_name(name: str) -> str:
    """A plain file name for `name`, or RagError. Folders are refused rather than stripped silently.

    >>> safe_name("Trade talks (June).txt")
    'Trade talks (June).txt'
    >>> safe_name("notes: day 2?.md")
    'notes_ day 2_.md'
    """
    name = name.strip()
    if PurePosixPath(name).name != name or PureWindowsPath(name).name != name or name in {"", ".", ".."}:
        raise RagError(f"{name!r} is not a plain file name; upload a file, not a path")
    if name.startswith("."):
        raise RagError(f"{name!r} is a hidden file name; rename it so that it does not start with a dot")
    cleaned = re.sub(r"[^\w .()\-]", "_", name)
    if len(cleaned.encode()) > 200:
        raise RagError(f"the file name {name[:40]!r}... is too long (200 bytes at most); shorten it")
    return cleaned


def save_upload(corpus_dir: Path, name: str, data: bytes, max_bytes: int) -> Path:
    """Check an uploaded file and write it into `corpus_dir`; returns its path. RagError says what is wrong."""
    filename = safe_name(name)
    target = corpus_dir / filename
    if target.resolve().parent != corpus_dir.resolve():
        raise RagError(f"{name!r} would be saved outside the corpus folder")
    if target.suffix.lower() not in documents.SUPPORTED:
        raise RagError(f"{filename}: unsupported file type; upload one of {' '.join(documents.SUPPORTED)}")
    if len(data) > max_bytes:
        raise RagError(
            f"{filename} is too large ({len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.1f} MB, "
            "RAG_MAX_FILE_MB)"
        )
    if not data.strip():
        raise RagError(f"{filename} is empty")
    try:
        documents.parse(target, data)
    except documents.SkipFile as e:
        raise RagError(f"{filename} cannot be indexed: {e}") from e
    if target.exists():
        if target.read_bytes() == data:
            raise RagError(f"{filename} is already in the corpus")
        raise RagError(f"a different {filename} is already in the corpus; rename the file to add it")
    corpus_dir.mkdir(parents=True, exist_ok=True)
    temporary = corpus_dir / f".{filename}.{os.getpid()}.upload"
    temporary.write_bytes(data)
    temporary.replace(target)
    return target
