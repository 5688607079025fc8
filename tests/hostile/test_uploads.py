"""Uploads under concurrency and with hostile names: exactly one of two same-name uploads is added, whole."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rag.corpus import save_upload
from rag.errors import RagError

LIMIT = 1 << 20


def _race(folder: Path, bodies: list[bytes]) -> list[Path | RagError]:
    """Two threads upload `same.txt` at the same moment; each gets its Path or its RagError."""
    results: list[Path | RagError] = []
    barrier = threading.Barrier(2)

    def upload(body: bytes) -> None:
        barrier.wait()
        try:
            results.append(save_upload(folder, "same.txt", body, LIMIT))
        except RagError as e:
            results.append(e)

    threads = [threading.Thread(target=upload, args=(body,)) for body in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_uploads_of_one_name_at_once_add_exactly_one_whole_file(tmp_path: Path) -> None:
    bodies = [(f"Upload {who} says the talks resumed. " * 2000).encode() for who in "AB"]
    for trial in range(100):
        folder = tmp_path / str(trial)
        folder.mkdir()
        results = _race(folder, bodies)
        added = [r for r in results if isinstance(r, Path)]
        refused = [r for r in results if isinstance(r, RagError)]
        assert len(added) == 1 and len(refused) == 1, results
        assert "rename the file" in str(refused[0])
        assert (folder / "same.txt").read_bytes() in bodies
        assert [p.name for p in folder.iterdir()] == ["same.txt"]  # no temporary file left behind


@pytest.mark.parametrize("name", ["evil\x00.txt", "bell\x07.txt", "line\nbreak.txt"])
def test_a_name_with_control_characters_is_refused_in_one_line(tmp_path: Path, name: str) -> None:
    with pytest.raises(RagError, match="control characters"):
        save_upload(tmp_path, name, b"Some article text.", LIMIT)
    assert list(tmp_path.iterdir()) == []
