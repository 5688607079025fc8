"""evals: dataset validation, the pure metric functions on hand-made answers, gating, and the CLI's exit codes."""

from __future__ import annotations

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
        ("- id: a3\n  question: Q?\n  facts: [[x]]\n  answer: y\n", "entry a3: unknown key(s) answer"),
        ("- id: a4\n  question: Q?\n", "entry a4: field `facts` is needed"),
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
    again = run_evals(*args[:-2], "--baseline", str(out), data=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "no change in facts" in again.stdout
