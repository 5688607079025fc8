"""The HTTP API under load: `python -m benchmarks api [--requests N] [--clients 1 4 16] [--skip-bundled]`.

A real `python -m rag serve` process on a free loopback port over the seed corpus (its own data folder under
benchmarks/results/api), driven by threads with httpx, each thread one client waiting for each reply before
sending the next request:

1. extractive backend: `--requests` (200) requests of each kind (`/v1/search`, `/v1/ask`, streamed
   `/v1/ask`) from 1, 4 and 16 concurrent clients, the seed eval set's questions in turn: throughput,
   p50/p95/p99 latency (including the waits after a 429), time to first token (streams: the first `token`
   event), errors, 429s;
2. the bundled model (default 1.5B): the seed questions streamed one at a time by one client (the warm
   server's time to first token and total), then 16 clients at once, one question each; and the first five
   questions through `python -m rag ask --json`, a process per question as a user of the CLI pays it.

Every client retries a 429 after its Retry-After, as the `openai` client does: every answer must arrive.
A 429 is deliberate (the queue is full), so it is counted apart from errors. Peak RSS is the server's (VmHWM).
Run alone: the clients and the server share the machine's 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import RESULTS, ROOT, median, table, write_json
from evals.dataset import load
from rag.answering.bundled import free_port


@contextmanager
def server(backend: str, folder: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`python -m rag serve` for `backend` until the block ends; yields (base URL, process) once /health is
    ready."""
    port = free_port()
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "RAG_CORPUS_DIR": str(ROOT / "corpus"),
        "RAG_DATA_DIR": str(folder),
        "RAG_MODELS_DIR": str(ROOT / "data" / "models"),
        "RAG_LLM": backend,
        **env,
    }
    subprocess.run([sys.executable, "-m", "rag", "ingest", "--quiet"], env=environment, check=True, cwd=ROOT)
    command = [sys.executable, "-m", "rag", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=environment, cwd=ROOT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=5).json()["status"] == "ready":
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise SystemExit(f"the server exited with {process.returncode}")
            time.sleep(0.5)
        else:
            raise SystemExit("the server did not get ready in 300 s")
        yield base, process
    finally:
        process.terminate()
        process.wait(30)


def peak_rss_mb(process: subprocess.Popen[str]) -> float:
    """The process's peak resident memory (VmHWM), in MB; NaN where /proc is missing."""
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def call(http: httpx.Client, kind: str, question: str, retry: bool = False) -> dict[str, Any]:
    """One request: its status, seconds, time to first token (streams), and the 429s met on the way."""
    started, refused_busy = time.perf_counter(), 0
    while True:
        first = None
        if kind == "search":
            response = http.post("/v1/search", json={"query": question})
        elif kind == "ask":
            response = http.post("/v1/ask", json={"question": question})
        else:
            with http.stream("POST", "/v1/ask", json={"question": question, "stream": True}) as response:
                answered = False
                for line in response.iter_lines():
                    if line.startswith("event: token") and first is None:
                        first = time.perf_counter() - started
                    answered = answered or line.startswith("event: answer")
                if response.status_code == 200 and not answered:
                    return {"status": 599, "seconds": time.perf_counter() - started, "first": first, "busy": 0}
        if response.status_code == 429 and retry:
            refused_busy += 1
            time.sleep(float(response.headers.get("retry-after", "1")))
            continue
        return {
            "status": response.status_code,
            "seconds": time.perf_counter() - started,
            "first": first,
            "busy": refused_busy,
        }


def load_run(
    base: str, kind: str, questions: list[str], clients: int, requests: int, retry: bool = False
) -> dict[str, Any]:
    """`requests` calls of `kind` from `clients` concurrent clients."""
    lock, counter = threading.Lock(), iter(range(requests))

    def client(_: int) -> list[dict[str, Any]]:
        done: list[dict[str, Any]] = []
        with httpx.Client(base_url=base, timeout=600) as http:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return done
                done.append(call(http, kind, questions[n % len(questions)], retry))

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        rows = [row for rows in pool.map(client, range(clients)) for row in rows]
    wall = time.perf_counter() - started
    return summarize(rows, wall) | {"kind": kind, "clients": clients}


def summarize(rows: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    ok = [r for r in rows if r["status"] == 200]
    seconds = sorted(r["seconds"] for r in ok)
    firsts = [r["first"] for r in ok if r["first"] is not None]

    def pct(q: float) -> float:
        return seconds[min(len(seconds) - 1, int(q * len(seconds)))] if seconds else float("nan")

    return {
        "requests": len(rows),
        "answered": len(ok),
        "throughput_per_s": round(len(ok) / wall, 2),
        "p50_s": round(median(seconds), 3),
        "p95_s": round(pct(0.95), 3),
        "p99_s": round(pct(0.99), 3),
        "first_token_p50_s": round(median(firsts), 3) if firsts else None,
        "busy_429": sum(int(r["busy"]) + (r["status"] == 429) for r in rows),
        "errors": sum(r["status"] not in (200, 429) for r in rows),
    }


def cli_run(questions: list[str], folder: Path, backend: str, model: str) -> dict[str, Any]:
    """The same questions through `python -m rag ask --json`, one process each."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_CORPUS_DIR": str(ROOT / "corpus"), "RAG_DATA_DIR": str(folder)}
    env |= {"RAG_LLM": backend, "RAG_BUNDLED_MODEL": model, "RAG_MODELS_DIR": str(ROOT / "data" / "models")}
    rows: list[dict[str, Any]] = []
    for question in questions:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "rag", "ask", "--json", question], env=env, cwd=ROOT, capture_output=True
        )
        seconds = time.perf_counter() - started
        first = None
        if done.returncode == 0:  # the answer's own first token, counted from the process's start
            timings = json.loads(done.stdout)["timings"]
            if "first_token_s" in timings:
                first = seconds - (timings["total_s"] - timings["first_token_s"])
        rows.append({"status": 200 if done.returncode == 0 else 500, "seconds": seconds, "first": first, "busy": 0})
    return summarize(rows, sum(r["seconds"] for r in rows)) | {"kind": "CLI ask (a process each)", "clients": 1}


def row(result: dict[str, Any], system: str) -> tuple[str, ...]:
    first = result["first_token_p50_s"]
    return (
        system,
        result["kind"],
        str(result["clients"]),
        f"{result['answered']}/{result['requests']}",
        f"{result['throughput_per_s']}",
        f"{result['p50_s']} / {result['p95_s']} / {result['p99_s']}",
        f"{first}" if first is not None else "-",
        str(result["busy_429"]),
        str(result["errors"]),
    )


HEADER = (
    "backend",
    "requests",
    "clients",
    "answered",
    "per s",
    "p50 / p95 / p99 s",
    "first token p50 s",
    "429s",
    "errors",
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks api", description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind per concurrency level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--skip-extractive", action="store_true", help="only the bundled model's runs")
    parser.add_argument("--skip-bundled", action="store_true", help="only the extractive runs")
    parser.add_argument("--skip-cli", action="store_true", help="not the questions through the CLI")
    parser.add_argument("--bundled-model", default="qwen2.5-coder-1.5b")
    parser.add_argument(
        "--slots", type=int, nargs="+", default=[1], help="the bundled server's parallel slots (RAG_LLM_SLOTS)"
    )
    args = parser.parse_args(argv)

    questions = [case.question for case in load(ROOT / "evals" / "seed.yaml")]
    folder = RESULTS / "api"
    results: list[dict[str, Any]] = []
    rows: list[tuple[str, ...]] = []
    report: dict[str, Any] = {"results": results, "peak_rss_mb": {}}

    def keep(result: dict[str, Any], label: str) -> None:
        results.append(result | {"backend": label})
        rows.append(row(result, label))
        print(table(rows[-1:], HEADER).splitlines()[-1], flush=True)

    if not args.skip_extractive:
        with server("extractive", folder / "extractive") as (base, process):
            for kind in ("search", "ask", "stream"):
                for clients in args.clients:
                    keep(load_run(base, kind, questions, clients, args.requests, retry=True), "extractive")
            report["peak_rss_mb"]["extractive"] = round(peak_rss_mb(process))

    if not args.skip_bundled:
        env = {"RAG_BUNDLED_MODEL": args.bundled_model}
        for slots in args.slots:
            label = f"bundled {args.bundled_model}, {slots} slot{'s' * (slots > 1)}"
            with server("bundled", folder / "bundled", **env, RAG_LLM_SLOTS=str(slots)) as (base, process):
                keep(load_run(base, "stream", questions, 1, len(questions)), label)
                keep(load_run(base, "stream", questions, 16, 16, retry=True), label)
                report["peak_rss_mb"][label] = round(peak_rss_mb(process))
        if not args.skip_cli:
            keep(
                cli_run(questions[:5], folder / "bundled", "bundled", args.bundled_model),
                f"bundled {args.bundled_model}",
            )

    print()
    print(table(rows, HEADER))
    print("\npeak RSS of the server: " + ", ".join(f"{k} {v} MB" for k, v in report["peak_rss_mb"].items()))
    path = write_json("api", report)
    print(f"written {path}")
    return 0
