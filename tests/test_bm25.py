"""BM25 builds reuse the saved tokens of chunks they have seen: only new chunks are read and tokenized, and
the index scores exactly as one built from every chunk's text. Real bm25s; real Chroma for the ingest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rag.index.bm25 import BM25Index, Chunk, Tokens
from rag.pipeline import Pipeline
from tests.conftest import COMMENTARY, NEWS, SEED

QUERIES = ["rare earths export controls", "Treasury Secretary hearing London", "goats", "talks lasted two days"]


def paragraphs() -> dict[str, Chunk]:
    chunks = {}
    for name in (NEWS, COMMENTARY):
        for n, text in enumerate(p for p in (SEED / name).read_text(encoding="utf-8").split("\n\n") if p.strip()):
            chunks[f"{name}-{n}"] = Chunk(text, name, 20250610 + n)
    return chunks


def results(index: BM25Index) -> list[list[tuple[str, float]]]:
    return [[(i, round(score, 5)) for i, score in index.search(q, 10)] for q in QUERIES]


def test_an_update_reads_only_new_chunks_and_scores_like_a_full_build(tmp_path: Path) -> None:
    chunks = paragraphs()
    ids = list(chunks)
    first, later = ids[: len(ids) // 2], ids[len(ids) // 2 :]
    chunks["farm-0"] = Chunk("Goats graze the herders' hillside pastures.", "farm.txt", 20250611)
    before = BM25Index.update(first, lambda wanted: {i: chunks[i] for i in wanted}, None, "g1")
    before.save(tmp_path / "bm25")

    asked: list[str] = []

    def read(wanted: list[str]) -> dict[str, Chunk]:
        asked.extend(wanted)
        return {i: chunks[i] for i in wanted}

    now = [*first[1:], *later, "farm-0"]
    updated = BM25Index.update(now, read, Tokens.load(tmp_path / "bm25"), "g2")
    assert sorted(asked) == sorted([*later, "farm-0"]) and updated.tokenized == len(later) + 1
    full = BM25Index.build(
        now, [chunks[i].text for i in now], [chunks[i].source for i in now], "g2", [chunks[i].day for i in now]
    )
    assert updated.ids == full.ids and updated.sources == full.sources and updated.days == full.days
    assert results(updated) == results(full)
    assert results(updated)[2][0][0] == "farm-0"
    assert updated.tokens is not None and full.tokens is not None
    assert sorted(updated.tokens.vocab) == sorted(full.tokens.vocab)  # the removed chunk's own words left too
    assert updated.search(QUERIES[0], 10, days=(20250611, 20250611)) == full.search(
        QUERIES[0], 10, days=(20250611, 20250611)
    )


def test_chunks_deleted_while_reading_are_left_out(tmp_path: Path) -> None:
    chunks = paragraphs()
    ids = list(chunks)
    index = BM25Index.update(ids, lambda wanted: {i: chunks[i] for i in wanted[1:]}, None, "g")
    assert index.ids == ids[1:]


def test_tokens_of_another_tokenizer_are_not_reused(tmp_path: Path) -> None:
    chunks = paragraphs()
    ids = list(chunks)
    BM25Index.update(ids, lambda wanted: {i: chunks[i] for i in wanted}, None, "g").save(tmp_path)
    assert Tokens.load(tmp_path) is not None
    info = (tmp_path / "tokens.json").read_text().replace("bm25s-en-snowball", "another-tokenizer")
    (tmp_path / "tokens.json").write_text(info)
    assert Tokens.load(tmp_path) is None


@pytest.mark.parametrize("change", ["add", "change", "remove"])
def test_after_an_ingest_the_saved_index_equals_a_rebuild_from_every_text(
    make_pipeline: Callable[..., Pipeline], corpus: Path, change: str
) -> None:
    pipeline = make_pipeline()
    pipeline.ingest()
    if change == "add":
        (corpus / "fish.txt").write_text("Trawlers landed record cod catches off the Faroe Islands on Monday.")
    elif change == "change":
        news = corpus / NEWS
        news.write_text(news.read_text(encoding="utf-8") + "\n\nGoats grazed outside the venue.", encoding="utf-8")
    else:
        (corpus / COMMENTARY).unlink()
    pipeline.ingest()
    saved = BM25Index.load(pipeline.index.bm25_dir)
    assert saved is not None
    pipeline.index.save_bm25()  # every stored chunk read and tokenized again
    rebuilt = BM25Index.load(pipeline.index.bm25_dir)
    assert rebuilt is not None and saved.generation == rebuilt.generation
    assert sorted(saved.ids) == sorted(rebuilt.ids) == sorted(pipeline.index.store.ids())
    for query in [*QUERIES, "cod catches Faroe"]:
        assert dict(saved.search(query, 50)) == pytest.approx(dict(rebuilt.search(query, 50)))


SAVE_LOOP = """
import sys
import time
from pathlib import Path
from rag.index.bm25 import BM25Index
folder, name, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ids = [f"{name}-{i}" for i in range(n)]
index = BM25Index.build(ids, [f"{name} chunk number {i} about goats" for i in ids], ["a.txt"] * n, name)
(folder.parent / name).touch()
deadline = time.monotonic() + 60
while not all((folder.parent / other).exists() for other in ("first", "second")):  # start together
    assert time.monotonic() < deadline, "the other process never started"
for _ in range(100):
    index.save(folder)
"""


def test_two_processes_saving_at_once_leave_one_whole_index(tmp_path: Path) -> None:
    """On a Chroma server, several processes on one machine may each rebuild and save the BM25 index."""
    import subprocess
    import sys

    folder = tmp_path / "bm25"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", SAVE_LOOP, str(folder), name, str(n)], stderr=subprocess.PIPE, text=True
        )
        for name, n in (("first", 30), ("second", 70))
    ]
    for run in runs:
        _, errors = run.communicate(timeout=240)
        assert run.returncode == 0, errors
    saved = BM25Index.load(folder)
    assert saved is not None and saved.generation in ("first", "second")
    assert len(saved.ids) == {"first": 30, "second": 70}[saved.generation]
    assert all(i.startswith(saved.generation) for i in saved.ids)
    tokens = Tokens.load(folder)
    assert tokens is not None and tokens.ids == saved.ids  # the tokens saved with it, not the other save's
    assert saved.search("goats", 100) and len(saved.search("goats", 100)) == len(saved.ids)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bm25", "first", "second"]  # no temporary folder left
