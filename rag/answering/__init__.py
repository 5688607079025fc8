"""Answers and summaries with checked citations: citations (parsing and verifying), judge (the support judge),
prompts, answer, summarize, extractive (no model), models (the backend factory), fallback, bundled (the
shipped models). Imports nothing from rag.index."""

import logging


class _QuietStops(logging.Filter):
    """Drops langchain_core's warning about a callback error when the error is how cited stops a model on purpose
    (answer.StopWhen, summarize._StopWhen raise in `on_llm_new_token`; langchain_core logs, then re-raises)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (args and args[0] in ("StopWhen", "_StopWhen") and args[1:2] == ("on_llm_new_token",))


logging.getLogger("langchain_core.callbacks.manager").addFilter(_QuietStops())
