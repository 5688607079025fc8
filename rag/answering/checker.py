"""The support checker: P(a passage supports every part of a claim), from a small cross-encoder trained here
(training/checker.py, `make train-checker`; its card: docs/checker.md) and run with onnxruntime (int8).

The model reads "[CLS] claim [SEP] evidence [SEP]": the claim cut to its first 64 tokens, and as evidence the
sentences of the passages that share most content words with the claim, about EVIDENCE_WORDS words of them in
their order (one model call per claim, however many passages it cites). Training reads its evidence the same
way. What that misses: support that needs a sentence sharing no word with the claim (a pronoun's antecedent,
a figure stated two sentences earlier), and support spread over more sentences than fit.

The files are checked against the sha256 sums in the card when loaded: a missing or damaged file is a
CheckerUnavailable (a RagError) with one line saying how to get them back.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError
from rag.text import content_words, sentence_spans

FOLDER = Path(__file__).resolve().parent / "checker_model"
EVIDENCE_WORDS = 100  # about 130 tokens: two to four sentences of a passage


class CheckerUnavailable(RagError):
    """The checker's files are missing or damaged."""


def evidence_for(claim: str, texts: Sequence[str], words: int = EVIDENCE_WORDS) -> str:
    """The sentences of `texts` that share most content words with `claim` (the longer sentence last among
    ties), added until about `words` words, joined in their order in `texts`.

    >>> evidence_for("Talks lasted five hours.", ["Rain fell. Talks lasted five hours on Monday. Nobody spoke."], 6)
    'Talks lasted five hours on Monday.'
    >>> evidence_for("Talks lasted five hours.", ["Rain fell. Talks lasted five hours on Monday. Nobody spoke."], 7)
    'Rain fell. Talks lasted five hours on Monday.'
    """
    found = [" ".join(t[a:b].split()) for t in texts for a, b in sentence_spans(t)]
    wanted = content_words(claim)
    shared = [len(wanted & content_words(s)) for s in found]
    ranked = sorted(range(len(found)), key=lambda i: (-shared[i], len(found[i]), i))
    kept: list[int] = []
    total = 0
    for i in ranked:
        if total >= words:
            break
        kept.append(i)
        total += len(found[i].split())
    return " ".join(found[i] for i in sorted(kept))


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
        self.evidence_words = int(card.get("evidence_words", EVIDENCE_WORDS))
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(card["max_length"]), strategy="only_second")

    def score(self, claim: str, evidence: Sequence[str]) -> float:
        """P(supported) of `claim` by the `evidence` passages (their sentences nearest the claim)."""
        return self.scores([(claim, evidence)])[0]

    def scores(self, pairs: Sequence[tuple[str, Sequence[str]]]) -> list[float]:
        """P(supported) of each (claim, evidence passages). One model call each: int8 activations are scaled per
        call, so a claim scored in a batch would score a little differently beside different neighbours."""
        return [
            self._probability(self._short(claim), evidence_for(claim, texts, self.evidence_words))
            for claim, texts in pairs
        ]

    def _probability(self, claim: str, evidence: str) -> float:
        encoded = self._tokenizer.encode(claim, evidence)
        columns: dict[str, Any] = {
            "input_ids": [encoded.ids],
            "attention_mask": [encoded.attention_mask],
            "token_type_ids": [encoded.type_ids],
        }
        feed = {name: np.asarray(values, dtype=np.int64) for name, values in columns.items() if name in self._inputs}
        logit = float(np.asarray(self._session.run(None, feed)[0]).reshape(-1)[0])
        return 1 / (1 + math.exp(-logit))

    def _short(self, claim: str) -> str:
        """`claim` cut to the card's claim_tokens tokens."""
        ids = self._tokenizer.encode(claim, add_special_tokens=False).ids
        return str(self._tokenizer.decode(ids[: self.claim_tokens]))
