"""The embedding model as shipped: MiniLM exported once to ONNX gives the vectors sentence-transformers gives
on torch (int8 weights, opt-in, give close ones, kept in an index of their own), and a model onnx can't run
falls back to torch rather than failing. Real models throughout."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_huggingface import HuggingFaceEmbeddings

from rag.config import Settings
from rag.errors import RagError
from rag.index import onnx_encoder
from rag.index.embeddings import configured_embeddings, default_model_path, fingerprint, vectors_name
from rag.index.onnx_encoder import OnnxEmbeddings
from tests.conftest import NEWS, SEED


def loaded(embeddings: Any) -> Any:
    """The model behind the lazy wrapper, loaded."""
    embeddings.embed_query("load")
    return embeddings.model


def test_the_default_runtime_is_onnx_exported_once_with_the_vectors_torch_gives(
    tmp_path: Path, torch_embeddings: Any
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    model = loaded(configured_embeddings(settings))
    assert isinstance(model, OnnxEmbeddings)
    exported = tmp_path / "models" / "onnx" / f"{fingerprint(default_model_path())}.onnx"
    written = exported.stat().st_mtime_ns
    assert [p.name for p in exported.parent.iterdir()] == [exported.name]  # no partial file left behind

    words = (SEED / NEWS).read_text(encoding="utf-8").split()
    texts = ["", "London", " ".join(words[:40]), " ".join(words[:600]), "Ünïcode 東京 — “quotes”"]  # 600: cut at 256
    ours = np.asarray(model.embed_documents(texts))
    reference = np.asarray(torch_embeddings.embed_documents(texts))
    assert (ours * reference).sum(1).min() > 0.99999
    assert np.abs(ours - reference).max() < 1e-4
    query = "Why did the Treasury Secretary leave London?"
    assert np.dot(model.embed_query(query), torch_embeddings.embed_query(query)) > 0.99999

    assert isinstance(loaded(configured_embeddings(settings)), OnnxEmbeddings)
    assert exported.stat().st_mtime_ns == written  # the second load reads the export, it doesn't redo it


def test_torch_when_asked_for(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, embedding_runtime="torch")  # type: ignore[call-arg]
    assert isinstance(loaded(configured_embeddings(settings)), HuggingFaceEmbeddings)
    assert not (tmp_path / "models").exists()


def test_a_model_onnx_cannot_pool_runs_on_torch_in_an_index_named_for_torch(tmp_path: Path) -> None:
    model = tmp_path / "cls-model"
    shutil.copytree(default_model_path(), model)
    pooling = model / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text(encoding="utf-8"))
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    assert "only mean pooling" in (onnx_encoder.unsupported(model) or "")
    # int8 asked for: torch runs the model, and the index is named for torch's vectors, not int8's
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", embedding_model=model, embedding_runtime="onnx-int8"
    )  # type: ignore[call-arg]
    assert isinstance(loaded(configured_embeddings(settings)), HuggingFaceEmbeddings)
    assert vectors_name(settings) == vectors_name(settings.model_copy(update={"embedding_runtime": "torch"}))


def test_a_failed_export_falls_back_to_torch_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").write_text("a file where the export's folder would go")
    settings = Settings(_env_file=None, data_dir=data)  # type: ignore[call-arg]
    with caplog.at_level(logging.WARNING, logger="rag.index.embeddings"):
        model = loaded(configured_embeddings(settings))
    assert isinstance(model, HuggingFaceEmbeddings)
    assert "embedding model runs on torch, onnx failed" in caplog.text


def test_a_failed_int8_export_is_a_clear_error_not_torch_vectors_in_the_int8_index(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").write_text("a file where the export's folder would go")
    settings = Settings(_env_file=None, data_dir=data, embedding_runtime="onnx-int8")  # type: ignore[call-arg]
    with pytest.raises(RagError, match=r"could not make the int8 embedding model .*RAG_EMBEDDING_RUNTIME=torch"):
        loaded(configured_embeddings(settings))


def test_int8_is_close_to_torch_and_kept_in_an_index_of_its_own(tmp_path: Path, torch_embeddings: Any) -> None:
    plain = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    int8 = Settings(_env_file=None, data_dir=tmp_path, embedding_runtime="onnx-int8")  # type: ignore[call-arg]
    model = loaded(configured_embeddings(int8))
    assert isinstance(model, OnnxEmbeddings)
    assert sorted(p.name for p in (tmp_path / "models" / "onnx").iterdir()) == [
        f"{fingerprint(default_model_path())}-int8.onnx",
        f"{fingerprint(default_model_path())}.onnx",
    ]
    words = (SEED / NEWS).read_text(encoding="utf-8").split()
    texts = [" ".join(words[i : i + 60]) for i in range(0, 600, 60)]
    cosine = (np.asarray(model.embed_documents(texts)) * np.asarray(torch_embeddings.embed_documents(texts))).sum(1)
    assert cosine.min() > 0.97 and cosine.max() < 0.99999  # close, and not the same vectors

    from rag.index.index import Index

    assert Index(plain, model).collection_name != Index(int8, model).collection_name
    assert (
        Index(plain, model).collection_name
        == Index(plain.model_copy(update={"embedding_runtime": "torch"}), model).collection_name
    )
