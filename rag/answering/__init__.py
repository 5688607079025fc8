"""Answers and summaries with checked citations: citations (parsing and verifying), judge (the support judge),
prompts, answer, summarize, extractive (no model), models (the backend factory), fallback, bundled (the
shipped models), stopping (a model stopped on purpose). Imports nothing from rag.index."""
