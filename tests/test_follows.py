"""Followed questions on a real temporary corpus and index with the extractive backend (deterministic): a new
article that moves the answer changes it, an unrelated one changes nothing and asks nothing, a removed one
leaves it gone. The answers are counted through the constructor's `ask`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from rag.answering.answer import Answer
from rag.follows import Follows, FollowStore
from rag.pipeline import Pipeline

from .conftest import run_cli

KEYS = {"id", "question", "status", "answer", "previous_answer", "citations", "checked_at", "reason"}


def follows_of(pipeline: Pipeline, asked: list[str]) -> Follows:
    def ask(question: str) -> Answer:
        asked.append(question)
        return pipeline.ask(question)

    return pipeline.follows_asking(ask)


def test_a_new_article_changes_the_answer_an_unrelated_one_asks_nothing_and_a_removed_one_is_gone(
    make_pipeline: Callable[..., Pipeline], corpus: Path
) -> None:
    pipeline = make_pipeline(llm="extractive")
    (corpus / "walrus.txt").write_text("The walrus census on the ice floe counted twelve animals this spring.")
    pipeline.ingest()
    asked: list[str] = []
    follows = follows_of(pipeline, asked)
    walrus = follows.add("How many animals did the walrus census on the ice floe count?")
    assert "twelve" in walrus.answer["answer"] and len(asked) == 1

    (corpus / "herons.txt").write_text("The herons of Porto nested early in 2024, the city's wardens said.")
    pipeline.ingest()
    [same] = follows.check()
    assert (same.status, same.reason) == ("unchanged", "no new evidence") and len(asked) == 1  # no answer asked

    (corpus / "walrus-recount.txt").write_text(
        "A recount of the walrus census on the ice floe counted fifteen animals, the wardens said on Monday."
    )
    pipeline.ingest()
    [moved] = follows.check()
    assert moved.status == "changed" and "fifteen" in moved.answer["answer"], moved
    assert moved.reason == f"new answer from {pipeline.library.display('walrus-recount.txt')}"
    shown = moved.to_json()
    assert set(shown) == KEYS and shown["previous_answer"] == walrus.answer["answer"]
    recount = next(c for c in shown["citations"] if c["file"].endswith("walrus-recount.txt"))
    assert recount["quote"] in (corpus / "walrus-recount.txt").read_text()
    assert len(recount["span"]) == 2 and len(asked) == 2
    [settled] = follows.check()  # nothing new since: unchanged, and no longer showing the answer before
    assert (settled.status, settled.to_json()["previous_answer"], len(asked)) == ("unchanged", None, 2)

    (corpus / "walrus.txt").unlink()
    (corpus / "walrus-recount.txt").unlink()
    pipeline.ingest()
    [gone] = follows.check()
    assert gone.status == "gone" and gone.answer["refused"], gone
    assert "left the index" in gone.reason


def test_the_cli_follows_checks_after_ingest_and_says_when_its_store_is_damaged(corpus: Path, tmp_path: Path) -> None:
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_LLM": "extractive"}
    (corpus / "walrus.txt").write_text("The walrus census on the ice floe counted twelve animals this spring.")
    assert run_cli("ingest", "--quiet", env=env, cwd=tmp_path)[0] == 0
    code, out, err = run_cli("follow", "add", "How many animals did the walrus census count?", env=env, cwd=tmp_path)
    assert code == 0 and "twelve" in out, err
    follow_id = out.split()[0]
    (corpus / "walrus-recount.txt").write_text("A recount of the walrus census counted fifteen animals on Monday.")
    code, out, err = run_cli("ingest", env=env, cwd=tmp_path)
    assert code == 0 and f"{follow_id}  changed" in out and "fifteen" in out, (out, err)
    code, out, _ = run_cli("follow", "check", "--json", env=env, cwd=tmp_path)
    [checked] = json.loads(out)
    assert set(checked) == KEYS and checked["status"] == "unchanged" and checked["id"] == follow_id
    code, out, _ = run_cli("follow", "remove", follow_id, env=env, cwd=tmp_path)
    assert code == 0 and run_cli("follow", "list", "--json", env=env, cwd=tmp_path)[1].strip() == "[]"
    code, _, err = run_cli("follow", "remove", "nope", env=env, cwd=tmp_path)
    assert code == 2 and "no followed question has the id 'nope'" in err

    (tmp_path / "data" / "follows.sqlite").write_bytes(b"not a database" * 100)
    code, _, err = run_cli("follow", "list", env=env, cwd=tmp_path)
    assert code == 2 and err.count("\n") == 1 and "are damaged" in err and "Traceback" not in err
    assert run_cli("search", "walrus census", env=env, cwd=tmp_path)[0] == 0  # nothing else is lost


def test_the_api_follows_checks_and_unfollows(make_pipeline: Callable[..., Pipeline], corpus: Path) -> None:
    from .test_api import serving

    pipeline = make_pipeline(llm="extractive", api_keys="k1")
    (corpus / "walrus.txt").write_text("The walrus census on the ice floe counted twelve animals this spring.")
    pipeline.ingest()
    with serving(pipeline, headers={"Authorization": "Bearer k1"}) as http:
        added = http.post("/v1/follows", json={"question": "How many animals did the walrus census count?"})
        assert added.status_code == 201 and set(added.json()) == KEYS and "twelve" in added.json()["answer"]
        assert [f["id"] for f in http.get("/v1/follows").json()] == [added.json()["id"]]
        [checked] = http.post("/v1/follows/check").json()
        assert (checked["status"], checked["reason"]) == ("unchanged", "no new evidence")
        assert http.get("/v1/follows", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert http.delete(f"/v1/follows/{added.json()['id']}").status_code == 200
        assert http.delete(f"/v1/follows/{added.json()['id']}").status_code == 404
        assert http.get("/v1/follows").json() == []


def test_reading_the_list_writes_nothing(tmp_path: Path) -> None:
    """A data folder nobody may write to (read-only) still lists no followed questions: reading makes no file."""
    store = FollowStore(tmp_path / "data" / "follows.sqlite")
    assert store.all() == [] and not (tmp_path / "data").exists()


def test_an_api_ingest_lands_even_when_the_followed_questions_cannot_be_checked(
    make_pipeline: Callable[..., Pipeline], corpus: Path
) -> None:
    from .test_api import serving, wait_for

    pipeline = make_pipeline(llm="extractive")
    pipeline.settings.data_dir.mkdir(parents=True, exist_ok=True)
    (pipeline.settings.data_dir / "follows.sqlite").write_bytes(b"not a database" * 100)
    (corpus / "walrus.txt").write_text("The walrus census on the ice floe counted twelve animals this spring.")
    with serving(pipeline) as http:
        job = wait_for(http, http.post("/v1/ingest").json()["id"])
    assert job["state"] == "done" and any("walrus" in p for p in job["report"]["paths_added"])
    assert job["report"]["follows"] == []
    assert "are damaged" in job["report"]["follows_error"]
    assert pipeline.search("walrus census")
