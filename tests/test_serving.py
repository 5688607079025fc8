"""Plain `streamlit run app.py` (no address given) serves on loopback only and asks no outside service for this
machine's IP: a real Streamlit process, its printed URLs and its listening socket."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rag.answering.bundled import free_port

from .conftest import ROOT


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a local socket listens on at `port`, from /proc/net/tcp (Linux)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_plain_streamlit_run_listens_on_loopback_and_prints_one_local_url(tmp_path: Path, corpus: Path) -> None:
    port = free_port()
    env = {**os.environ, "RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data")}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
    ]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        printed, deadline = "", time.monotonic() + 60
        while "URL:" not in printed and time.monotonic() < deadline:
            printed += proc.stdout.readline()
        assert f"URL: http://127.0.0.1:{port}" in printed, printed
        assert "External URL" not in printed and "Network URL" not in printed
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        proc.kill()
        proc.wait()
