"""What the HTTP API accepts: request bodies with limits on every field. Unknown keys are refused (a typo is
an error, not a silently ignored filter), except in OpenAI's chat format, whose clients send many options."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXT = 4_000  # characters in a question, query or topic
MAX_MESSAGE = 20_000  # characters in one earlier message of a conversation
MAX_HISTORY = 40  # earlier messages
DATE = Field("", max_length=40, description="An ISO date, e.g. 2024-03-04; empty for open.")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchRequest(Strict):
    query: str = Field(min_length=1, max_length=MAX_TEXT)
    k: int | None = Field(None, ge=1, le=100, description="How many passages (default RAG_K).")
    source: str | None = Field(None, max_length=1_000, description="Only passages from this file.")
    since: str = DATE
    until: str = DATE


class Message(Strict):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE)


class AskRequest(Strict):
    question: str = Field(min_length=1, max_length=MAX_TEXT)
    history: list[Message] = Field(default_factory=list, max_length=MAX_HISTORY, description="Earlier turns.")
    k: int | None = Field(None, ge=1, le=100, description="Passages retrieved (default RAG_K).")
    source: str | None = Field(None, max_length=1_000, description="Answer only from this file.")
    since: str = DATE
    until: str = DATE
    as_of: str = Field("", max_length=40, description='The day "last week" is counted from (default: today).')
    stream: bool = Field(False, description="Server-Sent Events: `token` events, then one `answer` event.")


class SummarizeRequest(Strict):
    files: list[str] = Field(default_factory=list, max_length=1_000)
    all: bool = False
    topic: str = Field("", max_length=MAX_TEXT)
    since: str = DATE
    until: str = DATE
    refresh: bool = False
    length: Literal["short", "medium", "long"] = "medium"


class TimelineRequest(Strict):
    topic: str = Field(min_length=1, max_length=MAX_TEXT)
    since: str = DATE
    until: str = DATE
    refresh: bool = False


class FollowRequest(Strict):
    question: str = Field(min_length=1, max_length=MAX_TEXT)


class IngestRequest(Strict):
    rebuild: bool = False


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str = Field(max_length=40)
    # a string, or OpenAI's list of parts ({"type": "text", "text": ...}); other parts are ignored
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat completions request; options cited does not use (temperature, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field("cited", max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_HISTORY + 1)
    stream: bool = False
