"""The support checker: P(a passage supports every part of a claim), from a small cross-encoder trained here
(training/checker.py, `make train-checker`; its card: docs/checker.md) and run with onnxruntime (int8).

The model reads "[CLS] claim [SEP] evidence [SEP]", 256 tokens at most: a claim is cut to its first 64 tokens,
and evidence longer than a window (about 150 words, a cited passage's size) is read in windows overlapping by
half, the claim scored against each and the best kept. So a claim whose support is spread over two windows
further apart than that is scored against each part alone, and may be found unsupported.

The files are checked against the sha256 sums in the card when loaded: a missing or damaged file is a
CheckerUnavailable (a RagError) with one line saying how to get them back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError

FOLDER = Path(__file__).resolve().parent / "checker_model"
WINDOW_WORDS = 150


class CheckerUnavailable(RagError):
    """The checker's files are missing or damaged."""


def windows(text: str, size: int = WINDOW_WORDS) -> list[str]:
    """`text` in windows of `size` words overlapping by half (one window if it is short).

    >>> windows("a b c d e f g", size=4)
    ['a b c d', 'c d e f', 'e f g']
    >>> windows("a b", size=4)
    ['a b']
    """
    words = text.split()
    if len(words) <= size * 5 // 4:
        return [" ".join(words)]
    step = size // 2
    return [" ".join(words[i : i + size]) for i in range(0, max(1, len(words) - step), step)]


class Checker:
    """The trained support checker in `folder`; `threads` for onnxruntime (default: its own choice)."""

    def __init__(self, folder: Path = FOLDER, threads: int | None = None) -> None:
        try:
            card = json.loads((folder / "checker.json").read_text(encoding="utf-8"))
            for name, digest in card["sha256"].items():
                if hashlib.sha256((folder / name).read_bytes()).hexdigest() != digest:
                    raise ValueError(f"{name} does not match its sha256 in checker.json")
        except (OSError, ValueError, KeyError) as e:
            raise CheckerUnavailable(
                f"the support checker in {folder} is missing or damaged ({e}); restore it with `git checkout -- "
                f"{folder.name}` in its folder, or train it again with `make train-checker`"
            ) from e
        import onnxruntime as ort  # deferred: the runtime, loaded only when the checker is
        from tokenizers import Tokenizer

        self.threshold = float(card["threshold"])
        self.claim_tokens = int(card["claim_tokens"])
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(card["max_length"]), strategy="only_second")
        self._tokenizer.enable_padding()

    def score(self, claim: str, evidence: Sequence[str]) -> float:
        """P(supported) of `claim` by the best of the `evidence` passages (each read in windows)."""
        parts = [w for text in evidence for w in windows(text)]
        return float(self._probabilities(claim, parts).max()) if parts else 0.0

    def _probabilities(self, claim: str, parts: list[str]) -> np.ndarray:
        ids = self._tokenizer.encode(claim, add_special_tokens=False).ids[: self.claim_tokens]
        short = self._tokenizer.decode(ids)
        encoded = self._tokenizer.encode_batch([(short, part) for part in parts])
        columns: dict[str, Any] = {
            "input_ids": [e.ids for e in encoded],
            "attention_mask": [e.attention_mask for e in encoded],
            "token_type_ids": [e.type_ids for e in encoded],
        }
        feed = {name: np.asarray(values, dtype=np.int64) for name, values in columns.items() if name in self._inputs}
        logits = np.asarray(self._session.run(None, feed)[0]).reshape(-1)
        return np.asarray(1 / (1 + np.exp(-logits)))
