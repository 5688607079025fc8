"""Incremental ingest into a real Chroma on a temp folder, with the real MiniLM."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rag.errors import RagError
from rag.index.store import chunk_counts
from rag.pipeline import Pipeline

from .conftest import COMMENTARY, NEWS

MakePipeline = Callable[..., Pipeline]


def assert_consistent(pipeline: Pipeline) -> None:
    """Every file in the manifest is done and has exactly its chunks, of one version, in the collection."""
    entries = pipeline.index.manifest.entries()
    counts = chunk_counts(pipeline.index.store)
    assert all(e.state == "done" for e in entries.values())
    assert counts == {path: {e.sha256: e.chunks} for path, e in entries.items()}


def test_first_ingest_indexes_seed_and_second_embeds_nothing(make_pipeline: MakePipeline) -> None:
    first = make_pipeline().ingest()
    assert sorted(first.added) == [COMMENTARY, NEWS]
    assert first.chunks_embedded == first.chunks_total > 0
    second = make_pipeline().ingest()
    assert (second.added, second.changed, second.removed, second.chunks_embedded) == ([], [], [], 0)
    assert second.unchanged == 2
    assert second.chunks_total == first.chunks_total


def test_changed_file_is_reembedded_alone_and_old_chunks_go(make_pipeline: MakePipeline, corpus: Path) -> None:
    pipeline = make_pipeline()
    pipeline.ingest()
    path = corpus / NEWS
    path.write_text(path.read_text() + "\nA new closing paragraph mentions gallium and germanium controls.\n")
    report = make_pipeline().ingest()
    assert report.changed == [NEWS]
    assert report.chunks_embedded == pipeline.index.manifest.entries()[NEWS].chunks
    assert_consistent(pipeline)
    hits = make_pipeline().search("gallium germanium", k=1)
    assert hits[0].source.endswith(NEWS) and "gallium" in hits[0].text


def test_one_pipeline_searches_what_it_just_ingested(make_pipeline: MakePipeline, corpus: Path) -> None:
    """A long-lived pipeline (the chat app's) must not keep searching the BM25 index of before an ingest."""
    pipeline = make_pipeline()
    pipeline.ingest()
    assert pipeline.search("Lancaster Palace", k=1)
    (corpus / "new.txt").write_text("Gallium and germanium export controls were raised by the delegation.")
    pipeline.ingest()
    hit = pipeline.search("gallium germanium", k=1)[0]
    assert hit.source.endswith("new.txt") and hit.bm25_rank == 1


def test_deleted_file_loses_its_chunks(make_pipeline: MakePipeline, corpus: Path) -> None:
    make_pipeline().ingest()
    (corpus / COMMENTARY).unlink()
    report = make_pipeline().ingest()
    assert report.removed == [COMMENTARY]
    pipeline = make_pipeline()
    assert set(chunk_counts(pipeline.index.store)) == {NEWS}
    assert all(h.source.endswith(NEWS) for h in pipeline.search("rare earth card", k=5))


def test_bad_files_are_skipped_and_the_rest_indexed(make_pipeline: MakePipeline, corpus: Path) -> None:
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02garbage")
    (corpus / "latin1.txt").write_bytes("na\xefve".encode("latin-1"))
    (corpus / "huge.md").write_text("words " * 300_000)
    (corpus / "notes.docx").write_bytes(b"PK\x03\x04")
    (corpus / ".DS_Store").write_bytes(b"\x00")
    report = make_pipeline(max_file_mb=1).ingest()
    reasons = {s["path"]: s["reason"] for s in report.skipped}
    assert set(reasons) == {"empty.txt", "binary.txt", "latin1.txt", "huge.md", "notes.docx"}
    assert "empty" in reasons["empty.txt"] and "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"] and "too large" in reasons["huge.md"]
    assert sorted(report.added) == [COMMENTARY, NEWS]
    assert "skipped empty.txt: empty file" in report.summary()


def test_a_file_that_turns_bad_keeps_its_indexed_version(make_pipeline: MakePipeline, corpus: Path) -> None:
    make_pipeline().ingest()
    before = chunk_counts(make_pipeline().index.store)[NEWS]
    (corpus / NEWS).write_bytes(b"caf\xe9, not utf-8 any more")
    report = make_pipeline().ingest()
    assert report.skipped[0]["path"] == NEWS
    assert "stays searchable" in report.skipped[0]["reason"]
    pipeline = make_pipeline()
    assert chunk_counts(pipeline.index.store)[NEWS] == before
    assert pipeline.search("Lancaster Palace", k=1)[0].source.endswith(NEWS)


def test_changed_chunker_settings_rebuild_instead_of_mixing(make_pipeline: MakePipeline) -> None:
    old = make_pipeline()
    old.ingest()
    new = make_pipeline(chunk_size=64, chunk_overlap=8)
    with pytest.raises(RagError, match=r"^the index was built with other settings .*run `python -m rag ingest`"):
        new.search("rare earths")  # not "the index is empty": the articles are there, indexed the old way
    assert old.search("rare earths", k=1)  # and the old settings still find them until the new ingest completes
    report = new.ingest()
    assert report.rebuilt and sorted(report.added) == [COMMENTARY, NEWS]
    assert new.index.collection_name != old.index.collection_name
    assert [c.name for c in new.index.client.list_collections()] == [new.index.collection_name]
    assert_consistent(new)
    assert all(int(h.end) - int(h.start) < 600 for h in new.search("rare earths", k=5))


def test_manifest_and_collection_disagreeing_is_repaired(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.ingest()
    pipeline.index.store.delete(where={"source": NEWS})  # chunks lost behind the manifest's back
    report = make_pipeline().ingest()
    assert report.repaired == [NEWS]
    assert_consistent(make_pipeline())


def test_a_second_ingest_while_one_runs_is_refused(make_pipeline: MakePipeline, tmp_path: Path) -> None:
    lock = tmp_path / "data" / "ingest.lock"
    lock.parent.mkdir(parents=True)
    hold = f"import filelock, time; held = filelock.FileLock({str(lock)!r}); held.acquire(); print(1, flush=True); "
    holder = subprocess.Popen([sys.executable, "-c", hold + "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "1"
        with pytest.raises(RagError, match="another ingest is running"):
            make_pipeline().ingest()
    finally:
        holder.kill()
        holder.wait()
    assert make_pipeline().ingest().added  # the lock is free again once its holder is gone


def test_missing_corpus_folder_is_a_clear_error(make_pipeline: MakePipeline, tmp_path: Path) -> None:
    with pytest.raises(RagError, match=r"corpus folder .* does not exist"):
        make_pipeline(corpus_dir=tmp_path / "nowhere").ingest()


def test_only_done_files_count_as_indexed(tmp_path: Path) -> None:
    from rag.index.manifest import Manifest

    manifest = Manifest(tmp_path / "manifest.sqlite", "c")
    assert not manifest.any_done()
    manifest.mark_pending([("a.txt", "sha-a")])
    assert not manifest.any_done()  # a half-written file is not searchable
    manifest.mark_done("a.txt", "sha-a", 3)
    assert manifest.any_done()
    assert not Manifest(tmp_path / "manifest.sqlite", "other").any_done()  # per collection


def test_the_chunks_of_many_files_read_in_one_pass_are_each_files_chunks(
    make_pipeline: MakePipeline, corpus: Path
) -> None:
    from rag.index.index import ONE_PASS_FILES

    for n in range(ONE_PASS_FILES):
        (corpus / f"note-{n:03}.txt").write_text(f"Note {n}: the ferry to island {n} sails at {n % 12} o'clock.\n")
    pipeline = make_pipeline()
    pipeline.ingest()
    sources = sorted(pipeline.indexed_files(), reverse=True)
    assert len(sources) > ONE_PASS_FILES  # the seed articles too: read in one pass
    together = pipeline.index.chunks_of(sources)
    assert list(together) == sources  # in the order asked
    assert together == {source: pipeline.index.chunks(source) for source in sources}  # each file's, in its order
    assert len(together[NEWS]) > 1 and pipeline.index.chunks_of(sources[:2]) == {s: together[s] for s in sources[:2]}
