"""The summarizers' pure steps (tiling chunks, sections within a budget) and the fallback policy, on hand-made
passages and scripted callables: no index, no model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag.answering.fallback import Fallback, ModelFailed
from rag.answering.summarize import sections, tile
from rag.errors import RagError
from rag.text import count_tokens
from rag.types import Passage

TEXT = "First sentence here. Second one follows. Third closes the paragraph.\n\nA new paragraph starts. It ends."


def chunk(start: int, end: int) -> Passage:
    return Passage(f"c{start}", "corpus/a.txt", start, end, TEXT[start:end], "", "")


def test_tile_cuts_overlaps_and_drops_chunks_inside_others() -> None:
    chunks = [chunk(40, 95), chunk(0, 60), chunk(45, 60), chunk(90, len(TEXT))]  # out of order, overlapping
    tiled = tile(chunks)
    assert [(p.start, p.end) for p in tiled] == [(0, 60), (60, 95), (95, len(TEXT))]
    assert all(TEXT[p.start : p.end] == p.text for p in tiled)
    assert "".join(p.text for p in tiled) == TEXT


def test_sections_keep_order_and_budget_and_let_a_large_passage_stand_alone() -> None:
    small = [chunk(0, 20), chunk(21, 40), chunk(41, 67)]
    large = Passage("big", "corpus/a.txt", 0, 0, "word " * 300, "", "")
    budget = max(count_tokens(p.text) for p in small) * 2 + 40  # two small passages and their headers
    groups = sections([*small, large, chunk(69, 92)], budget)
    assert [[p.id for p in g] for g in groups] == [["c0", "c21"], ["c41"], ["big"], ["c69"]]


def test_fallback_call_gives_the_primary_result_or_the_fallback_with_a_note() -> None:
    def down(x: int) -> int:
        raise ConnectionError("Connection refused")

    assert Fallback(lambda x: x + 1, lambda x: -x, "a stand-in")(1) == (2, "")
    result, note = Fallback(down, lambda x: -x, "a stand-in")(1)
    assert result == -1 and note == "the model failed (ConnectionError: Connection refused); this is a stand-in instead"


def test_fallback_never_swallows_a_rag_error() -> None:
    def misconfigured(x: int) -> int:
        raise RagError("the bundled model is not installed")

    with pytest.raises(RagError):
        Fallback(misconfigured, lambda x: x, "a stand-in")(1)


def test_fallback_stream_voids_the_tokens_before_a_failure() -> None:
    def breaks_midway(prompt: str) -> Iterator[str]:
        yield "The talks"
        raise TimeoutError("timed out")

    items = list(Fallback(breaks_midway, lambda prompt: f"quoted {prompt}", "a stand-in").stream("p"))
    assert items[0] == "The talks" and isinstance(items[1], ModelFailed) and items[2] == "quoted p"
    assert "TimeoutError: timed out" in items[1].note
    assert list(Fallback(lambda p: iter(["a", "b"]), str, "a stand-in").stream("p")) == ["a", "b"]
