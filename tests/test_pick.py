"""Pick-first answers (RAG_ANSWER_STYLE=pick) with a scripted chat model over the real retriever and seed corpus:
the model names a numbered sentence (read from log-probabilities), then answers from it. What is shown,
refused and checked, and what the model is sent."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.runnables import RunnableLambda

from rag.answering.answer import Answer
from rag.pipeline import Pipeline

QUESTION = "How many hours did the talks last on Monday?"
SENTENCE = "after seven hours of talks on Monday"  # in the one seed sentence that answers it
SERVER = {"llm": "openai", "llm_base_url": "http://127.0.0.1:9/v1"}  # never contacted: the scripted model answers


class ScriptedModel:
    """Names the numbered sentence holding `wanted` with probability `p` (the rest on 0, "none"), or fails there;
    replies `reply` to the answer step. Keeps every prompt it was sent."""

    def __init__(self, wanted: str, p: float = 0.95, reply: str = "Seven hours", fail: bool = False) -> None:
        self.wanted, self.p, self.reply, self.fail = wanted, p, reply, fail
        self.prompts: list[ChatPromptValue] = []

    def __call__(self, prompt: ChatPromptValue, **options: Any) -> AIMessage:
        self.prompts.append(prompt)
        last = str(prompt.to_messages()[-1].content)
        if not last.startswith("Sentences:"):
            return AIMessage(self.reply)
        if self.fail:
            raise ConnectionError("the model server went away")
        found = re.search(rf"^(\d)\. .*{re.escape(self.wanted)}", last, re.MULTILINE)
        alternatives = [{"token": "0", "logprob": math.log(1 - self.p)}]
        if found:
            alternatives.append({"token": found[1], "logprob": math.log(self.p)})
        first = {**max(alternatives, key=lambda a: a["logprob"]), "top_logprobs": alternatives}
        return AIMessage(str(first["token"]), response_metadata={"logprobs": {"content": [first]}})


@pytest.fixture
def ask(make_pipeline: Callable[..., Pipeline]) -> Callable[..., tuple[Answer, ScriptedModel]]:
    ingested: list[Pipeline] = []

    def run(model: ScriptedModel, question: str = QUESTION) -> tuple[Answer, ScriptedModel]:
        pipeline = make_pipeline(answer_style="pick", chat_model=RunnableLambda(model), **SERVER)
        if not ingested:
            pipeline.ingest()
            ingested.append(pipeline)
        return pipeline.ask(question), model

    return run


def test_the_short_answer_is_shown_with_the_chosen_sentence_and_continues_its_prompt(ask: Callable[..., Any]) -> None:
    answer, model = ask(ScriptedModel(SENTENCE, p=0.95))
    assert not answer.refused and answer.sentences[0].supported
    assert answer.answer.startswith("Seven hours: According to reports") and SENTENCE in answer.answer
    assert SENTENCE in answer.citations[0].quote and answer.citations[0].source.endswith("day-two.txt")
    picked, answered = (p.to_messages() for p in model.prompts)
    assert [m.content for m in answered[: len(picked)]] == [m.content for m in picked]  # the cache is reused
    number = answer.trace["pick"]["chosen"]
    assert answered[-2].content == str(number) and f"using only sentence {number}" in str(answered[-1].content)
    assert answer.trace["answerable"] == pytest.approx(0.95)
    assert len(answer.trace["pick"]["sentences"]) <= 9


def test_none_above_an_even_share_is_a_refusal_without_an_answer_step(ask: Callable[..., Any]) -> None:
    answer, model = ask(ScriptedModel(SENTENCE, p=0.85))  # "none" 0.15: more than an even share of ten numbers
    assert answer.refused and "no sentence of the passages answers the question (P(none) 0.15)" in answer.note
    assert len(model.prompts) == 1 and answer.passages


def test_a_yes_no_question_is_asked_for_yes_or_no_and_shown_with_its_sentence(ask: Callable[..., Any]) -> None:
    answer, model = ask(ScriptedModel(SENTENCE, reply="Yes."), "Did the talks on Monday last seven hours?")
    assert "with Yes or No" in str(model.prompts[-1].to_messages()[-1].content)
    assert answer.answer.startswith("Yes: According to reports") and answer.sentences[0].supported


def test_an_answer_stating_what_the_sentence_does_not_is_not_shown_as_supported(ask: Callable[..., Any]) -> None:
    answer, _ = ask(ScriptedModel(SENTENCE, reply="Nine hours"))
    assert answer.refused or not answer.sentences[0].supported


def test_when_the_pick_step_fails_the_best_ranked_sentence_stands(ask: Callable[..., Any]) -> None:
    answer, model = ask(ScriptedModel(SENTENCE, fail=True))
    assert answer.trace["pick"]["chosen"] == 1 and answer.trace["answerable"] == 0.5
    assert "using only sentence 1" in str(model.prompts[-1].to_messages()[-1].content)
