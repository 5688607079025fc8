"""Uploads land inside the corpus folder or nowhere, with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.corpus import save_upload
from rag.errors import RagError

TEXT = b"The talks resumed on Wednesday morning in London, officials said.\n"
LIMIT = 1024


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../escape.txt", "not a plain file name"),
        ("sub/dir.txt", "not a plain file name"),
        ("..\\windows.txt", "not a plain file name"),
        ("/etc/passwd.txt", "not a plain file name"),
        ("..", "not a plain file name"),
        (".hidden.txt", "hidden file name"),
        ("script.py", "unsupported file type"),
        ("noextension", "unsupported file type"),
    ],
)
def test_bad_names_and_types_are_refused(tmp_path: Path, name: str, reason: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with pytest.raises(RagError, match=reason):
        save_upload(corpus, name, TEXT, LIMIT)
    assert list(tmp_path.rglob("*")) == [corpus]  # nothing written anywhere


def test_contents_are_checked_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(RagError, match="too large"):
        save_upload(tmp_path, "big.txt", TEXT * 100, LIMIT)
    with pytest.raises(RagError, match="empty"):
        save_upload(tmp_path, "blank.md", b"  \n", LIMIT)
    with pytest.raises(RagError, match="cannot be indexed"):
        save_upload(tmp_path, "binary.txt", b"\x00\x01\x02\xff\xfe binary", LIMIT)
    with pytest.raises(RagError, match="cannot be indexed"):
        save_upload(tmp_path, "fake.pdf", b"not really a pdf", LIMIT)
    assert list(tmp_path.iterdir()) == []


def test_a_good_upload_is_saved_and_never_overwrites(tmp_path: Path) -> None:
    path = save_upload(tmp_path, "Talks: day 3.txt", TEXT, LIMIT)
    assert path == tmp_path / "Talks_ day 3.txt" and path.read_bytes() == TEXT
    with pytest.raises(RagError, match="already in the corpus"):
        save_upload(tmp_path, "Talks: day 3.txt", TEXT, LIMIT)
    with pytest.raises(RagError, match="rename the file"):
        save_upload(tmp_path, "Talks: day 3.txt", b"Another text about other talks entirely.", LIMIT)
    assert path.read_bytes() == TEXT and [p.name for p in tmp_path.iterdir()] == ["Talks_ day 3.txt"]
