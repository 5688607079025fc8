"""A real ingest killed half-way (crash or Ctrl-C) leaves an index that the next run repairs."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rag.pipeline import Pipeline

from .test_ingest import assert_consistent

WORDS = (
    "export licence rare earth magnet chip tariff treasury commerce talks london geneva framework consensus "
    "negotiation market supply chain permit control software engine ethane nuclear material delegation"
).split()


def write_articles(folder: Path, count: int) -> None:
    rng = random.Random(7)
    for n in range(count):
        sentences = [" ".join(rng.choices(WORDS, k=14)).capitalize() + "." for _ in range(60)]
        (folder / f"synthetic-{n:03d}.txt").write_text(" ".join(sentences))


def states(db: Path) -> dict[str, int]:
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return dict(con.execute("SELECT state, COUNT(*) FROM files GROUP BY state").fetchall())
    except sqlite3.OperationalError:  # table not created yet, or busy
        return {}


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["crash", "ctrl-c"])
def test_killed_ingest_is_repaired_by_the_next_run(
    sig: signal.Signals, make_pipeline: Callable[..., Pipeline], corpus: Path, tmp_path: Path
) -> None:
    write_articles(corpus, 40)
    data = tmp_path / "data"
    env = {**os.environ, "RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(data), "RAG_EMBED_BATCH_SIZE": "4"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag", "ingest", "--quiet"], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 180
    while not (states(data / "manifest.sqlite").get("done", 0) >= 1 and proc.poll() is None):
        assert proc.poll() is None, f"ingest ended before it could be interrupted: {proc.stderr.read()}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "ingest made no progress"
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "interrupted" in stderr
    else:
        assert proc.returncode == -signal.SIGKILL
    assert states(data / "manifest.sqlite").get("pending", 0) > 0  # it really stopped half-way

    report = make_pipeline().ingest()
    assert report.repaired, report.summary()
    assert_consistent(make_pipeline())
    assert make_pipeline().ingest().chunks_embedded == 0
    assert make_pipeline().search("rare earth magnet permit", k=3)
