"""The package's shape: rag.index and rag.answering never import each other, no module of rag/ imports itself
through others, the front doors reach no rag.index module, evals/ never imports benchmarks/, the public API
is one import away, and importing it (or asking the CLI for --help) loads nothing heavy."""

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
    """Every module a file imports, at the top, inside functions or for type checking only (relative imports
    resolved)."""
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
    sample = RAG / "library.py"
    assert "rag.index.health" in imported_modules(sample) and "rag.index.ingest" in imported_modules(sample)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """rag's modules -> the rag modules each imports (a package's import counts as its __init__'s)."""
    modules = {module_name(f): f for f in RAG.rglob("*.py")}
    return {
        name: {m for m in imported_modules(path) if m in modules and m not in (name, "rag")}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles in `graph`: each strongly connected group of two or more modules, sorted.

    >>> cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    [['a', 'b', 'c']]
    """
    found, order, low, stack, on_stack = [], {}, {}, [], set()

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in order:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], order[other])
        if low[node] == order[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return sorted(found)


def test_no_module_of_rag_imports_itself_through_others() -> None:
    graph = import_graph()
    assert len(graph) > 40 and "rag.answering.citations" in graph["rag.answering.judge"]
    assert cycles(graph) == []


def test_a_cycle_is_seen() -> None:
    graph = import_graph()
    graph["rag.answering.citations"] = graph["rag.answering.citations"] | {"rag.answering.judge"}
    assert any({"rag.answering.citations", "rag.answering.judge"} <= set(group) for group in cycles(graph))


FRONT_DOORS = [ROOT / "app.py", RAG / "__main__.py", RAG / "mcp.py", *sorted((RAG / "api").glob("*.py"))]


@pytest.mark.parametrize("door", FRONT_DOORS, ids=lambda p: p.name)
def test_front_doors_reach_no_part_of_the_index(door: Path) -> None:
    assert not sorted(m for m in imported_modules(door) if m == "rag.index" or m.startswith("rag.index."))


SHARED = ["types", "text", "dates", "errors", "config", "intents"]


@pytest.mark.parametrize("name", SHARED)
def test_shared_modules_import_no_package_of_rag(name: str) -> None:
    packages = ("rag.index", "rag.answering", "rag.api")
    assert not sorted(m for m in imported_modules(RAG / f"{name}.py") if m.startswith(packages))


def undeferred_imports(path: Path) -> list[int]:
    """Lines of imports inside functions with no "deferred" comment on them or on the imports just above."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for function in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import | ast.ImportFrom):
                n = node.lineno - 1
                group = [lines[n]]
                while n > 0 and lines[n - 1].strip().startswith(("import ", "from ", "#")):
                    n -= 1
                    group.append(lines[n])
                if not any("deferred" in line for line in group):
                    found.append(node.lineno)
    return found


def test_imports_inside_functions_say_what_they_defer() -> None:
    files = [ROOT / "app.py", *sorted(RAG.rglob("*.py"))]
    found = {f.relative_to(ROOT).as_posix(): lines for f in files if (lines := undeferred_imports(f))}
    assert not found


def test_evals_never_import_benchmarks() -> None:
    files = sorted((ROOT / "evals").glob("*.py"))
    assert files
    found = {f.name: sorted(m for m in imported_modules(f) if m.split(".")[0] == "benchmarks") for f in files}
    assert not {name: mods for name, mods in found.items() if mods}


def test_the_public_api_is_importable_from_the_package() -> None:
    import rag
    from rag import Answer, Citation, Hit, Pipeline, RagError, Settings, Summary, history, read_request

    assert sorted(rag.__all__) == sorted(
        x.__name__ for x in (Answer, Citation, Hit, Pipeline, RagError, Settings, Summary, history, read_request)
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
