"""Date filters: --since/--until reach both retrievers (Chroma's where and BM25's mask), articles without a date
fall outside any bounded range, and an index made before filters existed gets its chunks' days without
embedding again. Real Chroma and MiniLM; the CLI for the options."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from rag.pipeline import Pipeline
from rag.types import Dates

from .conftest import run_cli

ARTICLES = {
    "january.md": ("2024-01-10", "Harbour repairs begin: crews started work on the sea wall in January."),
    "march.md": ("2024-03-04", "Harbour repairs finish: the sea wall work ended in March, the council said."),
    "undated.md": ("", "Harbour repairs: a report without a date about the sea wall work."),
}


def _write(corpus: Path) -> None:
    for name, (date, text) in ARTICLES.items():
        front = f"---\ndate: {date}\n---\n" if date else ""
        (corpus / name).write_text(f"{front}{text}\n")


@pytest.fixture
def dated(make_pipeline: Callable[..., Pipeline], corpus: Path) -> Pipeline:
    """An extractive pipeline over the seed articles and the three dated ones, ingested."""
    _write(corpus)
    pipeline = make_pipeline(llm="extractive")
    pipeline.ingest()
    return pipeline


def _names(hits: list) -> set[str]:  # type: ignore[type-arg]
    return {Path(h.source).name for h in hits}


def test_a_date_range_reaches_both_retrievers(dated: Pipeline) -> None:
    pipeline = dated
    query = "harbour sea wall repairs"
    assert {"january.md", "march.md", "undated.md"} <= _names(pipeline.search(query, k=10))
    after = pipeline.search(query, k=10, dates=Dates("2024-02-01", "2024-12-31"))
    assert _names(after) == {"march.md"}
    assert all(h.dense_rank for h in after) and all(h.bm25_rank for h in after)  # found by both, both filtered
    assert _names(pipeline.search(query, k=10, dates=Dates(until="2024-01-31"))) == {"january.md"}
    assert _names(pipeline.search(query, k=10, dates=Dates("2023-01-01", "2023-12-31"))) == set()
    answer = pipeline.ask("When did the harbour repairs end?", dates=Dates("2024-02-01", "2024-12-31"))
    assert {Path(c.source).name for c in answer.citations} <= {"march.md"}


def test_each_way_of_filtering_by_date_finds_the_same_passages(dated: Pipeline) -> None:
    """A small range is searched exactly, a wide one through a wider unfiltered search, and either way (and
    Chroma's own `where`, with which a range and a source are searched) the passages are the same."""
    from rag.index.search import HybridSearcher

    searcher = dated.index.searcher
    wide = HybridSearcher(
        dated.index.store, lambda: searcher.bm25, candidates=searcher.candidates, rrf_k=searcher.rrf_k, exact_chunks=0
    )
    for dates in (Dates("2024-02-01", "2024-12-31"), Dates(until="2024-01-31"), Dates("2025-06-01", "2025-06-30")):
        for query in ("harbour sea wall repairs", "rare earth export licences"):
            exact = [(h.id, h.dense_rank) for h in searcher.search(query, 10, dates=dates)]
            assert exact == [(h.id, h.dense_rank) for h in wide.search(query, 10, dates=dates)]
            for source in {h.source for h in searcher.search(query, 10, dates=dates)}:
                rel = dated.resolve_source(source)  # ranks are then among the file's passages: same passages
                narrowed = {h.id for h in searcher.search(query, 10, rel, dates)}
                assert narrowed == {i for i, _ in exact} & {h.id for h in dated.index.chunks(rel)}


def test_articles_dated_far_from_the_day_asked_about_weigh_less(
    make_pipeline: Callable[..., Pipeline], corpus: Path
) -> None:
    """The same question, asked about January or March, puts that month's article first; the answer's search
    takes the day asked about too; undated articles are not weighed, and a half-life of 0 weighs nothing."""
    _write(corpus)
    pipeline = make_pipeline(llm="extractive", recency_half_life_days=30)
    pipeline.ingest()
    query = "harbour sea wall repairs"

    def months(hits: list) -> list[str]:  # type: ignore[type-arg]
        return [n for n in (Path(h.source).name for h in hits) if n in ("january.md", "march.md")]

    assert months(pipeline.search(query, k=10, as_of=dt.date(2024, 1, 10))) == ["january.md", "march.md"]
    assert months(pipeline.search(query, k=10, as_of=dt.date(2024, 3, 4))) == ["march.md", "january.md"]
    for as_of, first in ((dt.date(2024, 1, 10), "january.md"), (dt.date(2024, 3, 4), "march.md")):
        asked = pipeline.ask("When did the harbour sea wall repairs happen?", as_of=as_of)
        retrieved = [Path(h["source"]).name for h in asked.trace["retrieved"]]
        assert next(n for n in retrieved if n in ("january.md", "march.md")) == first
    weighed = {h.id: h.score for h in pipeline.search(query, k=10, as_of=dt.date(2020, 1, 1))}
    pipeline.close()
    unweighed = make_pipeline(llm="extractive", recency_half_life_days=0)
    plain = [h.id for h in unweighed.search(query, k=10)]
    assert all(
        [h.id for h in unweighed.search(query, k=10, as_of=d)] == plain
        for d in (dt.date(2024, 1, 10), dt.date(2024, 3, 4))
    )
    undated = {h.id: h.score for h in unweighed.search(query, k=10) if h.source.endswith("undated.md")}
    assert undated and all(weighed[i] == score for i, score in undated.items())
    unweighed.close()


def test_an_index_from_before_date_filters_gets_its_days(make_pipeline: Callable[..., Pipeline], corpus: Path) -> None:
    _write(corpus)
    pipeline = make_pipeline()
    pipeline.ingest()
    store = pipeline.index.store
    chunks = store.get(include=["metadatas"])
    old = [{**m, "day": None} for m in chunks["metadatas"]]  # None deletes a key
    store._collection.update(ids=chunks["ids"], metadatas=old)  # as stored before: no `day`
    pipeline.index.manifest.set_note("days", "")
    in_2024 = Dates("2024-02-01", "2024-12-31")
    assert all("day" not in m for m in store.get(include=["metadatas"])["metadatas"])
    report = pipeline.ingest()
    assert report.chunks_embedded == 0
    assert all("day" in m for m in store.get(include=["metadatas"])["metadatas"])
    hits = pipeline.search("harbour", k=10, dates=in_2024)
    assert _names(hits) == {"march.md"} and all(h.dense_rank for h in hits)


def test_the_cli_takes_since_and_until_and_refuses_bad_dates(corpus: Path, tmp_path: Path) -> None:
    _write(corpus)
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_LLM": "extractive"}
    assert run_cli("ingest", "--quiet", env=env)[0] == 0
    code, out, _ = run_cli(
        "search", "harbour repairs", "--since", "2024-02-01", "--until", "2024-12-31", "--json", env=env
    )
    assert code == 0 and {Path(h["source"]).name for h in json.loads(out)} == {"march.md"}
    code, _, err = run_cli("search", "harbour", "--since", "last tuesday", env=env)
    assert code == 2 and err.strip() == "error: --since must be a date like 2024-03-04, not 'last tuesday'"
    for almost in ("2025-06-10; DROP TABLE", "2024/02/01", "2024-02-01 junk"):  # ISO dates only, whole
        code, _, err = run_cli("search", "harbour", "--since", almost, env=env)
        assert code == 2 and err.strip() == f"error: --since must be a date like 2024-03-04, not {almost!r}"
    code, _, err = run_cli("search", "harbour", "--until", "2025-06-10T08:00", env=env)  # not cut to its day
    assert code == 2 and "dated by the day" in err and err.count("\n") == 1
    code, _, err = run_cli("ask", "harbour?", "--since", "2024-05-01", "--until", "2024-01-01", env=env)
    assert code == 2 and "is after --until" in err


def test_last_week_in_a_question_ranks_that_range_first_and_the_note_says_so(dated: Pipeline) -> None:
    import datetime as dt

    answer = dated.ask("How did the harbour sea wall repairs go last week?", as_of=dt.date(2024, 3, 13))
    assert "preferred articles dated 2024-03-04 to 2024-03-13 (from 'last week')" in answer.note
    assert answer.trace["dates"] == {"since": "2024-03-04", "until": "2024-03-13", "phrase": "last week"}
    assert Path(answer.trace["retrieved"][0]["source"]).name == "march.md"
    march = [c for c in answer.citations if Path(c.source).name == "march.md"]
    assert march and all(c.date == "2024-03-04" and "2024-03-04" in c.about for c in march)


def test_a_date_phrase_in_a_question_never_filters_out_the_article_that_answers(dated: Pipeline, corpus: Path) -> None:
    """A phrase names when the event happened, not when its article appeared: the 2024 figures are in an
    article of January 2025, and "in June" is answered by an undated note. `--since/--until` still filter."""
    import datetime as dt

    (corpus / "railway.md").write_text(
        "---\ndate: 2025-01-15\n---\nThe coastal railway carried 12.4 million passengers in 2024, its operator said.\n"
    )
    (corpus / "orchard.md").write_text("The hill orchard picked 900 crates of cherries in June, the growers said.\n")
    dated.ingest()
    railway = dated.ask("How many passengers did the coastal railway carry in 2024?", as_of=dt.date(2025, 2, 1))
    assert not railway.refused and "12.4 million" in railway.answer, railway.note
    assert {Path(c.source).name for c in railway.citations} == {"railway.md"}
    cherries = dated.ask("How many crates of cherries did the hill orchard pick in June?", as_of=dt.date(2025, 8, 1))
    assert not cherries.refused and "900 crates" in cherries.answer, cherries.note
    filtered = dated.ask("How many passengers did the coastal railway carry?", dates=Dates("2024-01-01", "2024-12-31"))
    assert "railway.md" not in {Path(c.source).name for c in filtered.citations}


def test_a_summary_of_a_date_range_reads_only_its_articles(dated: Pipeline) -> None:
    pipeline = dated
    digest = pipeline.summarize(everything=True, dates=Dates("2024-01-01", "2024-12-31"))
    assert digest.title.startswith("The articles dated from 2024-01-01 to 2024-12-31: 2 articles, ")  # and its stories
    assert digest.bullets and all(b.kind == "story" for b in digest.bullets)
    assert {Path(c.source).name for c in digest.citations} <= {"january.md", "march.md"}
    topic = pipeline.summarize(topic="sea wall", dates=Dates("2024-02-01", "2024-12-31"))
    assert {Path(c.source).name for c in topic.citations} == {"march.md"}
    empty = pipeline.summarize(everything=True, dates=Dates("2023-01-01", "2023-12-31"))
    assert not empty.bullets and "no indexed article is dated within the range" in empty.note
