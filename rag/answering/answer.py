"""Cited answers: retrieve -> prompt with numbered passages -> generate -> parse citations -> verify -> result.

The generation step is any LangChain runnable from a prompt dict to text: a chat model behind a prompt
(bundled or locally hosted) or the extractive backend. Citations are checked after generation (see
rag.answering.citations): markers that match no passage are dropped, each sentence is scored against what it
cites, a sentence with no valid citation gets the passage that clearly supports it, and an answer is refused
(with the closest passages listed) on the rules of `relevance_refusal` and `refusal_reason`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda

from rag.answering.citations import Citation, Sentence, Verified, split_sentences, verify
from rag.answering.evidence import Reply, answer_start, joined_to_its_sentence, parse
from rag.answering.fallback import Fallback, ModelFailed
from rag.answering.judge import Judge, Verdict
from rag.answering.pick import Choice, Picker, format_sentences, instruction
from rag.answering.prompts import CONDENSE, PROMPT, format_history, format_passages
from rag.answering.stopping import StopWhen
from rag.dates import without_asked_dates
from rag.errors import RagError, describe_error
from rag.text import count_tokens
from rag.types import Dates, Hit

logger = logging.getLogger(__name__)

REFUSAL = "The articles don't answer this question."


class Stopped(RagError):
    """The answer was withdrawn while the model wrote it (an HTTP client went away)."""


def _withdrawn() -> Stopped:
    return Stopped("the answer was withdrawn")


_DONT_KNOW = re.compile(
    r"\b(i don'?t know|i do not know|cannot answer|can'?t answer|unable to answer|no information|"
    r"(?:do|does|did) not (?:say|mention|specify|state|provide|contain)|not (?:mentioned|stated|specified))\b",
    re.IGNORECASE,
)
# A small model sometimes copies the prompt's passages, headers ("[2] (file.txt)") and all, instead of answering.
# A file name in parentheses inside a quoted sentence is not a header (articles may say "(goats.txt)").
_ECHO = re.compile(r"(?:^|\[\d+\])\s*\(\S+\.(?:txt|md|html?|pdf)\)", re.MULTILINE)
MAX_SENTENCES = 6  # more than this is a copied passage, not an answer


@dataclass
class Answer:
    question: str
    condensed_question: str
    answer: str
    refused: bool
    sentences: list[Sentence]
    citations: list[Citation]
    passages: list[Hit]  # what the model saw (for a refusal: the closest passages)
    model: str
    timings: dict[str, float] = field(default_factory=dict)
    note: str = ""
    trace: dict[str, Any] = field(default_factory=dict)  # how it was found and checked (see Answerer._trace)

    @property
    def confidence(self) -> str:
        """How the answer held up: supported (every sentence shown passed the check), partly supported, or
        refused; from the support check's verdicts on the sentences, never from what the model says of itself."""
        if self.refused:
            return "refused"
        return "supported" if all(s.supported for s in self.sentences) else "partly supported"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["confidence"] = self.confidence
        data["sentences"] = [
            {"text": s.text, "citations": s.citations, "supported": s.supported, "flag": s.flag} for s in self.sentences
        ]
        data["passages"] = [
            {"source": h.source, "start": h.start, "end": h.end, "text": h.text, "copies": list(h.copies)}
            for h in self.passages
        ]
        data["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        return data


def relevance_refusal(passages: Sequence[Hit], min_relevance: float) -> str | None:
    """Why to refuse before asking the model, or None: no passage, or none similar enough to the question.

    >>> relevance_refusal([], 0.2)
    'no passage is relevant enough (best similarity 0.00)'
    """
    relevance = max((h.dense_score or 0.0 for h in passages), default=0.0)
    if not passages or relevance < min_relevance:
        return f"no passage is relevant enough (best similarity {relevance:.2f})"
    return None


def refusal_reason(text: str, sentences: Sequence[Sentence]) -> str | None:
    """Why the model's reply `text`, checked into `sentences`, must be shown as a refusal, or None to show it.

    >>> refusal_reason("I don't know based on the articles.", [Sentence("I don't know based on the articles.")])
    'the model found no answer in the passages'
    >>> refusal_reason("Talks lasted two days [1].", [Sentence("Talks lasted two days.", [1], supported=True)])
    """
    if not text.strip():
        return "the model returned an empty answer"
    if _ECHO.search(text) or len(sentences) > MAX_SENTENCES:
        return "the model repeated the passages instead of answering"
    if _DONT_KNOW.search(text) and not any(s.supported for s in sentences if not _DONT_KNOW.search(s.text)):
        return "the model found no answer in the passages"
    if not any(s.supported for s in sentences):
        return "no sentence of the model's answer is supported"
    return None


def select_passages(hits: Sequence[Hit], budget: int) -> list[Hit]:
    """The best hits that fit in `budget` tokens, in article order (source, then position), so that similar
    questions give the model the same prompt prefix and llama.cpp can reuse its cache."""
    chosen: list[Hit] = []
    used = 0
    for hit in hits:
        cost = count_tokens(hit.text) + 20
        if used + cost > budget and chosen:
            continue
        chosen.append(hit)
        used += cost
    return sorted(chosen, key=lambda h: (h.source, h.start))


@dataclass
class Answerer:
    """Answers questions over a retriever with a generation runnable; `stream` yields tokens, then the Answer."""

    # (query, k or None for the default[, dates=Dates][, source=str][, as_of=date]) -> hits
    retrieve: Callable[..., list[Hit]]
    generate: Runnable[dict[str, Any], str]  # {"question", "passages" (formatted), "hits"} -> answer text
    condense: Runnable[dict[str, Any], str] | None  # {"question", "history"} -> standalone question
    model: str
    context_tokens: int
    min_support: float
    min_relevance: float
    fallback: Callable[[dict[str, Any]], str] | None = None  # used when `generate` fails (a server down)
    judge: Judge | None = None  # decides what is supported; None: the lexical check (rag.answering.citations)
    # (question, texts) -> similarity of each text to the question; with min_answer_relevance, see _off_topic
    relevance: Callable[[str, list[str]], list[float]] | None = None
    min_answer_relevance: float = -1.0
    style: str = "free"  # "evidence": the model quotes, then answers (rag.answering.evidence)
    picker: Picker | None = None  # pick first (rag.answering.pick): `generate` then answers from the chosen sentence
    # (formatted passages, question) -> P(they answer it), asked before answering; below min_answerable: refused
    answerability: Callable[[str, str], float] | None = None
    min_answerable: float = 0.0

    def chain(self) -> Runnable[dict[str, Any], Any]:
        """The whole pipeline as one LCEL runnable: {"question", "history", "k"} -> tokens..., then an Answer."""
        return RunnableLambda(self._prepare) | RunnableGenerator(self._generate_and_verify)

    def stream(
        self,
        question: str,
        history: Sequence[BaseMessage] = (),
        k: int | None = None,
        dates: Dates | None = None,
        source: str | None = None,
        stop: threading.Event | None = None,
        as_of: dt.date | None = None,
    ) -> Iterator[str | Answer]:
        """Tokens, then the Answer; `dates` and `source` (a file as stored) limit what is retrieved, `as_of` is the
        day the question is about (the search weighs articles by their distance from it). Setting `stop` makes
        the model stop writing (Stopped is raised): set it before closing the stream early."""
        if not question.strip():
            raise RagError("the question is empty; ask something")
        inputs = {
            "question": question,
            "history": list(history),
            "k": k,
            "dates": dates,
            "source": source,
            "as_of": as_of,
        }
        yield from self.chain().stream(inputs, {"callbacks": [StopWhen(stop.is_set, _withdrawn)]} if stop else None)

    def ask(
        self, question: str, history: Sequence[BaseMessage] = (), k: int | None = None, dates: Dates | None = None
    ) -> Answer:
        return final_answer(self.stream(question, history, k, dates))

    def _prepare(self, inputs: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        question, history = inputs["question"].strip(), inputs.get("history") or []
        standalone, asked, note = question, question, ""
        if history:
            last = next((m.content for m in reversed(history) if isinstance(m, HumanMessage)), "")
            # Without a model the search takes the previous question along for context, but the answer must
            # still answer this one (else an unrelated follow-up is answered about the previous topic).
            standalone = f"{last} {question}".strip()
            if self.condense is not None:
                try:
                    rewritten = self.condense.invoke({"question": question, "history": format_history(history)})
                    standalone = rewritten.strip().splitlines()[0] if rewritten.strip() else question
                    asked = standalone
                except Exception as e:  # the model is down: search with the plain combination instead
                    logger.warning("could not condense the follow-up", exc_info=True)
                    note = f"could not condense the follow-up ({describe_error(e)})"
        condensed = time.perf_counter()
        filters = {name: inputs[name] for name in ("dates", "source", "as_of") if inputs.get(name)}
        hits = self.retrieve(standalone, inputs.get("k"), **filters)
        passages = select_passages(hits, self.context_tokens)
        timings = {"condense_s": condensed - started, "retrieve_s": time.perf_counter() - condensed}
        return {
            "question": question,
            "standalone": standalone,
            "asked": asked,
            "hits": hits,
            "passages": passages,
            "started": started,
            "timings": timings,
            "note": note,
        }

    def _generate_and_verify(self, stream: Iterator[dict[str, Any]]) -> Iterator[str | Answer]:
        for state in stream:
            yield from self._answer(state)

    def _answer(self, state: dict[str, Any]) -> Iterator[str | Answer]:
        passages: list[Hit] = state["passages"]
        timings: dict[str, float] = state["timings"]
        if (irrelevant := relevance_refusal(passages, self.min_relevance)) is not None:
            yield self._refusal(state, "", note=irrelevant)
            return
        prompt = {"question": state["asked"], "passages": format_passages(passages), "hits": passages}
        unanswerable = self._unpicked(prompt, state) if self.picker else self._unanswerable(prompt, state)
        if unanswerable is not None:
            yield self._refusal(state, "", note=unanswerable)
            return
        text, note, first = "", state["note"], None
        generation_started = time.perf_counter()
        failed = False
        shown_from = None if self.style == "evidence" else 0  # where the answer starts in `text`, once known
        for item in self._tokens(prompt):
            if isinstance(item, ModelFailed):
                note, text, failed, shown_from = f"{note}; {item.note}" if note else item.note, "", True, 0
                continue
            text += item
            if shown_from is None:  # the quotes are not streamed; the answer after them is
                shown_from = answer_start(text)
                item = text[shown_from:] if shown_from is not None else ""
            if item:
                if not failed:
                    first = first or time.perf_counter()
                yield item
        timings["generate_s"] = time.perf_counter() - generation_started
        if first:
            timings["first_token_s"] = first - state["started"]
        reply = None if failed else self._reply(text, state)
        if reply is not None and reply.none:
            yield self._refusal(state, text, note=note or "the model found no passage that answers the question")
            return
        if reply is not None:  # a "quote" that is not one is read as part of a free answer, and checked as such
            reply.keep_quotes_from([h.text for h in passages])
        if reply is not None:
            answer = reply.shown()
        else:  # a bare "171 [1]" gets the sentence that states it, so that there is something to check
            plain = failed or _DONT_KNOW.search(text)
            answer = text if plain else joined_to_its_sentence(text, [h.text for h in passages], state["asked"])
        if not answer.strip():
            yield self._refusal(state, text, note=note or "the model returned an empty answer")
            return
        verified_at = time.perf_counter()
        verified, verdicts, judge_note = self._check(answer, passages, state["asked"], quoted=failed)
        self._off_topic(verified, state["asked"])
        note = f"{note}; {judge_note}" if note and judge_note else note or judge_note
        timings["verify_s"] = time.perf_counter() - verified_at
        timings["total_s"] = time.perf_counter() - state["started"]
        trace = self._trace(state, verified.sentences, verdicts)
        if reply is not None:
            trace["evidence"] = [{"passage": n, "quote": q} for n, q in reply.evidence]
            trace["reply"] = text
        if (reason := refusal_reason(answer, verified.sentences)) is not None:
            yield self._refusal(state, text, note=note or reason, trace=trace)
            return
        yield Answer(
            question=state["question"],
            condensed_question=state["standalone"],
            answer=verified.text,
            refused=False,
            sentences=verified.sentences,
            citations=verified.citations,
            passages=passages,
            model=self.model,
            timings=timings,
            note=note,
            trace=trace,
        )

    def _unanswerable(self, prompt: dict[str, Any], state: dict[str, Any]) -> str | None:
        """Why to refuse because the model judged that the passages do not answer the question, or None. The
        score goes into the trace; if the model fails here, the answer step meets the failure and falls back."""
        if self.answerability is None:
            return None
        started = time.perf_counter()
        try:
            score = self.answerability(prompt["passages"], prompt["question"])
        except Exception:
            logger.warning("could not ask the model whether the passages answer the question", exc_info=True)
            return None
        state["timings"]["answerable_s"] = time.perf_counter() - started
        state["answerable"] = score
        if score < self.min_answerable:
            return f"the model judged that the passages do not answer the question (P(yes) {score:.2f})"
        return None

    def _reply(self, text: str, state: dict[str, Any]) -> Reply | None:
        """An answer that comes with its quote, read: the chosen sentence's (pick first) or the evidence the model
        copied (evidence first); None for a free answer."""
        if "choice" in state:
            return state["choice"].reply(text)
        return parse(text) if self.style == "evidence" else None

    def _unpicked(self, prompt: dict[str, Any], state: dict[str, Any]) -> str | None:
        """Pick first: the model names the candidate sentence that answers (rag.answering.pick). Why to refuse
        (no candidate, or "none" above an even share), or None with the choice in `state` and the answer step's
        inputs in `prompt`. If the model fails here, the best-ranked sentence stands and the answer step meets
        the failure and falls back."""
        assert self.picker is not None
        started = time.perf_counter()
        candidates = self.picker.candidates(prompt["question"], prompt["hits"])
        if not candidates:
            return "the passages have no sentence to answer from"
        prompt["sentences"] = format_sentences(candidates, prompt["hits"])
        try:
            choice = self.picker.choose(prompt["question"], candidates, prompt["sentences"])
        except Exception:
            logger.warning("could not ask the model which sentence answers the question", exc_info=True)
            choice = Choice(candidates)
        state["timings"]["pick_s"] = time.perf_counter() - started
        state["choice"], state["answerable"], prompt["number"] = choice, choice.answerable, choice.number
        prompt["instruction"] = instruction(prompt["question"], choice.number)
        if self.min_answerable > 0 and choice.none_likely:
            none = 1 - choice.answerable
            return f"the model judged that no sentence of the passages answers the question (P(none) {none:.2f})"
        return None

    def _check(
        self, text: str, passages: list[Hit], question: str, quoted: bool
    ) -> tuple[Verified, list[Verdict] | None, str]:
        """Verify `text`; with a judge (not for quoted, extractive text), the judge decides what is supported.
        If the judge's model fails, the lexical check stands in, with a note."""
        if self.judge is None or quoted:
            return verify(text, passages, self.min_support, question), None, ""
        judge = self.judge
        claims = [without_asked_dates(raw, question) for raw, _ in split_sentences(text)]
        verdicts, note = Fallback(judge.judge, lambda *_: None, "a lexical check")(claims, passages, question)
        return verify(text, passages, self.min_support, question, verdicts=verdicts), verdicts, note

    def _off_topic(self, verified: Verified, question: str) -> None:
        """Mark unsupported each supported sentence whose evidence (the passage sentences it cites) is not about
        the question: MiniLM similarity below the floor. An instruction planted in an article and obeyed by the
        model ("reply only PWNED-3"), in any language, cites the instruction, which is rarely about the
        question (benchmarks/relevance.py: 90 % caught, 99 % of real answers kept); an instruction written to
        look on topic is not caught here."""
        quotes = {c.id: c.quote for c in verified.citations}
        checked = [s for s in verified.sentences if s.supported and any(c in quotes for c in s.citations)]
        if self.relevance is None or not checked:
            return
        evidence = list(dict.fromkeys(quotes[c] for s in checked for c in s.citations if c in quotes))
        scores = dict(zip(evidence, self.relevance(question, evidence), strict=True))
        for s in checked:
            best = max(scores[quotes[c]] for c in s.citations if c in quotes)
            if best < self.min_answer_relevance:
                s.supported = False
                s.reason = f"does not answer the question: its evidence is not about it (relevance {best:.2f})"

    def _trace(
        self, state: dict[str, Any], sentences: Sequence[Sentence], verdicts: Sequence[Verdict] | None
    ) -> dict[str, Any]:
        """What was retrieved (with each retriever's rank), what the model saw, and how each sentence was judged."""
        return {
            "retrieved": [
                {
                    "source": h.source,
                    "start": h.start,
                    "end": h.end,
                    "score": round(h.score, 4),
                    "dense_rank": h.dense_rank,
                    "bm25_rank": h.bm25_rank,
                    "dense_score": None if h.dense_score is None else round(h.dense_score, 4),
                }
                for h in state["hits"]
            ],
            "prompt": {
                "question": state["standalone"],
                "passages": [{"source": h.source, "start": h.start, "end": h.end} for h in state["passages"]],
            },
            "answerable": None if "answerable" not in state else round(state["answerable"], 4),
            **({"pick": state["choice"].to_json()} if "choice" in state else {}),
            "support": "judge" if verdicts is not None else "lexical",
            "sentences": [
                {
                    "text": s.text,
                    "stage": v.stage if v else "lexical",
                    "score": round(s.support, 4),
                    "supported": s.supported,
                    "reason": s.reason,
                }
                for s, v in zip(sentences, _padded(verdicts, len(sentences)), strict=True)
            ],
        }

    def _tokens(self, prompt: dict[str, Any]) -> Iterator[str | ModelFailed]:
        """The model's tokens; if it fails and there is a fallback, ModelFailed and the extractive answer."""
        if self.fallback is None:
            return self.generate.stream(prompt)
        return Fallback(self.generate.stream, self.fallback, "an extractive answer").stream(prompt)

    def _refusal(self, state: dict[str, Any], raw: str, note: str, trace: dict[str, Any] | None = None) -> Answer:
        timings = state["timings"]
        timings["total_s"] = time.perf_counter() - state["started"]
        return Answer(
            question=state["question"],
            condensed_question=state["standalone"],
            answer=REFUSAL,
            refused=True,
            sentences=[],
            citations=[],
            passages=state["hits"][:3],  # the closest passages
            model=self.model,
            timings=timings,
            note=f"{note}; model said: {raw.strip()[:300]!r}" if raw.strip() else note,
            trace=trace or self._trace(state, [], None),
        )


def _padded(verdicts: Sequence[Verdict] | None, n: int) -> list[Verdict | None]:
    return list(verdicts) if verdicts is not None else [None] * n


def llm_generation(llm: Runnable[Any, BaseMessage], prompt: Any = PROMPT) -> Runnable[dict[str, Any], str]:
    """prompt -> chat model -> text, streaming token by token."""
    from langchain_core.output_parsers import StrOutputParser

    return prompt | llm | StrOutputParser()


def llm_condenser(llm: Runnable[Any, BaseMessage]) -> Runnable[dict[str, Any], str]:
    from langchain_core.output_parsers import StrOutputParser

    return CONDENSE | llm | StrOutputParser()


def final_answer(stream: Iterable[str | Answer]) -> Answer:
    """The Answer at the end of an answer stream (its tokens are dropped)."""
    for item in stream:
        if isinstance(item, Answer):
            return item
    raise RuntimeError("the answer chain ended without a result")


def similarity_to(embeddings: Any) -> Callable[[str, list[str]], list[float]]:
    """(question, texts) -> cosine similarity of each text to the question, with `embeddings` (normalised)."""
    import numpy as np

    def relevance(question: str, texts: list[str]) -> list[float]:
        vectors = np.asarray(embeddings.embed_documents([question, *texts]))
        return [float(v) for v in vectors[1:] @ vectors[0]]

    return relevance


def history_from_turns(turns: Sequence[tuple[str, str]]) -> list[BaseMessage]:
    """[(question, answer), ...] -> chat messages, for callers that keep plain strings."""
    messages: list[BaseMessage] = []
    for question, answer in turns:
        messages += [HumanMessage(question), AIMessage(answer)]
    return messages
