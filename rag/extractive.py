"""The extractive backend: no language model, just the passage sentences that best answer the question.

Each candidate sentence is scored by the share of the question's content words it contains and by its
MiniLM similarity to the question; the best (at most three, above a floor and within 10 % of the top
score) are stitched together in score order, each cited to its passage. Deterministic and fast, but it never
rephrases: answers are quotations, and a question whose words and meaning match no sentence gets
"I don't know". A baseline, and the fallback when no model is available.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.citations import content_words, sentence_spans

DONT_KNOW = "I don't know based on the articles."


@dataclass(frozen=True)
class Candidate:
    passage: int  # 1-based passage number
    text: str
    score: float


def sentences_of(text: str) -> list[str]:
    """The sentences of `text` worth quoting (more than a few words), whitespace folded."""
    pieces = (" ".join(text[a:b].split()) for a, b in sentence_spans(text))
    return [p for p in pieces if len(p) > 20]


def extractive_answer(
    question: str, passages: list[str], embeddings: Embeddings, *, max_sentences: int = 3, floor: float = 0.45
) -> str:
    """An answer stitched from passage sentences, with [n] markers; DONT_KNOW when none scores above `floor`."""
    pool = [(n, s) for n, text in enumerate(passages, start=1) for s in sentences_of(text)]
    if not pool:
        return DONT_KNOW
    asked = content_words(question)
    vectors = np.asarray(embeddings.embed_documents([question] + [s for _, s in pool]))
    similarity = vectors[1:] @ vectors[0]
    scored = []
    for (n, sentence), cosine in zip(pool, similarity, strict=True):
        overlap = len(asked & content_words(sentence)) / len(asked) if asked else 0.0
        scored.append(Candidate(n, sentence, 0.5 * overlap + 0.5 * float(cosine)))
    scored.sort(key=lambda c: -c.score)
    chosen: list[Candidate] = []
    for candidate in scored:
        if candidate.score < max(floor, 0.9 * scored[0].score) or len(chosen) == max_sentences:
            break  # below the floor, or clearly worse than the best: padding, not answer
        if all(candidate.text != c.text for c in chosen):
            chosen.append(candidate)
    if not chosen:
        return DONT_KNOW
    return " ".join(f"{c.text} [{c.passage}]" for c in chosen)
