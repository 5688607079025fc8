"""The command line as a user runs it: `python -m rag ...` in a subprocess, JSON contracts, clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .conftest import COMMENTARY, NEWS, run_cli


def test_ingest_json_then_search_json(corpus: Path, tmp_path: Path) -> None:
    (corpus / "empty.txt").write_bytes(b"")
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data")}
    code, out, err = run_cli("ingest", "--json", env=env, cwd=tmp_path)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["files_added"] == 2 and summary["files_changed"] == summary["files_removed"] == 0
    assert summary["files_skipped"] == [{"path": "empty.txt", "reason": "empty file"}]
    assert summary["chunks_embedded"] == summary["chunks_total"] > 0
    assert isinstance(summary["seconds"], float)

    code, out, err = run_cli("search", "rare earth licences", "-k", "4", "--json", env=env, cwd=tmp_path)
    assert code == 0, err
    hits = json.loads(out)
    assert len(hits) == 4
    assert {Path(h["source"]).name for h in hits} == {NEWS, COMMENTARY}
    assert {"source", "start", "end", "text", "score", "dense_score", "bm25_score"} <= set(hits[0])

    code, out, err = run_cli("search", "Basant", "--source", NEWS, env=env, cwd=tmp_path)
    assert code == 0 and "[1]" in out and COMMENTARY not in out

    # a request the chat reads as a digest (rag.intents) is one here too
    asked = {**env, "RAG_LLM": "extractive"}
    code, out, err = run_cli("ask", "Summarize the news in June 2025", "--json", env=asked, cwd=tmp_path)
    assert code == 0, err
    digest = json.loads(out)
    assert digest["title"].startswith("The articles dated from 2025-06-01 to 2025-06-30") and digest["bullets"]


def test_bad_settings_and_arguments_are_one_line_errors(tmp_path: Path) -> None:
    code, _, err = run_cli("ingest", env={"RAG_CHUNK_SIZE": "100", "RAG_CHUNK_OVERLAP": "200"}, cwd=tmp_path)
    assert code == 2 and "must be smaller than RAG_CHUNK_SIZE" in err and "Traceback" not in err
    code, _, err = run_cli("ingest", env={"RAG_K": "many"}, cwd=tmp_path)
    assert code == 2 and "RAG_K" in err and "Traceback" not in err
    code, _, err = run_cli("ingest", env={"RAG_CORPUS_DIR": str(tmp_path / "none")}, cwd=tmp_path)
    assert code == 2 and "does not exist" in err
    code, _, err = run_cli("search", "x", "-k", "0", cwd=tmp_path)
    assert code == 2 and "-k must be at least 1" in err
    code, _, err = run_cli("search", "x", env={"RAG_MAX_FILE_MB": "1e308"}, cwd=tmp_path)
    assert code == 2 and err.count("\n") == 1 and "RAG_MAX_FILE_MB" in err and "allowed: above 0 up to" in err


def test_every_number_setting_has_a_range_that_absurd_values_are_told() -> None:
    """1e308 (or -1e308) for any number setting is refused naming the setting and its range, before anything
    multiplies it into an overflow."""
    from pydantic import ValidationError

    from rag.config import Settings, allowed_range
    from rag.errors import describe_error

    numbers = [n for n in Settings.model_fields if allowed_range(n)]
    assert {"k", "max_file_mb", "llm_timeout", "candidates", "prompt_tokens"} <= set(numbers)
    for name in numbers:
        assert " to " in allowed_range(name), name  # bounded on both sides
        for absurd in ("1e308", "-1e308"):
            try:
                Settings(_env_file=None, **{name: absurd})  # type: ignore[arg-type]
            except ValidationError as e:
                message = describe_error(e)
                assert f"RAG_{name.upper()}" in message and "(allowed: " in message, message
            else:
                raise AssertionError(f"{name}={absurd} was accepted")


def test_control_characters_from_articles_are_shown_not_obeyed(corpus: Path, tmp_path: Path) -> None:
    """An article carrying ANSI escapes and a bell: the terminal output shows them as escapes."""
    (corpus / "hostile.txt").write_text("The sardine quota \x1b[2J\x1b[31mwas cut\x07 by the Lisbon summit.\n")
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data")}
    assert run_cli("ingest", "--quiet", env=env, cwd=tmp_path)[0] == 0
    code, out, err = run_cli("search", "sardine quota Lisbon", "-k", "1", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J\\x1b[31mwas cut\\x07" in out
    code, out, _ = run_cli("search", "sardine quota Lisbon", "-k", "1", "--json", env=env, cwd=tmp_path)
    assert "\x1b" not in out and json.loads(out)[0]["text"].count("\x1b") == 2  # JSON escapes them itself


def test_invisible_characters_and_line_breaks_in_names_are_shown_escaped(corpus: Path, tmp_path: Path) -> None:
    """A file name with a line break and a right-to-left override, and article text with a zero-width space and
    an override: the terminal shows each as an escape, so nothing reorders or hides what is printed."""
    name = "walrus\nreport\u202etxt.txt"
    (corpus / name).write_text("The walrus\u200b census \u202ecounted twelve animals on the ice floe.\n")
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_LLM": "extractive"}
    code, out, err = run_cli("ingest", env=env, cwd=tmp_path)
    assert code == 0, err
    code, out, err = run_cli("search", "walrus census ice floe", "-k", "1", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "\u202e" not in out and "\u200b" not in out
    assert "walrus\\nreport\\u202etxt.txt" in out and "walrus\\u200b census \\u202ecounted" in out
    code, out, err = run_cli("ask", "How many animals did the walrus census count?", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "\u202e" not in out and "walrus\\nreport\\u202etxt.txt" in out
    assert "\nUnsure (estimated " in out  # the band, after the answer (extractive answers are never checked)
    code, out, err = run_cli("ask", "How many animals did the walrus census count?", "--json", env=env, cwd=tmp_path)
    answer = json.loads(out)
    assert answer["band"] == "unsure" and 0 <= answer["p_correct"] <= 1 and answer["band_reason"]


def test_the_cited_command_is_the_same_cli(corpus: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    cited = Path(sys.executable).parent / "cited"  # installed by pyproject's [project.scripts]
    env = {**os.environ, "RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([str(cited), "ingest", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and json.loads(done.stdout)["files_added"] == 2, done.stderr
    shown = subprocess.run([str(cited), "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert shown.stdout.startswith("usage: cited ") and "mcp" in shown.stdout
