"""The package's shape: rag.index and rag.answering never import each other, the public API is one import away,
and importing it (or asking the CLI for --help) loads nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

RAG = ROOT / "rag"
HEAVY = ["torch", "sentence_transformers", "chromadb", "langchain_core", "xllamacpp", "bm25s", "pydantic"]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(filter(None, [base, node.module or ""]))
            found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize(("group", "other"), [("index", "answering"), ("answering", "index")])
def test_the_two_groups_do_not_import_each_other(group: str, other: str) -> None:
    files = sorted((RAG / group).glob("*.py"))
    assert files
    crossing = {
        f.name: sorted(m for m in imported_modules(f) if m == f"rag.{other}" or m.startswith(f"rag.{other}."))
        for f in files
    }
    assert not {name: mods for name, mods in crossing.items() if mods}


def test_the_layout_check_sees_imports_inside_functions() -> None:
    sample = RAG / "pipeline.py"
    assert "rag.answering.models" in imported_modules(sample) and "rag.index.index" in imported_modules(sample)


def test_the_public_api_is_importable_from_the_package() -> None:
    import rag
    from rag import Answer, Citation, Hit, Pipeline, RagError, Settings, Summary

    assert sorted(rag.__all__) == sorted(
        x.__name__ for x in (Answer, Citation, Hit, Pipeline, RagError, Settings, Summary)
    )
    with pytest.raises(AttributeError):
        rag.Nothing  # noqa: B018


def test_importing_rag_and_cli_help_load_nothing_heavy() -> None:
    script = (
        "import sys, contextlib, io\n"
        "import rag, rag.__main__\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    rag.__main__.main(['--help'])\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
