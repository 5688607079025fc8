"""Shared fixtures: the real MiniLM (loaded once), a temp corpus with the seed articles, a pipeline on a temp
data folder, and a guard that Chroma's own embedding function (an ONNX download) never runs."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag.answering.bundled import MODELS, ensure_gguf
from rag.config import Settings
from rag.index.embeddings import configured_embeddings, default_model_path, load_embeddings
from rag.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpus"
NEWS = "2025-06-10_news_london-talks-day-two.txt"
COMMENTARY = "2025-06-10_commentary_besant-leaves-london-talks.txt"
SMALL = MODELS["qwen2.5-coder-0.5b"]  # the fast bundled model, for tests about real answers
DEFAULT = MODELS["qwen2.5-coder-1.5b"]  # the default one, where the small one cannot do the job (the judge)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they set, never the developer's RAG_* variables."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True, scope="session")
def _no_chroma_default_embedding() -> Iterator[None]:
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Chroma's default embedding function ran (it downloads an ONNX model)")

    saved = ONNXMiniLM_L6_V2.__call__
    ONNXMiniLM_L6_V2.__call__ = refuse  # type: ignore[method-assign]
    yield
    ONNXMiniLM_L6_V2.__call__ = saved  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def embeddings(tmp_path_factory: pytest.TempPathFactory) -> object:
    """MiniLM as the product runs it by default (on onnxruntime, exported here once per test session)."""
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("encoder"), embed_batch_size=32)  # type: ignore[call-arg]
    return configured_embeddings(settings)


@pytest.fixture(scope="session")
def torch_embeddings() -> object:
    """MiniLM on torch through sentence-transformers, the reference the onnx runtime must match."""
    return load_embeddings(default_model_path(), batch_size=32)


@pytest.fixture(scope="session")
def small_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 0.5B model joined from its registry pieces (checked), once per test session."""
    return ensure_gguf(SMALL, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def default_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default 1.5B model joined from its registry pieces (checked), once per test session."""
    return ensure_gguf(DEFAULT, tmp_path_factory.mktemp("models"))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SEED, folder)
    return folder


@pytest.fixture
def make_pipeline(tmp_path: Path, corpus: Path, embeddings: object) -> Callable[..., Pipeline]:
    """Pipelines on the temp corpus and data folder, sharing the loaded model; keywords override settings,
    `chat_model` replaces the configured model (a scripted one: the server is never contacted) and `index`
    shares another pipeline's index."""

    def make(chat_model: object = None, index: object = None, **overrides: object) -> Pipeline:
        values: dict[str, object] = {"corpus_dir": corpus, "data_dir": tmp_path / "data", **overrides}
        settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
        return Pipeline(settings, embeddings=embeddings, index=index, chat_model=chat_model)  # type: ignore[arg-type]

    return make


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str, str]:
    """`python -m rag ARGS` in a subprocess; returns (exit code, stdout, stderr)."""
    import subprocess

    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "rag", *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=300
    )
    return done.returncode, done.stdout, done.stderr
