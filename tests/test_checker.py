"""The support checker's loading (rag.answering.checker): missing or damaged files are one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answering.checker import Checker, CheckerUnavailable


def test_a_missing_checker_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(CheckerUnavailable) as caught:
        Checker(tmp_path / "nothing")
    message = str(caught.value)
    assert "missing or damaged" in message and "make train-checker" in message and "\n" not in message


def test_a_damaged_file_is_caught_by_its_sha256(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    card = {"sha256": {"model.onnx": "0" * 64}, "threshold": 0.5, "claim_tokens": 64, "max_length": 256}
    (tmp_path / "checker.json").write_text(json.dumps(card))
    with pytest.raises(CheckerUnavailable, match=r"model\.onnx does not match its sha256"):
        Checker(tmp_path)
