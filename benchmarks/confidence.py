"""How far the bands can be trusted: `python -m benchmarks confidence [--skip-seed]` (`make bench NAME=confidence`).

Three sets, each rated exactly as a live answer is (rag.answering.confidence):
- validation: the fit weeks' kept answers (training.answers), each week rated by a combiner fitted without it
  (out of fold), at the shipped level: the figures the level was chosen on;
- held out: the held-out weeks' kept answers, rated by the shipped combiner (nothing was chosen on them);
- seed: evals/seed.yaml over corpus/, answered now by cited with the bundled 1.5B (its p_correct and band as
  shipped), graded by the eval's facts.
Missing kept answers are collected first (training.answers: about 7 minutes a week, run alone).

Reported per set: accuracy per band, the share of questions (and of labelled answerable ones) checked, the
expected calibration error of shown answers (10 bins), and, as the baseline in the same run, how often answers
the old label calls "supported" (every sentence passed the check) are right. Writes the table, JSON to
benchmarks/results/confidence.json, and two PNGs under docs/: the risk-coverage curve and the reliability
diagram.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.common import ROOT, table, write_json
from rag.answering.confidence import Combiner, Rating, signals
from training import answers as kept
from training import confidence as fitting

RISK_COVERAGE = ROOT / "docs" / "confidence-risk-coverage.png"
RELIABILITY = ROOT / "docs" / "confidence-reliability.png"


def seed_rows() -> tuple[list[dict[str, Any]], list[Rating]]:
    """The seed set answered now by cited with the bundled 1.5B, graded as `benchmarks qa` grades it."""
    from benchmarks.qa import cited, corpus_settings, grade, prepare, seed_cases
    from rag.answering.answerer import similarity_to
    from rag.answering.models import Backend
    from rag.config import Settings
    from rag.index.embeddings import configured_embeddings

    embeddings = configured_embeddings(Settings())
    similarity = similarity_to(embeddings)
    prepare("seed", embeddings)
    backend = Backend(corpus_settings("seed", llm="bundled", bundled_model=kept.MODEL), embeddings)
    rows, ratings = [], []
    try:
        with cited(kept.MODEL, embeddings, backend.chat_model()) as answer:
            for case in seed_cases():
                if case.summarize:
                    continue
                got = answer("seed", case)
                row = {"id": case.id, "week": "seed", "answer": got, "answerable": not case.refuse}
                right = grade(case, got, similarity)["right"] and not case.refuse  # a shown answer to one is wrong
                row |= {"right": right, "signals": signals(got)}
                rows.append(row)
                ratings.append(Rating(got["p_correct"], got["band"], got["band_reason"]))
                print(
                    f"seed {case.id:28} {got['band']:8} {got['p_correct']:.2f} {'right' if row['right'] else '-'}",
                    flush=True,
                )
    finally:
        backend.close()
    return rows, ratings


def supported_right(rows: Sequence[dict[str, Any]]) -> float | None:
    """The baseline: the share right of the answers the old label calls "supported"."""
    marked = [row["right"] for row in rows if row["answer"].get("confidence") == "supported"]
    return round(sum(marked) / len(marked), 4) if marked else None


def plots(sets: dict[str, tuple[list[dict[str, Any]], list[Rating]]], level: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (rows, ratings) in sets.items():
        pairs = sorted(
            ((r.p_correct, row["right"]) for r, row in zip(ratings, rows, strict=True) if r.band != "refused"),
            reverse=True,
        )
        right = np.cumsum([x for _, x in pairs])
        k = np.arange(1, len(pairs) + 1)
        ax.plot(k / len(rows), 1 - right / k, label=f"{name} ({len(rows)} questions)")
    ax.axhline(1 - fitting.TARGET, color="gray", linestyle=":", label="5 % wrong")
    ax.set(xlabel="share of questions answered (most confident first)", ylabel="share of those answers wrong")
    ax.set_title(
        "Risk and coverage" + (f" (checked at P >= {level:.2f})" if level is not None else " (no checked level)")
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(RISK_COVERAGE, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="gray", linestyle=":", label="perfectly calibrated")
    for name, (rows, ratings) in sets.items():
        p = np.array([r.p_correct for r in ratings if r.band != "refused"])
        y = np.array([row["right"] for r, row in zip(ratings, rows, strict=True) if r.band != "refused"])
        which = np.minimum((p * 10).astype(int), 9)
        bins = [b for b in range(10) if (which == b).sum() >= 5]
        ax.plot([p[which == b].mean() for b in bins], [y[which == b].mean() for b in bins], marker="o", label=name)
    ax.set(xlabel="p_correct (bins of 0.1 with 5+ answers)", ylabel="share right", xlim=(0, 1), ylim=(0, 1))
    ax.set_title("Reliability of p_correct (shown answers)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RELIABILITY, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks confidence", description=__doc__.split("\n")[0])
    parser.add_argument("--skip-seed", action="store_true", help="leave out the seed set (no model run)")
    args = parser.parse_args(argv)
    shipped = Combiner.load()
    if shipped is None:
        raise SystemExit("no confidence combiner: run `make fit-confidence`")
    missing = [w for w in (*kept.FIT_WEEKS, *kept.HELD_OUT_WEEKS) if not kept.path(w).exists()]
    if missing:
        print(f"collecting kept answers for {len(missing)} weeks first (about 7 minutes a week)", flush=True)
        kept.collect(missing)
    fit_rows = fitting.graded(kept.read(kept.FIT_WEEKS))
    held = fitting.graded(kept.read(kept.HELD_OUT_WEEKS))
    sets = {
        "validation (out of fold)": (
            fit_rows,
            fitting.rated(fit_rows, fitting.out_of_fold(fit_rows, shipped.model, shipped.names), shipped.checked_at),
        ),
        "held-out weeks": (held, fitting.rated(held, shipped, shipped.checked_at)),
    }
    if not args.skip_seed:
        sets["seed"] = seed_rows()
    results = {
        name: {**fitting.figures(rows, ratings), "supported_right": supported_right(rows)}
        for name, (rows, ratings) in sets.items()
    }
    header = (
        "set",
        "questions",
        "shown right",
        "'supported' right",
        "checked",
        "checked right",
        "unsure right",
        "refused",
        "checked of answerable",
        "ECE",
    )
    lines = [
        (
            name,
            str(r["questions"]),
            _pct(r["right_shown"]),
            _pct(r["supported_right"]),
            f"{r['checked']} ({_pct(r['coverage_of_questions'])})",
            _pct(r["checked_right"]),
            _pct(r["unsure_right"]),
            str(r["refused"]),
            f"{_pct(r['coverage_of_answerable'])} of {r['labelled_answerable']}",
            f"{r['ece']:.3f}",
        )
        for name, r in results.items()
    ]
    level = "none reached" if shipped.checked_at is None else f"p_correct >= {shipped.checked_at}"
    print(f"checked at: {level} (target: right {fitting.TARGET:.0%} with {fitting.MIN_CHECKED} or more answers)")
    print(table(lines, header))
    plots(sets, shipped.checked_at)
    path = write_json("confidence", {"checked_at": shipped.checked_at, "sets": results})
    print(f"wrote {path}, {RISK_COVERAGE.relative_to(ROOT)}, {RELIABILITY.relative_to(ROOT)}")
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
