"""Read articles (.txt .md .html .pdf) into normalised text plus a little metadata.

The normalised text is the reference every character span points into: `load(path).text[start:end]` is the
quoted passage. For .txt and .md it is the file's text with whitespace tidied (line endings, runs of spaces,
blank lines) and NUL characters removed; for .html it is the visible text of the page without scripts,
navigation, headers, footers, asides and hidden elements (`hidden`, `aria-hidden`, inline `display:none` or
`visibility:hidden`; styles from stylesheets are not evaluated); for .pdf it is pypdf's extracted text page by
page. Scanned PDFs (no text layer) are not OCRed. Metadata that does not parse (a date that is not a date) is
dropped, not stored.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from rag.dates import iso_date

logger = logging.getLogger(__name__)

SUPPORTED = (".txt", ".md", ".html", ".htm", ".pdf")


class SkipFile(Exception):
    """A file that cannot be indexed; the message says why and, where possible, what to do."""


@dataclass(frozen=True)
class Article:
    text: str
    title: str
    date: str  # ISO date (YYYY-MM-DD) or "" when none was found
    url: str = ""
    outlet: str = ""


def normalise(text: str) -> str:
    """Tidy whitespace: one newline style, single spaces, no trailing blanks, at most one empty line.

    >>> normalise("a \\t b\\r\\n\\r\\n\\r\\n\\nc  ")
    'a b\\n\\nc'
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[^\S\n]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def title_from_name(path: Path) -> str:
    """A readable title from a file name: `2025-06-10_news_london-talks.txt` -> `News: london talks`."""
    stem = re.sub(r"^\d{4}-\d{2}(-\d{2})?[_ -]*", "", path.stem)
    kind, _, rest = stem.partition("_")
    words = (rest or kind).replace("-", " ").replace("_", " ").strip()
    if rest:
        return f"{kind.replace('-', ' ').capitalize()}: {words}"
    return words.capitalize() or path.name


def date_from_name(path: Path) -> str:
    match = re.match(r"(\d{4}-\d{2}-\d{2})", path.name)
    return iso_date(match.group(1)) if match else ""


def outlet_of(url: str) -> str:
    """The publisher's host name: `https://www.cnn.com/...` -> `cnn.com`.

    >>> outlet_of("https://www.cnn.com/2022/11/27/asia/x.html"), outlet_of("not a url")
    ('cnn.com', '')
    """
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:  # a malformed URL (e.g. an unclosed [ in the host)
        return ""
    return host.removeprefix("www.")


_MONTH_NUMBERS = {
    name: n
    for n, names in enumerate(
        [
            (),
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for name in names
}
_WRITTEN_DATE = re.compile(
    r"\b(?:(?P<month>[A-Z][a-z]{2,8})\.? (?P<day>\d{1,2}),? (?P<year>(?:19|20)\d{2})"
    r"|(?P<day2>\d{1,2}) (?P<month2>[A-Z][a-z]{2,8})\.? (?P<year2>(?:19|20)\d{2}))\b"
)


def dateline(text: str, within: int = 300) -> str:
    """The date of a dateline near the start of an article ("WASHINGTON, March 4, 2024 -", "4 March 2024"), as
    an ISO date, or "". Only the first `within` characters are read: later dates are what the article is about.

    >>> dateline("WASHINGTON, March 4, 2024 (Reuters) - Talks resumed."), dateline("Talks resumed on Monday.")
    ('2024-03-04', '')
    >>> dateline("By A. Writer\\n12 Sept 2023\\nThe council met.")
    '2023-09-12'
    """
    head = text[:within]
    if match := re.search(r"\b(?:19|20)\d{2}-\d{2}-\d{2}\b", head):
        return iso_date(match.group(0))
    for match in _WRITTEN_DATE.finditer(head):
        month = _MONTH_NUMBERS.get((match.group("month") or match.group("month2")).lower())
        day, year = match.group("day") or match.group("day2"), match.group("year") or match.group("year2")
        if month:
            try:
                return dt.date(int(year), month, int(day)).isoformat()
            except ValueError:
                continue
    return ""


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or BOM-marked UTF-16; anything else is refused, not guessed."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise SkipFile(f"not valid UTF-16 ({e.reason} at byte {e.start})") from e
    if b"\x00" in data[:8192]:
        raise SkipFile("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig").replace("\x00", "")  # a stray NUL further in: dropped, never stored
    except UnicodeDecodeError as e:
        raise SkipFile(f"not valid UTF-8 (byte {data[e.start]:#04x} at offset {e.start}); re-save it as UTF-8") from e


def front_matter(block: str, path: Path) -> dict[str, Any]:
    """The YAML front matter's mapping; {} (and a log line) when it is not a YAML mapping."""
    try:
        meta = yaml.safe_load(block)
    except yaml.YAMLError:
        logger.info("front matter of %s is not valid YAML; its metadata is ignored", path)
        return {}
    return meta if isinstance(meta, dict) else {}


def _read_markdown(data: bytes, path: Path) -> Article:
    text = decode(data).replace("\r\n", "\n")
    meta: dict[str, Any] = {}
    front = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if front:
        meta = front_matter(front.group(1), path)
        text = text[front.end() :]
    title, url, outlet = (meta[k].strip() if isinstance(meta.get(k), str) else "" for k in ("title", "url", "outlet"))
    heading = re.search(r"^#\s+(.+)$", text, re.M)
    title = title or (heading.group(1).strip() if heading else "")
    return Article(normalise(text), title, iso_date(meta.get("date", "")), url, outlet or outlet_of(url))


_DROP_TAGS = [
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "iframe",
    "button",
    "select",
    "head",
]
_INLINE_TAGS = [
    "a",
    "abbr",
    "b",
    "cite",
    "code",
    "em",
    "i",
    "mark",
    "q",
    "s",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "time",
    "u",
]


def _read_html(data: bytes, path: Path) -> Article:
    from bs4 import BeautifulSoup  # deferred: only HTML needs it (a tenth of a second to import)

    soup = BeautifulSoup(decode(data), "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    meta_title = soup.find("meta", attrs={"property": "og:title"})
    if meta_title and meta_title.get("content"):
        title = str(meta_title["content"]).strip()
    meta_date = soup.find("meta", attrs={"property": "article:published_time"})
    date = iso_date(meta_date["content"]) if meta_date and meta_date.get("content") else ""
    date = date or _json_ld_date(soup)
    if not date and (stamp := soup.find("time", attrs={"datetime": True})):
        date = iso_date(stamp["datetime"])
    canonical = soup.find("link", rel="canonical")
    url = _meta(soup, "og:url") or (str(canonical.get("href") or "") if canonical else "")
    outlet = _meta(soup, "og:site_name") or outlet_of(url)
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        if not tag.decomposed:  # not inside a hidden element already removed
            tag.decompose()
    body = soup.find("article") or soup.find("main") or soup.body or soup
    for tag in body.find_all(_INLINE_TAGS):
        tag.unwrap()
    _merge_strings(body)
    text = body.get_text("\n\n")
    if not title:
        h1 = body.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else ""
    return Article(normalise(text), title, date, url.strip(), outlet)


def _json_ld_date(soup: Any) -> str:
    """`datePublished` from the page's JSON-LD (schema.org) blocks, the first that parses, or ""."""
    for block in soup.find_all("script", attrs={"type": "application/ld+json"}):
        try:
            data = json.loads(block.string or "")
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                if date := iso_date(item.get("datePublished", "")):
                    return date
                stack.extend(v for v in item.values() if isinstance(v, list | dict))
    return ""


def _meta(soup: Any, prop: str) -> str:
    tag = soup.find("meta", attrs={"property": prop})
    return str(tag["content"]).strip() if tag and tag.get("content") else ""


_HIDING_STYLE = re.compile(
    r"(display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0+(\.0*)?[a-z%]*\s*(;|!|$))", re.I
)


def _is_hidden(tag: Any) -> bool:
    """An element a browser would not show: text in it is not part of the article (a place to hide
    instructions to a model)."""
    return (
        tag.has_attr("hidden")
        or str(tag.get("aria-hidden", "")).lower() == "true"
        or bool(_HIDING_STYLE.search(str(tag.get("style", ""))))
    )


def _merge_strings(root: Any) -> None:
    """Join neighbouring strings (left by unwrapped inline tags) so get_text puts no break between them.
    BeautifulSoup's `smooth()` does this recursively and overflows Python's stack on deeply nested pages."""
    from bs4 import NavigableString  # deferred, as in _read_html

    for tag in [root, *root.find_all(True)]:
        run: list[Any] = []
        for child in [*tag.contents, None]:
            if type(child) is NavigableString:
                run.append(child)
                continue
            if len(run) > 1:
                run[0].replace_with(NavigableString("".join(run)))
                for extra in run[1:]:
                    extra.extract()
            run = []


def _read_pdf(data: bytes, path: Path) -> Article:
    from pypdf import PdfReader  # deferred: only PDFs need it (a tenth of a second to import)

    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted and not reader.decrypt("")  # an empty user password opens in any viewer
        pages = [] if encrypted else [page.extract_text() or "" for page in reader.pages]
    except Exception as e:  # pypdf raises many kinds on broken files; all mean the same to the user
        logger.info("pypdf could not read %s", path, exc_info=True)
        raise SkipFile(f"unreadable PDF ({type(e).__name__}: {e})") from e
    if encrypted:
        raise SkipFile("encrypted PDF; save an unencrypted copy")
    meta = reader.metadata
    title = str(meta.title).strip() if meta and meta.title else ""
    try:
        created = meta.creation_date if meta else None
    except ValueError:  # a malformed date string in the PDF's metadata
        created = None
    date = iso_date(created) if created else ""
    text = normalise("\n\n".join(pages))
    if not text:
        raise SkipFile("PDF has no text layer (scanned?); OCR it first")
    return Article(text, title, date)


def _read_text(data: bytes, path: Path) -> Article:
    return Article(normalise(decode(data)), "", "")


_READERS = {".txt": _read_text, ".md": _read_markdown, ".html": _read_html, ".htm": _read_html, ".pdf": _read_pdf}


def read(path: Path, max_bytes: int | None = None) -> bytes:
    """The file's bytes, or SkipFile for what should not be indexed (unsupported, too large, unreadable, empty)."""
    if path.suffix.lower() not in _READERS:
        raise SkipFile(f"unsupported file type {path.suffix or '(none)'}; supported: {' '.join(SUPPORTED)}")
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise SkipFile(
                f"too large ({size / 2**20:.1f} MB > {max_bytes / 2**20:.1f} MB); raise RAG_MAX_FILE_MB to include it"
            )
        data = path.read_bytes()
    except OSError as e:
        raise SkipFile(f"cannot read file ({e.strerror or e})") from e
    if not data.strip():
        raise SkipFile("empty file")
    return data


def parse(path: Path, data: bytes) -> Article:
    """The article in `data` (read from `path`); SkipFile when it holds no usable text."""
    article = _READERS[path.suffix.lower()](data, path)
    if not article.text:
        raise SkipFile("no text found in file")
    title = article.title or title_from_name(path)
    date = article.date or date_from_name(path) or dateline(article.text)
    return Article(article.text, title, date, article.url, article.outlet)


def load(path: Path, max_bytes: int | None = None) -> Article:
    """Read and parse one article. Raises SkipFile, with the reason, for anything that should not be indexed."""
    return parse(path, read(path, max_bytes))
