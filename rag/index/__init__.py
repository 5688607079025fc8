"""Bringing articles in and finding them again: documents (reading files), chunking, embeddings, store
(Chroma), manifest, bm25, ingest, search (hybrid retrieval) and Index, which holds them for one data folder.
Imports nothing from rag.answering."""
