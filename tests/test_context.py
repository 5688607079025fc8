"""The sentence-level context (rag.answering.context) over the real retriever, MiniLM and seed corpus: windows are
exact article spans within the token budget, grouped by article newest first, and the answer path reads them
(a recording scripted model shows what the prompt held); a question asking for an account keeps whole passages."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field

from rag.answering.context import SentenceContext, wants_passages
from rag.answering.prompts import prompt_tokens
from rag.index import documents
from rag.pipeline import Pipeline


class Recording(GenericFakeChatModel):
    """Streams its scripted reply and keeps every prompt it was sent (system and human text joined)."""

    prompts: list[str] = Field(default_factory=list)

    def _stream(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        self.prompts.append("\n".join(str(m.content) for m in messages))
        yield from super()._stream(messages, *args, **kwargs)


def recorded(make_pipeline: Callable[..., Pipeline], reply: str, **settings: Any) -> tuple[Pipeline, Recording]:
    model = Recording(messages=itertools.repeat(AIMessage(reply)))
    pipeline = make_pipeline(llm="openai", llm_base_url="http://127.0.0.1:9/v1", chat_model=model, **settings)
    pipeline.ingest()
    return pipeline, model


def test_windows_are_exact_article_spans_within_the_budget(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(llm="extractive")
    pipeline.ingest()
    question = "How long did the first round of talks in London last?"
    hits = pipeline.search(question, k=5)
    built = SentenceContext(pipeline.embeddings, budget=300).build(question, hits)
    assert built is not None and built.windows
    for window in built.windows:
        assert documents.load(Path(window.source)).text[window.start : window.end] == window.text
    assert prompt_tokens(built.text, question) <= 300
    assert "lasted for two days in London" in built.text  # the sentence that answers is kept
    assert built.trace["sentences"] < built.trace["of_sentences"]  # and others were cut, as the trace says
    sources = [w.source for w in built.windows]
    assert sources == sorted(sources, key=sources.index)  # one group per article
    assert built.text.startswith("Article: ")


def test_newer_articles_come_first(make_pipeline: Callable[..., Pipeline], corpus: Path) -> None:
    for seed in corpus.iterdir():
        seed.unlink()
    for day, port in (("2023-03-01", "Dover"), ("2024-03-01", "Calais")):
        (corpus / f"{day}_ferries.txt").write_text(
            f"Ferry strike\n\nThe ferry strike closed the port of {port} for three days. Unions want higher pay.\n"
        )
    pipeline = make_pipeline(llm="extractive")
    pipeline.ingest()
    question = "Which port did the ferry strike close?"
    built = SentenceContext(pipeline.embeddings).build(question, pipeline.search(question, k=5))
    assert built is not None
    assert built.text.index("Calais") < built.text.index("Dover")
    assert built.windows[0].date == "2024-03-01"


def test_a_fact_question_is_answered_from_a_few_sentences(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline, model = recorded(make_pipeline, "The first round of talks lasted for two days in London [1].")
    answer = pipeline.ask("How long did the first round of talks in London last?")
    context = answer.trace["context"]
    assert context["kind"] == "sentences" and context["prompt_tokens"] <= 600, context
    assert not answer.refused and answer.citations
    for citation in answer.citations:  # the quote is the article's own text at the cited span
        assert documents.load(Path(citation.source)).text[citation.start : citation.end] == citation.quote
    prompt = model.prompts[-1]
    assert "Article: " in prompt and "lasted for two days in London" in prompt
    whole = pipeline.search("How long did the first round of talks in London last?", k=5)
    assert len(prompt) < sum(len(h.text) for h in whole)  # less than the passages it came from


def test_a_question_asking_for_an_account_reads_whole_passages(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline, model = recorded(make_pipeline, "The talks lasted two days in London [1].")
    answer = pipeline.ask("What happened at the trade talks in London?")
    assert answer.trace["context"]["kind"] == "passages"
    assert "what happened" in answer.trace["context"]["why"].lower()
    assert all(" ".join(p.text.split())[:80] in " ".join(model.prompts[-1].split()) for p in answer.passages)


def test_whole_passages_when_the_setting_says_so(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline, _ = recorded(make_pipeline, "The talks lasted two days in London [1].", context="passages")
    answer = pipeline.ask("How long did the first round of talks in London last?")
    assert answer.trace["context"] == {"kind": "passages", "prompt_tokens": answer.trace["context"]["prompt_tokens"]}
    assert answer.trace["context"]["prompt_tokens"] > 600


def test_which_questions_want_whole_passages() -> None:
    accounts = ["Summarize the talks", "Compare the two reports", "Timeline of the strike", "Explain the tariff"]
    facts = ["Who leads the talks?", "When did the strike end?", "How many jets were grounded?", "Why did he leave?"]
    assert all(wants_passages(q) for q in accounts)
    assert not any(wants_passages(q) for q in facts)
