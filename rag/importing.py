"""Bring articles in from JSON Lines: each record becomes a Markdown file in the corpus folder.

A file is named by date and title (`2024-01-05_taiwan-election-analysis.md`) and starts with YAML front
matter (title, date, url, outlet, authors) that the reader turns back into the article's metadata. Records
are de-duplicated by URL, against each other and against the .md files already in the corpus folder; an
existing file is never overwritten (a different article with the same date and title gets `-2`, `-3`, ...).
A bad record (not JSON, not an object, no text) is skipped with its line number and the reason.

A line may hold one record, or a list of records under `list_field` (RealTime QA's search results:
`{"question_id", "search_result": [{"url", "title", "text", "publish_date", ...}, ...]}`).
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from rag.corpus import write_new
from rag.dates import iso_date
from rag.errors import RagError
from rag.index.documents import outlet_of


@dataclass(frozen=True)
class Fields:
    """Which keys of a record hold what; `list_field` names a list of records inside each line, if any."""

    text: str = "text"
    title: str = "title"
    date: str = "publish_date"
    url: str = "url"
    outlet: str = "outlet"
    authors: str = "authors"
    list_field: str = ""


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)  # file names written
    duplicates: int = 0  # records whose URL was already in the corpus or earlier in the file
    skipped: list[dict[str, Any]] = field(default_factory=list)  # {"line", "reason"}
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": len(self.imported),
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "files": self.imported,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        line = (
            f"{len(self.imported)} imported, {self.duplicates} duplicates (same URL), {len(self.skipped)} skipped; "
            f"{self.seconds:.1f} s"
        )
        return "\n".join([line, *(f"  skipped line {s['line']}: {s['reason']}" for s in self.skipped)])


def normalise_url(url: str) -> str:
    """A URL as compared for duplicates: no fragment, no trailing slash, lower-case scheme and host.

    >>> normalise_url("HTTPS://www.Example.com/a/b/#top")
    'https://www.example.com/a/b'
    """
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, ""))


def slug(title: str, limit: int = 80) -> str:
    """A file-name-safe form of a title.

    >>> slug("Taiwan's President Tsai Ing-wen: what's next?")
    'taiwans-president-tsai-ing-wen-whats-next'
    """
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_title.lower().replace("'", "").replace("\u2019", ""))
    text = "-".join(words)[:limit].rstrip("-")
    return text or "untitled"


def known_urls(corpus: Path) -> set[str]:
    """URLs in the front matter of the .md files already in the corpus folder (read from their first 4 KB;
    the folder walked as the ingest walks it)."""
    from rag.index.ingest import scan  # deferred: the ingest imports the store, and the store chromadb (seconds)

    return {url for _, path in scan(corpus).files if path.suffix.lower() == ".md" and (url := front_matter_url(path))}


def front_matter_url(path: Path) -> str:
    """The URL in a Markdown file's front matter (read from its first 4 KB), normalised; "" if none."""
    try:
        with path.open("rb") as f:
            head = f.read(4096).decode("utf-8", "ignore")
    except OSError:
        return ""
    match = re.search(r"^url:\s*['\"]?(\S+?)['\"]?\s*$", head, re.M) if head.startswith("---") else None
    return normalise_url(match.group(1)) if match else ""


def _records(path: Path, fields: Fields) -> Iterator[tuple[int, Any]]:
    """(line number, record) for every record in the file; a broken line yields (line, RagError)."""
    with path.open(encoding="utf-8-sig", errors="replace") as lines:  # -sig: a byte-order mark is not data
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                yield number, RagError(f"not valid JSON ({e.msg} at column {e.colno})")
                continue
            if fields.list_field:
                inner = row.get(fields.list_field) if isinstance(row, dict) else None
                if not isinstance(inner, list):
                    yield number, RagError(f"no list in field {fields.list_field!r}")
                    continue
                for record in inner:
                    yield number, record
            else:
                yield number, row


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # all but tab, line feed and carriage return


def _text(record: dict[str, Any], key: str) -> str:
    """The field's text, stripped, without control characters (a NUL in a title would make the written file
    read as binary and be skipped)."""
    value = record.get(key)
    return _CONTROL.sub("", value).strip() if isinstance(value, str) else ""


def markdown(record: dict[str, Any], fields: Fields) -> tuple[str, str, str]:
    """(file stem, Markdown text, normalised URL) for a record; RagError if it has no usable text."""
    text = _text(record, fields.text)
    if not text:
        raise RagError(f"no text in field {fields.text!r}")
    title = " ".join(_text(record, fields.title).split())
    url = _text(record, fields.url)
    date = iso_date(record.get(fields.date, "") or "")
    outlet = _text(record, fields.outlet) or outlet_of(url)
    authors = record.get(fields.authors)
    meta: dict[str, Any] = {"title": title or None, "date": date or None, "url": url or None, "outlet": outlet or None}
    if isinstance(authors, list) and all(isinstance(a, str) for a in authors) and authors:
        meta["authors"] = authors
    front = yaml.safe_dump({k: v for k, v in meta.items() if v}, allow_unicode=True, sort_keys=False, width=1000)
    body = f"# {title}\n\n{text}\n" if title else f"{text}\n"
    stem = f"{date or 'undated'}_{slug(title or text[:60])}"
    return stem, f"---\n{front}---\n{body}", normalise_url(url) if url else ""


def _already(corpus: Path, names: Sequence[str], text: str) -> bool:
    """Whether a file under one of `names` (those taken, in order) already holds exactly `text`."""
    for name in names:
        path = corpus / name
        if not path.exists():
            return False
        if path.read_bytes() == text.encode("utf-8"):
            return True
    return False


def import_jsonl(source: Path, corpus: Path, fields: Fields = Fields()) -> ImportReport:
    """Write every good record of `source` into `corpus` as Markdown (see the module docstring)."""
    if not source.is_file():
        raise RagError(f"{source} is not a file; give a .jsonl file of articles")
    started = time.perf_counter()
    corpus.mkdir(parents=True, exist_ok=True)
    report = ImportReport()
    seen = known_urls(corpus)
    for number, record in _records(source, fields):
        if isinstance(record, RagError):
            report.skipped.append({"line": number, "reason": str(record)})
            continue
        if not isinstance(record, dict):
            report.skipped.append({"line": number, "reason": "not a JSON object"})
            continue
        try:
            stem, text, url = markdown(record, fields)
        except RagError as e:
            report.skipped.append({"line": number, "reason": str(e)})
            continue
        if url and url in seen:
            report.duplicates += 1
            continue
        names = [f"{stem}.md" if n == 1 else f"{stem}-{n}.md" for n in range(1, 1000)]
        if not url and _already(corpus, names, text):  # no URL to know it by: the same file is the same record
            report.duplicates += 1
            continue
        try:
            report.imported.append(write_new(corpus, names, text.encode("utf-8")).name)
        except FileExistsError as e:
            raise RagError(f"too many articles named {stem}.md in {corpus}") from e
        if url:
            seen.add(url)
    report.seconds = time.perf_counter() - started
    return report
