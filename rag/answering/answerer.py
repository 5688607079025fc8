"""The answer path: gather evidence -> screen -> draft -> check -> the Answer (rag.answering.answer).

The generation step is any LangChain runnable from a prompt dict to text: a chat model behind a prompt
(bundled or locally hosted) or the extractive backend. Citations are checked after generation (see
rag.answering.citations): markers that match no passage are dropped, each sentence is scored against what it
cites, a sentence with no valid citation gets the passage that clearly supports it, and an answer is refused
(with the closest passages listed) on the rules of `relevance_refusal` and `refusal_reason`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda

from rag.answering.answer import (
    DONT_KNOW,
    REFUSAL,
    Answer,
    Checked,
    Draft,
    Evidence,
    Stopped,
    final_answer,
    refusal_reason,
    relevance_refusal,
    select_passages,
)
from rag.answering.checker import CheckerUnavailable
from rag.answering.citations import Sentence, Verdict, Verified, split_sentences, verify
from rag.answering.confidence import Confidence
from rag.answering.context import SentenceContext, wants_passages
from rag.answering.evidence import Reply, answer_start, joined_to_its_sentence, parse
from rag.answering.fallback import Fallback, ModelFailed
from rag.answering.history import as_text
from rag.answering.judge import Judge
from rag.answering.pick import Choice, Picker, format_sentences, instruction
from rag.answering.prompts import CONDENSE, PROMPT, format_passages, prompt_tokens
from rag.answering.stopping import StopWhen
from rag.answering.streaming import ReplyStream
from rag.dates import phrase_dates, without_asked_dates
from rag.errors import RagError, describe_error
from rag.types import Dates, Hit

logger = logging.getLogger(__name__)


def _withdrawn() -> Stopped:
    return Stopped("the answer was withdrawn")


@dataclass
class Answerer:
    """Answers questions over a retriever with a generation runnable; `stream` yields tokens, then the Answer.

    The stages, each a method over a value of rag.answering.answer: `gather` (read the question's dates,
    condense a follow-up, retrieve, select passages) -> `screen` (refuse before the model writes: nothing
    relevant, or the model judges the passages do not answer) -> `draft` (the model writes; tokens stream) ->
    `check` (each sentence against what it cites) -> the Answer, or a refusal with the closest passages.
    """

    # (query, k or None for the default[, dates=Dates][, prefer=Dates][, source=str][, as_of=date]) -> hits
    retrieve: Callable[..., list[Hit]]
    # {"question", "passages" (formatted), "hits"} -> the answer: text, or a chat model's message (chunks)
    generate: Runnable[dict[str, Any], BaseMessage | str]
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
    # the sentences that matter instead of whole passages (rag.answering.context); None: whole passages
    context: SentenceContext | None = None
    # rates each answer (p_correct and band); None: no fitted combiner, every shown answer is unsure
    confidence: Confidence | None = None

    def chain(self) -> Runnable[dict[str, Any], Any]:
        """The whole answer path as one LCEL runnable: {"question", "history", "k", "dates", "source", "as_of"} ->
        tokens..., then an Answer."""
        return RunnableLambda(self.gather) | RunnableGenerator(self._answers)

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
        day the question is about (the search weighs articles by their distance from it). Without `dates`, a
        phrase in the question such as "last week" (read against `as_of`, default today) sets the range, and the
        answer's note says so. Setting `stop` makes the model stop writing (Stopped is raised): set it before
        closing the stream early."""
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

    def _answers(self, evidence: Iterator[Evidence]) -> Iterator[str | Answer]:
        for found in evidence:
            yield from self.answer(found)

    def answer(self, evidence: Evidence) -> Iterator[str | Answer]:
        """Tokens as the model writes them, then the Answer (or a refusal) for `evidence`."""
        if (why := self.screen(evidence)) is not None:
            yield self._refusal(evidence, "", note=why)
            return
        draft = None
        for item in self.draft(evidence):
            if isinstance(item, Draft):
                draft = item
            else:
                yield item
        assert draft is not None
        if draft.refusal is not None:
            yield self._refusal(evidence, draft.text, note=draft.refusal)
            return
        checked = self.check(draft, evidence)
        if checked.refusal is not None:
            yield self._refusal(evidence, draft.text, note=checked.refusal, trace=checked.trace)
            return
        yield self._shown(evidence, checked)

    # --- gather -------------------------------------------------------------------------------------------
    def gather(self, inputs: dict[str, Any]) -> Evidence:
        """Read the question's dates, condense a follow-up with its history, retrieve, and select the passages
        the model reads."""
        started = time.perf_counter()
        question, history = inputs["question"].strip(), inputs.get("history") or []
        dates, prefer, phrase = inputs.get("dates"), None, ""
        if dates is None:  # a phrase names when the event happened: its range ranks, it does not filter
            prefer, phrase = phrase_dates(inputs["question"], inputs.get("as_of") or dt.date.today())
        searched, asked, note = self._condensed(question, history)
        condensed = time.perf_counter()
        filters = {"dates": dates, "prefer": prefer, "source": inputs.get("source"), "as_of": inputs.get("as_of")}
        hits = self.retrieve(searched, inputs.get("k"), **{name: value for name, value in filters.items() if value})
        timings = {"condense_s": condensed - started, "retrieve_s": time.perf_counter() - condensed}
        passages = select_passages(hits, self.context_tokens)
        evidence = Evidence(question, searched, asked, hits, passages, started, timings, note, dates or prefer, phrase)
        self._read_context(evidence)
        return evidence

    def _read_context(self, evidence: Evidence) -> None:
        """What the model reads: the passages' sentences that matter (rag.answering.context), or the passages
        themselves for a question that asks for an account, or without a sentence context."""
        started = time.perf_counter()
        evidence.formatted, evidence.context = format_passages(evidence.passages), {"kind": "passages"}
        if self.context is not None and evidence.passages:
            if (why := wants_passages(evidence.asked)) is not None:
                evidence.context["why"] = why
            elif (built := self.context.build(evidence.asked, evidence.passages)) is not None:
                evidence.passages, evidence.formatted, evidence.context = built.windows, built.text, built.trace
            evidence.timings["context_s"] = time.perf_counter() - started
        evidence.context["prompt_tokens"] = prompt_tokens(evidence.formatted, evidence.asked)

    def _condensed(self, question: str, history: Sequence[BaseMessage]) -> tuple[str, str, str]:
        """(what to search for, what the model answers, a note) for a question with its history."""
        if not history:
            return question, question, ""
        last = next((m.content for m in reversed(history) if isinstance(m, HumanMessage)), "")
        # Without a model the search takes the previous question along for context, but the answer must still
        # answer this one (else an unrelated follow-up is answered about the previous topic).
        searched = f"{last} {question}".strip()
        if self.condense is None:
            return searched, question, ""
        try:
            rewritten = self.condense.invoke({"question": question, "history": as_text(history)})
        except Exception as e:  # the model is down: search with the plain combination instead
            logger.warning("could not condense the follow-up", exc_info=True)
            return searched, question, f"could not condense the follow-up ({describe_error(e)})"
        standalone = rewritten.strip().splitlines()[0] if rewritten.strip() else question
        return standalone, standalone, ""

    # --- screen -------------------------------------------------------------------------------------------
    def screen(self, evidence: Evidence) -> str | None:
        """Why to refuse before the model writes, or None with the answer step's inputs in `evidence.prompt`:
        no passage relevant enough, or the model judges that the passages (or their sentences) do not answer."""
        if (irrelevant := relevance_refusal(evidence.hits, self.min_relevance)) is not None:
            return irrelevant
        passages = evidence.passages
        evidence.prompt = {"question": evidence.asked, "passages": evidence.formatted, "hits": passages}
        return self._unpicked(evidence) if self.picker else self._unanswerable(evidence)

    def _unanswerable(self, evidence: Evidence) -> str | None:
        """Why to refuse because the model judged that the passages do not answer the question, or None. The
        score goes into the trace; if the model fails here, the answer step meets the failure and falls back."""
        if self.answerability is None:
            return None
        started = time.perf_counter()
        try:
            score = self.answerability(evidence.prompt["passages"], evidence.prompt["question"])
        except Exception:
            logger.warning("could not ask the model whether the passages answer the question", exc_info=True)
            return None
        evidence.timings["answerable_s"] = time.perf_counter() - started
        evidence.answerable = score
        if score < self.min_answerable:
            return f"the model judged that the passages do not answer the question (P(yes) {score:.2f})"
        return None

    def _unpicked(self, evidence: Evidence) -> str | None:
        """Pick first: the model names the candidate sentence that answers (rag.answering.pick). Why to refuse
        (no candidate, or "none" above an even share), or None with the choice in `evidence` and the answer
        step's inputs in its prompt. If the model fails here, the best-ranked sentence stands and the answer
        step meets the failure and falls back."""
        assert self.picker is not None
        started, prompt = time.perf_counter(), evidence.prompt
        candidates = self.picker.candidates(prompt["question"], prompt["hits"])
        if not candidates:
            return "the passages have no sentence to answer from"
        prompt["sentences"] = format_sentences(candidates, prompt["hits"])
        try:
            choice = self.picker.choose(prompt["question"], candidates, prompt["sentences"])
        except Exception:
            logger.warning("could not ask the model which sentence answers the question", exc_info=True)
            choice = Choice(candidates)
        evidence.timings["pick_s"] = time.perf_counter() - started
        evidence.choice, evidence.answerable, prompt["number"] = choice, choice.answerable, choice.number
        prompt["instruction"] = instruction(prompt["question"], choice.number)
        if self.min_answerable > 0 and choice.none_likely:
            none = 1 - choice.answerable
            return f"the model judged that no sentence of the passages answers the question (P(none) {none:.2f})"
        return None

    # --- draft --------------------------------------------------------------------------------------------
    def draft(self, evidence: Evidence) -> Iterator[str | Draft]:
        """The model's tokens as it writes them (an evidence-first reply's quotes are not streamed), then the
        Draft. If the model fails, the extractive answer stands in, with a note."""
        text, note, first, failed = "", evidence.note, None, False
        started = time.perf_counter()
        shown_from = None if self.style == "evidence" else 0  # where the answer starts in `text`, once known
        reply = ReplyStream()
        for item in self._tokens(evidence.prompt, reply):
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
        evidence.timings["generate_s"] = time.perf_counter() - started
        evidence.generation = {"failed": True} if failed else reply.summary()
        if first:
            evidence.timings["first_token_s"] = first - evidence.started
        yield self._read(text, note, failed, evidence)

    def _read(self, text: str, note: str, failed: bool, evidence: Evidence) -> Draft:
        """The answer to check in the model's reply `text`."""
        passages = [h.text for h in evidence.passages]
        reply = None if failed else self._reply(text, evidence)
        if reply is not None and reply.none:
            return Draft(text, "", reply, failed, note, note or "the model found no passage that answers the question")
        if reply is not None:  # a "quote" that is not one is read as part of a free answer, and checked as such
            reply.keep_quotes_from(passages)
            answer = reply.shown()
        else:  # a bare "171 [1]" gets the sentence that states it, so that there is something to check
            plain = failed or DONT_KNOW.search(text)
            answer = text if plain else joined_to_its_sentence(text, passages, evidence.asked)
        refusal = None if answer.strip() else note or "the model returned an empty answer"
        return Draft(text, answer, reply, failed, note, refusal)

    def _reply(self, text: str, evidence: Evidence) -> Reply | None:
        """An answer that comes with its quote, read: the chosen sentence's (pick first) or the evidence the model
        copied (evidence first); None for a free answer."""
        if evidence.choice is not None:
            return evidence.choice.reply(text)
        return parse(text) if self.style == "evidence" else None

    def _tokens(self, prompt: dict[str, Any], reply: ReplyStream) -> Iterator[str | ModelFailed]:
        """The model's tokens, read through `reply`; if it fails (a stream cut off included) and there is a
        fallback, ModelFailed and the extractive answer."""

        def tokens(inputs: dict[str, Any]) -> Iterator[str]:
            return reply.texts(self.generate.stream(inputs))

        if self.fallback is None:
            return tokens(prompt)
        return Fallback(tokens, self.fallback, "an extractive answer").stream(prompt)

    # --- check --------------------------------------------------------------------------------------------
    def check(self, draft: Draft, evidence: Evidence) -> Checked:
        """Each sentence of the draft against the passages it cites (the judge where there is one, then the
        relevance of its evidence to the question), the trace, and whether the result must be refused."""
        started = time.perf_counter()
        verified, verdicts, judge_note = self._verified(draft.answer, evidence.passages, evidence.asked, draft.failed)
        self._off_topic(verified, evidence.asked)
        note = f"{draft.note}; {judge_note}" if draft.note and judge_note else draft.note or judge_note
        evidence.timings["verify_s"] = time.perf_counter() - started
        evidence.timings["total_s"] = time.perf_counter() - evidence.started
        trace = self._trace(evidence, verified.sentences, verdicts)
        if draft.reply is not None:
            trace["evidence"] = [{"passage": n, "quote": q} for n, q in draft.reply.evidence]
            trace["reply"] = draft.text
        reason = refusal_reason(draft.answer, verified.sentences)
        return Checked(verified, note, trace, None if reason is None else note or reason)

    def _verified(
        self, text: str, passages: list[Hit], question: str, quoted: bool
    ) -> tuple[Verified, list[Verdict] | None, str]:
        """Verify `text`; with a judge (not for quoted, extractive text), the judge decides what is supported.
        If the judge's model fails, the lexical check stands in, with a note."""
        if self.judge is None or quoted:
            return verify(text, passages, self.min_support, question), None, ""
        judge = self.judge
        claims = [without_asked_dates(raw, question) for raw, _ in split_sentences(text)]
        try:
            verdicts, note = Fallback(judge.judge, lambda *_: None, "a lexical check")(claims, passages, question)
        except CheckerUnavailable as e:
            verdicts, note = None, f"{e}; the lexical check was used instead"
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

    # --- the result ---------------------------------------------------------------------------------------
    def _trace(
        self, evidence: Evidence, sentences: Sequence[Sentence], verdicts: Sequence[Verdict] | None
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
                for h in evidence.hits
            ],
            "prompt": {
                "question": evidence.searched,
                "passages": [{"source": h.source, "start": h.start, "end": h.end} for h in evidence.passages],
            },
            "context": evidence.context,
            "answerable": None if evidence.answerable is None else round(evidence.answerable, 4),
            "generation": evidence.generation,  # the finish reason and the tokens' log-probabilities
            **({"pick": evidence.choice.to_json()} if evidence.choice is not None else {}),
            "support": "lexical" if verdicts is None or self.judge is None else self.judge.name,
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

    def _shown(self, evidence: Evidence, checked: Checked) -> Answer:
        return self._finished(
            evidence,
            Answer(
                question=evidence.question,
                condensed_question=evidence.searched,
                answer=checked.verified.text,
                refused=False,
                sentences=checked.verified.sentences,
                citations=checked.verified.citations,
                passages=evidence.passages,
                model=self.model,
                timings=evidence.timings,
                note=checked.note,
                trace=checked.trace,
            ),
        )

    def _refusal(self, evidence: Evidence, raw: str, note: str, trace: dict[str, Any] | None = None) -> Answer:
        evidence.timings["total_s"] = time.perf_counter() - evidence.started
        return self._finished(
            evidence,
            Answer(
                question=evidence.question,
                condensed_question=evidence.searched,
                answer=REFUSAL,
                refused=True,
                sentences=[],
                citations=[],
                passages=evidence.hits[:3],  # the closest passages
                model=self.model,
                timings=evidence.timings,
                note=f"{note}; model said: {raw.strip()[:300]!r}" if raw.strip() else note,
                trace=trace or self._trace(evidence, [], None),
            ),
        )

    def _finished(self, evidence: Evidence, answer: Answer) -> Answer:
        """The answer rated (rag.answering.confidence, the signals kept in its trace); one whose search preferred
        a range read from a phrase in the question says so, first in its note."""
        if evidence.phrase and evidence.dates:
            dates = evidence.dates
            searched = f"preferred articles dated {dates.since} to {dates.until} (from {evidence.phrase!r})"
            answer.note = f"{searched}; {answer.note}" if answer.note else searched
            answer.trace["dates"] = {"since": dates.since, "until": dates.until, "phrase": evidence.phrase}
        rating = (self.confidence or Confidence(None, self.model)).rate(answer.to_json())
        answer.p_correct, answer.band, answer.band_reason = rating.p_correct, rating.band, rating.why
        answer.trace["confidence"] = {k: round(v, 4) for k, v in rating.signals.items()}
        return answer


def _padded(verdicts: Sequence[Verdict] | None, n: int) -> list[Verdict | None]:
    return list(verdicts) if verdicts is not None else [None] * n


def llm_generation(llm: Runnable[Any, BaseMessage], prompt: Any = PROMPT) -> Runnable[dict[str, Any], BaseMessage]:
    """prompt -> chat model -> the reply, streamed as message chunks (with the server's finish reason and
    log-probabilities in their metadata: rag.answering.streaming reads them)."""
    return prompt | llm


def llm_condenser(llm: Runnable[Any, BaseMessage]) -> Runnable[dict[str, Any], str]:
    return CONDENSE | llm | StrOutputParser()


def similarity_to(embeddings: Any) -> Callable[[str, list[str]], list[float]]:
    """(question, texts) -> cosine similarity of each text to the question, with `embeddings` (normalised)."""

    def relevance(question: str, texts: list[str]) -> list[float]:
        vectors = np.asarray(embeddings.embed_documents([question, *texts]))
        return [float(v) for v in vectors[1:] @ vectors[0]]

    return relevance
