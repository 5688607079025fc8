"""Benchmarks: commands that measure, print a table and write JSON (`python -m benchmarks NAME`).

They are not tests and do not run in `make test`. Data comes from ../shared/benchdata (or $BENCHDATA).
"""
