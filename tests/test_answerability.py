"""Answerability: before answering, the model is asked whether the passages answer the question at all, read
from log-probabilities; and a bare answer gets the sentence that states it. A scripted model returns given
probabilities and replies, and records what it was asked."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.runnables import RunnableLambda

from rag.answering.models import Backend
from rag.config import Settings
from rag.pipeline import Pipeline

QUESTION = "How long did Tuesday's talks last?"
REPLY = "Tuesday's talks lasted five hours before pausing [1]."
SERVER = {"llm": "openai", "llm_base_url": "http://127.0.0.1:9/v1"}  # never contacted: the scripted model answers


class ScriptedModel:
    """Says Yes / No to the answerability question with the given P(yes) (or fails there), and `reply` to the
    answer prompt; keeps every prompt it was sent."""

    def __init__(self, p_yes: float, fail: bool = False, reply: str = REPLY) -> None:
        self.p_yes, self.fail, self.reply = p_yes, fail, reply
        self.prompts: list[ChatPromptValue] = []

    def __call__(self, prompt: ChatPromptValue, **options: Any) -> AIMessage:
        self.prompts.append(prompt)
        if "Do the passages answer this question?" not in prompt.to_string():
            return AIMessage(self.reply)
        if self.fail:
            raise ConnectionError("the model server went away")
        alternatives = [
            {"token": "Yes", "logprob": math.log(self.p_yes)},
            {"token": "No", "logprob": math.log(1 - self.p_yes)},
        ]
        first = {**max(alternatives, key=lambda a: a["logprob"]), "top_logprobs": alternatives}
        return AIMessage(str(first["token"]), response_metadata={"logprobs": {"content": [first]}})


def test_a_question_the_model_judges_unanswered_is_refused_before_any_answer_is_written(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    model = ScriptedModel(p_yes=0.1)
    pipeline = make_pipeline(min_answerable=0.5, chat_model=RunnableLambda(model), **SERVER)
    pipeline.ingest()
    answer = pipeline.ask(QUESTION)
    assert answer.refused and answer.confidence == "refused"
    assert "do not answer the question (P(yes) 0.10)" in answer.note
    assert answer.trace["answerable"] == 0.1 and answer.passages  # the closest passages are still shown
    assert len(model.prompts) == 1  # the answer prompt was never sent


def test_an_answerable_question_is_answered_and_its_prompt_reuses_the_checks_prefix(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    model = ScriptedModel(p_yes=0.9)
    pipeline = make_pipeline(min_answerable=0.5, chat_model=RunnableLambda(model), **SERVER)
    pipeline.ingest()
    answer = pipeline.ask(QUESTION)
    assert not answer.refused and answer.trace["answerable"] == 0.9
    checked, answered = (p.to_messages() for p in model.prompts)
    assert checked[0].content == answered[0].content  # the same system text
    assert str(checked[1].content).startswith(str(answered[1].content))  # passages and question, then the check


def test_when_the_check_fails_the_question_is_still_answered(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(min_answerable=0.5, chat_model=RunnableLambda(ScriptedModel(0.9, fail=True)), **SERVER)
    pipeline.ingest()
    answer = pipeline.ask(QUESTION)
    assert not answer.refused and answer.trace["answerable"] is None


def test_at_zero_the_check_is_scored_but_never_refuses(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(min_answerable=0.0, chat_model=RunnableLambda(ScriptedModel(p_yes=0.01)), **SERVER)
    pipeline.ingest()
    answer = pipeline.ask(QUESTION)
    assert not answer.refused and answer.trace["answerable"] == 0.01


def test_a_bare_number_is_shown_with_the_sentence_that_states_it_and_checked_with_it(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    right = make_pipeline(chat_model=RunnableLambda(ScriptedModel(0.9, reply="5 [1]")), **SERVER)
    right.ingest()
    answer = right.ask(QUESTION)
    assert not answer.refused and answer.answer.startswith("5: ")
    assert "five hours" in answer.sentences[0].text and answer.sentences[0].supported
    assert "five hours" in answer.citations[0].quote
    wrong = make_pipeline(chat_model=RunnableLambda(ScriptedModel(0.9, reply="12 [1]")), **SERVER)
    assert wrong.ask(QUESTION).refused  # no passage sentence states 12: nothing to check, refused as before


def test_the_bundled_small_model_is_not_asked_since_it_cannot_judge(embeddings: Any) -> None:
    small = Settings(_env_file=None, llm="bundled", bundled_model="qwen2.5-coder-0.5b")  # type: ignore[call-arg]
    assert Backend(small, embeddings).answerability() is None  # it says no to answerable questions
    assert Backend(Settings(_env_file=None, llm="extractive"), embeddings).answerability() is None  # type: ignore[call-arg]


def test_the_real_default_model_refuses_a_nearby_question_it_cannot_answer_and_answers_one_it_can(
    make_pipeline: Callable[..., Pipeline], default_gguf: Path
) -> None:
    pipeline = make_pipeline(llm="bundled", models_dir=default_gguf.parent)
    pipeline.ingest()
    answered = pipeline.ask("Why did the US Treasury Secretary leave London?")
    assert not answered.refused and answered.trace["answerable"] > 0.5, answered.note
    refused = pipeline.ask("What tariff rate did the two countries agree on in London?")  # the passages are close
    assert refused.refused and "do not answer the question" in refused.note, refused.trace["answerable"]
    pipeline.close()
