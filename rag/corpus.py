"""The corpus folder: how its files are named to users, the text citations point into, and uploads.

Uploads are saved safely: the file name is reduced to a plain name inside the corpus folder (no folders,
no "..", no hidden files); the type, size and contents are checked with the same reader the ingest uses
before anything is written; the file is written under a unique hidden temporary name and then published
with a hard link, which fails rather than replace an existing file: a half-written upload is never indexed,
and of two uploads of one name at once (two browser sessions), exactly one is added.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Collection, Iterable
from contextlib import suppress
from functools import lru_cache
from pathlib import Path, PurePosixPath, PureWindowsPath

from rag.errors import Conflict, NotFound, RagError, TooLarge
from rag.index import documents


class Corpus:
    """The folder of articles. Paths are stored relative to it (`a.txt`) and shown under it (`corpus/a.txt`)."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    def require(self) -> None:
        """Raise unless the folder exists."""
        if not self.folder.is_dir():
            raise RagError(
                f"corpus folder {self.folder} does not exist; create it and put .txt, .md, .html or .pdf "
                "articles in it, or point RAG_CORPUS_DIR at your folder"
            )

    def display(self, rel: str) -> str:
        """How a stored source is shown: under the corpus folder as configured, e.g. corpus/a.txt."""
        return (self.folder / rel).as_posix()

    def resolve(self, given: str, indexed: Collection[str]) -> str:
        """The indexed file a user means by `given`: corpus/a.txt, a.txt or a full path all work."""
        candidates = [given, Path(given).as_posix()]
        with suppress(ValueError):  # not inside the corpus folder
            candidates.append(Path(given).resolve().relative_to(self.folder.resolve()).as_posix())
        for candidate in candidates:
            if candidate in indexed:
                return candidate
        names = sorted(indexed)
        known = ", ".join(self.display(p) for p in names[:10]) or "none"
        more = f" and {len(names) - 10} more" if len(names) > 10 else ""
        raise NotFound(f"{given} is not an indexed file; indexed files: {known}{more}")

    def article_text(self, rel: str) -> str:
        """The normalised text of a file: what citation spans point into. Read once per file version (the chat
        shows it for every citation on every rerun)."""
        path = self.folder / rel
        try:
            stat = path.stat()
            return _article_text(path, stat.st_mtime_ns, stat.st_size)
        except (OSError, documents.SkipFile) as e:
            raise RagError(f"{self.display(rel)} cannot be read any more: {e}") from e

    def add_upload(self, name: str, data: bytes) -> Path:
        """Save an uploaded article into the folder after checking it; not indexed yet."""
        return save_upload(self.folder, name, data, self.max_bytes)


@lru_cache(maxsize=64)
def _article_text(path: Path, mtime_ns: int, size: int) -> str:
    """`load(path).text`, cached per file version (modification time and size are part of the key)."""
    return documents.load(path).text


def safe_name(name: str) -> str:
    """A plain file name for `name`, or RagError. Folders are refused rather than stripped silently.

    >>> safe_name("Trade talks (June).txt")
    'Trade talks (June).txt'
    >>> safe_name("notes: day 2?.md")
    'notes_ day 2_.md'
    """
    name = name.strip()
    if re.search(r"[\x00-\x1f\x7f]", name):
        raise RagError(f"{name!r} contains control characters; rename the file")
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
        raise TooLarge(
            f"{filename} is too large ({len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.1f} MB, "
            "RAG_MAX_FILE_MB)"
        )
    if not data.strip():
        raise RagError(f"{filename} is empty")
    try:
        documents.parse(target, data)
    except documents.SkipFile as e:
        raise RagError(f"{filename} cannot be indexed: {e}") from e
    if target.exists() or target.is_symlink():
        raise _taken(target, data)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    try:
        return write_new(corpus_dir, [filename], data)
    except FileExistsError:  # another upload of the same name got there first
        raise _taken(target, data) from None


def write_new(folder: Path, names: Iterable[str], data: bytes) -> Path:
    """Write `data` into `folder` under the first of `names` not taken, and return its path; FileExistsError
    if all are. The file is written under a unique hidden temporary name first, so nobody sees half of it,
    and published without ever replacing a file (two writers of one name: exactly one wins)."""
    handle, temporary = tempfile.mkstemp(prefix=".write.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        for name in names:
            try:
                _publish(Path(temporary), folder / name)
                return folder / name
            except FileExistsError:
                continue
        raise FileExistsError(f"every name given is taken in {folder}")
    finally:
        Path(temporary).unlink(missing_ok=True)


def _publish(temporary: Path, target: Path) -> None:
    """Give the complete file its name; FileExistsError if the name is taken (never replaces a file)."""
    try:
        os.link(temporary, target)
    except OSError as e:
        if isinstance(e, FileExistsError) or e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
            raise
        with target.open("xb") as out:  # a file system without hard links: exclusive create, then copy
            out.write(temporary.read_bytes())


def _taken(target: Path, data: bytes) -> Conflict:
    try:
        same = target.read_bytes() == data
    except OSError:
        same = False
    if same:
        return Conflict(f"{target.name} is already in the corpus")
    return Conflict(f"a different {target.name} is already in the corpus; rename the file to add it")
