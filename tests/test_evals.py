"""evals: dataset validation, the pure metric functions on hand-made answers, gating, and the CLI's exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from evals import dataset, metrics
from evals.__main__ import check_gates
from evals.dataset import Case, DatasetError

ROOT = Path(__file__).resolve().parent.parent
NEWS = "corpus/2025-06-10_news_london-talks-day-two.txt"
OTHER = "corpus/2025-06-10_commentary_besant-leaves-london-talks.txt"
CASE = Case("q01", "Why did Besant leave?", [["congress", "hearing"], ["washington"]], [NEWS])
REFUSE = Case("r01", "What tariff rate?", refuse=True)


def answer(text: str, sources: Sequence[str] = (), refused: bool = False) -> dict[str, Any]:
    citations = [{"id": i, "source": s, "start": 0, "end": 1, "quote": "x"} for i, s in enumerate(sources, 1)]
    return {"answer": text, "refused": refused, "citations": citations, "timings": {"total_s": 1.5}}


def test_the_seed_set_is_valid_and_big_enough() -> None:
    cases = dataset.load(ROOT / "evals" / "seed.yaml")
    assert len([c for c in cases if not c.refuse]) >= 25 and len([c for c in cases if c.refuse]) >= 6
    corpus = {f"corpus/{p.name}" for p in (ROOT / "corpus").iterdir()}
    assert {s for c in cases for s in c.sources} <= corpus


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("- id: a1\n  facts: [[x]]\n", "entry a1: field `question` is missing"),
        (
            "- id: a2\n  question: Q?\n  facts: [['(unclosed']]\n",
            "entry a2: field `facts` #1: '(unclosed' is not a valid",
        ),
        ("- id: a3\n  question: Q?\n  facts: [[x]]\n  answers: y\n", "entry a3: unknown key(s) answers"),
        ("- id: a4\n  question: Q?\n", "entry a4: field `facts` (or `choices` with `answer`) is needed"),
        ("- id: a5\n  question: Q?\n  choices: [A, B]\n  answer: 2\n", "entry a5: field `answer` must be the"),
        ("- id: a7\n  question: Q?\n  choices: [A, B]\n", "entry a7: field `answer` must be the 0-based"),
        ("- id: a8\n  question: Q?\n  answer: 0\n", "entry a8: field `answer` needs `choices`"),
        ("- id: a9\n  question: Q?\n  choices: [A, '']\n  answer: 0\n", "entry a9: field `choices` must be"),
        ("- id: b1\n  question: Q?\n  facts: [[x]]\n  as_of: May\n", "entry b1: field `as_of` must be a date"),
        ("- question: Q?\n  refuse: yes please\n", "entry #1: field `refuse` must be true or false"),
        ("- id: a6\n  question: Q?\n  facts: [x]\n", "entry a6: field `facts` must be a list of non-empty lists"),
        ("question: Q?", "expected a list"),
        ("- [unclosed", "not valid YAML"),
    ],
)
def test_malformed_entries_are_named_with_their_field(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(entry)
    with pytest.raises(DatasetError, match=re.escape(message)):
        dataset.load(path)


def test_a_fact_present_or_absent() -> None:
    s = metrics.score(CASE, answer("He went to Washington for a congressional hearing [1].", [NEWS]))
    assert s.facts_found == [True, True] and s.right_citation and s.fully_correct
    s = metrics.score(CASE, answer("He went home [1].", [NEWS]))
    assert s.facts_found == [False, False] and not s.fully_correct


def test_a_wrong_citation_is_counted_against_precision() -> None:
    s = metrics.score(CASE, answer("A hearing in Washington [1][2].", [NEWS, OTHER]))
    assert s.wrong_citations == [OTHER] and s.right_citation and not s.fully_correct
    totals = metrics.totals([CASE], [s])
    assert totals["citation_precision"] == 0.5 and totals["citation_recall"] == 1.0


def test_a_refusal_where_an_answer_was_due_and_the_reverse() -> None:
    wrongly_refused = metrics.score(CASE, answer("The articles don't answer this question.", refused=True))
    assert not wrongly_refused.refusal_correct and wrongly_refused.facts_found == [False, False]
    wrongly_answered = metrics.score(REFUSE, answer("It was 10 percent [1].", [NEWS]))
    assert not wrongly_answered.refusal_correct and not wrongly_answered.fully_correct
    rightly_refused = metrics.score(REFUSE, answer("The articles don't answer this question.", refused=True))
    assert rightly_refused.fully_correct
    totals = metrics.totals([CASE, REFUSE, REFUSE], [wrongly_refused, wrongly_answered, rightly_refused])
    assert totals["refusal_precision"] == 0.5  # two refusals, one right
    assert totals["refusal_recall"] == 0.5  # two should-refuse, one refused
    assert totals["refusal_accuracy"] == pytest.approx(1 / 3)
    assert totals["fully_correct"] == 1


def test_gates_name_what_failed() -> None:
    totals = {"fact_recall": 0.8, "citation_precision": 0.95, "refusal_accuracy": 0.9}
    assert check_gates({"min_fact_recall": 0.7}, totals, None) == []
    assert check_gates({"min_fact_recall": 0.9}, totals, None) == ["fact_recall 0.800 < 0.900"]
    assert "newly missed" in check_gates({}, totals, {"q01": [0]})[0]


def run_evals(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    """`python -m evals ARGS` from the project folder (so sources read corpus/...), with a temp data folder."""
    env = {**os.environ, "RAG_DATA_DIR": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "evals", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600
    )


def test_cli_rejects_a_malformed_dataset_before_running(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: x1\n  question: Q?\n  facts: [['[']]\n")
    done = run_evals("--dataset", str(bad), "--model", "extractive", data=tmp_path)
    assert done.returncode == 2 and "entry x1: field `facts` #1" in done.stderr and "id " not in done.stdout


def test_cli_exits_non_zero_naming_the_failed_gate(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    args = ["--model", "extractive", "--only", "n10", "r01", "--report", str(tmp_path / "r.md"), "--json", str(out)]
    done = run_evals(*args, "--min-fact-recall", "1.01", data=tmp_path)
    assert done.returncode == 1 and "GATE FAILED: fact_recall" in done.stderr
    assert "n10" in done.stdout and (tmp_path / "r.md").exists()
    answers = [q["answer"] for q in json.loads(out.read_text())["questions"]]
    assert all(a["band"] in ("checked", "unsure", "refused") and 0 <= a["p_correct"] <= 1 for a in answers)
    again = run_evals(*args[:-2], "--baseline", str(out), data=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "no change in facts" in again.stdout


def test_a_choices_case_loads_with_its_date_and_a_refusal_may_keep_its_choices(tmp_path: Path) -> None:
    path = tmp_path / "choices.yaml"
    path.write_text(
        "- {id: c1, question: 'Which state?', choices: [Ohio, Utah], answer: 1, as_of: 2024-05-17}\n"
        "- {id: c2, question: 'Which city?', choices: [Rome, Oslo], answer: 0, refuse: true}\n"
    )
    first, second = dataset.load(path)
    assert (first.choices, first.answer, first.as_of, first.refuse) == (["Ohio", "Utah"], 1, "2024-05-17", False)
    assert second.refuse and second.choices == ["Rome", "Oslo"]


CHOICES = Case(
    "c1", "Which extreme weather event disrupted Dubai's airport?", choices=["Dust storms", "Heavy rains"], answer=1
)


def test_a_free_answer_is_graded_by_the_choice_it_states() -> None:
    right = metrics.score(CHOICES, answer("Heavy rains flooded the runways [1].", [NEWS]))
    wrong = metrics.score(CHOICES, answer("Dust storms grounded flights [1].", [NEWS]))
    neither = metrics.score(CHOICES, answer("Flights were cancelled [1].", [NEWS]))
    assert (right.choice, right.choice_correct, right.fully_correct) == (1, True, True)
    assert (wrong.choice, wrong.choice_correct, wrong.fully_correct) == (0, False, False)
    assert (neither.choice, neither.fully_correct) == (None, False)


def test_meaning_decides_when_no_choice_word_is_said() -> None:
    def similarity(choice: str, sentences: list[str]) -> list[float]:  # a stand-in for MiniLM
        return [0.8 if choice == "Heavy rains" else 0.2 for _ in sentences]

    paraphrase = metrics.score(CHOICES, answer("A deluge flooded the runways [1].", [NEWS]), similarity=similarity)
    assert paraphrase.choice == 1 and paraphrase.fully_correct


def test_a_refusal_on_a_choices_case_is_wrong_unless_the_case_expects_it() -> None:
    refused = answer("The articles don't answer this question.", refused=True)
    assert not metrics.score(CHOICES, refused).fully_correct
    assert metrics.score(Case("c2", "Q?", choices=["A", "B"], answer=0, refuse=True), refused).fully_correct
    totals = metrics.totals([CHOICES], [metrics.score(CHOICES, refused)])
    assert (totals["answer_accuracy"], totals["wrong_refusal_rate"]) == (0.0, 1.0)


def test_yes_or_no_counts_only_as_the_first_word() -> None:
    case = Case("y1", "Is he on pace to break the record?", choices=["Yes", "No", "It's uncertain"], answer=0)
    assert metrics.score(case, answer("Yes, he is on pace [1].", [NEWS])).choice == 0
    assert metrics.score(case, answer("No. He would need 200 yards, yes [1].", [NEWS])).choice == 1


def test_the_realtimeqa_dev_set_has_labels_only() -> None:
    text = (ROOT / "evals" / "realtimeqa.yaml").read_text()
    rows = [r for r in __import__("yaml").safe_load(text)]
    assert len(rows) >= 150 and all(set(r) == {"id", "answerable"} for r in rows)
    assert len({r["id"][:8] for r in rows}) >= 10
    assert 0.25 <= sum(not r["answerable"] for r in rows) / len(rows) <= 0.4


def test_words_of_the_question_or_of_every_choice_do_not_state_a_choice() -> None:
    case = Case("d1", "Who beat Luke Littler?", choices=["Luke Humphries", "Rob Cross"], answer=0)
    assert metrics.score(case, answer("Luke Littler reached the final [1].", [NEWS])).choice is None
    assert metrics.score(case, answer("Humphries beat him [1].", [NEWS])).choice == 0
    royals = Case("d2", "Who stands in?", choices=["Prince William", "Prince Harry"], answer=0)
    assert metrics.score(royals, answer("A prince will stand in [1].", [NEWS])).choice is None


def summary(bullets: Sequence[tuple[str, bool]], sources: Sequence[str]) -> dict[str, Any]:
    citations = [{"id": i, "source": s, "start": 0, "end": 1, "quote": "x"} for i, s in enumerate(sources, 1)]
    return {
        "bullets": [{"text": t, "supported": ok} for t, ok in bullets],
        "citations": citations,
        "sources": [NEWS],
        "timings": {"total_s": 2.0},
    }


def test_summary_cases_count_facts_of_supported_bullets_and_citations_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"- id: s1\n  summarize: [{NEWS}]\n  facts: [[rare earth], [chip]]\n")
    (case,) = dataset.load(path)
    assert case.summarize == [NEWS] and case.question == ""
    good = metrics.score_summary(case, summary([("Rare earths.", True), ("Chips too.", True)], [NEWS]))
    assert good.fully_correct and good.words == 4 and good.supported == 1.0
    marked = metrics.score_summary(case, summary([("Rare earths.", True), ("Chips.", False)], [NEWS]))
    assert marked.facts_found == [True, False] and marked.supported == 0.5  # an unsupported bullet states nothing
    elsewhere = metrics.score_summary(case, summary([("Rare earths and chips.", True)], [OTHER]))
    assert elsewhere.wrong_citations == [OTHER] and not elsewhere.fully_correct
    totals = metrics.summary_totals([good, marked])
    assert totals["summary_coverage"] == 0.75 and totals["summaries_covered"] == 1.0
    assert check_gates({"min_summary_coverage": 0.8}, totals, None) == ["summary_coverage 0.750 < 0.800"]
    assert check_gates({"min_summary_coverage": 0.8}, {"fact_recall": 1.0}, None) == []  # not measured: holds


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("- {id: s1, summarize: [], facts: [[x]]}", "`summarize` must be a non-empty list"),
        ("- {id: s1, summarize: [a.txt]}", "field `facts` is needed"),
        ("- {id: s1, summarize: [a.txt], facts: [[x]], refuse: true}", "unknown key(s) refuse for a summary case"),
    ],
)
def test_malformed_summary_cases_are_named(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(entry)
    with pytest.raises(DatasetError, match=re.escape(message)):
        dataset.load(path)


def test_the_summary_case_files_load() -> None:
    seed = dataset.load(ROOT / "evals" / "summaries.yaml")
    real = dataset.load(ROOT / "evals" / "summaries-realtimeqa.yaml")
    assert len(seed) == 3 and len(real) >= 15 and all(c.summarize and c.facts for c in seed + real)
