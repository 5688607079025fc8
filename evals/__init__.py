"""Fact-level answer checks: `python -m evals`. The metric functions (evals.metrics) are small and pure."""
