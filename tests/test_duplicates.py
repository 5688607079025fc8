"""Near-duplicate articles: grouped at ingest (MinHash), one copy shown by search, the earliest one cited."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from rag.index.duplicates import Signed, groups, signature, similarity
from rag.pipeline import Pipeline

from .conftest import COMMENTARY, NEWS, run_cli
from .test_app import as_shown, start

COPY = "2025-06-11_wire_london-talks.txt"
QUESTION = "How many hours did Tuesday's talks last?"


def _wire_copy(corpus: Path) -> str:
    """The news report as a second outlet carries it a day later: its own first line, no source lines."""
    text = (corpus / NEWS).read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if not line.startswith(("Original source", "Disclaimer"))]
    copy = "\n".join(["LONDON (Wire Service) - Syndicated from our partners.", *kept])
    (corpus / COPY).write_text(copy, encoding="utf-8")
    return copy


def test_copies_group_and_the_earliest_fullest_comes_first(corpus: Path) -> None:
    news = (corpus / NEWS).read_text(encoding="utf-8")
    copy = _wire_copy(corpus)
    other = (corpus / COMMENTARY).read_text(encoding="utf-8")
    assert similarity(signature(news), signature(copy)) >= 0.8
    assert similarity(signature(news), signature(other)) < 0.2
    articles = [
        Signed("copy.txt", signature(copy), "2025-06-11", len(copy)),
        Signed("news.txt", signature(news), "2025-06-10", len(news)),
        Signed("other.txt", signature(other), "2025-06-10", len(other)),
    ]
    assert groups(articles) == [("news.txt", "copy.txt")]
    same_day = [Signed(a.path, a.signature, "2025-06-10", a.chars) for a in articles]
    longer = "copy.txt" if len(copy) > len(news) else "news.txt"
    assert groups(same_day)[0][0] == longer  # the fullest copy of one day
    assert groups([a for a in articles if a.path != "news.txt"]) == []


def test_search_shows_one_copy_and_answers_cite_the_earliest(
    make_pipeline: Callable[..., Pipeline], corpus: Path
) -> None:
    _wire_copy(corpus)
    pipeline = make_pipeline(llm="extractive")
    pipeline.ingest()
    hits = pipeline.search(QUESTION, k=6)
    names = [Path(h.source).name for h in hits]
    assert COPY not in names and NEWS in names
    assert all(Path(p).name == COPY for h in hits if Path(h.source).name == NEWS for p in h.copies)
    assert next(h for h in hits if Path(h.source).name == NEWS).copies
    assert all(not h.copies for h in hits if Path(h.source).name == COMMENTARY)
    answer = pipeline.ask(QUESTION)
    assert not answer.refused and "five hours" in answer.answer
    assert {Path(c.source).name for c in answer.citations} == {NEWS}
    assert all([Path(p).name for p in c.copies] == [COPY] for c in answer.citations)  # "also in" under a citation

    summary = pipeline.summarize([NEWS, COPY, COMMENTARY])  # the copy's facts are not summarized twice
    assert [Path(s).name for s in summary.sources] == [NEWS, COMMENTARY]

    # a copy asked for by name is searched, and the copy is what is left once the original is gone
    assert {Path(h.source).name for h in pipeline.search(QUESTION, k=3, source=COPY)} == {COPY}
    (corpus / NEWS).unlink()
    pipeline.ingest()
    hits = pipeline.search(QUESTION, k=6)
    assert COPY in [Path(h.source).name for h in hits]
    assert not any(h.copies for h in hits)


def test_an_index_from_before_is_signed_without_embedding(
    make_pipeline: Callable[..., Pipeline], corpus: Path, tmp_path: Path
) -> None:
    _wire_copy(corpus)
    pipeline = make_pipeline(llm="extractive")
    pipeline.ingest()
    pipeline.close()
    with sqlite3.connect(tmp_path / "data" / "manifest.sqlite") as db:  # as an index written before copies
        db.execute("DELETE FROM articles")
        db.execute("DELETE FROM notes WHERE key = 'copies'")
    pipeline = make_pipeline(llm="extractive")
    report = pipeline.ingest()
    assert report.unchanged == 3 and report.chunks_embedded == 0
    assert COPY not in [Path(h.source).name for h in pipeline.search(QUESTION, k=6)]


def test_search_in_the_terminal_and_json_names_the_copies(corpus: Path, tmp_path: Path) -> None:
    _wire_copy(corpus)
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data")}
    assert run_cli("ingest", "--quiet", env=env, cwd=tmp_path)[0] == 0
    code, out, err = run_cli("search", QUESTION, "-k", "2", env=env, cwd=tmp_path)
    assert code == 0, err
    assert any(line.strip().startswith("also in 1 other article:") and COPY in line for line in out.splitlines())
    code, out, err = run_cli("search", QUESTION, "-k", "2", "--json", env=env, cwd=tmp_path)
    news = [h for h in json.loads(out) if Path(h["source"]).name == NEWS]
    assert news and all([Path(p).name for p in h["copies"]] == [COPY] for h in news)


def test_the_chat_says_which_other_articles_hold_a_cited_passage(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _wire_copy(corpus)
    app = start(tmp_path, monkeypatch, corpus)
    app.chat_input[0].set_value(QUESTION).run()
    assert not app.exception
    cited = [e for e in app.expander if NEWS in as_shown(e.label)]
    assert cited and all(as_shown(e.label).endswith("· 1 copy") for e in cited)
    captions = [as_shown(c.value) for e in cited for c in e.caption]
    assert any(c.startswith("also in 1 other article:") and COPY in c for c in captions)
