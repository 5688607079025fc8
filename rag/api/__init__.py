"""cited over HTTP: a FastAPI app (rag.api.app) on one Pipeline, loaded once and shared by every request;
`python -m rag serve` runs it on uvicorn (rag.api.serve)."""
