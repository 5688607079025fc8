"""The one policy for a model that fails: the extractive backend steps in, and a note says why.

A server that is down, too slow or sends garbage should cost the user the model's wording, not the answer.
`Fallback` wraps a primary and a fallback with the same signature (pydantic-ai's `FallbackModel` is the
pattern); answers use `stream` (tokens), summaries use the call. A RagError is the user's to see and is never
swallowed; anything else is logged with its traceback (RAG_LOG_LEVEL=WARNING shows it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rag.errors import RagError, describe_error

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFailed:
    """Yielded by `Fallback.stream` when the model failed: the tokens before it are void; the fallback's follow."""

    note: str


@dataclass(frozen=True)
class Fallback:
    primary: Callable[..., Any]
    fallback: Callable[..., Any]
    instead: str  # what the fallback gives, for the note: "an extractive answer"

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[Any, str]:
        """The primary's result and "", or the fallback's and a note saying why."""
        try:
            return self.primary(*args, **kwargs), ""
        except RagError:
            raise
        except Exception as e:
            return self.fallback(*args, **kwargs), self._failed(e)

    def stream(self, *args: Any) -> Iterator[str | ModelFailed]:
        """The primary's tokens (its result must be an iterator of str); if it fails on the way, ModelFailed
        and then the fallback's text (a str) in one piece."""
        try:
            yield from self.primary(*args)
        except RagError:
            raise
        except Exception as e:
            yield ModelFailed(self._failed(e))
            yield self.fallback(*args)

    def _failed(self, error: Exception) -> str:
        logger.warning("the model failed; %s instead", self.instead, exc_info=True)
        return f"the model failed ({describe_error(error)}); this is {self.instead} instead"
