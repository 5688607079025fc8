"""Shared by the benchmarks: where the data is, the run's context, and how results are reported."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHDATA = Path(os.environ.get("BENCHDATA", ROOT.parent / "shared" / "benchdata"))
RESULTS = Path(os.environ.get("BENCH_RESULTS", ROOT / "benchmarks" / "results"))  # a test writes elsewhere


def require(path: Path) -> Path:
    if not path.exists():
        raise SystemExit(f"benchmark data not found: {path} (set BENCHDATA to the benchdata folder)")
    return path


def context() -> dict[str, Any]:
    """When, where and on which commit a result was measured."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
        sha = commit.stdout.strip()
    except OSError:
        sha = ""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": sha,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "load_average": os.getloadavg(),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: Sequence[float]) -> float:
    """The 95th percentile by nearest rank: the smallest value that at least 95 % of the values do not exceed.

    >>> p95([3.0, 1.0]), p95([float(i) for i in range(1, 301)])
    (3.0, 285.0)
    """
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1] if ordered else float("nan")


def table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(f"{{:{w}}}" for w in widths) + " |"
    out = [line.format(*header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line.format(*map(str, r)) for r in rows]
    return "\n".join(out)


def write_json(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"context": context(), **payload}, indent=2))
    return path
