"""Evidence-first answers (RAG_ANSWER_STYLE=evidence) with a scripted chat model over the real retriever and seed
corpus: what is shown, streamed, refused and checked, and what the model is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableLambda

from rag.answering.answer import REFUSAL, Answer
from rag.pipeline import Pipeline

QUESTION = "How many hours did the talks last on Monday?"
QUOTE = (
    "According to reports from China Review News Agency, after seven hours of talks on Monday, Tuesday's talks "
    "lasted five hours before pausing, and resumed at 8 PM local time in London."
)


class Scripted:
    """A chat model that replies with `reply` (in small pieces when streamed) and keeps what it was sent."""

    def __init__(self, reply: str):
        self.reply = reply
        self.sent: list[list[BaseMessage]] = []

    def __call__(self, messages: Any) -> str:
        self.sent.append(messages.to_messages())
        return self.reply

    def runnable(self) -> Any:
        def stream(messages: Any) -> Any:
            text = self(messages)
            for start in range(0, len(text), 7):
                yield text[start : start + 7]

        return RunnableLambda(stream)


@pytest.fixture
def ask(make_pipeline: Callable[..., Pipeline]) -> Callable[..., tuple[list[str], Answer, Scripted]]:
    pipelines: list[Pipeline] = []

    def run(reply: str, question: str = QUESTION) -> tuple[list[str], Answer, Scripted]:
        model = Scripted(reply)
        pipeline = make_pipeline(
            llm="openai", llm_base_url="http://127.0.0.1:9/v1", answer_style="evidence", chat_model=model.runnable()
        )
        if not pipelines:
            pipeline.ingest()
        pipelines.append(pipeline)
        items = list(pipeline.ask_stream(question))
        answer = items[-1]
        assert isinstance(answer, Answer)
        return [i for i in items if isinstance(i, str)], answer, model

    return run


def test_a_bare_answer_is_shown_with_its_quote_and_checked_with_it(ask: Callable[..., Any]) -> None:
    tokens, answer, model = ask(f"Evidence: {QUOTE} [2]\nAnswer: Seven hours [2].")
    assert not answer.refused
    assert answer.answer.startswith("Seven hours: According to reports") and answer.sentences[0].supported
    assert "seven hours of talks on Monday" in answer.citations[0].quote
    assert "".join(tokens) == "Seven hours [2]."  # the quote is not streamed, the answer is
    system, *_, last = model.sent[0]
    assert "Evidence: none" in str(system.content) and "Question: How many hours" in str(last.content)
    assert answer.trace["evidence"][0]["quote"] == QUOTE


def test_a_number_the_quote_lacks_is_not_supported(ask: Callable[..., Any]) -> None:
    _, answer, _ = ask(f"Evidence: {QUOTE} [2]\nAnswer: Nine hours.")
    assert answer.refused or not answer.sentences[0].supported


def test_evidence_none_is_a_refusal(ask: Callable[..., Any]) -> None:
    tokens, answer, _ = ask("Evidence: none", "What tariff rate did the two countries agree on in London?")
    assert answer.refused and answer.answer == REFUSAL and "no passage that answers" in answer.note
    assert tokens == []


def test_a_yes_no_answer_is_shown_with_the_evidence_it_rests_on(ask: Callable[..., Any]) -> None:
    quote = "By the time this reporter submitted the article, there was no news about the outcome of the talks"
    _, answer, _ = ask(f"Evidence: {quote}. [1]\nAnswer: Yes, it was expected to be extended.")
    assert answer.answer.startswith("Yes: By the time this reporter submitted the article")


def test_a_quote_that_changes_a_name_is_read_as_a_free_answer(ask: Callable[..., Any]) -> None:
    forged = QUOTE.replace("China Review News Agency", "Reuters")
    _, answer, _ = ask(f"Evidence: {forged} [2]")
    assert answer.trace["evidence"] == []
    assert answer.refused or not answer.sentences[0].supported  # "Reuters" is in no passage


def test_a_reply_without_the_form_is_taken_as_the_answer(ask: Callable[..., Any]) -> None:
    _, answer, _ = ask("The talks lasted seven hours on Monday [2].")
    assert not answer.refused and answer.sentences[0].supported
