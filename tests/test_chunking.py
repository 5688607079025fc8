"""Chunks are token-sized and their spans point at exactly their text."""

from __future__ import annotations

import pytest

from rag.index import documents
from rag.index.chunking import chunk_text, make_splitter
from rag.text import count_tokens

from .conftest import SEED


@pytest.mark.parametrize("size,overlap", [(200, 40), (60, 20), (32, 0)])
def test_spans_map_back_to_the_exact_source_text(size: int, overlap: int) -> None:
    splitter = make_splitter(size, overlap, "cl100k_base")
    for path in sorted(SEED.iterdir()):
        text = documents.load(path).text
        chunks = chunk_text(text, splitter)
        assert chunks, path
        for chunk in chunks:
            assert text[chunk.start : chunk.end] == chunk.text
            assert count_tokens(chunk.text) <= size
        covered = " ".join(c.text for c in chunks)
        assert set(covered.split()) == set(text.split())  # nothing dropped


def test_repeated_text_gets_distinct_increasing_spans() -> None:
    text = "\n\n".join(["The same sentence again. " * 20] * 6)
    chunks = chunk_text(text, make_splitter(40, 10, "cl100k_base"))
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts))
    assert all(text[c.start : c.end] == c.text for c in chunks)


def test_chunks_prefer_sentence_boundaries() -> None:
    text = " ".join(f"Sentence number {i} talks about rare earth exports and chips." for i in range(40))
    chunks = chunk_text(text, make_splitter(50, 0, "cl100k_base"))
    assert len(chunks) > 3
    assert all(c.text.endswith(".") for c in chunks)


def test_token_counting_works_offline_for_both_encodings() -> None:
    assert count_tokens("rare earth licences", "cl100k_base") == 4
    assert count_tokens("rare earth licences", "o200k_base") > 0
