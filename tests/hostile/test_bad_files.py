"""One bad file never stops the index, and files outside the corpus stay outside.

Each probe is a real file (or link) in a real corpus folder, ingested into a real Chroma with the real MiniLM;
the last test runs the CLI as a user would.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rag.index import documents
from rag.pipeline import Pipeline

from ..conftest import COMMENTARY, NEWS, run_cli

SEED_QUESTION = "rare earth export licences"
SEED_FILES = (NEWS, COMMENTARY)


def _plant(corpus: Path, outside: Path) -> dict[str, str]:
    """Hostile files beside the seed articles; returns {path: what its skip reason must say} for the skipped ones."""
    (corpus / "deep.html").write_text(
        "<html><body>" + "<div>" * 1000 + "<p>Deep <b>nesting</b> survives.</p>" + "</div>" * 1000 + "</body></html>"
    )
    secret = outside / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (corpus / "passwd.txt").symlink_to(secret)
    (corpus / "loop").symlink_to(corpus)
    (corpus / "outside-folder").symlink_to(outside)
    (corpus / "dangling.txt").symlink_to(corpus / "no-such-file.txt")
    (corpus / "self-loop.txt").symlink_to(corpus / "self-loop.txt")
    os.mkfifo(corpus / "pipe.txt")  # reading it would block forever
    (corpus / "nul.txt").write_bytes(b"Ordinary text. " * 600 + b"\x00Zanzibar pipeline after a NUL byte.")
    (corpus / "front.md").write_text("---\ntitle: Fine\ndate: : : not a\n---\nThe Quokka festival opened.\n")
    return {
        "passwd.txt": "outside the corpus folder",
        "loop": "link to a folder",
        "outside-folder": "outside the corpus folder",
        "dangling.txt": "broken link",
        "self-loop.txt": "broken link",
        "pipe.txt": "not a regular file",
    }


def _empty_password_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_encryption(owner_password="owner-secret", user_password="")
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 10, "The Marmalade Accord was signed in an encrypted PDF.")
    pdf.output(str(path))


def test_hostile_files_are_skipped_with_reasons_and_the_rest_is_indexed(
    make_pipeline: Callable[..., Pipeline], corpus: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    expected = _plant(corpus, outside)
    _empty_password_pdf(corpus / "locked.pdf")
    pipeline = make_pipeline()

    report = pipeline.ingest()

    reasons = {s["path"]: s["reason"] for s in report.skipped}
    assert set(reasons) == set(expected)
    for path, reason in expected.items():
        assert reason in reasons[path]
    assert {"deep.html", "nul.txt", "front.md", "locked.pdf", NEWS} <= set(pipeline.index.files())
    assert "Deep nesting survives." in documents.load(corpus / "deep.html").text
    assert all("root:x" not in h.text for h in pipeline.search("root x 0 0 root bin bash", k=10))
    nul = pipeline.search("Zanzibar pipeline", k=1)[0]
    assert nul.source.endswith("nul.txt") and "\x00" not in nul.text and "Zanzibar" in nul.text
    assert pipeline.search("Marmalade Accord", k=1)[0].source.endswith("locked.pdf")
    assert pipeline.index.chunks("front.md")[0].date == ""  # not ": : not a"
    assert pipeline.search(SEED_QUESTION, k=1)[0].source.endswith(SEED_FILES)


def test_a_reader_that_crashes_skips_only_its_file(
    make_pipeline: Callable[..., Pipeline], corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any exception while reading one file (here a reader bug, simulated) is that file's skip reason."""
    (corpus / "crash.html").write_text("<p>never read</p>")
    real = documents.parse

    def parse(path: Path, data: bytes) -> documents.Article:
        if path.name == "crash.html":
            raise RecursionError("maximum recursion depth exceeded")
        return real(path, data)

    monkeypatch.setattr(documents, "parse", parse)
    report = make_pipeline().ingest()
    assert report.skipped == [
        {"path": "crash.html", "reason": "could not be read (RecursionError: maximum recursion depth exceeded)"}
    ]
    assert NEWS in report.added


def test_an_unreadable_folder_is_reported_and_its_indexed_files_stay(
    make_pipeline: Callable[..., Pipeline], corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (corpus / "locked").mkdir()
    (corpus / "locked" / "kept.txt").write_text("The Okapi census counted forty animals.")
    pipeline = make_pipeline()
    pipeline.ingest()
    assert "locked/kept.txt" in pipeline.index.files()

    real = os.scandir

    def scandir(path: str | os.PathLike[str] = ".") -> object:  # root reads anything: simulate chmod 000
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = pipeline.ingest()
    assert report.skipped == [{"path": "locked", "reason": "folder cannot be read (Permission denied)"}]
    assert report.removed == [] and "locked/kept.txt" in pipeline.index.files()
    assert pipeline.search("Okapi census", k=1)[0].source.endswith("kept.txt")


def test_a_folder_that_lists_but_cannot_be_entered_is_skipped_with_a_reason(
    make_pipeline: Callable[..., Pipeline], corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (corpus / "sealed").mkdir()
    (corpus / "sealed" / "inside.txt").write_text("The walrus count rose to twelve.")
    real = os.stat

    def stat(path: Any, *args: Any, **kwargs: Any) -> Any:  # root enters anything: simulate a folder of mode 0600
        if Path(path).parent.name == "sealed":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    report = make_pipeline().ingest()
    assert report.skipped == [{"path": "sealed", "reason": "folder cannot be read (Permission denied)"}]
    assert NEWS in report.added


def test_the_cli_ingest_exits_0_and_lists_every_skip(corpus: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    expected = _plant(corpus, outside)
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data")}
    code, out, err = run_cli("ingest", "--quiet", env=env)
    assert code == 0, err
    assert "Traceback" not in out + err
    for path in expected:
        assert f"skipped {path}:" in out
    code, out, _ = run_cli("search", "root x 0 0 bin bash", "-k", "10", env=env)
    assert code == 0 and "root:x" not in out
