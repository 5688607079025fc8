"""cited: ask questions of a folder of articles and get answers you can check.

The public API, imported on first use so that `import rag` stays light:

    Pipeline   ingest, search, ask, summarize: everything, built from Settings (rag.pipeline)
    Settings   every option, read from RAG_* environment variables (rag.config)
    RagError   a problem the user can act on; its message says how (rag.errors)
    Answer     a verified, cited answer or a refusal (rag.answering.answer)
    Summary    cited bullets about one or more articles or a topic (rag.answering.summarize)
    Citation   a quoted span of an article: file + character span (rag.answering.citations)
    Hit        a search result: a passage with its retrievers' scores (rag.types)
    history    a conversation's messages from (role, text) turns, for follow-up questions (rag.answering.history)
    read_request  what a chat message asks for: a question, a digest or a timeline (rag.intents)

Packages: rag.index (reading, chunking, embedding, storing and searching articles) and rag.answering (prompts,
models, answers, summaries, citations); neither imports the other. rag.library (the corpus and its index) and
rag.summaries use both, and rag.pipeline wires them together (docs/architecture.md).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.answering.answer import Answer
    from rag.answering.citations import Citation
    from rag.answering.history import history
    from rag.answering.summarize import Summary
    from rag.config import Settings
    from rag.errors import RagError
    from rag.intents import read_request
    from rag.pipeline import Pipeline
    from rag.types import Hit

__version__ = "0.1.0"
__all__ = ["Answer", "Citation", "Hit", "Pipeline", "RagError", "Settings", "Summary", "history", "read_request"]

_HOMES = {
    "Pipeline": "rag.pipeline",
    "Settings": "rag.config",
    "RagError": "rag.errors",
    "Answer": "rag.answering.answer",
    "Summary": "rag.answering.summarize",
    "Citation": "rag.answering.citations",
    "Hit": "rag.types",
    "history": "rag.answering.history",
    "read_request": "rag.intents",
}

logging.getLogger(__name__).addHandler(logging.NullHandler())  # quiet unless configure_logging is called


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
