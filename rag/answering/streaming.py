"""A model's streamed reply read for what the server says about it, besides its text: why it stopped and the
log-probability of each token it wrote.

An OpenAI-compatible server ends a reply with a finish reason ("stop", "length"). A stream that ends without
one was cut off (the server died or closed the connection after a whole chunk, which the client does not see
as an error): `ReplyStream` raises `CutOff` then, so that the answer falls back as for a server that is down
instead of checking half a sentence. Streams that carry no server metadata (the extractive backend's text, a
scripted model in tests) are passed through unchecked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage


class CutOff(Exception):
    """The model server's stream ended before the reply did."""


@dataclass
class ReplyStream:
    """Reads one reply: `texts(chunks)` yields its text; afterwards `finish_reason` and `logprobs` hold what the
    server said (logprobs only where they were asked for and the server sends them)."""

    finish_reason: str | None = None
    logprobs: list[float] = field(default_factory=list)
    from_server: bool = False  # a chunk came with a provider's metadata: a finish reason is due

    def texts(self, chunks: Iterable[str | BaseMessage]) -> Iterator[str]:
        for chunk in chunks:
            if isinstance(chunk, str):
                yield chunk
                continue
            meta = chunk.response_metadata
            self.from_server = self.from_server or "model_provider" in meta or "finish_reason" in meta
            self.finish_reason = meta.get("finish_reason") or self.finish_reason
            self.logprobs += _token_logprobs(meta.get("logprobs"))
            if text := chunk.text:
                yield text
        if self.from_server and self.finish_reason is None:
            raise CutOff("the model server's stream ended before the reply did (the server stopped or was stopped)")

    def summary(self) -> dict[str, Any]:
        """For the answer's trace: the finish reason and the tokens' mean and lowest log-probability."""
        found = [p for p in self.logprobs if math.isfinite(p)]
        return {
            "finish_reason": self.finish_reason,
            "tokens_scored": len(found),
            "logprob_mean": round(sum(found) / len(found), 4) if found else None,
            "logprob_min": round(min(found), 4) if found else None,
        }


def _token_logprobs(logprobs: Any) -> list[float]:
    """The sampled tokens' log-probabilities from a chunk's `logprobs` ({"content": [{"logprob": ...}]});
    anything else a server sends is ignored."""
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return []
    found = []
    for token in content:
        value = token.get("logprob") if isinstance(token, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            found.append(float(value))
    return found
