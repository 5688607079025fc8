"""The chat page through Streamlit's AppTest, with the extractive backend (fast and deterministic)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from .conftest import NEWS, ROOT


@pytest.fixture
def app(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("RAG_LLM", "extractive")
    monkeypatch.setenv("RAG_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    return at


def test_a_question_gets_a_cited_answer(app: AppTest) -> None:
    app.chat_input[0].set_value("How many hours did Tuesday's talks last?").run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    assert "five hours" in text
    assert any(NEWS in e.label for e in app.expander)


def test_an_unanswerable_question_is_refused(app: AppTest) -> None:
    app.chat_input[0].set_value("What tariff rate did the two countries agree on in London?").run()
    assert not app.exception
    assert [w.value for w in app.warning] == ["The articles don't answer this question."]
