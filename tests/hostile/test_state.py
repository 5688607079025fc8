"""Broken state gives a clear message and a way back: damaged, read-only or full data folders, bad settings,
and a BM25 index that is valid but wrong. Real processes (the CLI as a user runs it), real files; the
read-only and full-disk probes use a private mount namespace (root) or permissions (other users)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rag.index.bm25 import BM25Index
from rag.pipeline import Pipeline

from ..conftest import run_cli

QUERY = "rare earth export licences"


@pytest.fixture
def indexed(corpus: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of a CLI whose data folder holds an index of the seed articles."""
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_LLM": "extractive"}
    code, _, err = run_cli("ingest", "--quiet", env=env)
    assert code == 0, err
    return env


def _one_line_error(code: int, out: str, err: str, *expected: str) -> None:
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.mark.parametrize("damaged", ["manifest.sqlite", "chroma/chroma.sqlite3"])
def test_a_damaged_index_says_so_and_the_rebuild_restores_it(indexed: dict[str, str], damaged: str) -> None:
    path = Path(indexed["RAG_DATA_DIR"]) / damaged
    with path.open("r+b") as f:
        f.write(b"garbage!" * 200)
    for command in (["search", QUERY], ["ingest", "--quiet"]):
        _one_line_error(*run_cli(*command, env=indexed), "damaged", "python -m rag ingest --rebuild")
    code, out, _ = run_cli("check", env=indexed)
    assert code == 2 and "PROBLEM" in out and "fix: python -m rag ingest --rebuild" in out
    code, out, err = run_cli("ingest", "--rebuild", "--quiet", env=indexed)
    assert code == 0, err
    assert "2 added" in out
    code, out, _ = run_cli("check", env=indexed)
    assert code == 0 and "PROBLEM" not in out
    assert run_cli("search", QUERY, env=indexed)[0] == 0


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("RAG_CHROMA_URL", "http://[::1", "RAG_CHROMA_URL must look like http://HOST:PORT"),
        ("RAG_MAX_FILE_MB", "inf", "RAG_MAX_FILE_MB"),
        ("RAG_DATA_DIR", "FILE", "is a file, not a folder"),
    ],
)
def test_a_bad_setting_is_one_line(
    indexed: dict[str, str], tmp_path: Path, name: str, value: str, expected: str
) -> None:
    if value == "FILE":
        value = str(tmp_path / "a-file")
        Path(value).write_text("not a folder")
    _one_line_error(*run_cli("search", QUERY, env={**indexed, name: value}), expected)


def test_a_wrong_bm25_index_is_found_and_repaired(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline()
    pipeline.ingest()
    good = BM25Index.load(pipeline.index.bm25_dir)
    assert good is not None
    wrong = BM25Index.build(["x-1", "x-2"], ["other words", "more other words"], ["x.txt", "x.txt"], good.generation)
    wrong.save(pipeline.index.bm25_dir)  # valid files, the right stamp, the wrong chunks

    findings, _ = pipeline.check()
    bm25 = next(f for f in findings if f.part == "bm25")
    assert not bm25.ok and "does not match" in bm25.detail and bm25.fix == "python -m rag check --repair"
    findings, repaired = make_pipeline().check(repair=True)
    assert any(r.startswith("bm25") for r in repaired) and all(f.ok for f in findings)
    assert make_pipeline().search(QUERY, k=1)[0].bm25_rank == 1


def test_a_deleted_vector_store_is_an_error_naming_the_fix(indexed: dict[str, str]) -> None:
    shutil.rmtree(Path(indexed["RAG_DATA_DIR"]) / "chroma")
    for command in (["search", QUERY], ["ask", "Where were the talks held?"]):
        _one_line_error(*run_cli(*command, env=indexed), "missing or empty", "python -m rag ingest")
    code, _, err = run_cli("ingest", "--quiet", env=indexed)
    assert code == 0, err
    code, out, err = run_cli("search", QUERY, "-k", "1", env=indexed)
    assert code == 0 and "[1]" in out, err


def test_check_compares_content_not_modification_times(make_pipeline: Callable[..., Pipeline], corpus: Path) -> None:
    pipeline = make_pipeline()
    pipeline.ingest()
    article = next(corpus.glob("*.txt"))
    later = time.time() + 60
    os.utime(article, (later, later))  # touched, content the same
    corpus_finding = next(f for f in pipeline.check()[0] if f.part == "corpus")
    assert corpus_finding.ok, corpus_finding.detail
    article.write_text(article.read_text() + "\nOne more line.\n")
    os.utime(article, (later + 1, later + 1))
    corpus_finding = next(f for f in pipeline.check()[0] if f.part == "corpus")
    assert not corpus_finding.ok and "1 changed" in corpus_finding.detail
    pipeline.ingest()
    assert all(f.ok for f in pipeline.check()[0] if f.part == "corpus")  # the fix it names clears it


def _private_mount(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `script` (sh) in a private mount namespace, so its mounts vanish with it (needs root)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private mount (run as root, as CI does)")
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        timeout=600,
    )
    if "mount:" in done.stderr and "permission denied" in done.stderr.lower():
        pytest.skip("this machine does not allow mounts, even in a private namespace")
    return done


def _cli(*args: str) -> str:
    return " ".join([sys.executable, "-m", "rag", *args])


def test_reading_works_from_a_read_only_data_folder(indexed: dict[str, str]) -> None:
    data = indexed["RAG_DATA_DIR"]
    script = f"""set -e
mount --bind {data} {data} && mount -o remount,bind,ro {data}
{_cli("search", "'" + QUERY + "'", "-k", "1")} > search.out
{_cli("ask", "'How long did Tuesday talks last?'")} > ask.out
{_cli("summarize", "--all", "--quiet")} > summary.out
{_cli("ingest", "--quiet")} > ingest.out 2> ingest.err || echo "ingest exit $?" >> ingest.err
"""
    cwd = Path(data).parent
    done = _private_mount(f"cd {cwd} && {script}", indexed)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (cwd / "search.out").read_text().startswith("[1] ")
    assert "five hours" in (cwd / "ask.out").read_text()
    assert "Sources:" in (cwd / "summary.out").read_text()
    ingest = (cwd / "ingest.err").read_text()
    assert "read-only" in ingest and "ingest exit 2" in ingest and "Traceback" not in ingest


def test_a_read_only_store_is_searched_through_a_writable_copy_that_is_always_removed(
    indexed: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `chmod -R a-w data/` does for a user who is not root (root writes anyway, so the copy is made
    directly here): the copy has writable modes, Chroma opens it, and it is deleted at exit; a copy left by a
    killed process, read-only modes and all, is deleted by the next one."""
    import chromadb

    from rag.index import store

    monkeypatch.setattr(store.tempfile, "tempdir", str(tmp_path))
    chroma = Path(indexed["RAG_DATA_DIR"]) / "chroma"
    stale = tmp_path / f"{store.COPY_PREFIX}999999999-dead" / "chroma"
    shutil.copytree(chroma, stale)
    for item in [chroma, *chroma.rglob("*"), stale.parent, stale, *stale.rglob("*")]:
        item.chmod(0o555 if item.is_dir() else 0o444)
    copy = store._writable_copy(chroma)
    assert not stale.parent.exists()  # its process is gone
    assert all(os.stat(item).st_mode & 0o200 for item in [copy, *copy.rglob("*")])
    assert chromadb.PersistentClient(path=str(copy)).list_collections()
    store._remove(copy.parent)
    assert not copy.parent.exists()


def test_a_full_disk_during_ingest_is_one_line_and_search_still_works(indexed: dict[str, str], corpus: Path) -> None:
    data = Path(indexed["RAG_DATA_DIR"])
    size_kb = sum(p.stat().st_size for p in data.rglob("*") if p.is_file()) // 1024 + 256
    (corpus / "big.txt").write_text(" ".join(f"word{i} in a long new article." for i in range(8_000)))
    script = f"""set -e
cp -a {data} {data}.copy
mount -t tmpfs -o size={size_kb}k tmpfs {data}
cp -a {data}.copy/. {data}/
{_cli("ingest", "--quiet")} > ingest.out 2> ingest.err || echo "ingest exit $?" >> ingest.err
{_cli("search", "'" + QUERY + "'", "-k", "1")} > search.out 2> search.err
"""
    cwd = data.parent
    done = _private_mount(f"cd {cwd} && {script}", indexed)
    assert done.returncode == 0, done.stderr
    ingest = (cwd / "ingest.err").read_text()
    assert "no space left" in ingest and "ingest exit 2" in ingest and "Traceback" not in ingest
    assert (cwd / "search.out").read_text().startswith("[1] "), (cwd / "search.err").read_text()


CHAT_SCRIPT = """
import sys
import time
from streamlit.testing.v1 import AppTest

at = AppTest.from_file(sys.argv[1], default_timeout=120)
at.run()
at.chat_input[0].set_value("How many hours did Tuesday's talks last?").run()
shown = " ".join(h.proto.body for h in at.get("html"))
print("EXCEPTION" if at.exception else "no exception")
print("ANSWERED" if "five hours" in shown else "NOT ANSWERED")
print("INFO:", " | ".join(i.value.replace("\\\\", "") for i in at.sidebar.info))
"""


def test_the_chat_answers_from_a_read_only_data_folder(indexed: dict[str, str], tmp_path: Path) -> None:
    from ..conftest import ROOT

    data = indexed["RAG_DATA_DIR"]
    (tmp_path / "chat.py").write_text(CHAT_SCRIPT)
    script = f"""set -e
mount --bind {data} {data} && mount -o remount,bind,ro {data}
cd {tmp_path} && {sys.executable} chat.py {ROOT / "app.py"}
"""
    done = _private_mount(script, indexed)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no exception" in done.stdout and "ANSWERED" in done.stdout, done.stdout + done.stderr[-2000:]
    assert "read-only" in done.stdout  # the sidebar says why the index was not brought up to date


def test_a_full_disk_reported_by_chromas_core_is_not_called_damage(tmp_path: Path) -> None:
    """Chroma's Rust core reports ENOSPC as an InternalError quoting the OS: that is a full disk, not damage."""
    from chromadb.errors import InternalError

    from rag.config import Settings
    from rag.index.state import explain

    error = InternalError("Error executing plan: Error persisting HNSW index: No space left on device (os error 28)")
    explained = explain(error, Settings(_env_file=None, data_dir=tmp_path))
    assert explained is not None and str(explained).startswith("no space left on the disk that holds")
    assert "--rebuild" not in str(explained) and "damaged" not in str(explained)
