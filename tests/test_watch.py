"""`watch`: real file-system events on a temp corpus folder, a real index, bounded waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from filelock import FileLock

from rag.errors import DataFolderGone
from rag.pipeline import Pipeline
from rag.watch import watch


@contextmanager
def watching(pipeline: Pipeline) -> Iterator[list[str]]:
    """`watch` in a thread, with a short debounce, until the block ends; yields the lines it reports."""
    lines: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=watch, args=(pipeline,), kwargs={"report": lines.append, "stop": stop, "debounce_ms": 300}
    )
    thread.start()
    try:
        assert until(lambda: any(line.startswith("watching") for line in lines)), lines
        yield lines
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


def until(condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


def test_an_added_and_a_removed_article_are_indexed_and_unindexed(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(llm="extractive")
    folder = pipeline.corpus.folder
    with watching(pipeline) as lines:
        assert lines[0].startswith("in step: 2 added")  # it catches up first
        (folder / ".draft.txt").write_text("A hidden draft about herons.")  # not an article: no batch
        (folder / "notes.docx").write_text("not an article either")
        (folder / "herons.txt").write_text("The herons of Porto nested early in 2024, the city's wardens said.")
        assert until(lambda: "herons.txt" in pipeline.indexed_files()), lines
        assert pipeline.search("herons Porto wardens", k=1)[0].source.endswith("herons.txt")
        (folder / "herons.txt").unlink()
        assert until(lambda: "herons.txt" not in pipeline.indexed_files()), lines
    batches = [line for line in lines[2:] if "change(s)" in line]
    assert len(batches) == 2 and "1 added" in batches[0] and "1 removed" in batches[1], lines
    assert set(pipeline.indexed_files()) == {p.name for p in folder.glob("*.txt") if not p.name.startswith(".")}


def test_a_batch_waits_for_another_ingest_and_loses_nothing(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(llm="extractive")
    with watching(pipeline):
        lock = FileLock(pipeline.settings.data_dir / "ingest.lock")  # another process's ingest
        with lock:
            (pipeline.corpus.folder / "herons.txt").write_text("The herons of Porto nested early in 2024.")
            time.sleep(1.5)  # the batch is due and meets the lock
            assert "herons.txt" not in pipeline.indexed_files()
        assert until(lambda: "herons.txt" in pipeline.indexed_files())


def test_a_deleted_data_folder_stops_the_watch_with_the_reason(make_pipeline: Callable[..., Pipeline]) -> None:
    """Not a loop of batches each calling the folder read-only: the first batch after says it is gone, and the
    watch ends there."""
    import shutil

    pipeline = make_pipeline(llm="extractive")
    lines: list[str] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            watch(pipeline, report=lines.append, debounce_ms=300)
        except BaseException as e:  # the thread's outcome, read below
            failed.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert until(lambda: any(line.startswith("watching") for line in lines)), lines
    shutil.rmtree(pipeline.settings.data_dir)
    (pipeline.corpus.folder / "herons.txt").write_text("The herons of Porto nested early in 2024.")
    thread.join(60)
    assert not thread.is_alive(), lines
    assert failed and isinstance(failed[0], DataFolderGone), (failed, lines)
    assert "was deleted or moved while in use" in lines[-1] and "read-only" not in lines[-1], lines
