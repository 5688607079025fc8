"""The extractive backend: answers and summaries with no language model, quoted from the passages.

Answers: each candidate sentence is scored by the share of the question's content words it contains and by its
MiniLM similarity to the question; the best (at most three, above a floor and within 10 % of the top
score) are stitched together in score order, each cited to its passage. Deterministic and fast, but it never
rephrases: answers are quotations, and a question whose words and meaning match no sentence gets
"I don't know". A baseline, and the fallback when no model is available.

Summaries: the best sentences (centrality, MiniLM similarity to the rest of the article, plus closeness to the
title and a bonus for coming early, as news puts the gist first; for a topic, similarity to the topic
instead of position), no two alike, within the length's word budget; for one article, a phrase the article
keeps repeating that none of them has brings in the sentence that has it (`_one_article`). Across articles,
a pair of near-identical sentences becomes one bullet citing both ("agree"), and a near-identical pair that
gives different numbers a "differ" bullet. It quotes, never rephrases, and only notices disagreements about
numbers; headings and questions are never quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.answering.citations import Citation, copies_of, defang_markers, verify
from rag.answering.summarize import MAX_BULLETS, Length, Note, Progress, Shown, Summarizer
from rag.text import content_words, key_phrases, numbers, phrase_stems, sentence_spans
from rag.types import Passage

DONT_KNOW = "I don't know based on the articles."
# Summaries: weight of the bonus for coming first (1, 1/2, 1/3, ...) next to centrality (mean cosine, ~0.1-0.5);
# tuned on CNN/DailyMail validation articles 500-599 (ROUGE-1 23.9 at 0, 26.8 at 0.1, 29.7 at 1.0, 29.0 at 3.0)
LEAD_WEIGHT = 1.0
TITLE_WEIGHT = 0.5  # closeness to the title (cosine) next to centrality; not tuned (CNN/DailyMail has no titles)
AGREE_SIMILARITY = 0.65  # sentences of two articles this similar (cosine) say the same thing
REPEAT_SIMILARITY = 0.6  # a sentence this similar to one already chosen would repeat it


@dataclass(frozen=True)
class Candidate:
    passage: int  # 1-based passage number
    text: str
    score: float


def sentences_of(text: str) -> list[str]:
    """The sentences of `text` worth quoting (more than a few words), whitespace folded."""
    pieces = (" ".join(defang_markers(text[a:b]).split()) for a, b in sentence_spans(text))
    return [p for p in pieces if len(p) > 20]


def ranked_sentences(question: str, passages: list[str], embeddings: Embeddings) -> list[Candidate]:
    """The passages' sentences, best first: the mean of the share of the question's content words a sentence
    holds and its MiniLM similarity to the question. A sentence found in two passages counts once."""
    pool = [(n, s) for n, text in enumerate(passages, start=1) for s in sentences_of(text)]
    if not pool:
        return []
    scores = sentence_scores(question, [s for _, s in pool], embeddings)
    scored: dict[str, Candidate] = {}
    for (n, sentence), score in zip(pool, scores, strict=True):
        scored.setdefault(sentence, Candidate(n, sentence, score))
    return sorted(scored.values(), key=lambda c: -c.score)


def sentence_scores(question: str, sentences: list[str], embeddings: Embeddings) -> list[float]:
    """How well each sentence matches the question: the mean of the share of the question's content words it
    holds and its MiniLM similarity to the question."""
    asked = content_words(question)
    vectors = np.asarray(embeddings.embed_documents([question, *sentences]))
    similarity = vectors[1:] @ vectors[0]
    return [
        0.5 * (len(asked & content_words(s)) / len(asked) if asked else 0.0) + 0.5 * float(cosine)
        for s, cosine in zip(sentences, similarity, strict=True)
    ]


def extractive_answer(
    question: str, passages: list[str], embeddings: Embeddings, *, max_sentences: int = 3, floor: float = 0.45
) -> str:
    """An answer stitched from passage sentences, with [n] markers; DONT_KNOW when none scores above `floor`."""
    scored = ranked_sentences(question, passages, embeddings)
    if not scored:
        return DONT_KNOW
    chosen: list[Candidate] = []
    for candidate in scored:
        if candidate.score < max(floor, 0.9 * scored[0].score) or len(chosen) == max_sentences:
            break  # below the floor, or clearly worse than the best: padding, not answer
        chosen.append(candidate)
    if not chosen:
        return DONT_KNOW
    return " ".join(f"{c.text} [{c.passage}]" for c in chosen)


@dataclass(frozen=True)
class ExtractiveAnswers:
    """The extractive backend as an answer generator: {"question", "hits"} -> answer text with [n] markers."""

    embeddings: Embeddings

    def __call__(self, prompt: dict[str, Any]) -> str:
        return extractive_answer(prompt["question"], [h.text for h in prompt["hits"]], self.embeddings)


@dataclass(frozen=True)
class _Quote:
    """A sentence of an article, for the extractive summarizer: chars a..b of `passage`."""

    source: str
    order: int  # position among the article's sentences
    passage: Passage
    a: int
    b: int

    @property
    def text(self) -> str:
        return " ".join(self.passage.text[self.a : self.b].split())

    def citation(self) -> Citation:
        start = self.passage.start
        p = self.passage
        return Citation(
            0,
            self.source,
            start + self.a,
            start + self.b,
            p.text[self.a : self.b],
            p.title,
            p.date,
            p.outlet,
            copies_of(p),
        )


class ExtractiveSummarizer(Summarizer):
    """Summaries quoted from the articles (see the module docstring); `progress` and `on_note` are never called
    (it takes a second or two)."""

    def __init__(self, embeddings: Embeddings, *, budget: int, min_support: float) -> None:
        self.embeddings = embeddings
        self.model = "extractive"
        self.budget = budget
        self.min_support = min_support

    def notes(
        self, articles: dict[str, list[Passage]], topic: str, progress: Progress, length: Length, on_note: Shown
    ) -> tuple[list[Note], str]:
        """Quoted sentences: agreements across articles first, then each article's most central ones."""
        pool = [
            _Quote(source, order, passage, a, b)
            for source, passages in articles.items()
            for order, (passage, (a, b)) in enumerate((p, span) for p in passages for span in sentence_spans(p.text))
            if b - a > 30
            and re.search(r"[.!][\"'\u201d\u2019)]*$", passage.text[a:b])  # no headings, fragments, questions
        ]
        pool = [q for q in pool if not _heading(q.passage.text, q.a)]
        if not pool:
            return [], ""
        vectors = np.asarray(self.embeddings.embed_documents([q.text for q in pool]))
        similarity = vectors @ vectors.T
        by_source = {s: [i for i, q in enumerate(pool) if q.source == s] for s in articles}
        by_source = {s: mine for s, mine in by_source.items() if mine}
        scores = self._scores(pool, vectors, similarity, by_source, topic)
        notes: list[Note] = []
        chosen: list[int] = []
        # 1. where articles say (nearly) the same thing: one bullet citing both, up to two of them
        pairs = [
            (float(similarity[i, j]), i, j)
            for i in range(len(pool))
            for j in range(i + 1, len(pool))
            if pool[i].source != pool[j].source and similarity[i, j] >= AGREE_SIMILARITY
        ]
        for _, i, j in sorted(pairs, reverse=True):
            if len(notes) == 2 or any(similarity[k, x] >= REPEAT_SIMILARITY for k in chosen for x in (i, j)):
                continue
            chosen += [i, j]
            notes.append(self._compared(pool[i], pool[j], both=len(by_source) == 2))
        # 2. the best sentences by score within the length's word budget, each article's best one first
        if len(by_source) == 1 and not topic:
            points = _one_article(pool, scores, similarity, length)
        else:
            wanted = min(MAX_BULLETS - len(notes), max(length.fewest, length.fewest * len(by_source)))
            firsts = [max(mine, key=lambda i: scores[i]) for mine in by_source.values()]
            points = []
            for i in [*firsts, *(int(i) for i in np.argsort(-scores))]:
                if len(points) >= wanted:
                    break
                if all(similarity[i, j] < REPEAT_SIMILARITY for j in chosen + points):
                    points.append(i)
        points.sort(key=lambda i: (list(by_source).index(pool[i].source), pool[i].order))
        return notes + [self._quoted(pool[i].text, [pool[i]]) for i in points], ""

    def _scores(
        self,
        pool: list[_Quote],
        vectors: np.ndarray,
        similarity: np.ndarray,
        by_source: dict[str, list[int]],
        topic: str,
    ) -> np.ndarray:
        """Each sentence's worth: centrality in its article, plus closeness to the article's title and a bonus for
        coming early (news puts the gist first); for a topic, closeness to the topic instead of position."""
        scores = np.zeros(len(pool))
        titles = sorted({pool[mine[0]].passage.title for mine in by_source.values()} - {""})
        title_vectors = dict(zip(titles, np.asarray(self.embeddings.embed_documents(titles)), strict=True))
        for mine in by_source.values():
            central = similarity[np.ix_(mine, mine)].mean(axis=1)
            lead = np.array([1.0 / (1 + pool[i].order) for i in mine])  # 1, 1/2, 1/3, ... by sentence order
            scores[mine] = central + (0.0 if topic else LEAD_WEIGHT) * lead
            title = pool[mine[0]].passage.title
            if title in title_vectors:
                scores[mine] += TITLE_WEIGHT * (vectors[mine] @ title_vectors[title])
        if topic:  # what the sentences say about the topic matters, not where they stand (passages are hits)
            scores += vectors @ np.asarray(self.embeddings.embed_query(topic))
        return scores

    def _compared(self, a: _Quote, b: _Quote, both: bool) -> Note:
        """Two articles' near-identical sentences: they agree, or, if their numbers differ, they differ."""
        if numbers(a.text) and numbers(b.text) and numbers(a.text) != numbers(b.text):
            return self._quoted(f"The articles differ: {a.text} By contrast: {b.text}", [a, b], "differ")
        lead = "Both articles report" if both else "Two of the articles report"
        return self._quoted(f"{lead}: {a.text}", [a, b], "agree")

    def _quoted(self, text: str, quotes: list[_Quote], kind: str = "point") -> Note:
        """A bullet made of quoted sentences, verified like any other against the passages they come from."""
        passages = list(dict.fromkeys(q.passage for q in quotes))
        marked = text + "".join(f" [{n}]" for n in range(1, len(passages) + 1))
        sentences = verify(marked, passages, self.min_support, combine=True).sentences
        return Note(
            text,
            passages,
            [q.citation() for q in quotes],
            supported=bool(sentences) and all(s.supported for s in sentences),
            support=min((s.support for s in sentences), default=0.0),
            kind=kind,
        )


def _one_article(pool: list[_Quote], scores: np.ndarray, similarity: np.ndarray, length: Length) -> list[int]:
    """The best sentences by score, no two alike, within `length.words` (at least `length.fewest - 1` of them,
    whatever their length: quotes are whole sentences). Then the subject check: if a phrase the article keeps
    repeating (`rag.text.key_phrases`) is in none of them, the sentence that has it and scores best replaces the weakest
    choice but the first, so that a lead about the occasion does not hide what the article is about. Limits: a
    subject never named by one repeated phrase (or only by names) is not noticed."""
    words = [len(q.text.split()) for q in pool]
    chosen: list[int] = []
    for i in (int(i) for i in np.argsort(-scores)):
        if len(chosen) == length.most:
            break
        if any(similarity[i, j] >= REPEAT_SIMILARITY for j in chosen):
            continue
        if len(chosen) >= max(1, length.fewest - 1) and sum(words[j] for j in chosen) + words[i] > length.words:
            continue
        chosen.append(i)
    stems = [phrase_stems(q.text) for q in pool]
    phrases = key_phrases(stems)
    missing = [p for p in phrases if not any(f" {p} " in stems[i] for i in chosen)]
    having = [i for i in range(len(pool)) if i not in chosen and any(f" {p} " in stems[i] for p in missing)]
    having = [i for i in having if all(similarity[i, j] < REPEAT_SIMILARITY for j in chosen[:1])]
    if missing and having:
        best = max(having, key=lambda i: (sum(f" {p} " in stems[i] for p in missing), scores[i]))
        if len(chosen) > 1:
            chosen.remove(min(chosen[1:], key=lambda i: scores[i]))
        chosen.append(best)
    return chosen


def _heading(text: str, at: int) -> bool:
    r"""Whether position `at` of `text` is on a Markdown heading line ("# Title"): a title, not a sentence.

    >>> _heading("# Talks end? Yes.\nThey ended.", 13), _heading("# Talks end? Yes.\nThey ended.", 18)
    (True, False)
    """
    return text[text.rfind("\n", 0, at) + 1 :].startswith("#")
