"""Reading files: normalised text, metadata, and a clear reason for every file that is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.index import documents
from rag.index.documents import SkipFile

from .conftest import COMMENTARY, NEWS, SEED


def test_seed_articles_read_as_their_text_with_title_and_date() -> None:
    article = documents.load(SEED / NEWS)
    assert article.text == (SEED / NEWS).read_text().strip()
    assert article.date == "2025-06-10"
    assert article.title == "News: london talks day two"
    assert documents.load(SEED / COMMENTARY).title == "Commentary: besant leaves london talks"


def test_normalise_tidies_whitespace_only() -> None:
    assert documents.normalise("  a \t b\r\nc\r\n\r\n\r\n\r\nd  \n") == "a b\nc\n\nd"
    assert documents.normalise("Café — “quoted”") == "Café — “quoted”"


def test_html_keeps_the_article_and_drops_boilerplate(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Talks in London</title><script>var x = 1;</script>"
        '<meta property="article:published_time" content="2025-06-11T08:00:00Z"></head>'
        "<body><nav>Home | World | Sport</nav><header>Site banner</header>"
        "<article><h1>Talks resume</h1><p>The talks <b>resumed</b> at 8 PM.</p><p>Second&nbsp;paragraph.</p>"
        "</article><aside>Related stories</aside><footer>Copyright</footer></body></html>"
    )
    article = documents.load(page)
    assert article.text == "Talks resume\n\nThe talks resumed at 8 PM.\n\nSecond paragraph."
    assert article.title == "Talks in London"
    assert article.date == "2025-06-11"


def test_markdown_front_matter_gives_title_and_date(tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("---\ntitle: 'Rare earths'\ndate: 2025-06-12\n---\n# Heading\n\nBody text.\n")
    article = documents.load(note)
    assert (article.title, article.date) == ("Rare earths", "2025-06-12")
    assert article.text == "# Heading\n\nBody text."


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("A PDF article")
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 10, "Export licences for rare earth magnets were discussed.")
    path = tmp_path / "paper.pdf"
    pdf.output(str(path))
    article = documents.load(path)
    assert "rare earth magnets" in article.text
    assert article.title == "A PDF article"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"  \n\n ", "empty file"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("latin1.txt", "caf\xe9 au lait".encode("latin-1"), "not valid UTF-8"),
        ("notes.docx", b"PK\x03\x04", "unsupported file type .docx"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
        ("scripts.html", b"<html><script>only()</script></html>", "no text found"),
    ],
)
def test_bad_files_are_skipped_with_a_reason(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SkipFile, match=reason):
        documents.load(path)


def test_huge_file_is_skipped_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 100_000)
    with pytest.raises(SkipFile, match=r"too large .* RAG_MAX_FILE_MB"):
        documents.load(path, max_bytes=100_000)


def test_unreadable_file_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("text")

    def deny(self: Path) -> bytes:  # root reads anything, so simulate what chmod 000 does for a user
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(SkipFile, match="cannot read file"):
        documents.load(path)


def test_utf16_with_bom_and_utf8_bom_are_read(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes("\ufeffhello".encode())
    (tmp_path / "b.txt").write_bytes("hello".encode("utf-16"))
    assert documents.load(tmp_path / "a.txt").text == "hello"
    assert documents.load(tmp_path / "b.txt").text == "hello"


def test_url_and_outlet_come_from_front_matter_or_html_meta(tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("---\ntitle: Talks\ndate: 2024/03/04\nurl: https://www.cnn.com/a\n---\nBody text.\n")
    assert (documents.load(note).date, documents.load(note).outlet) == ("2024-03-04", "cnn.com")
    page = tmp_path / "page.html"
    page.write_text(
        '<html><head><meta property="og:site_name" content="The Example Times">'
        '<link rel="canonical" href="https://example.com/talks"></head><body><p>Talks resumed.</p></body></html>'
    )
    article = documents.load(page)
    assert (article.url, article.outlet) == ("https://example.com/talks", "The Example Times")


def test_dates_from_json_ld_time_elements_and_datelines(tmp_path: Path) -> None:
    ld = tmp_path / "ld.html"
    ld.write_text(
        '<html><head><script type="application/ld+json">{"@graph": [{"@type": "NewsArticle", '
        '"datePublished": "2024-02-29T10:00:00Z"}]}</script></head><body><p>Leap day news.</p></body></html>'
    )
    stamped = tmp_path / "time.html"
    stamped.write_text(
        '<html><body><article><time datetime="2024-03-04">4 March</time><p>Text.</p></article></body></html>'
    )
    wire = tmp_path / "wire.txt"
    wire.write_text("WASHINGTON, March 4, 2024 (Reuters) - Talks resumed on Monday, officials said.")
    assert [documents.load(p).date for p in (ld, stamped, wire)] == ["2024-02-29", "2024-03-04", "2024-03-04"]
