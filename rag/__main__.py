"""Command line: `python -m rag ingest|search ...`. Run with --help for the commands."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rag.dates import as_of_date, date_range
from rag.errors import RagError, describe_error
from rag.importing import Fields
from rag.intents import Digest, Timeline, read_request
from rag.plain import render, render_summary
from rag.terminal import one_line, terminal_safe
from rag.text import also_in
from rag.watch import watch

if TYPE_CHECKING:
    from rag.answering.summarize import Summary
    from rag.pipeline import Pipeline
    from rag.types import Dates


def _parser() -> argparse.ArgumentParser:
    prog = "cited" if Path(sys.argv[0]).name == "cited" else "python -m rag"  # the console script, or the module
    parser = argparse.ArgumentParser(prog=prog, description="Ask questions of a folder of articles.")
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="index the corpus folder (only what changed)")
    ingest.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.add_argument(
        "--rebuild",
        action="store_true",
        help="throw the stored index away (even if damaged) and index everything again",
    )

    imports = commands.add_parser(
        "import", help="write the articles of a JSON Lines file into the corpus folder as Markdown, then ingest"
    )
    imports.add_argument("file", metavar="FILE.jsonl")
    imports.add_argument("--text-field", default="text", help="the article's text (default: text)")
    imports.add_argument("--title-field", default="title", help="its title (default: title)")
    imports.add_argument("--date-field", default="publish_date", help="its publish date (default: publish_date)")
    imports.add_argument("--url-field", default="url", help="its URL, the key for duplicates (default: url)")
    imports.add_argument(
        "--outlet-field", default="outlet", help="its publisher (default: outlet, else the URL's host)"
    )
    imports.add_argument("--authors-field", default="authors", help="a list of its authors (default: authors)")
    imports.add_argument(
        "--list-field", default="", help="each line holds a list of records in this field (RealTime QA: search_result)"
    )
    imports.add_argument("--no-ingest", action="store_true", help="only write the files; index them later")
    imports.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    check = commands.add_parser("check", help="say what is wrong with the index, and how to fix it")
    check.add_argument("--repair", action="store_true", help="rebuild what can be rebuilt from the stored chunks")
    check.add_argument("--json", action="store_true", help="print the findings as one JSON object")

    search = commands.add_parser("search", help="find the passages that best match a query")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=None, help="how many passages (default: RAG_K)")
    search.add_argument("--source", metavar="FILE", help="only passages from this file")
    search.add_argument("--json", action="store_true", help="print a JSON list of hits")
    _date_options(search)

    ask = commands.add_parser(
        "ask",
        help='answer a question from the articles, with citations ("Summarize this week", "Timeline of X": those)',
    )
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the verified result as one JSON object")
    ask.add_argument("--source", metavar="FILE", help="answer only from this file")
    _date_options(ask)
    ask.add_argument(
        "--as-of",
        metavar="DATE",
        default="",
        help='the day "last week" or "yesterday" is counted from (default: today)',
    )

    summarize = commands.add_parser(
        "summarize", help="summarize articles with cited bullets: files, --all, or --topic TEXT"
    )
    summarize.add_argument("files", nargs="*", metavar="FILE", help="indexed files, e.g. corpus/a.txt")
    summarize.add_argument(
        "--all", action="store_true", help="the whole corpus (more than 10 articles: a digest, a bullet per story)"
    )
    summarize.add_argument("--topic", default="", metavar="TEXT", help="what the corpus says about TEXT")
    summarize.add_argument("--json", action="store_true", help="print the verified result as one JSON object")
    summarize.add_argument("--refresh", action="store_true", help="ignore the cache and summarize again")
    summarize.add_argument("--quiet", action="store_true", help="no progress lines")
    summarize.add_argument(
        "--length",
        choices=["short", "medium", "long"],
        default="medium",
        help="one article: short 2-3 bullets, medium 3-5 (default), long 5-7",
    )
    _date_options(summarize)

    timeline = commands.add_parser(
        "timeline", help="the articles about a topic in date order, a dated, cited bullet each"
    )
    timeline.add_argument("topic", help='what the timeline is about, e.g. "the London trade talks"')
    timeline.add_argument("--json", action="store_true", help="print the verified result as one JSON object")
    timeline.add_argument("--refresh", action="store_true", help="ignore the cache and write it again")
    timeline.add_argument("--quiet", action="store_true", help="no progress lines")
    _date_options(timeline)

    watch = commands.add_parser("watch", help="keep the index in step with the corpus folder until Ctrl-C")
    watch.add_argument("--quiet", action="store_true", help="only problems, no line per batch")

    serve = commands.add_parser("serve", help="serve the HTTP API until Ctrl-C (its docs at /docs)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    follow = commands.add_parser("follow", help="follow questions: answered again when new articles change the answer")
    actions = follow.add_subparsers(dest="action", required=True)
    added = actions.add_parser("add", help="follow a question (prints its id and its answer now)")
    added.add_argument("question")
    added.add_argument("--json", action="store_true")
    actions.add_parser("list", help="the followed questions and their last answers").add_argument(
        "--json", action="store_true"
    )
    actions.add_parser("remove", help="stop following a question").add_argument("id")
    checked = actions.add_parser("check", help="check each followed question (changed ones first)")
    checked.add_argument("--json", action="store_true", help="a JSON list: id, question, status, answer, ...")
    commands.add_parser(
        "mcp", help="serve search, ask, summarize, timeline and list_files to an AI assistant (MCP over stdio)"
    )
    return parser


def _date_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--since", metavar="DATE", default="", help="only articles dated on or after DATE")
    command.add_argument("--until", metavar="DATE", default="", help="only articles dated on or before DATE")


def _dates(args: argparse.Namespace) -> Dates | None:
    """The --since/--until range, checked; None when neither is given."""
    return date_range(args.since, args.until)


@contextmanager
def _pipeline() -> Iterator[Pipeline]:
    """A pipeline from the environment's settings, closed at the end (the bundled model stops)."""
    from rag.pipeline import Pipeline  # deferred: it imports pydantic, LangChain and numpy; `--help` needs none

    pipeline = Pipeline()
    try:
        yield pipeline
    finally:
        pipeline.close()


def _ingest(args: argparse.Namespace) -> int:
    with _pipeline() as pipeline:
        report = pipeline.ingest(progress=not (args.quiet or args.json), rebuild=args.rebuild)
        followed = pipeline.check_follows(after=report)
    print(json.dumps(report.to_json()) if args.json else terminal_safe(report.summary()))
    if not args.json:
        for line in [one_line(f.line()) for f in followed if f.status != "unchanged"]:
            print(line)
    return 0


def _follow(args: argparse.Namespace) -> int:
    with _pipeline() as pipeline:
        follows = pipeline.follows
        if args.action == "add":
            added = follows.add(args.question)
            print(json.dumps(added.to_json()) if args.json else f"{added.id}  {one_line(added.answer['answer'])}")
        elif args.action == "remove":
            print(f"no longer following {args.id}: {one_line(follows.remove(args.id).question)}")
        else:
            shown = follows.check() if args.action == "check" else follows.all()
            if args.json:
                print(json.dumps([f.to_json() for f in shown], ensure_ascii=False, indent=2))
            else:
                print("\n".join(one_line(f.line()) for f in shown) or "no followed questions (`follow add QUESTION`)")
    return 0


def _import(args: argparse.Namespace) -> int:
    fields = Fields(
        text=args.text_field,
        title=args.title_field,
        date=args.date_field,
        url=args.url_field,
        outlet=args.outlet_field,
        authors=args.authors_field,
        list_field=args.list_field,
    )
    with _pipeline() as pipeline:
        report = pipeline.library.import_articles(Path(args.file), fields)
        ingested = None if args.no_ingest or not report.imported else pipeline.ingest(progress=not args.json)
    if args.json:
        print(json.dumps({**report.to_json(), "ingest": ingested.to_json() if ingested else None}))
    else:
        print(terminal_safe(report.summary()))
        if ingested:
            print(terminal_safe(ingested.summary()))
    return 0


def _check(args: argparse.Namespace) -> int:
    """Exit 0 if every part is sound, 2 if not (each problem printed with the command that fixes it)."""
    with _pipeline() as pipeline:
        findings, repaired = pipeline.check(repair=args.repair)
    healthy = all(f.ok for f in findings)
    if args.json:
        print(json.dumps({"ok": healthy, "findings": [f.to_json() for f in findings], "repaired": repaired}))
        return 0 if healthy else 2
    for done in repaired:
        print(terminal_safe(f"repaired {done}"))
    for f in findings:
        fix = f"; fix: {f.fix}" if f.fix else ""
        print(terminal_safe(f"{'ok' if f.ok else 'PROBLEM':8}{f.part}: {f.detail}{fix}"))
    return 0 if healthy else 2


def _search(args: argparse.Namespace) -> int:
    if args.k is not None and args.k < 1:
        raise RagError("-k must be at least 1")
    dates = _dates(args)
    with _pipeline() as pipeline:
        hits = pipeline.search(args.query, k=args.k, source=args.source, dates=dates)
    if args.json:
        print(json.dumps([h.to_json() for h in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("no passages found")
    for n, hit in enumerate(hits, start=1):
        ranks = f"dense #{hit.dense_rank or '-'}, bm25 #{hit.bm25_rank or '-'}"
        print(terminal_safe(f"[{n}] {one_line(hit.source)}:{hit.start}-{hit.end}  (score {hit.score:.4f}; {ranks})"))
        if about := ", ".join(filter(None, [hit.outlet, hit.date])):
            print(terminal_safe(f"    {one_line(hit.title)} ({one_line(about)})" if hit.title else f"    ({about})"))
        print(terminal_safe("    " + " ".join(hit.text.split())[:400]))
        if hit.copies:
            print(terminal_safe("    " + also_in(hit.copies)))
    return 0


def _ask(args: argparse.Namespace) -> int:
    """A question's checked answer; a request for a digest or a timeline (rag.intents: "Summarize this week",
    "Timeline of the talks") gets that, as in the chat. --since/--until override the request's own dates."""
    live = sys.stderr.isatty() and not args.json
    answer = None
    dates = _dates(args)
    as_of = as_of_date(args.as_of)
    request = read_request(args.question, as_of or dt.date.today())
    if isinstance(request, Digest | Timeline) and not args.source:
        progress, on_note = (None, None) if args.json else (_progress, _on_note)
        with _pipeline() as pipeline:
            if isinstance(request, Digest):
                summary = pipeline.summarize(dates=dates or request.dates, progress=progress, on_note=on_note)
            else:
                within = dates or request.dates
                summary = pipeline.timeline(request.topic, dates=within, progress=progress, on_note=on_note)
        return _print_summary(summary, args.json)
    with _pipeline() as pipeline:
        for item in pipeline.ask_stream(args.question, dates=dates, as_of=as_of, source=args.source):
            if not isinstance(item, str):
                answer = item
            elif live:
                print(terminal_safe(item), end="", file=sys.stderr, flush=True)
    assert answer is not None
    if live:
        print("\n", file=sys.stderr)
    shown = json.dumps(answer.to_json(), ensure_ascii=False, indent=2) if args.json else render(answer)
    print(shown if args.json else terminal_safe(shown))
    return 0


def _summarize(args: argparse.Namespace) -> int:
    with _pipeline() as pipeline:
        summary = pipeline.summarize(
            args.files,
            everything=args.all,
            topic=args.topic,
            progress=None if args.quiet else _progress,
            refresh=args.refresh,
            dates=_dates(args),
            length=args.length,
            on_note=None if args.quiet else _on_note,
        )
    return _print_summary(summary, args.json)


def _timeline(args: argparse.Namespace) -> int:
    with _pipeline() as pipeline:
        summary = pipeline.timeline(
            args.topic,
            dates=_dates(args),
            progress=None if args.quiet else _progress,
            refresh=args.refresh,
            on_note=None if args.quiet else _on_note,
        )
    return _print_summary(summary, args.json)


def _progress(step: int, steps: int, what: str) -> None:
    print(terminal_safe(f"[{step}/{steps}] {what}"), file=sys.stderr, flush=True)


def _on_note(text: str, supported: bool) -> None:  # each bullet as soon as it is checked
    print(terminal_safe(f"  - {text}{'' if supported else ' (unsupported)'}"), file=sys.stderr, flush=True)


def _print_summary(summary: Summary, as_json: bool) -> int:
    shown = json.dumps(summary.to_json(), ensure_ascii=False, indent=2) if as_json else render_summary(summary)
    print(shown if as_json else terminal_safe(shown))
    return 0


def _watch(args: argparse.Namespace) -> int:
    def report(line: str) -> None:
        if not args.quiet or "not indexed" in line:
            print(terminal_safe(line), flush=True)

    with _pipeline() as pipeline:
        watch(pipeline, report=report)  # Ctrl-C ends it (during an ingest: as an interrupted ingest)
    return 0


def _mcp(args: argparse.Namespace) -> int:
    from rag.mcp import serve_stdio  # deferred: the MCP SDK, which only `mcp` needs

    with _pipeline() as pipeline:
        serve_stdio(pipeline)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from rag.api.serve import serve  # deferred: FastAPI and uvicorn, which only `serve` needs
    from rag.config import Settings  # deferred: pydantic

    serve(Settings(), args.host, args.port)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pydantic import ValidationError  # deferred: after parsing, so that `--help` loads no pydantic

    try:
        commands = {
            "ingest": _ingest,
            "import": _import,
            "check": _check,
            "search": _search,
            "ask": _ask,
            "summarize": _summarize,
            "timeline": _timeline,
            "watch": _watch,
            "serve": _serve,
            "mcp": _mcp,
            "follow": _follow,
        }
        return commands[args.command](args)
    except ValidationError as e:
        print(f"error: invalid setting: {describe_error(e)}", file=sys.stderr)
    except RagError as e:
        print(terminal_safe(f"error: {e}"), file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted; the next ingest finishes what this one left", file=sys.stderr)
        return 130
    except Exception as e:  # a bug or a failure nothing recognised: one line, the traceback only in the log
        logging.getLogger("rag").debug("unexpected failure", exc_info=True)
        print(
            terminal_safe(f"error: unexpected failure: {describe_error(e)} (RAG_LOG_LEVEL=DEBUG shows where)"),
            file=sys.stderr,
        )
    return 2


if __name__ == "__main__":
    sys.exit(main())
