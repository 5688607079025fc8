"""The chat page through Streamlit's AppTest, with the extractive backend (fast and deterministic): the chat,
the sidebar's actions (summaries, re-index, uploads, model switch) and the error states."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag.pipeline import Pipeline

from .conftest import COMMENTARY, NEWS, ROOT

NEW_ARTICLE = (
    "Lisbon fisheries summit ends with a deal\n\n"
    "The Lisbon fisheries summit ended on Friday with an agreement to cut the sardine quota by 12 percent. "
    "Portugal and Spain will share a new monitoring fleet of nine patrol boats.\n"
)


def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corpus: Path, llm: str = "extractive") -> AppTest:
    monkeypatch.setenv("RAG_LLM", llm)
    monkeypatch.setenv("RAG_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    return at


@pytest.fixture
def app(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return start(tmp_path, monkeypatch, corpus)


def page_text(at: AppTest) -> str:
    """What the page shows as text: Markdown elements and the escaped HTML that untrusted text is shown in."""
    return html.unescape(" ".join([*(m.value for m in at.markdown), *(h.proto.body for h in at.get("html"))]))


def as_shown(markdown: str) -> str:
    """Escaped Markdown (the app escapes outside text in labels and alerts) as the page shows it."""
    return re.sub(r"\\(.)", r"\1", markdown)


def sidebar_text(at: AppTest) -> str:
    """The sidebar's escaped HTML and its captions, as shown."""
    captions = [as_shown(c.value) for c in at.sidebar.caption]
    return html.unescape(" ".join([*(h.proto.body for h in at.sidebar.get("html")), *captions]))


def test_a_question_gets_a_cited_answer_with_the_quote_highlighted_in_its_article(app: AppTest) -> None:
    app.chat_input[0].set_value("How many hours did Tuesday's talks last?").run()
    assert not app.exception
    assert "five hours" in page_text(app)
    badges = [m.value for m in app.markdown if "-badge[" in m.value]
    assert badges == [":orange-badge[Unsure: read the sources]"]  # in words; extractive answers are never checked
    captions = [as_shown(c.value) for c in app.caption]
    assert any(c.startswith("Estimated ") and "likely right: " in c for c in captions)
    assert any(NEWS in as_shown(e.label) for e in app.expander)
    shown = [h.proto.body for h in app.get("html")]
    assert any("<mark>" in body and "five hours" in body.split("<mark>")[1] for body in shown)
    assert any("Basant left London" in body for body in shown)  # the article around the quote, not just it
    assert any(as_shown(e.label) == "How this answer was checked" for e in app.expander)
    checked = [d.value for d in app.dataframe]
    assert any("five hours" in " ".join(map(str, frame["text"])) for frame in checked if "stage" in frame)


def test_a_pick_first_answer_shows_the_sentences_the_model_chose_from(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_gguf: Path
) -> None:
    monkeypatch.setenv("RAG_ANSWER_STYLE", "pick")
    monkeypatch.setenv("RAG_BUNDLED_MODEL", "qwen2.5-coder-0.5b")
    monkeypatch.setenv("RAG_MODELS_DIR", str(small_gguf.parent))
    app = start(tmp_path, monkeypatch, corpus, llm="bundled")
    app.chat_input[0].set_value("How many hours did Tuesday's talks last?").run()
    assert not app.exception
    assert any(c.value.startswith("Pick first: the model named ") for c in app.caption)
    frames = [d.value for d in app.dataframe if "share" in d.value]
    assert len(frames) == 1 and any("five hours" in text for text in frames[0]["sentence"])
    assert min(frames[0]["share"]) >= 0.0 and sum(frames[0]["share"]) <= 1.0 + 1e-6


def test_a_follow_up_is_condensed_and_shown(app: AppTest) -> None:
    app.chat_input[0].set_value("What did the US want on rare earths?").run()
    app.chat_input[0].set_value("and what did China say?").run()
    assert not app.exception
    assert any(as_shown(e.label) == "Searched for" for e in app.expander)
    assert len(app.chat_message) == 4


def test_an_unanswerable_question_is_refused(app: AppTest) -> None:
    app.chat_input[0].set_value("What tariff rate did the two countries agree on in London?").run()
    assert not app.exception
    assert [as_shown(w.value) for w in app.warning] == ["The articles don't answer this question."]
    assert [m.value for m in app.markdown if "-badge[" in m.value] == [":gray-badge[Refused]"]


def test_the_sidebar_lists_the_corpus_and_summarizes_an_article(app: AppTest) -> None:
    listed = sidebar_text(app)
    assert NEWS in listed and COMMENTARY in listed
    assert ">News: london talks day two<" in listed  # each file's title, then its date and name below it
    assert any(as_shown(c.value).startswith(f"2025-06-10, {NEWS}; ") for c in app.sidebar.caption)
    assert any("chunks, indexed" in c.value for c in app.sidebar.caption)
    app.sidebar.button(key=f"summarize-{NEWS}").click().run()
    assert not app.exception
    assert ">News: london talks day two<" in page_text(app)
    assert f">Summarize {NEWS}<" in app.chat_message[0].get("html")[0].proto.body
    assert any(NEWS in as_shown(e.label) for e in app.expander)


def test_an_uploaded_article_is_indexed_and_answerable(app: AppTest, corpus: Path) -> None:
    app.sidebar.file_uploader[0].set_value(("lisbon-summit.txt", NEW_ARTICLE.encode(), "text/plain"))
    app.sidebar.button[-1].click().run()  # the form's "Add and index"
    assert not app.exception and not app.error
    assert (corpus / "lisbon-summit.txt").read_text() == NEW_ARTICLE
    assert "lisbon-summit.txt" in sidebar_text(app)
    app.chat_input[0].set_value("By how much was the sardine quota cut?").run()
    assert "12 percent" in page_text(app)
    assert any("lisbon-summit.txt" in as_shown(e.label) for e in app.expander)


def test_a_bad_upload_is_a_clear_error_and_nothing_indexed_is_lost(app: AppTest, corpus: Path) -> None:
    app.sidebar.file_uploader[0].set_value(("notes.txt", b"\x00\x01\x02binary\xff\xfe", "text/plain"))
    app.sidebar.button[-1].click().run()
    assert not app.exception
    assert [e.value for e in app.error] and "notes.txt" in as_shown(app.error[0].value)
    assert not (corpus / "notes.txt").exists()
    listed = sidebar_text(app)
    assert NEWS in listed and COMMENTARY in listed


def test_a_model_server_that_is_down_gives_a_message_and_an_extractive_answer(app: AppTest) -> None:
    app.sidebar.radio[0].set_value("openai").run()
    app.sidebar.text_input[0].set_value("http://127.0.0.1:9/v1").run()  # nothing listens on port 9
    app.chat_input[0].set_value("How many hours did Tuesday's talks last?").run()
    assert not app.exception
    assert any("model failed" in w.value for w in app.warning)
    assert "five hours" in page_text(app)


def test_an_empty_corpus_is_a_message_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    at = start(tmp_path, monkeypatch, empty)
    assert any("No articles indexed yet" in i.value for i in at.sidebar.info)
    at.chat_input[0].set_value("Anything?").run()
    assert not at.exception
    assert "index is empty" in at.error[0].value


def test_articles_indexed_meanwhile_appear_with_a_note(
    app: AppTest, corpus: Path, make_pipeline: Callable[..., Pipeline]
) -> None:
    (corpus / "lisbon.txt").write_text(NEW_ARTICLE)
    make_pipeline(llm="extractive").ingest()  # as `python -m rag watch` (another process) would
    app.run()  # the page's own check every few seconds, run here by hand
    assert not app.exception
    assert [s.value for s in app.sidebar.success] == ["Indexed 1 new article (3 in all)"]
    assert "lisbon.txt" in sidebar_text(app)
    app.run()
    assert not app.sidebar.success  # said once


def test_the_corpus_panel_pages_and_filters_thousands_of_files(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_pipeline: Callable[..., Pipeline]
) -> None:
    for n in range(2000):
        (corpus / f"brief-{n:04}.txt").write_text(f"Harbour brief {n}: cranes moved {n} containers on day {n}.")
    make_pipeline(llm="extractive").ingest()
    at = start(tmp_path, monkeypatch, corpus)
    assert any(c.value.startswith("2002 articles") for c in at.sidebar.caption)
    summarize = [b for b in at.sidebar.button if str(b.key).startswith("summarize-")]
    assert len(summarize) == 20  # one page, not 2,002 widgets
    assert at.sidebar.number_input[0].max == 101
    at.sidebar.number_input[0].set_value(101).run()
    assert "brief-1999.txt" in sidebar_text(at)
    at.sidebar.text_input[0].set_value("brief-004").run()  # 0040-0049: one page, and the page is put back
    assert any(c.value.endswith("; 10 match") for c in at.sidebar.caption)
    assert "brief-0042.txt" in sidebar_text(at) and "brief-1999.txt" not in sidebar_text(at)
    assert not at.exception


def test_summarize_with_a_date_phrase_in_the_chat_gives_a_digest(app: AppTest) -> None:
    app.chat_input[0].set_value("Summarize the news in June 2025").run()
    assert not app.exception
    shown = page_text(app)
    assert "The articles dated from 2025-06-01 to 2025-06-30: 2 articles" in shown
    assert [as_shown(c.value) for c in app.caption].count("2025-06-10, 1 article") == 2  # each story's heading
    assert app.chat_message[-1].get("html")  # the digest's bullets, as text


def test_a_timeline_asked_in_the_chat_or_the_sidebar(app: AppTest) -> None:
    app.chat_input[0].set_value("Timeline of the London talks in June 2025").run()
    assert not app.exception
    shown = page_text(app)
    assert "Timeline of the London talks from 2025-06-01 to 2025-06-30: 2 articles" in shown
    assert [as_shown(c.value) for c in app.caption].count("2025-06-10, 1 article") == 2
    app.sidebar.text_input(key="timeline_topic").set_value("rare earth exports")
    next(b for b in app.sidebar.button if b.label == "Make the timeline").click().run()
    assert not app.exception
    assert "Timeline of rare earth exports: " in page_text(app)


def test_a_question_is_followed_with_one_click_and_listed_in_the_sidebar(app: AppTest) -> None:
    question = "How many hours did Tuesday's talks last?"
    app.chat_input[0].set_value(question).run()
    app.button(key="follow-0").click().run()
    assert not app.exception
    assert any(as_shown(s.value) == f"Following: {question}" for s in app.success)
    followed = [e for e in app.sidebar.expander if as_shown(e.label) == question]
    assert followed, [e.label for e in app.sidebar.expander]
    app.sidebar.button[-1].click().run()  # check them now: nothing changed
    assert any(s.value == "No followed answer changed." for s in app.success)
