"""MiniLM on onnxruntime: the model's own weights exported once to ONNX, the same vectors 1.4-1.8x faster.

`make bench NAME=encoders` measured it (docs/benchmarks.md): cosine to the torch vectors 1.0000, SciFact
nDCG@10 equal, so an index built either way stays valid. sentence-transformers' own `backend="onnx"` would do
this, but it needs optimum-onnx, which requires transformers < 4.58 (we run 5.x); hence this small copy of
what sentence-transformers computes for MiniLM-like models: a transformer's last hidden state, mean pooled over
the real tokens, unit length. Models with anything else (CLS or max pooling, a Dense layer, prompts) are
left to torch: `unsupported` says why.

The export (torch.onnx, a few seconds) is written once per model into a folder of the data directory, named
by the model's fingerprint, and replaced atomically so two processes exporting at once both end up reading a
whole file. `quantize` makes an int8 copy (about 1.5x faster again; vectors close to, not equal to, these: an
index of them is a different index).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

SUPPORTED_MODULES = ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling"]
NORMALIZE = "sentence_transformers.models.Normalize"
# Texts per onnxruntime run, whatever the caller's batch: measured on 2 cores (4,000 SciFact texts of mixed
# length), 64 a run gave 54.8 texts/s at a peak RSS of 2.0 GB, 16 gave 63.8 texts/s at 0.6 GB, 8 the same speed
# at 0.4 GB: onnxruntime keeps its largest activations (batch x heads x tokens^2) in its memory arena.
RUN_BATCH = 16


def unsupported(model: Path) -> str | None:
    """Why `model` (a sentence-transformers folder) can't run here, or None when it can."""
    try:
        modules = [m["type"] for m in json.loads((model / "modules.json").read_text(encoding="utf-8"))]
        pooling = json.loads((model / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"not a plain sentence-transformers folder ({exc})"
    if [m for m in modules if m != NORMALIZE] != SUPPORTED_MODULES:
        return f"modules {modules} (only a transformer, pooling and normalisation are supported)"
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode_") and v)
    if modes != ["pooling_mode_mean_tokens"]:
        return f"pooling {modes} (only mean pooling is supported)"
    if not (model / "tokenizer.json").is_file():
        return "no tokenizer.json"
    return None


def export(model: Path, onnx_file: Path) -> Path:
    """The model's transformer as ONNX at `onnx_file` (made once; an existing file is reused as it is)."""
    if onnx_file.is_file():
        return onnx_file
    import torch  # deferred: torch and transformers take seconds to import; only the one-time export needs them
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    bert = AutoModel.from_pretrained(str(model), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model), local_files_only=True)
    sample = tokenizer(["a short sample", "another"], padding=True, return_tensors="pt")
    inputs = [name for name in sample if name in inspect.signature(bert.forward).parameters]

    class LastHidden(torch.nn.Module):  # keyword arguments: the positional order differs between models
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert  # a submodule, so that its weights are exported as weights

        def forward(self, *tensors: Any) -> Any:
            return self.bert(**dict(zip(inputs, tensors, strict=True))).last_hidden_state

    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    partial = onnx_file.with_name(f"{onnx_file.name}.{os.getpid()}.partial")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's warnings are about code paths MiniLM doesn't take
            torch.onnx.export(
                LastHidden(),
                tuple(sample[name] for name in inputs),
                str(partial),
                input_names=inputs,
                output_names=["last_hidden_state"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*inputs, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        os.replace(partial, onnx_file)
    finally:
        partial.unlink(missing_ok=True)
    logger.info("exported %s to %s", model, onnx_file)
    return onnx_file


def quantize(fp32: Path) -> Path:
    """`fp32` (an export) with int8 weights, per channel, beside it (made once). onnxruntime's dynamic
    quantization with its defaults moved MiniLM's vectors to cosine 0.90-0.94; per-channel weights keep them at
    0.99, and SciFact nDCG@10 moves by about 0.006: up for whole abstracts, down for the index's chunks
    (docs/benchmarks.md, the encoder several ways)."""
    int8 = fp32.with_name(f"{fp32.stem}-int8.onnx")
    if int8.is_file():
        return int8
    partial = int8.with_name(f"{int8.name}.{os.getpid()}.partial")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = logging.Filter("nothing")  # it advises pre-processing on the root logger at every run
    root.addFilter(quiet)
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic  # deferred: it calls logging.basicConfig

        quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(partial, int8)
    finally:
        root.removeFilter(quiet)
        root.handlers[:], root.level = handlers, level  # the caller's logging as it was
        partial.unlink(missing_ok=True)
    return int8


class OnnxEmbeddings(Embeddings):
    """LangChain embeddings from an exported transformer: mean pooled, unit length, like sentence-transformers.

    Texts are tokenized with the model's tokenizer.json, cut at the model's max_seq_length, and embedded in
    batches of similar length (as sentence-transformers sorts them) to waste little on padding, at most
    RUN_BATCH at a time.
    """

    def __init__(self, onnx_file: Path, model: Path, batch_size: int = 64, threads: int | None = None) -> None:
        import onnxruntime as ort  # deferred: the runtime, loaded only when the model is
        from tokenizers import Tokenizer

        config = json.loads((model / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=int(config.get("max_seq_length", 256)))
        padding = self.tokenizer.padding or {}  # tokenizer.json may pad to a fixed length: pad to the longest
        self.tokenizer.enable_padding(pad_id=padding.get("pad_id", 0), pad_token=padding.get("pad_token", "[PAD]"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: onnxruntime's choice, one per physical core
        options.log_severity_level = 3  # warnings about unused initializers are noise
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dimension = int(self.session.get_outputs()[0].shape[-1])  # the hidden size: fixed in the export
        self.batch_size = min(batch_size, RUN_BATCH)

    def _encode(self, texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = order[start : start + self.batch_size]
            encoded = self.tokenizer.encode_batch([texts[i] for i in batch])
            mask = np.asarray([e.attention_mask for e in encoded], dtype=np.int64)
            feeds = {
                "input_ids": np.asarray([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": mask,
                "token_type_ids": np.asarray([e.type_ids for e in encoded], dtype=np.int64),
            }
            hidden = self.session.run(None, {name: feeds[name] for name in self.inputs})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            vectors[batch] = pooled
        return vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts).tolist() if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text])[0].tolist()
