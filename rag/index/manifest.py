"""The ingest manifest: which files are in the index, at which content hash, with how many chunks; and each
article's near-duplicate signature and group of copies (rag.index.duplicates).

A small SQLite file per data folder. Rows belong to one collection (one chunker + embedding signature), so a
changed signature starts from an empty manifest. A file is marked `pending` before its chunks are touched
and `done` once they all are written; a run that dies in between leaves `pending` rows that the next ingest
redoes. That, and SQLite's transactions, is what makes a killed ingest repairable.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.index.duplicates import Signed
from rag.types import Entry

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    collection TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    chunks INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    indexed_at REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (collection, path)
);
CREATE TABLE IF NOT EXISTS articles (
    collection TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    signature BLOB NOT NULL,
    date TEXT NOT NULL,
    chars INTEGER NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    outlet TEXT NOT NULL DEFAULT '',
    main TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (collection, path)
);
CREATE TABLE IF NOT EXISTS notes (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (collection, key)
);
"""


def _writable(db_path: Path) -> bool:
    """Whether SQLite can write `db_path` and its journal files beside it."""
    folder_ok = os.access(db_path.parent, os.W_OK)
    return folder_ok and (not db_path.exists() or os.access(db_path, os.W_OK))


class Manifest:
    """The manifest of one collection. In a data folder this process cannot write to (a read-only mount, or
    permissions), it is opened read-only and immutable: readers work, writes fail, and changes made meanwhile by
    another process are not seen until it is opened again."""

    def __init__(self, db_path: Path, collection: str) -> None:
        self.collection = collection
        self.read_only = db_path.parent.is_dir() and not _writable(db_path)
        if self.read_only and not db_path.exists():
            raise sqlite3.OperationalError(f"attempt to write a readonly database: {db_path} cannot be created")
        if not self.read_only:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (explicit BEGIN below). One connection, shared by threads (a web app answers from several):
        # sqlite3 would refuse that by default, so every use goes through the lock.
        target = f"file:{db_path}?mode=ro&immutable=1" if self.read_only else str(db_path)
        self._db = sqlite3.connect(target, timeout=30, isolation_level=None, check_same_thread=False, uri=True)
        self._lock = threading.RLock()
        if not self.read_only:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def entries(self) -> dict[str, Entry]:
        rows = self._execute(
            "SELECT path, sha256, chunks, state, indexed_at FROM files WHERE collection = ?", (self.collection,)
        )
        return {row[0]: Entry(*row) for row in rows}

    def any_done(self) -> bool:
        """Whether any file is indexed: one row looked up, where `entries` reads them all (9 ms at 5k files)."""
        return bool(
            self._execute("SELECT 1 FROM files WHERE collection = ? AND state = 'done' LIMIT 1", (self.collection,))
        )

    def mark_pending(self, items: list[tuple[str, str]]) -> None:
        """Record (path, sha256) pairs as about to change, in one transaction."""
        with self._transaction():
            self._db.executemany(
                "INSERT INTO files (collection, path, sha256, state) VALUES (?, ?, ?, 'pending') "
                "ON CONFLICT (collection, path) DO UPDATE SET sha256 = excluded.sha256, state = 'pending'",
                [(self.collection, path, sha) for path, sha in items],
            )

    def mark_done(self, path: str, sha256: str, chunks: int) -> None:
        self._execute(
            "UPDATE files SET sha256 = ?, chunks = ?, state = 'done', indexed_at = ? WHERE collection = ? AND path = ?",
            (sha256, chunks, time.time(), self.collection, path),
        )

    def remove(self, paths: list[str]) -> None:
        with self._transaction():
            for table in ("files", "articles"):
                self._db.executemany(
                    f"DELETE FROM {table} WHERE collection = ? AND path = ?", [(self.collection, p) for p in paths]
                )

    def sign(self, path: str, sha256: str, signed: Signed) -> None:
        """Record the near-duplicate signature of `path` at version `sha256` (see rag.index.duplicates)."""
        self._execute(
            "INSERT INTO articles (collection, path, sha256, signature, date, chars, title, outlet) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (collection, path) DO UPDATE SET sha256 = excluded.sha256, "
            "signature = excluded.signature, date = excluded.date, chars = excluded.chars, title = excluded.title, "
            "outlet = excluded.outlet",
            (self.collection, path, sha256, signed.signature, signed.date, signed.chars, signed.title, signed.outlet),
        )

    def signed(self) -> dict[str, tuple[str, Signed]]:
        """The signed files: path -> (the version signed, its signature)."""
        rows = self._execute(
            "SELECT path, sha256, signature, date, chars FROM articles WHERE collection = ?", (self.collection,)
        )
        return {path: (sha, Signed(path, bytes(sig), date, chars)) for path, sha, sig, date, chars in rows}

    def about(self) -> dict[str, tuple[str, str, str]]:
        """The signed files' (title, date, outlet), by path ("" where unknown); none in a read-only manifest written
        before articles were signed."""
        try:
            rows = self._execute(
                "SELECT path, title, date, outlet FROM articles WHERE collection = ?", (self.collection,)
            )
        except sqlite3.OperationalError:  # no such table
            return {}
        return {path: (title, date, outlet) for path, title, date, outlet in rows}

    def set_copies(self, groups: list[tuple[str, ...]]) -> None:
        """Record the groups of copies (paths, main copy first); every other file is in none."""
        with self._transaction():
            self._db.execute("UPDATE articles SET main = '' WHERE collection = ?", (self.collection,))
            self._db.executemany(
                "UPDATE articles SET main = ? WHERE collection = ? AND path = ?",
                [(group[0], self.collection, path) for group in groups for path in group],
            )

    def copies(self) -> dict[str, tuple[str, ...]]:
        """Each file in a group of copies -> the group's paths, main copy first, the others by path. A read-only
        manifest written before copies were looked for has none."""
        try:
            rows = self._execute(
                "SELECT main, path FROM articles WHERE collection = ? AND main != '' ORDER BY path", (self.collection,)
            )
        except sqlite3.OperationalError:  # no such table
            return {}
        members: dict[str, list[str]] = {}
        for main, path in rows:
            members.setdefault(main, [main]).extend([path] if path != main else [])
        return {path: tuple(group) for group in members.values() for path in group}

    def collections(self) -> set[str]:
        return {row[0] for row in self._execute("SELECT DISTINCT collection FROM files")}

    def note(self, key: str) -> str:
        """A fact recorded about this collection ("" if none), e.g. that a migration of its chunks is done."""
        rows = self._execute("SELECT value FROM notes WHERE collection = ? AND key = ?", (self.collection, key))
        return str(rows[0][0]) if rows else ""

    def set_note(self, key: str, value: str) -> None:
        self._execute(
            "INSERT INTO notes (collection, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value",
            (self.collection, key, value),
        )

    def integrity(self) -> str:
        """ "" if SQLite finds the file sound, else its first complaint."""
        result = str(self._execute("PRAGMA quick_check")[0][0])
        return "" if result == "ok" else result

    def data_version(self) -> int:
        """A number that changes whenever another connection (process, or pipeline in this one) commits here."""
        return int(self._execute("PRAGMA data_version")[0][0])

    def drop_collection(self, collection: str) -> None:
        self._execute("DELETE FROM files WHERE collection = ?", (collection,))
        self._execute("DELETE FROM notes WHERE collection = ?", (collection,))
        self._execute("DELETE FROM articles WHERE collection = ?", (collection,))

    def _execute(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
