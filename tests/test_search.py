"""Hybrid search on the seed corpus: the right article for seed questions, filters, spans, and errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rag.errors import RagError
from rag.index import documents
from rag.pipeline import Pipeline

from .conftest import COMMENTARY, NEWS


@pytest.fixture
def pipeline(make_pipeline: Callable[..., Pipeline]) -> Pipeline:
    pipeline = make_pipeline()
    pipeline.ingest()
    return pipeline


@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("Where did the talks take place, at which palace?", NEWS),
        ("Which Chinese official called the talks professional and candid?", NEWS),
        ("How many hours did Tuesday's talks last?", NEWS),
        ("What is China's strategy with the rare earth card?", COMMENTARY),
        ("Which items would the US cancel export controls on?", NEWS),
        ("What does the phrase 'take it slow' highlight?", COMMENTARY),
    ],
)
def test_seed_questions_find_the_right_article(pipeline: Pipeline, question: str, article: str) -> None:
    """The article holding the answer is among the top two passages (of seven)."""
    sources = [Path(h.source).name for h in pipeline.search(question, k=2)]
    assert article in sources


def test_rare_earth_licences_come_from_both_articles_with_exact_spans(pipeline: Pipeline, corpus: Path) -> None:
    hits = pipeline.search("rare earth licences", k=5)
    assert {Path(h.source).name for h in hits} == {NEWS, COMMENTARY}
    for hit in hits:
        assert documents.load(Path(hit.source)).text[hit.start : hit.end] == hit.text
        assert hit.dense_rank or hit.bm25_rank
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_source_filter_accepts_the_ways_users_name_a_file(pipeline: Pipeline, corpus: Path) -> None:
    for given in (COMMENTARY, f"{corpus}/{COMMENTARY}", str(corpus / COMMENTARY)):
        hits = pipeline.search("Lancaster Palace export licences", k=3, source=given)
        assert hits and all(Path(h.source).name == COMMENTARY for h in hits)
    with pytest.raises(RagError, match="not an indexed file"):
        pipeline.search("anything", source="nope.txt")


def test_search_survives_a_stale_bm25_index(pipeline: Pipeline, corpus: Path) -> None:
    import shutil

    shutil.rmtree(pipeline.index.bm25_dir)
    hits = pipeline.search("Li Chenggang", k=1)
    assert hits[0].bm25_rank == 1 and Path(hits[0].source).name == NEWS


def test_a_searcher_sees_what_another_pipeline_indexed(
    pipeline: Pipeline, make_pipeline: Callable[..., Pipeline], corpus: Path
) -> None:
    assert not any("sardine" in h.text for h in pipeline.search("sardine quota"))  # the searcher is built
    (corpus / "fish.txt").write_text("The Lisbon summit cut the sardine quota by 12 percent on Friday.\n")
    make_pipeline().ingest()  # another pipeline (as the chat's other backends, or the CLI) re-indexes
    hit = pipeline.search("sardine quota", k=1)[0]
    assert hit.source.endswith("fish.txt") and hit.bm25_rank == 1  # BM25 too, not only Chroma, sees it


def test_pipelines_sharing_one_index_see_each_others_ingests(
    pipeline: Pipeline, make_pipeline: Callable[..., Pipeline], corpus: Path
) -> None:
    """The chat page's case: one Index per data folder, a pipeline per backend on top of it."""
    other = make_pipeline(llm="extractive", index=pipeline.index)
    assert other.index is pipeline.index
    assert not any("sardine" in h.text for h in other.search("sardine quota"))  # the shared searcher is built
    (corpus / "fish.txt").write_text("The Lisbon summit cut the sardine quota by 12 percent on Friday.\n")
    pipeline.ingest()  # the same SQLite connection: SQLite's data_version does not change for it
    hit = other.search("sardine quota", k=1)[0]
    assert hit.source.endswith("fish.txt") and hit.bm25_rank == 1


def test_empty_index_and_empty_query_are_clear_errors(make_pipeline: Callable[..., Pipeline]) -> None:
    with pytest.raises(RagError, match="index is empty"):
        make_pipeline().search("rare earths")
    with pytest.raises(RagError, match="query is empty"):
        make_pipeline().search("   ")


def test_retriever_gives_langchain_documents_with_spans(pipeline: Pipeline) -> None:
    docs = pipeline.library.retriever(k=2).invoke("congressional hearing in Washington")
    assert len(docs) == 2
    assert {"source", "start", "end", "score"} <= set(docs[0].metadata)


class _TiedStore:
    """Dense search that finds only the older article; BM25 (below) finds only the newer one: their passages tie
    in reciprocal rank fusion (each is rank 1 in one retriever)."""

    def __init__(self) -> None:
        from langchain_core.documents import Document

        meta = {"start": 0, "end": 10, "title": "", "url": "", "outlet": ""}
        self.docs = {
            "old": Document("Talks opened.", id="old", metadata={**meta, "source": "old.md", "day": 20240101}),
            "new": Document("Talks closed.", id="new", metadata={**meta, "source": "new.md", "day": 20240301}),
        }

    def similarity_search_with_score(self, query: str, k: int, filter: object = None) -> list[tuple[object, float]]:
        return [(self.docs["old"], 0.2)]

    def get_by_ids(self, ids: list[str]) -> list[object]:
        return [self.docs[i] for i in ids]


class _TiedBM25:
    def search(self, query: str, n: int, source: object = None, bounds: object = None) -> list[tuple[str, float]]:
        return [("new", 3.0)]


def test_newer_articles_win_ties_when_the_latest_is_asked_for() -> None:
    from rag.dates import asks_for_latest
    from rag.index.search import HybridSearcher

    searcher = HybridSearcher(_TiedStore(), _TiedBM25, candidates=10, rrf_k=60)  # type: ignore[arg-type]
    assert [h.source for h in searcher.search("talks", 2)] == ["old.md", "new.md"]  # dense first: as fused
    assert [h.source for h in searcher.search("talks", 2, newest_first=True)] == ["new.md", "old.md"]
    assert asks_for_latest("Where do the talks stand now?") and not asks_for_latest("Where were the talks held?")
