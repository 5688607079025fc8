"""Timelines: the articles about a topic in date order, a dated, cited bullet each (CLI, JSON, chat command)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from rag.pipeline import Pipeline
from rag.types import Dates

from .conftest import run_cli
from .test_summarize import dated

STEPS = [
    (
        "talks-announced.md",
        "2025-06-05",
        "Trade talks announced for London",
        "wire.example",
        "The two governments announced on Thursday that trade talks will open in London next Monday. Officials said "
        "export controls on rare earths and chips will top the agenda.",
    ),
    (
        "talks-end.md",
        "2025-06-12",
        "London trade talks end with a framework",
        "coast.example",
        "The London trade talks ended on Wednesday with a framework to ease export controls on rare earths. Both "
        "delegations said the framework still needs approval from their leaders.",
    ),
    (
        "talks-undated.md",
        "",
        "An undated note on the London trade talks",
        "",
        "The London trade talks were about export controls on rare earths and chips, a note without a date says.",
    ),
]


def _corpus(corpus: Path) -> None:
    for name, date, title, outlet, text in STEPS:
        if date:
            dated(corpus, name, title, date, outlet, text)
        else:
            (corpus / name).write_text(f"# {title}\n\n{text}\n", encoding="utf-8")


def test_a_timeline_is_dated_bullets_in_date_order(corpus: Path, make_pipeline: Callable[..., Pipeline]) -> None:
    _corpus(corpus)
    pipeline = make_pipeline(llm="extractive")
    pipeline.ingest()
    shown: list[str] = []
    summary = pipeline.timeline("the London trade talks on rare earths", progress=lambda *a: shown.append(a[2]))
    dates = [b.story["since"] for b in summary.bullets if b.story]
    assert len(dates) == len(summary.bullets) >= 3
    assert dates == sorted(dates) and dates[0] == "2025-06-05" and dates[-1] == "2025-06-12"
    assert all(b.supported and b.citations for b in summary.bullets)
    assert re.fullmatch(
        r"Timeline of the London trade talks on rare earths: \d+ articles \(1 undated left out\)", summary.title
    )
    assert shown and all(what.startswith("story ") for what in shown)
    cited = {Path(c.source).name for c in summary.citations}
    assert {"talks-announced.md", "talks-end.md"} <= cited and "talks-undated.md" not in cited
    first = summary.bullets[0]
    assert first.heading() == "2025-06-05, wire.example, 1 article"

    within = pipeline.timeline("the London trade talks on rare earths", dates=Dates("2025-06-06", "2025-06-30"))
    assert all(b.story and b.story["since"] >= "2025-06-06" for b in within.bullets)
    assert "talks-announced.md" not in {Path(c.source).name for c in within.citations}
    assert pipeline.timeline("the London trade talks on rare earths").cached


def test_timeline_in_the_terminal_and_as_json(corpus: Path, tmp_path: Path) -> None:
    _corpus(corpus)
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_LLM": "extractive"}
    assert run_cli("ingest", "--quiet", env=env, cwd=tmp_path)[0] == 0
    code, out, err = run_cli("timeline", "the London trade talks", "--quiet", env=env, cwd=tmp_path)
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("- ")]
    assert lines[0].startswith("- 2025-06-05, wire.example, 1 article: ") and lines[-1].startswith("- 2025-06-12")
    code, out, err = run_cli("timeline", "the London trade talks", "--json", "--until", "2025-06-10", env=env)
    assert code == 0, err
    data = json.loads(out)
    assert [b["story"]["since"] for b in data["bullets"]] == sorted(b["story"]["since"] for b in data["bullets"])
    assert all(b["story"]["since"] <= "2025-06-10" for b in data["bullets"])
    code, _, err = run_cli("timeline", "  ", env=env, cwd=tmp_path)
    assert code == 2 and "a timeline needs a topic" in err and "Traceback" not in err
