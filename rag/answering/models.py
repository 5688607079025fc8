"""The answer model behind one setting: the bundled model, a locally hosted OpenAI-compatible server, or none
(extractive). Answers and summaries get what they need from `Backend`, so the choice is made in one place.

Any OpenAI-compatible server (llama.cpp, Ollama, vLLM) is the same code: LangChain's ChatOpenAI at a base
URL. The bundled model is such a server too, run in-process by llama.cpp; it starts on first use (seconds)
and stops on `close()`. When a model fails, the extractive backend stands in (rag.answering.fallback).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import SecretStr

from rag.answering.answerer import llm_condenser, llm_generation
from rag.answering.bundled import MODELS, ensure_gguf, start_server
from rag.answering.checker import FOLDER as CHECKER_FOLDER
from rag.answering.checker import Checker, CheckerUnavailable
from rag.answering.confidence import Combiner, Confidence
from rag.answering.context import SentenceContext
from rag.answering.digest import digest
from rag.answering.extractive import ExtractiveAnswers, ExtractiveSummarizer
from rag.answering.fallback import Fallback
from rag.answering.judge import Answerability, CheckerJudge, Judge, ModelJudge
from rag.answering.pick import Picker
from rag.answering.prompts import EVIDENCE_PROMPT, PICK_ANSWER, PROMPT
from rag.answering.summarize import MapReduceSummarizer, Progress, Shown, Summarizer, Summary
from rag.answering.timeline import timeline
from rag.text import content_words

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.messages import BaseMessage

    from rag.config import Settings
    from rag.types import Hit, Passage


class Backend:
    """What answers and summaries are made with, for `settings.backend`. `chat_model` replaces the configured
    model (a test's scripted model enters here); the extractive backend needs only `embeddings`."""

    def __init__(self, settings: Settings, embeddings: Embeddings, chat_model: Runnable[Any, Any] | None = None):
        self.settings = settings
        self.extractive = ExtractiveAnswers(embeddings)
        self.extractive_summarizer = ExtractiveSummarizer(
            embeddings, budget=settings.context_tokens, min_support=settings.min_support
        )
        self._chat_model = chat_model
        self._server: Any = None  # the bundled llama.cpp server, while it runs
        self._lock = threading.Lock()
        self._checker = CheckerJudge(partial(Checker, settings.checker_dir or CHECKER_FOLDER))  # loads on first use
        self._confidence: Confidence | None = None

    @property
    def label(self) -> str:
        """The model as shown to users and used in cache keys; known without starting it."""
        s = self.settings
        if s.backend == "bundled":
            return f"bundled:{MODELS[s.bundled_model].name}"
        return "extractive" if s.backend == "extractive" else f"openai:{s.llm_model}"

    @property
    def uses_model(self) -> bool:
        return self.settings.backend != "extractive"

    def chat_model(self) -> Runnable[Any, Any]:
        """A LangChain chat model on an OpenAI-compatible server; the bundled one starts here (seconds, once)."""
        with self._lock:
            if self._chat_model is None:
                self._chat_model = self._connect()
            return self._chat_model

    def _connect(self) -> Runnable[Any, Any]:
        from langchain_openai import ChatOpenAI  # deferred: it imports the openai client (about a second)

        s = self.settings
        if s.backend == "bundled":
            bundled = MODELS[s.bundled_model]
            gguf = ensure_gguf(bundled, s.models_dir or s.data_dir / "models")
            self._server, base_url = start_server(
                gguf, n_ctx=s.bundled_context, threads=s.llm_threads, slots=s.llm_slots
            )
            name = bundled.name
        else:
            base_url, name = str(s.llm_base_url), s.llm_model
        return ChatOpenAI(
            base_url=base_url,
            api_key=s.llm_api_key or SecretStr("unused"),
            model=name,
            temperature=0,
            seed=0,
            timeout=s.llm_timeout,
            max_retries=0,
            max_completion_tokens=s.llm_max_tokens,
        )

    def generation(self) -> Runnable[dict[str, Any], BaseMessage | str]:
        """Prompt dict -> the answer (streamable): the model's reply, or text quoted by the extractive backend.
        The bundled model is asked for its tokens' log-probabilities (a confidence signal); other servers are
        not, as not every OpenAI-compatible server accepts the option."""
        if not self.uses_model:
            return RunnableLambda(self.extractive)
        prompt = {"evidence": EVIDENCE_PROMPT, "pick": PICK_ANSWER}.get(self.answer_style, PROMPT)
        llm = self.chat_model()
        return llm_generation(llm.bind(logprobs=True) if self.settings.backend == "bundled" else llm, prompt)

    @property
    def answer_style(self) -> str:
        """How the model is asked to answer (rag.answering.evidence); extractive answers are quotes already."""
        return self.settings.answer_style if self.uses_model else "free"

    def picker(self) -> Picker | None:
        """Pick first's sentence chooser (rag.answering.pick), or None for the other styles."""
        return Picker(self.chat_model(), self.extractive.embeddings) if self.answer_style == "pick" else None

    def context(self) -> SentenceContext | None:
        """The sentence-level context (rag.answering.context) for a model's free answers, or None: whole passages
        (RAG_CONTEXT=passages, other answer styles, or extractive answers, which choose their own sentences)."""
        s = self.settings
        if not self.uses_model or self.answer_style != "free" or s.context != "sentences":
            return None
        return SentenceContext(self.extractive.embeddings, s.prompt_tokens)

    def confidence(self) -> Confidence:
        """Rates answers (rag.answering.confidence) with the shipped combiner, loaded once per backend."""
        if self._confidence is None:
            self._confidence = Confidence(Combiner.load(), self.label)
        return self._confidence

    def same_facts(self, first: str, second: str) -> tuple[bool, str]:
        """Whether two answers state the same facts, and how that was decided: the support checker read both
        ways (each supports the other at its threshold), or without it the same content words."""
        a, b = (re.sub(r"\[\d+\]", " ", text) for text in (first, second))
        try:
            checker = self._checker.checker()
        except CheckerUnavailable:
            return content_words(a) == content_words(b), "the same content words: the checker is unavailable"
        forward, backward = checker.scores([(b, [a]), (a, [b])])
        same = min(forward, backward) >= checker.threshold
        return same, f"the support checker, both ways: P {forward:.2f} and {backward:.2f}"

    def condenser(self) -> Runnable[dict[str, Any], str] | None:
        """Rewrites a follow-up as a standalone question; None without a model."""
        return llm_condenser(self.chat_model()) if self.uses_model else None

    def judge(self) -> Judge | None:
        """The support judge for answers (RAG_SUPPORT: the trained checker, or the answer model asked yes/no),
        or None for the lexical check."""
        s = self.settings
        if not self.uses_model or s.support == "lexical":
            return None
        if s.support == "checker":
            return self._checker  # one per backend: the model is loaded once, for answers and summaries
        return ModelJudge(self.chat_model(), s.judge_threshold)

    def answerability(self) -> Callable[[str, str], float] | None:
        """(formatted passages, question) -> P(the passages answer it), asked of the model; None without one or
        with a bundled model that cannot judge (the 0.5B). A hosted model is asked: RAG_MIN_ANSWERABLE=0 keeps a
        small one that says no to everything from refusing."""
        s = self.settings
        if not self.uses_model or (s.backend == "bundled" and not MODELS[s.bundled_model].judges):
            return None
        return Answerability(self.chat_model())

    def summarize(
        self,
        articles: dict[str, list[Passage]],
        title: str,
        topic: str,
        progress: Progress | None = None,
        length: str = "medium",
        on_note: Shown | None = None,
    ) -> Summary:
        """A summary by the model (map-reduce) or the extractive summarizer; if the model fails, the extractive
        summary with a note (a summary cut short by its time budget keeps its own note)."""
        if not self.uses_model:
            return self.extractive_summarizer.summarize(articles, title, topic, progress, length, on_note)
        s = self.settings
        llm = self.chat_model().bind(max_completion_tokens=s.summary_max_tokens)
        model = MapReduceSummarizer(
            llm,
            self.label,
            budget=s.context_tokens,
            min_support=s.min_support,
            seconds=s.summary_seconds,
            filler=self.extractive_summarizer,
            judge=self.judge(),
        )
        summary, note = Fallback(model.summarize, self.extractive_summarizer.summarize, "an extractive summary")(
            articles, title, topic, progress, length, on_note
        )
        summary.note = note or summary.note
        return summary

    def digest(
        self,
        articles: dict[str, list[Passage]],
        title: str,
        progress: Progress | None = None,
        on_note: Shown | None = None,
    ) -> Summary:
        """A digest of many articles, a bullet per story (rag.answering.digest), by the model or, for the
        extractive backend, quoted."""
        quoted = self.extractive_summarizer
        return digest(
            self._story_writer(),
            quoted,
            articles,
            quoted.embeddings,
            title,
            seconds=self.settings.summary_seconds,
            progress=progress,
            on_note=on_note,
        )

    def timeline(
        self,
        hits: list[Hit],
        topic: str,
        title: str,
        progress: Progress | None = None,
        on_note: Shown | None = None,
    ) -> Summary:
        """A timeline of `topic` from the passages found for it, a dated bullet per article
        (rag.answering.timeline), by the model or, for the extractive backend, quoted."""
        s = self.settings
        return timeline(
            self._story_writer(),
            self.extractive_summarizer,
            hits,
            topic,
            title,
            min_relevance=s.min_relevance,
            seconds=s.summary_seconds,
            progress=progress,
            on_note=on_note,
        )

    def _story_writer(self) -> Summarizer:
        """What writes a digest's or a timeline's bullets: the model, or without one the extractive summarizer."""
        if not self.uses_model:
            return self.extractive_summarizer
        s = self.settings
        llm = self.chat_model().bind(max_completion_tokens=s.summary_max_tokens)
        return MapReduceSummarizer(
            llm,
            self.label,
            budget=s.context_tokens,
            min_support=s.min_support,
            seconds=s.summary_seconds,
            judge=self.judge(),
        )

    def close(self) -> None:
        """Stop the bundled server, if it runs (a later use starts it again)."""
        with self._lock:
            if self._server is not None:
                self._server = None  # llama.cpp's server stops when its object goes
                self._chat_model = None
