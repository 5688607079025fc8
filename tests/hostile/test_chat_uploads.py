"""An upload batch in the chat with hostile members: a NUL byte in a name, HTML nested a thousand deep, a
binary file. Each bad one is a one-line error, the good ones are added and indexed, the page keeps working.
Streamlit's AppTest (the real page script), extractive backend, real Chroma and MiniLM."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ..conftest import ROOT

GOOD = b"Lisbon fisheries summit ends with a deal. The sardine quota was cut by 12 percent on Friday.\n"
DEEP = b"<html><body>" + b"<div>" * 1000 + b"<p>The Quokka festival drew 40,000 visitors.</p>" + b"</div>" * 1000


def test_a_batch_with_hostile_members_adds_the_good_ones(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_LLM", "extractive")
    monkeypatch.setenv("RAG_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.sidebar.file_uploader[0].set_value(
        [
            ("evil\x00name.txt", GOOD, "text/plain"),
            ("deep.html", DEEP, "text/html"),
            ("binary.txt", b"\x00\x01\x02\xff", "text/plain"),
            ("lisbon.txt", GOOD, "text/plain"),
        ]
    )
    at.sidebar.button[-1].click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 2 and any("control characters" in e for e in errors) and any("binary" in e for e in errors)
    assert (corpus / "deep.html").exists() and (corpus / "lisbon.txt").exists()
    at.chat_input[0].set_value("How many visitors did the Quokka festival draw?").run()
    shown = html.unescape(" ".join(h.proto.body for h in at.get("html")))
    assert not at.exception and "40,000" in shown
