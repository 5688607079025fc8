"""The support checker (rag.answering.checker): missing or damaged files are one clear error; the shipped model
on hand-written pairs; and RAG_SUPPORT=checker deciding answers and summary points (scripted answer model, real
checker), falling back to the lexical check with a note when its files are damaged."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from rag.answering.checker import FOLDER, Checker, CheckerUnavailable
from rag.pipeline import Pipeline

from .conftest import COMMENTARY


def test_a_missing_checker_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(CheckerUnavailable) as caught:
        Checker(tmp_path / "nothing")
    message = str(caught.value)
    assert "missing or damaged" in message and "make train-checker" in message and "\n" not in message


def test_a_damaged_file_is_caught_by_its_sha256(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    card = {"sha256": {"model.onnx": "0" * 64}, "threshold": 0.5, "claim_tokens": 64, "max_length": 256}
    (tmp_path / "checker.json").write_text(json.dumps(card))
    with pytest.raises(CheckerUnavailable, match=r"model\.onnx does not match its sha256"):
        Checker(tmp_path)


# --- the shipped model --------------------------------------------------------------------------------------

SEED = Path(__file__).resolve().parent.parent / "corpus"
LONDON = (SEED / "2025-06-10_commentary_besant-leaves-london-talks.txt").read_text(encoding="utf-8")
DAY_TWO = (SEED / "2025-06-10_news_london-talks-day-two.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker()


def missed(claim: str, why: str) -> Any:
    """An unsupported claim the shipped checker is known to pass (docs/checker.md, known limits): strict, so a
    checker that learns it makes this test fail until the case moves to the caught ones."""
    return pytest.param(claim, LONDON, False, marks=pytest.mark.xfail(strict=True, reason=why), id=why)


@pytest.mark.parametrize(
    ("claim", "evidence", "supported"),
    [
        ("Besant hurried back to Washington for a congressional hearing.", LONDON, True),
        ("Luthnick and Greer remained in London to continue the negotiations.", LONDON, True),
        ("The talks focused on rare earth exports and chip export controls.", LONDON, True),
        ("Besant returned to Washington to attend a hearing in Congress.", LONDON, True),  # few shared words
        ("Besant left London early.", LONDON, False),  # the article says he left, not that he left early
        ("Besant did not return to Washington.", LONDON, False),
        ("The talks were held in Paris.", LONDON, False),
        missed("Greer hurried back to Washington for a congressional hearing.", "wrong-person"),
        missed("Besant stayed in London to continue the negotiations.", "opposite-of-the-text"),
        missed("China agreed to lift all controls on rare earth exports.", "reversed-stance"),
        missed("Besant hurried back to Washington after the talks collapsed.", "invented-cause"),
    ],
    ids=["left-for-hearing", "stayed", "topics", "paraphrase", "left-early", "negated", "elsewhere", *[""] * 4],
)
def test_the_shipped_checker_separates_hand_written_pairs(
    checker: Checker, claim: str, evidence: str, supported: bool
) -> None:
    score = checker.score(claim, [evidence])
    assert (score >= checker.threshold) is supported, f"P(supported) {score:.2f}, threshold {checker.threshold}"


def test_a_claim_scores_the_same_alone_or_beside_others_and_reads_every_passage(checker: Checker) -> None:
    claim = "Luthnick and Greer remained in London to continue the negotiations."
    both = checker.score(claim, [DAY_TWO, LONDON])
    assert both >= checker.threshold > checker.score(claim, [DAY_TWO])  # the support is in the second passage
    assert checker.scores([("Besant left London early.", [LONDON]), (claim, [DAY_TWO, LONDON])])[1] == both
    assert checker.scores([]) == []


# --- in answers and summaries -------------------------------------------------------------------------------

# Its words are the article's ("not" is no content word), so the lexical check passes it; the checker does not.
NEGATED = "Besant did not return to Washington."
ASKED = "Where did the Treasury Secretary go?"


def replying(text: str) -> RunnableLambda[Any, AIMessage]:
    """A chat model that writes `text` to every prompt (answerability reads no logprobs from it: undecided)."""
    return RunnableLambda(lambda prompt, **_: AIMessage(text))


def test_with_rag_support_checker_the_checker_decides_and_the_json_records_its_score(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    def pipeline(**settings: Any) -> Pipeline:
        return make_pipeline(
            llm="openai", llm_base_url="http://127.0.0.1:9/v1", chat_model=replying(f"{NEGATED} [1]"), **settings
        )

    checked = pipeline()  # the default
    checked.ingest()
    answer = checked.ask(ASKED)
    assert answer.refused and answer.trace["support"] == "checker"
    (sentence,) = answer.trace["sentences"]
    assert sentence["stage"] == "checker" and not sentence["supported"] and sentence["score"] < 0.5
    assert not pipeline(support="lexical").ask(ASKED).refused  # the lexical check lets it through


def test_a_damaged_checker_falls_back_to_the_lexical_check_with_a_note(
    make_pipeline: Callable[..., Pipeline], tmp_path: Path
) -> None:
    damaged = tmp_path / "checker"
    shutil.copytree(FOLDER, damaged)
    (damaged / "model.onnx").write_bytes(b"damaged")
    pipeline = make_pipeline(
        llm="openai",
        llm_base_url="http://127.0.0.1:9/v1",
        chat_model=replying(f"{NEGATED} [1]"),
        support="checker",
        checker_dir=damaged,
    )
    pipeline.ingest()
    answer = pipeline.ask(ASKED)
    assert not answer.refused and answer.trace["support"] == "lexical"
    assert "missing or damaged" in answer.note and "lexical check" in answer.note and "\n" not in answer.note
    assert [s["check"] for s in answer.to_json()["sentences"]] == ["lexical"]


def test_with_rag_support_checker_summary_points_are_checked_by_it(make_pipeline: Callable[..., Pipeline]) -> None:
    def summary(**settings: Any) -> list[tuple[str, bool]]:
        pipeline = make_pipeline(
            llm="openai", llm_base_url="http://127.0.0.1:9/v1", chat_model=replying(f"- {NEGATED} [1]"), **settings
        )
        pipeline.ingest()
        return [(b.text, b.supported) for b in pipeline.summarize([COMMENTARY]).bullets]

    assert (NEGATED, False) in summary(support="checker")
    assert (NEGATED, True) in summary(support="lexical")


def test_the_support_benchmark_reports_the_checker_beside_the_lexical_check(tmp_path: Path) -> None:
    """On a few rows of our labelled set and of FRANK's held-out split: the JSON layout other tools read."""
    import subprocess
    import sys

    from benchmarks.common import BENCHDATA

    frank = BENCHDATA / "consistency" / "frank.jsonl"
    out = tmp_path / "support.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "support", "--judge", "checker", "--limit", "6", "--json", str(out),
         "--data", "evals/support.yaml", "--data", str(frank)],
        capture_output=True, text=True, env={**os.environ, "BENCH_RESULTS": str(tmp_path)}, timeout=600,
        cwd=FOLDER.parent.parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    datasets = json.loads(out.read_text())["datasets"]
    assert set(datasets) == {"evals/support.yaml", str(frank)}
    for judges in datasets.values():
        assert {"checker", "checker alone", "lexical"} <= set(judges)
        for measured in judges.values():
            assert 0 <= measured["balanced_accuracy"] <= 1 and measured["n"] == 6
            assert "roc_auc" in measured and measured["seconds_median"] >= 0
    assert "ROC AUC" in done.stdout and "ms/sentence" in done.stdout
