"""How far to trust an answer: the signals, the shipped combiner, the bands and where they are shown.

The combiner here is built from numbers (one weight on the lowest support score) where the test is about the
bands; the shipped one is loaded where the test is about what ships. A scripted model enters through the
pipeline's constructor; the last test asks the real bundled 1.5B."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda

from rag.answering.confidence import BANDS, FITTED, OPTIONAL, SIGNALS, Combiner, Confidence, novelty, signals
from rag.pipeline import Pipeline
from tests.test_answerability import ScriptedModel
from training.answers import FIT_WEEKS

MODEL = "bundled:qwen2.5-coder-1.5b"
QUESTION = "Why did the US Treasury Secretary leave London early?"


def combiner(checked_at: float = 0.9, model: str = MODEL) -> Combiner:
    """P(right) rises with the lowest support score only: 0.5 at 0.5, about 0.98 at 1."""
    weights = tuple(8.0 if name == "support_min" else 0.0 for name in SIGNALS)
    means = tuple(0.5 if name == "support_min" else 0.0 for name in SIGNALS)
    return Combiner(SIGNALS, means, (1.0,) * len(SIGNALS), weights, 0.0, checked_at, model)


def shown(text: str, score: float, supported: bool = True, question: str = QUESTION) -> dict[str, Any]:
    return {
        "question": question,
        "answer": text,
        "refused": False,
        "sentences": [{"text": text, "citations": [1], "supported": supported, "score": score}],
        "citations": [{"id": 1, "source": "a.txt", "start": 0, "end": 40}],
        "passages": [{"source": "a.txt", "start": 0, "end": 80, "text": "Bessent left London for a Senate hearing."}],
        "trace": {"answerable": 0.9, "retrieved": [{"dense_score": 0.7}, {"dense_score": 0.4}]},
    }


def test_signals_are_read_from_an_answer_as_its_json_writes_it() -> None:
    values = signals(shown("He left London for a Senate hearing [1].", 0.8))
    assert list(values) == [name for name in SIGNALS if name not in OPTIONAL]  # no log-probabilities were sent
    answer = shown("He left London for a Senate hearing [1].", 0.8)
    answer["trace"]["generation"] = {"finish_reason": "stop", "logprob_mean": -0.2, "logprob_min": -1.5}
    scored = signals(answer)
    assert list(scored) == list(SIGNALS) and (scored["logprob_mean"], scored["logprob_min"]) == (-0.2, -1.5)
    assert values["support_min"] == 0.8 and values["supported_share"] == 1.0 and values["answerable"] == 0.9
    assert values["dense_margin"] == pytest.approx(0.3) and "dense_top" not in values
    assert values["agreement"] == 1.0  # it cites the sentence that shares most of the question's words
    assert not any(values[f"kind_{kind}"] for kind in ("yes_no", "number", "date", "name"))  # a "why" question


def test_a_well_supported_answer_is_checked_and_a_weak_one_unsure_with_the_reason() -> None:
    confidence = Confidence(combiner(), MODEL)
    strong = confidence.rate(shown("He left London for a Senate hearing [1].", 0.99))
    assert strong.band == "checked" and strong.p_correct >= 0.9
    weak = confidence.rate(shown("He left London for a Senate hearing [1].", 0.6))
    assert weak.band == "unsure" and weak.p_correct < 0.9 and "weakly supported" in weak.why
    unsupported = confidence.rate(shown("He left London for a Senate hearing [1].", 0.99, supported=False))
    assert unsupported.why == "sentence 1 is not supported by its source"


def test_an_answer_that_only_restates_the_question_is_never_checked() -> None:
    restated = shown("The US Treasury Secretary left London early. [1]", 1.0)
    assert novelty(QUESTION, restated["answer"]) == 0.0
    rating = Confidence(combiner(), MODEL).rate(restated)
    assert rating.p_correct >= 0.9  # the score alone would check it
    assert rating.band == "unsure" and rating.why == "the answer only restates the question"


def test_a_refusal_is_refused_and_other_models_are_never_checked() -> None:
    refused = Confidence(combiner(), MODEL).rate({"refused": True, "answer": "The articles don't answer this."})
    assert (refused.band, refused.p_correct) == ("refused", 0.0)
    elsewhere = Confidence(combiner(), "openai:llama3").rate(shown("He left for a Senate hearing [1].", 0.99))
    assert elsewhere.band == "unsure" and "measured for bundled:qwen2.5-coder-1.5b only" in elsewhere.why
    never = Confidence(replace(combiner(), checked_at=None), MODEL).rate(shown("He left for a hearing [1].", 0.99))
    assert never.band == "unsure" and never.why == "no answer of this model is right often enough to show as checked"
    unfitted = Confidence(None, MODEL).rate(shown("He left for a Senate hearing [1].", 0.99))
    assert (unfitted.band, unfitted.p_correct) == ("unsure", 0.5)


def test_the_shipped_combiner_loads_and_a_damaged_one_is_reported_not_raised(tmp_path: Path) -> None:
    shipped = Combiner.load()
    assert shipped is not None and set(shipped.names) <= set(SIGNALS) and shipped.model == MODEL
    fitted = json.loads(FITTED.read_text(encoding="utf-8"))
    assert shipped.checked_at is None or 0.5 < shipped.checked_at < 1.0  # None: no level was right often enough
    assert fitted["command"] == "make fit-confidence" and fitted["fitted_on"]["weeks"] == sorted(FIT_WEEKS)
    damaged = tmp_path / "confidence.json"
    damaged.write_text('{"signals": ["support_min"], "weights": [1', encoding="utf-8")
    assert Combiner.load(damaged) is None
    damaged.write_text(json.dumps({**fitted, "weights": fitted["weights"][:-1]}), encoding="utf-8")
    assert Combiner.load(damaged) is None  # a weight short: reported at load, not a crash at answer time


def test_every_answer_carries_its_band_and_probability(make_pipeline: Callable[..., Pipeline]) -> None:
    server = {"llm": "openai", "llm_base_url": "http://127.0.0.1:9/v1"}
    pipeline = make_pipeline(chat_model=RunnableLambda(ScriptedModel(0.9)), **server)
    pipeline.ingest()
    answer = pipeline.ask("How long did Tuesday's talks last?").to_json()
    assert answer["band"] in BANDS and 0.0 <= answer["p_correct"] <= 1.0 and answer["band_reason"]
    assert answer["band"] != "checked"  # a hosted model is not the one the combiner was fitted on
    refused = pipeline.ask("What is the boiling point of tungsten?").to_json()
    assert (refused["band"], refused["p_correct"]) == ("refused", 0.0)


def test_a_restated_question_from_the_real_bundled_model_is_never_checked(
    make_pipeline: Callable[..., Pipeline], default_gguf: Path
) -> None:
    pipeline = make_pipeline(llm="bundled", models_dir=default_gguf.parent)
    pipeline.ingest()
    answer = pipeline.ask(QUESTION)
    assert answer.band in BANDS
    if not answer.refused:  # the bundled model is asked for its tokens' log-probabilities, and sends them
        generation = answer.trace["generation"]
        assert generation["finish_reason"] == "stop" and generation["tokens_scored"] > 0, generation
    if not answer.refused and novelty(QUESTION, answer.answer) == 0.0:
        assert answer.band == "unsure" and "restates" in answer.band_reason
    assert answer.band != "checked" or novelty(QUESTION, answer.answer) > 0


def test_a_signal_an_answer_lacks_counts_as_the_fits_mean() -> None:
    """A backend that sends no log-probabilities is rated as if its were average, not as if they were 0
    (certain)."""
    weights = tuple(2.0 if name == "logprob_mean" else 0.0 for name in SIGNALS)
    means = tuple(-0.4 if name == "logprob_mean" else 0.0 for name in SIGNALS)
    fitted = Combiner(SIGNALS, means, (1.0,) * len(SIGNALS), weights, 0.0, None, MODEL)
    assert fitted.probability({}) == 0.5 == fitted.probability({"logprob_mean": -0.4})
    assert fitted.probability({"logprob_mean": 0.0}) > 0.5 > fitted.probability({"logprob_mean": -2.0})
