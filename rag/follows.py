"""Followed questions: asked once, then answered again only when their evidence changes.

`Follows.check()` searches each followed question again (no model) and compares what it finds with what its
last answer rests on (`fingerprint`: the relevant passages and the cited ones, each as file, span and a hash of
its text). Unchanged evidence ends there: no answer is asked for. Changed evidence gets a new answer, compared
with the last one: the same text, or the same facts by the support checker read both ways (each answer
supports the other; without the checker, the same content words), is `unchanged`; a refusal where every
article the last answer cited is gone from the index is `gone`; anything else is `changed`, with the article
that changed it.

The store is SQLite in the data folder (follows.sqlite): each change is one transaction, so a killed process
leaves the last whole state; a damaged file is a one-line error naming it, and nothing else is touched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import NotFound, RagError, ReadOnlyError, StateError

if TYPE_CHECKING:
    from rag.answering.answer import Answer
    from rag.types import Hit

STATUSES = ("changed", "gone", "unchanged")  # the order `check` lists them in
Evidence = tuple[tuple[str, int, int, str], ...]
SCHEMA = "CREATE TABLE IF NOT EXISTS follows (id TEXT PRIMARY KEY, position INTEGER, data TEXT NOT NULL)"


@dataclass(frozen=True)
class Followed:
    """A followed question with its last answer (text, refused, band, citations), the evidence it came from,
    and how the last check went."""

    id: str
    question: str
    answer: dict[str, Any]
    evidence: Evidence
    previous: dict[str, Any] | None = None
    status: str = "unchanged"
    reason: str = "followed"
    checked_at: str = ""

    def line(self) -> str:
        """One line: id, status, question, answer and why (newlines folded; the caller escapes for its screen)."""
        question, answer = (" ".join(text.split()) for text in (self.question, self.answer["answer"]))
        return f"{self.id}  {self.status:9}  {question} -> {answer}  ({self.reason})"

    def to_json(self) -> dict[str, Any]:
        """The object of `follow check --json` (its keys are a contract)."""
        return {
            "id": self.id,
            "question": self.question,
            "status": self.status,
            "answer": self.answer["answer"],
            "previous_answer": self.previous["answer"] if self.previous else None,
            "citations": [
                {"file": c["source"], "span": [c["start"], c["end"]], "quote": c["quote"]}
                for c in self.answer["citations"]
            ],
            "checked_at": self.checked_at,
            "reason": self.reason,
        }


def kept(answer: Answer) -> dict[str, Any]:
    """What a followed question keeps of an answer."""
    return {
        "answer": answer.answer,
        "refused": answer.refused,
        "band": answer.band,
        "p_correct": answer.p_correct,
        "citations": [
            {"id": c.id, "source": c.source, "start": c.start, "end": c.end, "quote": c.quote} for c in answer.citations
        ],
    }


def fingerprint(hits: Sequence[Hit], citations: Sequence[dict[str, Any]], floor: float) -> Evidence:
    """What an answer rests on, in a comparable form (each passage's file, span and text hash, sorted): the
    search's hits that are at least `floor` similar to the question (the relevance floor below which a question
    is refused) and those holding a passage the answer cites. A new article changes it only by being relevant
    to the question; a cited passage that changes or goes away always does."""

    def counts(hit: Hit) -> bool:
        cited = any(c["source"] == hit.source and hit.start <= c["start"] and c["end"] <= hit.end for c in citations)
        return cited or (hit.dense_score or 0.0) >= floor

    digest = [(h.source, h.start, h.end, hashlib.sha256(h.text.encode()).hexdigest()[:16]) for h in hits if counts(h)]
    return tuple(sorted(digest))


class FollowStore:
    """The followed questions in SQLite (`path`), one transaction per change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """The store, opened read-only unless `write` (then made if missing): reading needs no write access."""
        try:
            if write:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path if write else f"file:{self.path}?mode=ro", timeout=30, uri=not write)
            try:
                with db:
                    if write:
                        db.execute(SCHEMA)
                    yield db
            finally:
                db.close()
        except sqlite3.DatabaseError as e:
            if "readonly" in str(e):
                raise ReadOnlyError(
                    f"the followed questions cannot be saved in {self.path} ({e}): the data folder is read-only"
                ) from e
            raise StateError(
                f"the followed questions in {self.path} are damaged ({e}); move that file away to start a new list "
                "(the index is not affected)"
            ) from e

    def all(self) -> list[Followed]:
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute("SELECT data FROM follows ORDER BY position").fetchall()
        try:
            return [_load(json.loads(row[0])) for row in rows]
        except (ValueError, KeyError, TypeError) as e:
            raise StateError(f"the followed questions in {self.path} are damaged ({e}); move that file away") from e

    def put(self, *followed: Followed) -> None:
        """Save each of `followed` (new ones at the end of the list), all in one transaction."""
        with self._db(write=True) as db:
            for one in followed:
                position = db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM follows").fetchone()[0]
                data = json.dumps(_dump(one), ensure_ascii=False)
                updated = db.execute("UPDATE follows SET data = ? WHERE id = ?", (data, one.id)).rowcount
                if not updated:
                    db.execute("INSERT INTO follows VALUES (?, ?, ?)", (one.id, position, data))

    def remove(self, follow_id: str) -> Followed:
        found = {f.id: f for f in self.all()}
        if follow_id not in found:
            raise NotFound(f"no followed question has the id {follow_id!r} (`follow list` shows them)")
        with self._db(write=True) as db:
            db.execute("DELETE FROM follows WHERE id = ?", (follow_id,))
        return found[follow_id]


def _dump(followed: Followed) -> dict[str, Any]:
    return {**followed.__dict__, "evidence": [list(e) for e in followed.evidence]}


def _load(data: dict[str, Any]) -> Followed:
    return Followed(**{**data, "evidence": tuple(tuple(e) for e in data["evidence"])})


class Follows:
    """Follow questions over `ask` (the pipeline's answers) and `search` (its retrieval); `same_facts(a, b)`
    says whether two answers state the same facts and how it was decided; `indexed()` the files in the index."""

    def __init__(
        self,
        store: FollowStore,
        ask: Callable[[str], Answer],
        search: Callable[[str], list[Hit]],
        same_facts: Callable[[str, str], tuple[bool, str]],
        indexed: Callable[[], set[str]],
        floor: float,
    ) -> None:
        self.store, self._ask, self._search, self._same, self._indexed = store, ask, search, same_facts, indexed
        self.floor = floor  # the relevance floor: below it a passage does not count as evidence

    def add(self, question: str) -> Followed:
        question = question.strip()
        if not question:
            raise RagError("the question is empty; follow something")
        answer = kept(self._ask(question))
        evidence = fingerprint(self._search(question), answer["citations"], self.floor)
        followed = Followed(uuid.uuid4().hex[:8], question, answer, evidence, checked_at=_now())
        self.store.put(followed)
        return followed

    def all(self) -> list[Followed]:
        return self.store.all()

    def remove(self, follow_id: str) -> Followed:
        return self.store.remove(follow_id)

    def check(self) -> list[Followed]:
        """Each followed question checked (see the module), stored; changed ones first."""
        checked = [self._checked(followed) for followed in self.store.all()]
        if checked:
            self.store.put(*checked)
        return sorted(checked, key=lambda f: STATUSES.index(f.status))

    def _checked(self, followed: Followed) -> Followed:
        now, old = _now(), followed.answer

        def unchanged(why: str, answer: dict[str, Any] = old, evidence: Evidence = followed.evidence) -> Followed:
            return Followed(followed.id, followed.question, answer, evidence, None, "unchanged", why, now)

        hits = self._search(followed.question)
        if fingerprint(hits, old["citations"], self.floor) == followed.evidence:
            return unchanged("no new evidence")
        new = kept(self._ask(followed.question))
        evidence = fingerprint(hits, new["citations"], self.floor)
        if new["answer"] == old["answer"] and new["refused"] == old["refused"]:
            return unchanged("new evidence, the same answer", new, evidence)
        cited_before = {c["source"] for c in old["citations"]}
        if new["refused"] and cited_before and not cited_before & self._indexed():
            why = f"{', '.join(sorted(cited_before))} left the index and nothing else answers it"
            return Followed(followed.id, followed.question, new, evidence, old, "gone", why, now)
        if not new["refused"] and not old["refused"]:
            same, how = self._same(old["answer"], new["answer"])
            if same:
                return unchanged(f"new evidence, the same facts ({how})", new, evidence)
        return Followed(followed.id, followed.question, new, evidence, old, "changed", _what_changed(old, new), now)


def _what_changed(old: dict[str, Any], new: dict[str, Any]) -> str:
    """One line: the article that changed the answer."""
    before = {c["source"] for c in old["citations"]}
    added = [c["source"] for c in new["citations"] if c["source"] not in before]
    if new["refused"]:
        return "the articles no longer answer it"
    if added:
        return f"new answer from {added[0]}"
    sources = sorted({c["source"] for c in new["citations"]})
    return f"new answer from {', '.join(sources)} (changed)" if sources else "new answer"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
