"""Eval datasets: a YAML or JSON list of questions (or summaries) with expected facts, sources, or a refusal.

Questions: `facts` (each a list of regex alternatives that the answer must contain), or `choices` (a list of short
answers) with `answer` (the 0-based index of the right one), graded by which choice the answer states
(see evals.metrics.matched_choice). Either may carry `sources`, `refuse: true` (the corpus does not hold the
answer; a choices case may keep its choices then) and `as_of` (the date the question was asked, YYYY-MM-DD, so
that "this week" means that week). Summaries: `summarize` (a list of indexed files, as `sources` are written) with
`facts` that the summary's supported bullets must state; the summary's citations must be in those files.

Everything is checked before anything runs; a bad entry is reported by its id (or position) and field.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEYS = {"id", "question", "facts", "sources", "refuse", "choices", "answer", "as_of"}
SUMMARY_KEYS = {"id", "summarize", "facts"}


class DatasetError(ValueError):
    """A malformed dataset; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Case:
    id: str
    question: str  # "" for a summary case
    facts: list[list[str]] = field(default_factory=list)  # each fact: alternatives (regexes)
    sources: list[str] = field(default_factory=list)
    refuse: bool = False
    choices: list[str] = field(default_factory=list)
    answer: int | None = None  # index of the right choice
    as_of: str | None = None  # YYYY-MM-DD
    summarize: list[str] = field(default_factory=list)  # a summary case: the files to summarize


def load(path: Path) -> list[Case]:
    try:
        text = path.read_text()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from e
    import yaml

    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise DatasetError(f"{path}: not valid {path.suffix.lstrip('.').upper() or 'YAML'}: {e}") from e
    if not isinstance(raw, list):
        raise DatasetError(f"{path}: expected a list of questions at the top level")
    cases = [parse_case(entry, n, path) for n, entry in enumerate(raw, start=1)]
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise DatasetError(f"{path}: entry {case.id}: id is used twice")
        seen.add(case.id)
    return cases


def _facts(entry: dict[str, Any], where: str) -> list[list[str]]:
    facts = entry.get("facts", [])
    if not isinstance(facts, list) or not all(isinstance(f, list) and f for f in facts):
        raise DatasetError(f"{where}: field `facts` must be a list of non-empty lists of alternatives")
    for n, fact in enumerate(facts, start=1):
        for alternative in fact:
            try:
                re.compile(str(alternative))
            except re.error as e:
                raise DatasetError(f"{where}: field `facts` #{n}: {alternative!r} is not a valid regex ({e})") from e
    return [[str(a) for a in f] for f in facts]


def _summary_case(entry: dict[str, Any], position: int, where: str) -> Case:
    unknown = set(entry) - SUMMARY_KEYS
    if unknown:
        raise DatasetError(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} for a summary case; "
            f"allowed: {sorted(SUMMARY_KEYS)}"
        )
    files = entry["summarize"]
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and f.strip() for f in files):
        raise DatasetError(f"{where}: field `summarize` must be a non-empty list of file paths")
    facts = _facts(entry, where)
    if not facts:
        raise DatasetError(f"{where}: field `facts` is needed: what the summary must state")
    return Case(str(entry.get("id", f"#{position}")), "", facts, summarize=[f.strip() for f in files])


def parse_case(entry: Any, position: int, path: Path) -> Case:
    where = f"{path}: entry {entry.get('id', f'#{position}') if isinstance(entry, dict) else f'#{position}'}"
    if not isinstance(entry, dict):
        raise DatasetError(f"{where}: expected a mapping with at least `question` or `summarize`")
    if "summarize" in entry:
        return _summary_case(entry, position, where)
    unknown = set(entry) - KEYS
    if unknown:
        raise DatasetError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: {sorted(KEYS)}")
    question = entry.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(f"{where}: field `question` is missing or empty")
    refuse = entry.get("refuse", False)
    if not isinstance(refuse, bool):
        raise DatasetError(f"{where}: field `refuse` must be true or false")
    facts = _facts(entry, where)
    sources = entry.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise DatasetError(f"{where}: field `sources` must be a list of file paths")
    choices, answer = entry.get("choices", []), entry.get("answer")
    if not isinstance(choices, list) or not all(isinstance(c, str) and c.strip() for c in choices):
        raise DatasetError(f"{where}: field `choices` must be a list of non-empty strings")
    if choices and (isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices)):
        raise DatasetError(f"{where}: field `answer` must be the 0-based index of one of the {len(choices)} choices")
    if answer is not None and not choices:
        raise DatasetError(f"{where}: field `answer` needs `choices`")
    if choices and facts:
        raise DatasetError(f"{where}: give `facts` or `choices`, not both")
    if not refuse and not facts and not choices:
        raise DatasetError(f"{where}: field `facts` (or `choices` with `answer`) is needed unless `refuse: true`")
    if refuse and facts:
        raise DatasetError(f"{where}: field `facts` makes no sense with `refuse: true`")
    as_of = entry.get("as_of")
    if as_of is not None:
        try:
            as_of = dt.date.fromisoformat(str(as_of)).isoformat()
        except ValueError as e:
            raise DatasetError(f"{where}: field `as_of` must be a date as YYYY-MM-DD, not {as_of!r}") from e
    return Case(
        str(entry.get("id", f"#{position}")),
        question.strip(),
        facts,
        sources,
        refuse,
        [c.strip() for c in choices],
        answer,
        as_of,
    )
