"""Stopping a model on purpose, mid-reply: a client went away, a summary is full, its time ran out.

Closing a LangChain stream is not enough: langchain_core reads a closed stream's input to its end (for its run
trace), so the model would write the whole reply for nobody. `StopWhen` raises in the token callback instead.
langchain_core logs a warning for every callback error before re-raising it; for these stops, which are not
errors, that warning is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler


class StopWhen(BaseCallbackHandler):
    """Stops the model at its next token once `should()` holds, by raising `error()`."""

    raise_error = True

    def __init__(self, should: Callable[[], bool], error: Callable[[], BaseException]) -> None:
        self.should = should
        self.error = error

    def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        if self.should():
            raise self.error()


class _QuietStops(logging.Filter):
    """Drops langchain_core's warning about a callback error when it is a StopWhen stopping a model."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return args[:2] != ("StopWhen", "on_llm_new_token")


logging.getLogger("langchain_core.callbacks.manager").addFilter(_QuietStops())
