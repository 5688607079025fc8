"""`python -m rag import`: JSON Lines of articles into the corpus folder as Markdown with front matter, by URL
once, never overwriting, bad records skipped with their line numbers; then searchable with date, URL and
outlet. Real processes (the CLI), real Chroma and MiniLM."""

from __future__ import annotations

import json
from pathlib import Path

from rag.index import documents

from .conftest import run_cli

GOOD = {
    "url": "https://www.example-news.com/2024/03/04/quokka-festival/",
    "title": "Quokka festival draws record crowd",
    "text": "The Quokka festival in Perth drew a record 40,000 visitors on Saturday, organisers said.",
    "publish_date": "2024/03/04",
    "authors": ["A. Writer"],
}


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n")
    return path


def test_import_writes_markdown_once_per_url_and_skips_bad_records(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    source = _jsonl(
        tmp_path / "articles.jsonl",
        [
            GOOD,
            {**GOOD, "url": GOOD["url"] + "#comments"},  # the same article
            "{not json",
            '["not", "an", "object"]',
            {"url": "https://x.example/empty", "title": "Empty", "text": "   "},
            {**GOOD, "url": "https://other.example/quokka", "text": "Another outlet's report on the Quokka festival."},
        ],
    )
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_LLM": "extractive"}
    code, out, err = run_cli("import", str(source), "--json", env=env)
    assert code == 0, err
    report = json.loads(out)
    assert report["imported"] == 2 and report["duplicates"] == 1
    assert report["skipped"] == [
        {"line": 3, "reason": "not valid JSON (Expecting property name enclosed in double quotes at column 2)"},
        {"line": 4, "reason": "not a JSON object"},
        {"line": 5, "reason": "no text in field 'text'"},
    ]
    assert report["files"] == [
        "2024-03-04_quokka-festival-draws-record-crowd.md",
        "2024-03-04_quokka-festival-draws-record-crowd-2.md",  # same date and title, another article: not overwritten
    ]
    assert report["ingest"]["files_added"] == 2
    article = documents.load(corpus / report["files"][0])
    assert (article.title, article.date, article.url, article.outlet) == (
        GOOD["title"],
        "2024-03-04",
        GOOD["url"],
        "example-news.com",
    )
    code, out, _ = run_cli("search", "record 40,000 visitors in Perth", "-k", "1", "--json", env=env)
    hit = json.loads(out)[0]
    assert (hit["date"], hit["outlet"], hit["url"]) == ("2024-03-04", "example-news.com", GOOD["url"])

    code, out, _ = run_cli("import", str(source), "--json", "--no-ingest", env=env)
    again = json.loads(out)
    assert (again["imported"], again["duplicates"]) == (0, 3)  # every URL is in the corpus now


def test_a_list_of_records_per_line_is_read(tmp_path: Path) -> None:
    """RealTime QA's search results: one line per question, its articles in `search_result`."""
    from rag.importing import Fields, import_jsonl

    source = _jsonl(tmp_path / "gcs.jsonl", [{"question_id": "q1", "search_result": [GOOD, GOOD]}, {"x": 1}])
    report = import_jsonl(source, tmp_path / "corpus", Fields(list_field="search_result"))
    assert len(report.imported) == 1 and report.duplicates == 1
    assert report.skipped == [{"line": 2, "reason": "no list in field 'search_result'"}]


def test_a_byte_order_mark_a_nul_in_a_title_and_records_without_urls(tmp_path: Path) -> None:
    """The first record after a byte-order mark is read; control characters leave titles (a NUL would make the
    file read as binary and skipped); records without a URL are duplicates when the same file is there."""
    from rag.importing import import_jsonl

    corpus = tmp_path / "corpus"
    source = tmp_path / "articles.jsonl"
    records = [
        {"title": "Quokka\x00 festival", "text": "The festival drew 40,000 visitors.", "publish_date": "2024/03/04"},
        {"title": "Walrus census", "text": "Twelve walruses were counted.", "publish_date": "2024/03/05"},
        {"title": "Walrus census", "text": "A recount found fifteen.", "publish_date": "2024/03/05"},
    ]
    source.write_bytes(b"\xef\xbb\xbf" + "\n".join(json.dumps(r) for r in records).encode())
    first = import_jsonl(source, corpus)
    assert len(first.imported) == 3 and not first.skipped, first
    quokka = documents.load(corpus / first.imported[0])
    assert quokka.title == "Quokka festival" and "\x00" not in (corpus / first.imported[0]).read_text()
    again = import_jsonl(source, corpus)
    assert (again.imported, again.duplicates) == ([], 3)  # by content: no URL to know them by
