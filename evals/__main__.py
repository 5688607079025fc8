"""`python -m evals`: run eval questions (and summaries) through the pipeline, print a table and totals, check
the gates.

Exit code 0 only when every gate holds; the failing gates are printed. See `--help`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evals import dataset, metrics, report

HERE = Path(__file__).resolve().parent
GATES = (
    "min_fact_recall",
    "min_citation_precision",
    "min_refusal_accuracy",
    "min_answer_accuracy",
    "min_summary_coverage",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    p.add_argument("--dataset", action="append", type=Path, help="a dataset file (repeatable); default evals/seed.yaml")
    p.add_argument("--model", choices=["bundled", "openai", "extractive"], help="answer backend (default: RAG_LLM)")
    p.add_argument("--bundled-model", help="which bundled model (default: RAG_BUNDLED_MODEL)")
    p.add_argument("--k", type=int, help="passages retrieved per question (default: RAG_K)")
    p.add_argument("--only", nargs="+", metavar="ID", help="run only these question ids")
    p.add_argument("--json", dest="json_out", type=Path, metavar="OUT", help="write every answer, score and timing")
    p.add_argument("--baseline", type=Path, help="an earlier --json run: list facts newly found / missed")
    p.add_argument("--report", type=Path, help="Markdown report of failures (default: DATA_DIR/evals/report.md)")
    p.add_argument("--config", type=Path, default=HERE / "gates.toml", help="gates file (default: evals/gates.toml)")
    for gate in GATES:
        p.add_argument(f"--{gate.replace('_', '-')}", type=float, metavar="X", help="override the gate in --config")
    return p.parse_args(argv)


def load_gates(args: argparse.Namespace) -> dict[str, float]:
    try:
        gates = tomllib.loads(args.config.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SystemExit(f"error: cannot read gates from {args.config}: {e}") from e
    unknown = set(gates) - set(GATES)
    if unknown:
        raise SystemExit(f"error: {args.config}: unknown gate(s) {sorted(unknown)}; known: {list(GATES)}")
    for gate in GATES:
        if getattr(args, gate) is not None:
            gates[gate] = getattr(args, gate)
    return {k: float(v) for k, v in gates.items()}


def check_gates(gates: dict[str, float], totals: dict[str, float], missed: dict[str, list[int]] | None) -> list[str]:
    """The failed gates, each as a sentence; empty when all hold. A gate on something the run did not measure
    (summary coverage in a run of questions only) holds."""
    failed = []
    for gate, minimum in gates.items():
        measure = gate.removeprefix("min_")
        if measure in totals and totals[measure] < minimum:
            failed.append(f"{measure} {totals[measure]:.3f} < {minimum:.3f}")
    if missed:
        failed.append(f"facts newly missed against the baseline: {missed}")
    return failed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cases = [case for path in args.dataset or [HERE / "seed.yaml"] for case in dataset.load(path)]
    except dataset.DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.only:
        unknown = set(args.only) - {c.id for c in cases}
        if unknown:
            print(f"error: --only names unknown question ids: {sorted(unknown)}", file=sys.stderr)
            return 2
        cases = [c for c in cases if c.id in args.only]
    gates = load_gates(args)
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None

    from rag.answering.answerer import similarity_to
    from rag.config import Settings
    from rag.errors import RagError
    from rag.pipeline import Pipeline

    overrides: dict[str, Any] = {"llm": args.model, "bundled_model": args.bundled_model, "k": args.k}
    pipeline = None
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
        pipeline = Pipeline(settings)
        pipeline.ingest()
        similarity = similarity_to(pipeline.embeddings) if any(c.choices for c in cases) else None
        results = []
        print(report.HEADER)
        for case in cases:
            if case.summarize:
                answer = pipeline.summarize(case.summarize, refresh=True).to_json()
                score = metrics.score_summary(case, answer)
            else:
                as_of = dt.date.fromisoformat(case.as_of) if case.as_of else None
                answer = pipeline.ask(case.question, as_of=as_of).to_json()
                retrieved = [h.source for h in pipeline.search(case.question, k=settings.k)]
                score = metrics.score(case, answer, retrieved, similarity)
            results.append((case, answer, score))
            print(report.row(case, score), flush=True)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if pipeline is not None:
            pipeline.close()  # the bundled model stops

    asked = [(c, s) for c, _, s in results if not c.summarize]
    summed = [s for c, _, s in results if c.summarize]
    totals = metrics.totals([c for c, _ in asked], [s for _, s in asked]) if asked else {}
    totals |= metrics.summary_totals(summed) if summed else {}
    scores = [s for _, _, s in results]
    found, missed = metrics.fact_changes(report.baseline_facts(baseline), scores) if baseline else ({}, {})
    failed = check_gates(gates, totals, missed if baseline else None)
    print(report.summary(totals, settings.k, answer_model(results)))
    if baseline:
        print(report.changes(found, missed))
    out = args.report or settings.data_dir / "evals" / "report.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.markdown(results, totals, gates, failed))
    print(f"report: {out}")
    if args.json_out:
        payload = {
            "model": answer_model(results),
            "k": settings.k,
            "totals": totals,
            "gates": gates,
            "failed": failed,
            "questions": [
                {"case": asdict(c), "answer": a, "score": {**asdict(s), "fully_correct": s.fully_correct}}
                for c, a, s in results
            ],
        }
        args.json_out.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    for gate in failed:
        print(f"GATE FAILED: {gate}", file=sys.stderr)
    return 1 if failed else 0


def answer_model(results: list[tuple[Any, dict[str, Any], Any]]) -> str:
    return str(results[0][1]["model"]) if results else "-"


if __name__ == "__main__":
    sys.exit(main())
