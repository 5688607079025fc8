"""OpenAI's chat completions format for cited answers, so that any chat client that speaks the OpenAI API
(Open WebUI, LibreChat, editors, the `openai` package) shows cited answers.

The last user message is the question and the earlier user and assistant messages its history; system
messages are ignored (cited answers by its own rules). A message that asks for a digest or a timeline
(rag.intents) gets the summary instead, in the same shape. The reply's content is the answer as Markdown with
[n] markers and a "Sources:" list (article, file and span, quote), everything from articles or the model
escaped so that a client renders no links or images from them; the structured answer is in an extra `cited`
field. A stream sends the role at once and the content only once it has been checked: a plain client cannot
take back text shown before the check.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag import history
from rag.answering.answer import Answer
from rag.answering.confidence import describe
from rag.answering.summarize import Summary
from rag.errors import RagError
from rag.text import md_safe

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from rag.answering.citations import Citation
    from rag.api.schemas import ChatMessage

MODEL = "cited"
SOURCES = "**Sources:**"  # where cited's own part of an earlier reply starts; cut from the history


def conversation(messages: Sequence[ChatMessage], max_question: int) -> tuple[str, list[BaseMessage]]:
    """(question, history) from OpenAI messages; RagError unless the last one is a user's non-empty question.
    cited's own "Sources:" part of an earlier reply is cut from the history."""
    turns = [(m.role, _text(m.content)) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise RagError("the last message must be the user's question")
    question = turns[-1][1].strip()
    if len(question) > max_question:
        raise RagError(f"the question is too long ({len(question)} characters; at most {max_question})")
    earlier = [(role, text if role == "user" else text.split(SOURCES)[0].strip()) for role, text in turns[:-1]]
    return question, history(earlier)


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    return content or ""


def answer_markdown(answer: Answer) -> str:
    """The checked answer as Markdown: sentences with [n] markers (unsupported ones marked), then the sources;
    for a refusal, the reason and the closest passages."""
    if answer.refused:
        lines = [md_safe(answer.answer), "", "**Closest passages**"]
        lines += [f"- {md_safe(h.source)}: “{md_safe(_short(h.text))}”" for h in answer.passages]
    else:
        shown = []
        for s in answer.sentences:
            marks = "".join(f"[{c}]" for c in s.citations)
            why = f": {s.reason}" if s.reason else ""
            unsupported = "" if s.supported else f" _(not supported by the sources{md_safe(why)})_"
            shown.append(f"{md_safe(s.text)} {marks}".rstrip() + unsupported)
        lines = [
            " ".join(shown),
            "",
            f"_{md_safe(describe(answer.band, answer.p_correct, answer.band_reason))}_",
            "",
            SOURCES,
            *_sources(answer.citations),
        ]
    if answer.note:
        lines += ["", f"_{md_safe('note: ' + answer.note)}_"]
    return "\n".join(lines)


def summary_markdown(summary: Summary) -> str:
    """A summary, digest or timeline as Markdown: its title, cited bullets (unsupported ones marked), the sources."""
    lines = [f"**{md_safe(summary.title)}**", ""]
    if not summary.bullets:
        lines.append("The articles say nothing about this." if summary.topic else "Nothing to summarize.")
    for b in summary.bullets:
        story = f"{md_safe(b.heading())}: " if b.story else ""
        marks = "".join(f"[{c}]" for c in b.citations)
        unsupported = "" if b.supported else " _(not supported by the sources)_"
        lines.append(f"- {story}{md_safe(b.text)} {marks}".rstrip() + unsupported)
    if summary.citations:
        lines += ["", SOURCES, *_sources(summary.citations)]
    if summary.note:
        lines += ["", f"_{md_safe('note: ' + summary.note)}_"]
    return "\n".join(lines)


def markdown(result: Answer | Summary) -> str:
    return answer_markdown(result) if isinstance(result, Answer) else summary_markdown(result)


def _sources(citations: Sequence[Citation]) -> list[str]:
    lines = []
    for c in citations:
        about = f"{c.about}, " if c.about else ""
        lines.append(f"- [{c.id}] {md_safe(about + c.source)}:{c.start}-{c.end}: “{md_safe(_short(c.quote))}”")
    return lines


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion(answer: Answer | Summary, completion_id: str) -> dict[str, Any]:
    """A `chat.completion` object for the answer (or the summary, digest or timeline asked for)."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": markdown(answer)},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "cited": answer.to_json(),
        **trust(answer),
    }


def trust(result: Answer | Summary) -> dict[str, Any]:
    """An answer's band and p_correct (rag.answering.confidence), as extra fields of the response; {} for a
    summary, which has none."""
    return {"band": result.band, "p_correct": result.p_correct} if isinstance(result, Answer) else {}


def chunk(completion_id: str, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """A `chat.completion.chunk` object (one streamed piece)."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        **extra,
    }


def model_list() -> dict[str, Any]:
    """`GET /v1/models`: one model, cited."""
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "cited"}]}
