"""Retrieval survives duplicates: files of repeated text beside the seed articles (the probes of the issue: a
300 KB file of near-identical paragraphs and a 5 MB file of one repeated sentence) leave dense search
deterministic and right; a degraded nearest-neighbour graph is found by `check`, and a rebuild from the stored
chunks keeps every chunk and every answer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rag.index import health
from rag.pipeline import Pipeline

from ..conftest import COMMENTARY, NEWS

QUERY = "rare earth export licences"


def _plant(corpus: Path) -> None:
    sentence = "The quarterly report shows steady growth in all regions. "
    (corpus / "repeated.txt").write_text(sentence * (5_000_000 // len(sentence)))
    paragraphs, n = [], 0
    while sum(map(len, paragraphs)) < 300_000:
        paragraphs.append(f"Item {n}: the committee met again and discussed the same agenda items as before.\n\n")
        n += 1
    (corpus / "near.txt").write_text("".join(paragraphs))


def test_files_of_repeated_text_do_not_take_over_dense_search(
    make_pipeline: Callable[..., Pipeline], corpus: Path
) -> None:
    _plant(corpus)
    pipeline = make_pipeline(llm="extractive")
    pipeline.ingest()
    assert len(pipeline.index.chunks("repeated.txt")) <= 5  # identical chunks of one file are stored once
    rankings = []
    for _ in range(4):
        hits = pipeline.search(QUERY, k=5)
        dense = sorted((h for h in hits if h.dense_rank), key=lambda h: h.dense_rank or 0)
        assert Path(dense[0].source).name in (NEWS, COMMENTARY)
        rankings.append([h.id for h in hits])
    assert all(r == rankings[0] for r in rankings)  # deterministic
    answer = pipeline.ask("How many hours did Tuesday's talks last?")
    assert not answer.refused and "five hours" in answer.answer
    findings, _ = pipeline.check()
    # HNSW's construction is random: with 300 KB of near-identical paragraphs it sometimes leaves the graph
    # degraded for the other files (1 CI run in about 8), and `check` then says so and how to repair it
    assert all(f.ok or (f.part == "vectors" and f.fix == health.REPAIR) for f in findings), findings

    (corpus / "repeated.txt").unlink()
    (corpus / "near.txt").unlink()
    report = pipeline.ingest()
    assert sorted(report.removed) == ["near.txt", "repeated.txt"]
    assert Path(pipeline.search(QUERY, k=1)[0].source).name in (NEWS, COMMENTARY)
    assert all(f.ok for f in pipeline.check()[0])


def test_check_finds_a_graph_that_identical_vectors_took_over(
    make_pipeline: Callable[..., Pipeline], tmp_path: Path
) -> None:
    """Written past the ingest (which stores a file's repeated text once): 3,000 copies of one vector, then
    the seed chunks, as an index built before that rule would hold them."""
    seeded = make_pipeline()
    seeded.ingest()
    pipeline = make_pipeline(data_dir=tmp_path / "crowded")
    vector = np.asarray(pipeline.embeddings.embed_query("The quarterly report shows steady growth."))
    ids = [f"crowd-{i}" for i in range(3000)]
    meta = {"source": "crowd.txt", "sha256": "x", "chunk": 0, "start": 0, "end": 1, "title": "", "date": ""}
    pipeline.index.store.upsert(ids, np.tile(vector, (3000, 1)), ["crowd"] * 3000, [meta] * 3000)
    for page in seeded.index.store.pages():
        pipeline.index.store.upsert(page["ids"], page["embeddings"], page["documents"], page["metadatas"])
    found = pipeline.index.store.similarity_search_with_score(QUERY, k=10)
    if any(doc.metadata["source"] != "crowd.txt" for doc, _ in found):  # HNSW's construction is random
        pytest.skip("HNSW built a whole graph this time (about 1 run in 6): there was nothing to detect")
    vectors = next(f for f in pipeline.check()[0] if f.part == "vectors")
    assert not vectors.ok and "degraded" in vectors.detail and vectors.fix == health.REPAIR


def test_a_rebuild_from_the_stored_chunks_keeps_every_chunk_and_answer(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipeline = make_pipeline()
    pipeline.ingest()
    before = [(h.id, h.dense_rank) for h in pipeline.search(QUERY, k=5)]
    count = pipeline.index.store.count()
    assert pipeline.index.rebuild_collection() == count
    assert pipeline.index.store.count() == count
    assert [(h.id, h.dense_rank) for h in pipeline.search(QUERY, k=5)] == before
    assert all(f.ok for f in make_pipeline().check()[0])


def _near_identical(corpus: Path, lines: int) -> None:
    text = "\n".join(f"Status line {n}: the pump at the station is running normally today." for n in range(lines))
    (corpus / "status-log.txt").write_text(text)


def test_an_ingest_that_crowds_the_index_measures_its_graph(
    make_pipeline: Callable[..., Pipeline], corpus: Path
) -> None:
    """The real check: a file of near-identical lines, most of the index, is followed by a recall measurement
    in the ingest itself (not only by `check`); a small addition afterwards is not measured."""
    _near_identical(corpus, 600)
    pipeline = make_pipeline(llm="extractive", chunk_size=48, chunk_overlap=8)
    report = pipeline.ingest()
    assert report.chunks_embedded >= 100 and report.vector_recall, report.to_json()
    assert report.vector_recall[-1] >= 0.9 and report.to_json()["vector_recall"] == [
        round(r, 3) for r in report.vector_recall
    ]
    (corpus / "note.txt").write_text("A short note about the harbour.")
    assert pipeline.ingest().vector_recall == []


@pytest.mark.parametrize("after", [0.97, 0.6])
def test_a_degraded_graph_found_at_ingest_is_rebuilt_and_the_report_says_so(
    make_pipeline: Callable[..., Pipeline], corpus: Path, embeddings: object, after: float
) -> None:
    """HNSW's construction is random, so the recall measurement is scripted here (through the index's
    constructor): 0.5 after the ingest, then `after` once the collection is rebuilt."""
    from rag.index.index import Index

    measured: list[int] = []
    values = iter([0.5, after])

    def recall(store: object) -> float:
        measured.append(len(pipeline.index.store.ids()))
        return next(values)

    _near_identical(corpus, 600)
    base = make_pipeline(llm="extractive", chunk_size=48, chunk_overlap=8)
    index = Index(base.settings, base.embeddings, display=base.corpus.display, recall=recall)
    pipeline = make_pipeline(llm="extractive", chunk_size=48, chunk_overlap=8, index=index)
    try:
        report = pipeline.ingest()
        chunks = len(index.store.ids())
        assert report.vectors_rebuilt and report.vector_recall == [0.5, after] and measured == [chunks, chunks]
        if after >= 0.9:
            assert (
                "had degraded (sampled recall 0.50; near-identical or deleted vectors): rebuilt it, recall now 0.97"
                in report.summary()
            )
        else:
            assert "is degraded (sampled recall 0.50, 0.60 after a rebuild)" in report.summary()
            assert "python -m rag check --repair" in report.summary()
        assert Path(pipeline.search("rare earth export licences", k=1)[0].source).name in (NEWS, COMMENTARY)
    finally:
        index.close()
