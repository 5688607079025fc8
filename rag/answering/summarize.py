"""Summaries with citations: of one article, several, or the passages about a topic.

Two summarizers share one contract, `Summarizer.summarize(articles, title, topic, progress) -> Summary`: each
turns the articles' passages into verified notes in its own way, and the base class makes the summary.

`MapReduceSummarizer` (a chat model) works within the model's context: each article's chunks (overlap cut
off, so they tile the text once) are grouped into sections that fit the passage budget (tiktoken counts); the
model writes cited bullets for each section (map); an article's section notes are combined (reduce, in rounds
if they do not fit one prompt). A long article is therefore read whole, section by section, never truncated.
The prompts ask for the main point first and the rest by importance, in as many bullets as the length asks
(`LENGTHS`). For several articles, one more step compares them (where they agree, where they differ), and each
article's notes follow in turn. Replies are streamed: each bullet is checked as soon as its line is complete
and passed to `on_note` (a preview); a summary that runs past its time budget stops the model at its next token
and is made of what was read, with a note saying what was not. Every bullet is verified like an answer's sentences
(rag.answering.citations.verify) against the passages behind it, so citations are file + span and unsupported
bullets are marked; only supported notes are passed on. A summary of one article with fewer supported points
than its length asks is topped up with quotes from the extractive summarizer (`filler`). Limits: a small model's
comparison is often shallow (the check catches invented facts, not a wrong "they differ"), and a trimmed passage
may start mid-sentence.

The extractive summarizer (no model) is in rag.answering.extractive. Finished summaries are cached by
`SummaryCache`, keyed by everything that decides them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

from rag.answering.checker import CheckerUnavailable
from rag.answering.citations import Citation, Verdict, split_sentences, support, verify
from rag.answering.prompts import COMPARE, EXAMPLE_BULLETS, MAP, REDUCE, format_passages
from rag.answering.stopping import StopWhen
from rag.text import content_words, count_tokens, key_phrases, phrase_stems, sentence_spans
from rag.types import Passage

if TYPE_CHECKING:
    from rag.answering.judge import Judge
    from rag.config import Settings

logger = logging.getLogger(__name__)

VERSION = 6  # part of the cache key: bump when prompts or selection change
MAX_BULLETS = 7  # the most bullets of any summary (several articles: the comparison, then each one's points)

_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
_MARKERS = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")

Progress = Callable[[int, int, str], None]  # (step, steps, what) before each model call
Shown = Callable[[str, bool], None]  # (text, supported) of each note as soon as it is checked


@dataclass(frozen=True)
class Length:
    """How long a summary of one article is: about `words` words in `fewest` to `most` bullets of at most
    `bullet_words` words each (what the model is asked for)."""

    name: str
    words: int
    fewest: int
    most: int
    bullet_words: int


LENGTHS = {
    "short": Length("short", 40, 2, 3, 15),
    "medium": Length("medium", 70, 3, 5, 20),  # the default: 3-5 bullets of at most ~25 words, 40-70 words in all
    "long": Length("long", 150, 5, 7, 25),
}


@dataclass
class Bullet:
    text: str
    citations: list[int]
    supported: bool
    support: float
    kind: str = "point"  # point | agree | differ (extractive only marks agree/differ; a model says so in words) | story
    story: dict[str, Any] | None = None  # a digest's story: articles, sources, since, until, outlets

    def heading(self) -> str:
        """A digest bullet's story, e.g. "2024-07-21 to 2024-07-24, usatoday.com and 2 more, 5 articles"; ""
        for other bullets."""
        if not self.story:
            return ""
        since, until = self.story["since"], self.story["until"]
        when = since if since == until else f"{since} to {until}"
        outlets = self.story["outlets"]
        who = ", ".join(outlets[:2]) + (f" and {len(outlets) - 2} more" if len(outlets) > 2 else "")
        count = self.story["articles"]
        return ", ".join(x for x in (when, who, f"{count} article{'s' * (count != 1)}") if x)


@dataclass
class Summary:
    title: str
    sources: list[str]
    bullets: list[Bullet]
    citations: list[Citation]
    model: str
    sections: int  # how many prompt-sized sections the articles were read in (model: one map step each)
    topic: str = ""
    cached: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        return cls(
            **{
                **data,
                "bullets": [Bullet(**b) for b in data["bullets"]],
                "citations": [Citation(**c) for c in data["citations"]],
            }
        )


@dataclass
class Note:
    """A verified bullet on its way up the map-reduce tree: its citations and the passages they are in."""

    text: str
    passages: list[Passage]
    citations: list[Citation]
    supported: bool
    support: float
    kind: str = "point"


def tile(chunks: Sequence[Passage]) -> list[Passage]:
    """An article's chunks in order with each one's overlap with the previous cut off: passages that cover the
    text once. Spans stay exact (a trimmed passage starts where the previous one ended)."""
    passages: list[Passage] = []
    end = 0
    for chunk in sorted(chunks, key=lambda c: (c.start, c.end)):
        if chunk.end <= end:
            continue
        cut = max(0, end - chunk.start)
        passages.append(replace(chunk, start=chunk.start + cut, text=chunk.text[cut:]) if cut else chunk)
        end = chunk.end
    return passages


def sections(passages: Sequence[Passage], budget: int) -> list[list[Passage]]:
    """Consecutive groups of passages, each within `budget` tokens (a passage larger than it stands alone)."""
    groups: list[list[Passage]] = []
    used = 0
    for passage in passages:
        cost = count_tokens(passage.text) + 20  # + the "[n] (file)" header
        if groups and groups[-1] and used + cost <= budget:
            groups[-1].append(passage)
            used += cost
        else:
            groups.append([passage])
            used = cost
    return groups


def parse_bullets(text: str) -> list[str]:
    """The bullets of a model's reply: "- ", "* ", "1. " lines; a line without a marker continues the bullet
    before it; a reply with no bullet markers at all counts each line as a bullet. Heading lines are dropped."""
    bullets: list[str] = []
    marked = any(_BULLET.match(line) for line in text.splitlines())
    for line in text.splitlines():
        if not line.strip() or line.strip().endswith(":"):
            continue
        if _BULLET.match(line) or not marked:
            bullets.append(_BULLET.sub("", line).strip())
        elif bullets:
            bullets[-1] += " " + line.strip()
    return [b for b in bullets if re.search(r"[^\W\d_]", b)]


class Summarizer(ABC):
    """Summarizes articles given as {source: chunks}. Subclasses choose the notes; this class makes the summary."""

    model: str  # as shown to users and used in cache keys
    budget: int  # passage tokens per prompt: also how `Summary.sections` is counted

    def summarize(
        self,
        articles: dict[str, list[Passage]],
        title: str,
        topic: str = "",
        progress: Progress | None = None,
        length: str = "medium",
        on_note: Shown | None = None,
    ) -> Summary:
        started = time.perf_counter()
        tiled = {source: tile(chunks) for source, chunks in articles.items() if chunks}
        read = sum(len(sections(passages, self.budget)) for passages in tiled.values())
        size = LENGTHS[length]
        notes, note = self.notes(tiled, topic, progress or (lambda *_: None), size, on_note or (lambda *_: None))
        bullets, citations = finish(within(notes, size) if len(tiled) == 1 and not topic else notes[:MAX_BULLETS])
        return Summary(
            title=title,
            sources=list(tiled),
            bullets=bullets,
            citations=citations,
            model=self.model,
            sections=read,
            topic=topic,
            timings={"total_s": time.perf_counter() - started},
            note=note,
        )

    @abstractmethod
    def notes(
        self, articles: dict[str, list[Passage]], topic: str, progress: Progress, length: Length, on_note: Shown
    ) -> tuple[list[Note], str]:
        """Verified notes, best first, for articles given as {source: passages that tile the text}, and a note for
        the reader ("" when there is nothing to say, e.g. what was left unread when time ran out)."""


class MapReduceSummarizer(Summarizer):
    """Summaries written by a chat model (a LangChain runnable from a prompt to a message), read in sections."""

    def __init__(
        self,
        llm: Runnable[Any, Any],
        model: str,
        *,
        budget: int,
        min_support: float,
        seconds: float = 120.0,
        filler: Summarizer | None = None,
        judge: Judge | None = None,
    ) -> None:
        self.llm = llm
        self.judge = judge  # decides which bullets are supported (RAG_SUPPORT); None: the lexical check
        self.model = model
        self.budget = budget
        self.min_support = min_support
        self.seconds = seconds  # the time budget of one summary
        self.filler = filler  # tops up a one-article summary that has too few supported points (`_filled`)
        self._deadline = 0.0
        self._stopped = False

    def notes(
        self, articles: dict[str, list[Passage]], topic: str, progress: Progress, length: Length, on_note: Shown
    ) -> tuple[list[Note], str]:
        self._deadline = time.monotonic() + self.seconds
        self._stopped = False
        notes, note = self._map_reduce(articles, topic, progress, length, on_note)
        if self.filler and len(articles) == 1 and not topic and not self._stopped:  # out of time: its note holds
            notes = self._filled(notes, articles, length, on_note)
        return notes, note

    def _filled(
        self, notes: list[Note], articles: dict[str, list[Passage]], length: Length, on_note: Shown
    ) -> list[Note]:
        """`notes` of one article with the filler's quotes (the extractive summarizer's) where the model fell short:
        - a small model sometimes stops after a point or two, or writes points the check refuses: the summary is
          topped up to the length's fewest supported points with quotes that repeat none of them;
        - the subject check the extractive summarizer makes: if the article keeps repeating a phrase
          (`rag.text.key_phrases`, e.g. "rare earths") that none of the points the length keeps has, the model's
          own point that has it (one the length would cut), or else the quote that has it, comes second, after
          the model's first point (`within` may then cut the last point to keep the length).
        The model's first supported point comes first, then the subject's, the model's other supported points, the
        other quotes, and its unsupported points (still shown, marked)."""
        if self.filler is None:
            return notes
        supported = [n for n in notes if n.supported]
        missing = _missing_subject(within(supported, length), next(iter(articles.values())))
        if len(supported) >= length.fewest and not missing:
            return notes  # in the model's order
        subject = [n for n in supported if _says(n, missing)][:1]
        quotes: list[Note] = []
        if len(supported) < length.fewest or (missing and not subject):
            candidates = LENGTHS["long"]  # more quotes than are needed: some repeat what the model said
            found, _ = self.filler.notes(articles, "", lambda *_: None, candidates, lambda *_: None)
            quotes = [q for q in found if q.supported and not any(_repeats(q.text, n.text) for n in notes)]
            subject = subject or [q for q in quotes if _says(q, missing)][:1]
        quoted = [q for q in subject if q not in supported]
        added = [q for q in quotes if q not in subject][: max(0, length.fewest - len(supported) - len(quoted))]
        for quote in quoted + added:
            on_note(quote.text, True)
        others = [n for n in supported[1:] if n not in subject]
        return supported[:1] + subject + others + added + [n for n in notes if not n.supported]

    # --- with a model --------------------------------------------------------------------------------------
    def _map_reduce(
        self, articles: dict[str, list[Passage]], topic: str, progress: Progress, length: Length, on_note: Shown
    ) -> tuple[list[Note], str]:
        """Map each section to notes; combine an article's sections (reduce); then, for several articles, a
        comparison (where they agree and differ) followed by each article's notes in turn. Out of time, the
        steps left are skipped and the notes so far are the summary."""
        parts = {source: sections(passages, self.budget) for source, passages in articles.items()}
        steps = sum(len(g) + (len(g) > 1) for g in parts.values()) + (len(parts) > 1)  # a guess: reduces may add
        counter = iter(range(1, 10**6))
        focus = f"Focus on what they say about: {topic}\n\n" if topic else ""
        shape = {"fewest": length.fewest, "most": length.most, "words": length.bullet_words}
        by_source: dict[str, list[Note]] = {}
        read = 0
        for source, groups in parts.items():
            notes: list[Note] = []
            for n, group in enumerate(groups, start=1):
                if self._stopped:
                    break
                where = f", section {n} of {len(groups)}" if len(groups) > 1 else ""
                progress(next(counter), steps, f"reading {source}{where}")
                values = {**shape, "focus": focus, "title": Path(source).name, "passages": format_passages(group)}
                final = len(parts) == 1 and len(groups) == 1 and not topic  # these notes are the summary
                full = (lambda notes: len(within(notes, length)) < len(notes)) if final else None
                notes += self._step(MAP, values, partial(self._verify, passages=group), on_note, full)
                read += 1
            if len(groups) > 1 and notes and not self._stopped:
                combine = partial(self._combine, focus=focus, shape=shape, on_note=on_note)
                notes = combine(notes, lambda what: progress(next(counter), steps, what))
            by_source[source] = notes
        unread = sum(len(g) for g in parts.values()) - read
        note = (
            f"the time budget ({self.seconds:.0f} s, RAG_SUMMARY_SECONDS) ran out: this summary is of "
            f"{read} of {read + unread} sections (the rest was not read)"
            if self._stopped
            else ""
        )
        if len(by_source) == 1:
            return next(iter(by_source.values())), note  # unsupported bullets stay, marked
        by_source = {source: [n for n in notes if n.supported] for source, notes in by_source.items()}
        if self._stopped:
            return _round_robin(by_source), note
        progress(next(counter), steps, f"comparing {len(by_source)} articles")
        shown = _note_groups(_round_robin(by_source), self.budget)[0]
        listing = "\n\n".join(
            f"Notes from {Path(source).name}:\n" + _format_notes([n for n in shown if n in notes], start=shown)
            for source, notes in by_source.items()
        )
        compare = partial(self._verify_reduced, notes=shown, cite_each_article=True)
        asked = 3  # COMPARE asks for exactly three bullets; a small model may go on copying notes
        values = {"focus": focus, "passages": listing}
        compared = self._step(COMPARE, values, compare, on_note, lambda notes: len(notes) > asked)[:asked]
        rest = [n for n in _round_robin(by_source) if not any(_repeats(n.text, c.text) for c in compared)]
        return compared + rest, note

    def _combine(
        self, notes: list[Note], progress: Callable[[str], None], *, focus: str, shape: dict[str, int], on_note: Shown
    ) -> list[Note]:
        """Reduce in rounds until one prompt holds all the notes (or the model stops condensing them); out of
        time, the notes as they are."""
        for _ in range(5):
            kept = [n for n in notes if n.supported] or notes
            batches = _note_groups(kept, self.budget)
            progress(f"combining {len(kept)} notes")
            combined: list[Note] = []
            for n, batch in enumerate(batches):
                values = {**shape, "focus": focus, "passages": _format_notes(batch)}
                combined += self._step(REDUCE, values, partial(self._verify_reduced, notes=batch), on_note)
                if self._stopped:
                    return combined + [note for b in batches[n + 1 :] for note in b] or kept
            notes = combined
            if len(batches) == 1 or len(notes) >= len(kept):
                break
        return notes

    def _step(
        self,
        prompt: ChatPromptTemplate,
        values: dict[str, Any],
        verify: Callable[[list[str]], list[Note]],
        on_note: Shown,
        full: Callable[[list[Note]], bool] | None = None,
    ) -> list[Note]:
        """One model call, streamed: each bullet is checked (`verify`) when its line is complete and shown; the
        notes of the whole reply are checked together at the end (a bullet may run over several lines). The
        model is stopped at its next token once `full(notes so far)` holds (the summary has all it can use), or
        past the deadline (then the steps left are skipped); the reply so far without its unfinished line is
        used."""
        reply, done = "", 0
        shown: list[Note] = []
        enough = threading.Event()
        stop = StopWhen(lambda: enough.is_set() or time.monotonic() > self._deadline, _Stop)
        try:
            for chunk in (prompt | self.llm).stream(values, {"callbacks": [stop]}):
                reply += chunk.content if isinstance(chunk.content, str) else ""
                lines = reply.split("\n")
                for line in lines[done:-1]:
                    shown += self._show(line, verify, on_note, shown, full, enough)
                done = max(done, len(lines) - 1)
        except _Stop:
            self._stopped = not enough.is_set()
            reply = reply[: reply.rfind("\n") + 1]
        if not enough.is_set() and not self._stopped:
            self._show(reply.split("\n")[-1], verify, on_note, shown, full, enough)
        return verify(parse_bullets(reply))

    @staticmethod
    def _show(
        line: str,
        verify: Callable[[list[str]], list[Note]],
        on_note: Shown,
        shown: list[Note],
        full: Callable[[list[Note]], bool] | None,
        enough: threading.Event,
    ) -> list[Note]:
        """A finished line of a reply, if it is a bullet and the summary still has room for it: checked, passed
        to `on_note` and returned; `enough` is set at the first one it has no room for."""
        if enough.is_set() or not _BULLET.match(line):
            return []
        new: list[Note] = []
        for note in verify(parse_bullets(line)):
            if full and full([*shown, *new, note]):
                enough.set()
                break
            on_note(note.text, note.supported)
            new.append(note)
        return new

    def _verify(self, bullets: list[str], passages: list[Passage], cite_each_article: bool = False) -> list[Note]:
        """Each bullet checked against the passages it cites (several cited passages count together). A bullet is
        one sentence: small models sometimes copy a whole passage into one, so only its first sentence is kept,
        with those of its citations that support it. A bullet that repeats an earlier one is dropped, and so is
        the prompt's own example copied back (unless the passages happen to support it)."""
        context = set().union(*(content_words(p.text) for p in passages))
        notes: list[Note] = []
        for bullet in bullets:
            pieces = split_sentences(bullet)
            if not pieces:
                continue
            first = pieces[0][0]
            if first.rstrip("\"'\u201d\u2019) ").endswith("?"):  # a question (a copied subheading) states nothing
                continue
            cited = [n for _, marks in pieces for n in marks if 1 <= n <= len(passages)]
            backing = [n for n in cited if support(first, passages[n - 1].text, context) >= self.min_support]
            if cite_each_article:  # a comparison: cite each article that supports it, whether the model did or not
                backing += _best_per_source(first, passages, backing, context, self.min_support)
            marked = first + "".join(f" [{n}]" for n in dict.fromkeys(backing or cited))
            verdicts = self._judged(first, passages)
            checked = verify(marked, passages, self.min_support, combine=True, verdicts=verdicts)
            if not checked.sentences or any(_repeats(first, note.text) for note in notes):
                continue
            sentence = checked.sentences[0]
            if not sentence.supported and any(_repeats(first, example) for example in EXAMPLE_BULLETS):
                logger.info("dropped a bullet that copies the prompt's example: %r", first)
                continue
            notes.append(
                Note(
                    text=sentence.text,
                    passages=[p for p in passages if any(_within(c, p) for c in checked.citations)],
                    citations=checked.citations,
                    supported=sentence.supported,
                    support=sentence.support,
                )
            )
        return notes

    def _judged(self, sentence: str, passages: list[Passage]) -> list[Verdict] | None:
        """The judge's verdict on `sentence` against the passages of this step (as an answer sentence is judged
        against all the model saw: a point that cites the wrong one still has its support found), or None for
        the lexical check (no judge, or a checker whose files are missing: logged by the judge)."""
        if self.judge is None:
            return None
        try:
            return self.judge.judge([sentence], passages)
        except CheckerUnavailable:
            return None

    def _verify_reduced(self, bullets: list[str], notes: list[Note], cite_each_article: bool = False) -> list[Note]:
        """Reduce bullets cite notes; each note's markers become markers of the passages behind it."""
        passages = list(dict.fromkeys(p for n in notes for p in n.passages))
        index = {p: i for i, p in enumerate(passages, start=1)}

        def to_passages(match: re.Match[str]) -> str:
            cited = [int(x) for x in re.split(r"\s*[,;]\s*", match.group(1))]
            return "".join(f"[{index[p]}]" for c in cited if 1 <= c <= len(notes) for p in notes[c - 1].passages)

        return self._verify([_MARKERS.sub(to_passages, b) for b in bullets], passages, cite_each_article)


class _Stop(Exception):
    """Raised in the model's token callback to stop it (see rag.answering.stopping)."""


class SummaryCache:
    """Finished summaries as JSON files named by a hash of everything that decides them (see `key`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def key(
        settings: Settings,
        model: str,
        collection: str,
        files: dict[str, str],
        passages: dict[str, list[str]],
        topic: str,
        dates: list[str] | None = None,
        length: str = "medium",
    ) -> dict[str, Any]:
        """What decides a summary: the model (and the server it runs on) and the settings it is made with, the
        collection (chunking and embedding settings), the summarized files' content hashes ({rel: sha256}) and,
        for a topic, the passages found for it ({source: chunk ids})."""
        return {
            "model": model,
            "server": settings.llm_base_url if settings.backend == "openai" else None,
            "max_tokens": settings.summary_max_tokens,
            "collection": collection,
            "budget": settings.context_tokens,
            "min_support": settings.min_support,
            # the check; absent for lexical (the check before there was a choice), so its keys stay valid
            **({"support": settings.support} if settings.support != "lexical" else {}),
            "files": files,
            "passages": passages,
            "topic": topic,
            **({"dates": dates} if dates else {}),  # absent when none: keys of earlier summaries stay valid
            "length": length,
        }

    def _path(self, key: dict[str, Any]) -> Path:
        digest = hashlib.sha256(json.dumps({"version": VERSION, **key}, sort_keys=True).encode()).hexdigest()
        return self.folder / f"{digest[:32]}.json"

    def get(self, key: dict[str, Any]) -> Summary | None:
        started = time.perf_counter()
        try:
            summary = Summary.from_json(json.loads(self._path(key).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError):  # missing, or written by another version
            return None
        summary.cached = True
        original = summary.timings.get("total_s", 0.0)
        summary.timings = {"total_s": time.perf_counter() - started, "generated_s": original}
        return summary

    def put(self, key: dict[str, Any], summary: Summary) -> None:
        """Keep `summary`; if the folder cannot be written (read-only, disk full) it is just not kept."""
        path = self._path(key)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(summary.to_json(), ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)
        except OSError:
            logger.warning("could not keep a summary in %s", self.folder, exc_info=True)
            tmp.unlink(missing_ok=True)


def _repeats(a: str, b: str) -> bool:
    """Whether two bullets say nearly the same: 80 % of the shorter one's content words are in the other."""
    wa, wb = content_words(a), content_words(b)
    return bool(wa and wb) and len(wa & wb) >= 0.8 * min(len(wa), len(wb))


def _missing_subject(notes: list[Note], passages: list[Passage]) -> list[str]:
    """The phrases an article (its passages, in order, tiling the text) keeps repeating that none of `notes` has
    (`rag.text.key_phrases`); headings are not counted."""
    sentences = [
        p.text[a:b] for p in passages for a, b in sentence_spans(p.text) if not p.text[a:b].lstrip().startswith("#")
    ]
    said = [phrase_stems(n.text) for n in notes]
    return [p for p in key_phrases([phrase_stems(s) for s in sentences]) if not any(f" {p} " in s for s in said)]


def _says(note: Note, phrases: list[str]) -> bool:
    """Whether `note` has one of `phrases` (stemmed, as `rag.text.key_phrases` gives them)."""
    stems = phrase_stems(note.text)
    return any(f" {p} " in stems for p in phrases)


def _within(citation: Citation, passage: Passage) -> bool:
    return citation.source == passage.source and passage.start <= citation.start and citation.end <= passage.end


def _format_notes(notes: Sequence[Note], start: Sequence[Note] = ()) -> str:
    """Notes as "[n] text" lines; numbered by position in `start` (the whole list) when given."""
    numbering = list(start or notes)
    return "\n".join(f"[{numbering.index(n) + 1}] {n.text}" for n in notes)


def _round_robin(by_source: dict[str, list[Note]]) -> list[Note]:
    """Each article's first note, then each one's second, and so on."""
    rounds = max((len(notes) for notes in by_source.values()), default=0)
    return [notes[i] for i in range(rounds) for notes in by_source.values() if i < len(notes)]


def _best_per_source(
    sentence: str, passages: list[Passage], cited: list[int], context: set[str], threshold: float
) -> list[int]:
    """For each article no cited passage comes from, its passage that best supports `sentence`, if one does."""
    covered = {passages[n - 1].source for n in cited}
    best: dict[str, tuple[float, int]] = {}
    for n, passage in enumerate(passages, start=1):
        score = support(sentence, passage.text, context)
        if passage.source not in covered and score >= threshold and score > best.get(passage.source, (0.0, 0))[0]:
            best[passage.source] = (score, n)
    return [n for _, n in best.values()]


def _note_groups(notes: list[Note], budget: int) -> list[list[Note]]:
    groups: list[list[Note]] = [[]]
    used = 0
    for note in notes:
        cost = count_tokens(note.text) + 15
        if groups[-1] and used + cost > budget:
            groups.append([])
            used = 0
        groups[-1].append(note)
        used += cost
    return groups


def within(notes: list[Note], length: Length) -> list[Note]:
    """The first notes that fit the length: at least `fewest`, then more while the words stay within `words`,
    never more than `most`."""
    kept: list[Note] = []
    words = 0
    for note in notes:
        size = len(note.text.split())
        if len(kept) == length.most or (len(kept) >= length.fewest and words + size > length.words):
            break
        kept.append(note)
        words += size
    return kept


def finish(notes: list[Note]) -> tuple[list[Bullet], list[Citation]]:
    """Notes -> bullets, citations numbered 1..n across the summary (a quote cited twice keeps its number)."""
    bullets: list[Bullet] = []
    citations: dict[tuple[str, int, int], Citation] = {}
    for note in notes:
        ids = []
        for c in note.citations:
            key = (c.source, c.start, c.end)
            if key not in citations:
                citations[key] = replace(c, id=len(citations) + 1)
            ids.append(citations[key].id)
        bullets.append(Bullet(note.text, list(dict.fromkeys(ids)), note.supported, note.support, note.kind))
    return bullets, list(citations.values())
