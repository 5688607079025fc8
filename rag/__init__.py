"""cited: ask questions of a folder of articles and get answers you can check.

Modules: config (settings), documents (reading files), chunking, embeddings, store (Chroma), manifest,
ingest, bm25, retrieve (hybrid search), pipeline (wires them together), __main__ (the CLI).
"""

__version__ = "0.1.0"
