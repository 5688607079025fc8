"""What a failure of the index's state means to the user, in one line with the command that fixes it.

The index lives in the data folder (manifest.sqlite, chroma/, bm25/) or on a Chroma server. When one of them
is damaged, unwritable, full or unreachable, the libraries raise their own errors (sqlite3, Chroma, httpx,
OSError); `explain` turns the ones it recognises into a RagError that says what is wrong and what to run.
"""

from __future__ import annotations

import errno
import functools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, Protocol, TypeVar

import httpx

from rag.errors import DataFolderGone, RagError, ReadOnlyError, StateError, describe_error

if TYPE_CHECKING:
    from rag.config import Settings

P = ParamSpec("P")
R = TypeVar("R")

CHECK = "python -m rag check"
REBUILD = "python -m rag ingest --rebuild"


@contextmanager
def explaining(settings: Settings) -> Iterator[None]:
    """Failures of the stored index (damaged, read-only, full, unreachable) become a one-line StateError saying
    what to run (`explain`); a RagError or anything else passes unchanged."""
    try:
        yield
    except RagError:
        raise
    except Exception as e:
        if (explained := explain(e, settings)) is not None:
            raise explained from e
        raise


class _Configured(Protocol):
    settings: Settings


S = TypeVar("S", bound=_Configured)


def explained(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """A method (of an object with `settings`) whose failures of the stored index are explained (`explaining`)."""

    @functools.wraps(method)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with explaining(self.settings):
            return method(self, *args, **kwargs)

    return wrapper


def explain(error: BaseException, settings: Settings) -> StateError | None:
    """A one-line StateError for a failure of the stored index, or None if `error` is something else.

    >>> from rag.config import Settings
    >>> explained = explain(sqlite3.DatabaseError("file is not a database"), Settings(_env_file=None, data_dir="d"))
    >>> str(explained).split(";")[0]
    'the index in d is damaged (DatabaseError: file is not a database)'
    >>> explain(PermissionError(13, "Permission denied", "/etc/shadow"), Settings(_env_file=None, data_dir="d"))
    """
    data = settings.data_dir
    what = describe_error(error) if isinstance(error, Exception) else type(error).__name__
    if _moved(error):
        return DataFolderGone(
            f"the data folder {data} was deleted or moved while in use ({what}); start again to build the index "
            "anew (`python -m rag ingest`)"
        )
    if _disk_full(error):
        return StateError(
            f"no space left on the disk that holds {data} ({what}); free some space and run `python -m rag "
            "ingest` again: what was indexed before stays searchable"
        )
    if "database is locked" in str(error):
        return StateError(f"the index in {data} is busy: another process holds it ({what}); try again in a moment")
    if _read_only(error, data):
        return ReadOnlyError(
            f"the data folder {data} is read-only ({what}); searching and asking work, but ingesting needs write "
            "access to it"
        )
    if settings.chroma_url and _unreachable(error):
        return StateError(
            f"cannot reach the Chroma server at {settings.chroma_url} ({what}); start it again (`chroma run ...`), "
            f"then run `python -m rag ingest` to finish what was interrupted"
        )
    if isinstance(error, sqlite3.DatabaseError) or _chroma_internal(error):
        return StateError(
            f"the index in {data} is damaged ({what}); run `{REBUILD}` to rebuild it from the corpus folder "
            f"(`{CHECK}` says what is wrong)"
        )
    return None


def _disk_full(error: BaseException) -> bool:
    """ENOSPC however it arrives: an OSError, SQLite's "database or disk is full", or Chroma's Rust core's
    InternalError quoting the OS ("No space left on device (os error 28)"), which is not damage.

    >>> _disk_full(RuntimeError("Error persisting index: No space left on device (os error 28)"))
    True
    """
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    text = str(error)
    return any(sign in text for sign in ("database or disk is full", "No space left on device", "os error 28"))


def _moved(error: BaseException) -> bool:
    """The data folder went away under an open index: SQLite then reports its files as a read-only database
    (SQLITE_READONLY_DBMOVED, code 1032), which is not the diagnosis, even once an ingest lock has made the
    folder again."""
    return getattr(error, "sqlite_errorcode", None) == 1032 or "(code: 1032)" in str(error)


def _read_only(error: BaseException, data: Path) -> bool:
    """A write refused inside the data folder (not a permission problem anywhere else)."""
    if isinstance(error, OSError) and error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return error.filename is None or Path(error.filename).resolve().is_relative_to(data.resolve())
    return "readonly database" in str(error) or "read-only file system" in str(error).lower()


def _unreachable(error: BaseException) -> bool:
    return isinstance(error, httpx.TransportError | ConnectionError) or "Could not connect" in str(error)


def _chroma_internal(error: BaseException) -> bool:
    from chromadb.errors import InternalError  # deferred: chromadb takes seconds to import

    return isinstance(error, InternalError)
