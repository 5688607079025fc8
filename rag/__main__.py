"""Command line: `python -m rag ingest|search ...`. Run with --help for the commands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag.errors import RagError

if TYPE_CHECKING:
    from pydantic import ValidationError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag", description="Ask questions of a folder of articles.")
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="index the corpus folder (only what changed)")
    ingest.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")

    search = commands.add_parser("search", help="find the passages that best match a query")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=None, help="how many passages (default: RAG_K)")
    search.add_argument("--source", metavar="FILE", help="only passages from this file")
    search.add_argument("--json", action="store_true", help="print a JSON list of hits")
    return parser


def _ingest(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline

    report = Pipeline().ingest(progress=not (args.quiet or args.json))
    print(json.dumps(report.to_json()) if args.json else report.summary())
    return 0


def _search(args: argparse.Namespace) -> int:
    from rag.pipeline import Pipeline

    if args.k is not None and args.k < 1:
        raise RagError("-k must be at least 1")
    hits = Pipeline().search(args.query, k=args.k, source=args.source)
    if args.json:
        print(json.dumps([h.to_json() for h in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("no passages found")
    for n, hit in enumerate(hits, start=1):
        ranks = f"dense #{hit.dense_rank or '-'}, bm25 #{hit.bm25_rank or '-'}"
        print(f"[{n}] {hit.source}:{hit.start}-{hit.end}  (score {hit.score:.4f}; {ranks})")
        print("    " + " ".join(hit.text.split())[:400])
    return 0


def _describe(error: ValidationError) -> str:
    """Pydantic's errors as `RAG_NAME: what is wrong`, one per setting."""
    problems = []
    for err in error.errors():
        message = err["msg"].removeprefix("Value error, ")
        names = "_".join(map(str, err["loc"])).upper()
        problems.append(f"RAG_{names}: {message}" if names else message)
    return "; ".join(problems)


def main(argv: Sequence[str] | None = None) -> int:
    from pydantic import ValidationError

    args = _parser().parse_args(argv)
    try:
        return {"ingest": _ingest, "search": _search}[args.command](args)
    except ValidationError as e:
        print(f"error: invalid setting: {_describe(e)}", file=sys.stderr)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted; the next ingest finishes what this one left", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
