"""Fit the answer-confidence combiner: `python -m training.confidence` (`make fit-confidence` collects first).

Data: the answers training.answers kept (data/confidence/answers), cited's default 1.5B on every question of the
RealTime QA 2024 fit weeks, but those whose right choice is "All of the above" or "None of these" (no free
answer can state it). Each shown answer is graded as `benchmarks qa` grades it (right when it states the right
choice, evals.metrics.matched_choice); refusals state nothing and are not fitted.

1. Out-of-fold probabilities, one week left out at a time: each fit week's answers are rated by a combiner
   fitted on the other weeks only, so every probability used below is one of a week it never saw.
2. The checked level: the lowest out-of-fold probability at which the answers at or above it are right at
   least TARGET of the time, counting only levels with at least MIN_CHECKED answers above (a level met by a
   handful is luck). Answers that may not be checked (a sentence unsupported, or only the question restated:
   rag.answering.confidence.eligible) are left out of this count.
3. The shipped combiner: the same logistic regression (standardised signals, L2 with C=1, no tuning) fitted on
   every fit week, written with the level, the data and the out-of-fold figures to
   rag/answering/confidence.json. The held-out weeks (training.answers.HELD_OUT_WEEKS) are rated and reported
   only; nothing is chosen on them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from rag.answering.confidence import FITTED, SIGNALS, Combiner, Confidence, Rating, eligible, signals
from training.answers import FIT_WEEKS, HELD_OUT_WEEKS, read

TARGET = 0.95
MIN_CHECKED = 40
VERSION = 1


# A quiz choice no free answer can state ("All of the above", "None of these candidates"): such questions are
# left out, since every answer to them would count as wrong, right or not.
META_CHOICE = re.compile(r"^\s*(all|none|both|neither) of (the above|these|them)\b", re.IGNORECASE)


def graded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with `right` (a refusal is never right) and its `signals`; rows whose right choice is a quiz's
    "All of the above" or "None of these" are left out."""
    rows = [row for row in rows if not META_CHOICE.match(row["choices"][row["right_choice"]])]
    from evals.metrics import matched_choice
    from rag.answering.answerer import similarity_to
    from rag.config import Settings
    from rag.index.embeddings import configured_embeddings

    similarity = similarity_to(configured_embeddings(Settings()))
    for row in rows:
        answer = row["answer"]
        choice = (
            None if answer["refused"] else matched_choice(answer["answer"], row["choices"], similarity, row["question"])
        )
        row["right"] = choice == row["right_choice"]
        row["signals"] = signals(answer)
    return rows


def matrix(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The signals `names` of `rows` and whether each is right; a signal a row lacks (rag.answering.confidence
    OPTIONAL) is the column's mean, as Combiner.probability takes it."""
    x = np.array([[row["signals"].get(name, np.nan) for name in names] for row in rows], dtype=float)
    means = np.nanmean(np.where(np.isnan(x).all(axis=0), 0.0, x), axis=0)
    x = np.where(np.isnan(x), means, x)
    return x, np.array([row["right"] for row in rows], dtype=int)


def fit(
    rows: Sequence[dict[str, Any]], label: str, level: float | None = None, names: Sequence[str] = SIGNALS
) -> Combiner:
    """A Combiner over the signals `names`, fitted on `rows` (shown answers), checking at `level`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = matrix(rows, names)
    scaler = StandardScaler().fit(x)
    regression = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(x), y)
    return Combiner(
        names=tuple(names),
        means=tuple(round(float(v), 6) for v in scaler.mean_),
        scales=tuple(round(float(v), 6) for v in scaler.scale_),
        weights=tuple(round(float(v), 6) for v in regression.coef_[0]),
        intercept=round(float(regression.intercept_[0]), 6),
        checked_at=level,
        model=label,
        version=VERSION,
    )


def out_of_fold(rows: Sequence[dict[str, Any]], label: str, names: Sequence[str] = SIGNALS) -> dict[str, Combiner]:
    """{week: a combiner fitted on the shown answers of every other week}."""
    shown = [row for row in rows if not row["answer"]["refused"]]
    weeks = sorted({r["week"] for r in rows})
    return {week: fit([row for row in shown if row["week"] != week], label, names=names) for week in weeks}


def rated(
    rows: Sequence[dict[str, Any]], combiners: Mapping[str, Combiner] | Combiner, level: float | None
) -> list[Rating]:
    """Each row rated as a live answer is (rag.answering.confidence.Confidence), by its week's combiner (or the
    one given) checking at `level`."""
    out = []
    for row in rows:
        chosen = combiners if isinstance(combiners, Combiner) else combiners[row["week"]]
        out.append(Confidence(replace(chosen, checked_at=level), row["answer"]["model"]).rate(row["answer"]))
    return out


def checked_level(ratings: Sequence[Rating], rows: Sequence[dict[str, Any]]) -> float | None:
    """The lowest level at which the shown answers that may be checked (`eligible`) and score at or above it are
    right >= TARGET, with >= MIN_CHECKED of them; None (nothing is checked) when there is none."""
    pairs = sorted(
        (
            (r.p_correct, row["right"])
            for r, row in zip(ratings, rows, strict=True)
            if r.band != "refused" and eligible(row["signals"])
        ),
        reverse=True,
    )
    best = None
    for k in range(MIN_CHECKED, len(pairs) + 1):
        if k < len(pairs) and pairs[k][0] == pairs[k - 1][0]:
            continue  # a level takes every answer of that probability
        if sum(right for _, right in pairs[:k]) / k >= TARGET:
            best = pairs[k - 1][0]
    return best


def ece(p: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width bins of probability."""
    if not len(p):
        return 0.0
    which = np.minimum((p * bins).astype(int), bins - 1)
    gaps = [
        abs(p[which == b].mean() - right[which == b].mean()) * (which == b).sum()
        for b in range(bins)
        if (which == b).any()
    ]
    return float(sum(gaps) / len(p))


def figures(rows: Sequence[dict[str, Any]], ratings: Sequence[Rating]) -> dict[str, Any]:
    """Accuracy per band, coverage and calibration of rated `rows` (every answer, refusals included)."""
    band = np.array([r.band for r in ratings])
    p = np.array([r.p_correct for r in ratings])
    right = np.array([bool(row["right"]) for row in rows])
    answerable = np.array([row.get("answerable") is True for row in rows])
    shown, checked = band != "refused", band == "checked"
    order = [i for i in np.argsort(-p, kind="stable") if shown[i]]  # shown answers, most confident first

    def share(part: np.ndarray, of: np.ndarray) -> float | None:
        return round(float(part[of].mean()), 4) if of.any() else None

    return {
        "questions": len(rows),
        "shown": int(shown.sum()),
        "right_shown": share(right, shown),
        **{f"{b}": int((band == b).sum()) for b in ("checked", "unsure", "refused")},
        "checked_right": share(right, checked),
        "unsure_right": share(right, band == "unsure"),
        "coverage_of_questions": share(checked, np.ones(len(rows), dtype=bool)),
        "coverage_of_right": share(checked, right),
        "labelled_answerable": int(answerable.sum()),
        "coverage_of_answerable": share(checked, answerable),
        "ece": round(ece(p[shown], right[shown]), 4),
        "right_of_most_confident": {
            k: round(float(right[order[:k]].mean()), 4) if len(order) >= k else None for k in (10, 20, 40)
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.confidence", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the figures, write nothing")
    parser.add_argument(
        "--without", nargs="+", default=[], choices=SIGNALS, metavar="SIGNAL", help="leave signals out (to compare)"
    )
    args = parser.parse_args(argv)
    names = [name for name in SIGNALS if name not in args.without]
    rows = graded(read(FIT_WEEKS))
    shown = [row for row in rows if not row["answer"]["refused"]]
    if len({row["week"] for row in shown}) < 3:
        print("too few kept answers to fit: run `python -m training.answers` first", file=sys.stderr)
        return 2
    labels = {row["answer"]["model"] for row in rows}
    if len(labels) != 1:
        print(f"the kept answers come from several models ({sorted(labels)}): keep one", file=sys.stderr)
        return 2
    label = labels.pop()
    folds = out_of_fold(rows, label, names)
    level = checked_level(rated(rows, folds, None), rows)
    shipped = fit(shown, label, None if level is None else round(level, 4), names)
    held = graded(read(HELD_OUT_WEEKS))
    out = {
        **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(shipped).items()},
        "target": TARGET,
        "min_checked": MIN_CHECKED,
        "fitted_on": {
            "weeks": sorted({row["week"] for row in rows}),
            "answers": len(shown),
            "right": sum(row["right"] for row in shown),
            "data": "data/confidence/answers/WEEK.jsonl (python -m training.answers), graded by evals.metrics",
        },
        "out_of_fold": figures(rows, rated(rows, folds, level)),
        "held_out": {"weeks": sorted({r["week"] for r in held}), **figures(held, rated(held, shipped, level))}
        if held
        else None,
        "command": "make fit-confidence",
    }
    out["signals"] = out.pop("names")
    print(json.dumps({k: v for k, v in out.items() if k not in ("means", "scales")}, indent=1))
    if not args.dry_run:
        FITTED.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {FITTED.relative_to(FITTED.parents[2])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
