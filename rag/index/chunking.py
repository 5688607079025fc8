"""Split article text into token-sized chunks that remember where they came from.

LangChain's RecursiveCharacterTextSplitter does the splitting (paragraphs, then lines, then sentences, then
words), measuring length in tiktoken tokens. Its own `add_start_index` guesses offsets by subtracting the
overlap (in tokens) from character positions, which can skip past the true start, so spans are found here
instead: each chunk is searched for after the previous chunk's start, and `text[start:end] == chunk` always.
"""

from __future__ import annotations

from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.text import get_encoding

# Paragraph, line, sentence, clause, word, character. Sentence ends stay with their sentence.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]
VERSION = "recursive-v1"  # bump when splitting changes, so old indexes are rebuilt


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int
    end: int


def make_splitter(chunk_size: int, chunk_overlap: int, encoding: str) -> RecursiveCharacterTextSplitter:
    enc = get_encoding(encoding)
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        length_function=lambda text: len(enc.encode(text, disallowed_special=())),
        separators=SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )


def chunk_text(text: str, splitter: RecursiveCharacterTextSplitter) -> list[Chunk]:
    """Chunks of `text` in order, each with its character span in `text`."""
    chunks: list[Chunk] = []
    search_from = 0
    for piece in splitter.split_text(text):
        start = text.find(piece, search_from)
        if start < 0:  # cannot happen with strip-only splitting; fail loudly rather than cite wrong text
            raise RuntimeError(f"chunk not found in source text: {piece[:60]!r}")
        chunks.append(Chunk(piece, start, start + len(piece)))
        search_from = start + 1
    return chunks
