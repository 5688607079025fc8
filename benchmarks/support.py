"""The support judge against human labels: `python -m benchmarks support [--data FILE ...] [--judge ...]`.

Data (default: all of these): QAGS-XSum (239 BBC summary sentences judged by three people each; files in its
row format, `{"article", "summary_sentences": [{"sentence", "responses": [{"response": "yes"|"no"}, ...]}]}`,
the label being the majority vote); evals/support.yaml (a .yaml file: sentences the bundled models wrote, each
judged by reading the one passage it cited); and the held-out split of FRANK and of the SummaC subsets (a
file under consistency/: the pairs training.pairs puts in "test", by article, which the checker never saw; a
claim against its whole premise). A QAGS sentence is judged the way an answer sentence is: the article is
chunked as the index would chunk it (RAG_CHUNK_SIZE / RAG_CHUNK_OVERLAP tokens), its chunks are ranked by
MiniLM similarity to the sentence, and the best that fit the answer prompt's budget (RAG_CONTEXT_TOKENS), in
article order, are the passages the judge sees (most XSum articles fit whole).

Judges: `lexical` (the old check: rules, then the share of content words in the best passage), `judge`
(rules, then the bundled model's yes/no log-probabilities), for each `--bundled-model`, and `checker` (rules,
then the trained cross-encoder, rag.answering.checker, at its card's threshold: as answers use it); each
model's score is also taken without the rules ("alone"), to show what each stage adds. Measures, with
"unsupported" as the positive class: balanced accuracy, precision and recall of "unsupported", ROC AUC and the
median time per sentence (the checker reads one input per sentence, whatever the passages), at the shipped
threshold on the whole set, with a threshold chosen on the even-numbered sentences and reported on the
odd-numbered ones, and at a few fixed thresholds (on the whole set and on each half).
`--synthetic` adds sentences made unsupported on purpose from the human-supported ones (a number, a weekday,
a negation, two names swapped) and reports the recall of "unsupported" on each kind.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import realtimeqa
from benchmarks.common import BENCHDATA, median, p95, require, table, write_json
from rag.config import Settings
from rag.types import Passage

DEFAULT_DATA = BENCHDATA / "qags_xsum" / "mturk_xsum.jsonl"
OUR_SET = Path(__file__).resolve().parent.parent / "evals" / "support.yaml"
# consistency files whose held-out split (training.pairs.split_of == "test") is reported by default
HELD_OUT = ["frank", "summac_factcc", "summac_polytope", "summac_summeval", "summac_xsumfaith"]
DEFAULTS = [DEFAULT_DATA, OUR_SET, *(BENCHDATA / "consistency" / f"{name}.jsonl" for name in HELD_OUT)]
SWEEP = (0.5, 0.55, 0.6, 0.65, 0.7)  # thresholds every judge is also measured at
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@dataclass
class Case:
    sentence: str
    supported: bool  # by the majority of people (or by construction, for synthetic errors)
    passages: list[Passage]
    kind: str = "human"  # or the synthetic change: number, weekday, negation, swap
    scores: dict[str, float] = field(default_factory=dict)  # judge row -> P(supported)-like score
    seconds: dict[str, float] = field(default_factory=dict)


def load_labelled(path: Path, limit: int | None) -> list[Case]:
    """Our own labelled set (evals/support.yaml): model-written sentences, each with the passage it cited (file
    and span, read from the file here) and a label given by reading; rows not labelled yet are left out."""
    import yaml

    from rag.index.documents import load

    cases = []
    for row in yaml.safe_load(require(path).read_text(encoding="utf-8")):
        if row["label"] not in ("supported", "unsupported"):
            continue
        text = load(realtimeqa.source_file(row["source"])).text[row["start"] : row["end"]]
        passage = Passage(row["id"], row["source"], row["start"], row["end"], text, "", "")
        cases.append(Case(row["sentence"], row["label"] == "supported", [passage]))
    return cases[:limit] if limit else cases


def load_held_out(path: Path, limit: int | None) -> list[Case]:
    """The test split of a consistency file (`{"premise", "claim", "label"}` a line), as the checker's training
    split it (by article, training.pairs): claims it never saw, each against its whole premise as one passage."""
    from training.pairs import labelled, split_of

    cases = []
    for n, pair in enumerate(p for p in labelled(require(path)) if split_of(p.group) == "test"):
        passage = Passage(f"{path.stem}-{n}", path.name, 0, len(pair.evidence), pair.evidence, "", "")
        cases.append(Case(pair.claim, bool(pair.label), [passage]))
    return cases[:limit] if limit else cases


def load_cases(path: Path, settings: Settings, embeddings: Any, limit: int | None) -> list[Case]:
    if path.suffix in (".yaml", ".yml"):
        return load_labelled(path, limit)
    if path.parent.name == "consistency":
        return load_held_out(path, limit)
    from rag.answering.answer import select_passages
    from rag.index.chunking import chunk_text, make_splitter
    from rag.types import Hit

    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap, settings.encoding)
    cases = []
    for n, line in enumerate(require(path).read_text(encoding="utf-8").splitlines()):
        row = json.loads(line)
        chunks = chunk_text(row["article"], splitter)
        vectors = np.asarray(embeddings.embed_documents([c.text for c in chunks]))
        for item in row["summary_sentences"]:
            votes = [r["response"] == "yes" for r in item["responses"]]
            similarity = vectors @ np.asarray(embeddings.embed_query(item["sentence"]))
            ranked = [
                Hit(f"{n}-{i}", f"article{n}.txt", c.start, c.end, c.text, "", "", dense_score=float(similarity[i]))
                for i, c in sorted(enumerate(chunks), key=lambda ic: -similarity[ic[0]])
            ]
            passages: list[Passage] = list(select_passages(ranked, settings.context_tokens))
            cases.append(Case(item["sentence"], sum(votes) * 2 > len(votes), passages))
        if limit and len(cases) >= limit:
            break
    return cases[:limit] if limit else cases


def synthetic(cases: list[Case]) -> list[Case]:
    """Unsupported variants of the human-supported sentences: one change each, where the sentence allows it."""
    made = []
    for case in (c for c in cases if c.supported and c.kind == "human"):
        text = case.sentence
        variants = {}
        if m := re.search(r"\b\d+\b", text):
            variants["number"] = text[: m.start()] + str(int(m.group()) + 3) + text[m.end() :]
        if day := next((d for d in WEEKDAYS if d in text), None):
            variants["weekday"] = text.replace(day, WEEKDAYS[(WEEKDAYS.index(day) + 2) % 7], 1)
        if m := re.search(r"\b(is|was|are|were|has|have|had|will|can)\b", text):
            variants["negation"] = text[: m.end()] + " not" + text[m.end() :]
        names = list(dict.fromkeys(re.findall(r"(?<!^)(?<![.!?] )\b[A-Z][a-z]{2,}\b", text)))
        if len(names) >= 2:
            a, b = names[0], names[1]
            swapped = {a: b, b: a}
            variants["swap"] = re.sub(rf"\b({a}|{b})\b", partial(_swap, swapped), text)
        made += [Case(v, False, case.passages, kind) for kind, v in variants.items() if v != text]
    return made


def _swap(pairs: dict[str, str], match: re.Match[str]) -> str:
    return pairs[match.group()]


def measures(cases: Sequence[Case], row: str, threshold: float) -> dict[str, float]:
    """Balanced accuracy and precision/recall of "unsupported" when score < threshold means unsupported."""
    truth = [not c.supported for c in cases]
    said = [c.scores[row] < threshold for c in cases]
    tp = sum(t and s for t, s in zip(truth, said, strict=True))
    tn = sum(not t and not s for t, s in zip(truth, said, strict=True))
    positives, negatives = sum(truth), len(truth) - sum(truth)
    recall = tp / positives if positives else float("nan")
    specificity = tn / negatives if negatives else float("nan")
    return {
        "balanced_accuracy": round((recall + specificity) / 2, 4),
        "precision_unsupported": round(tp / sum(said), 4) if sum(said) else float("nan"),
        "recall_unsupported": round(recall, 4),
        "n": len(cases),
    }


def roc_auc(cases: Sequence[Case], row: str) -> float:
    """The chance that an unsupported sentence scores below a supported one (ties count half): how well the
    score ranks, whatever the threshold.

    >>> cases = [Case("a", True, [], scores={"x": 0.9}), Case("b", False, [], scores={"x": 0.2})]
    >>> roc_auc(cases, "x")
    1.0
    """
    bad = [c.scores[row] for c in cases if not c.supported]
    good = [c.scores[row] for c in cases if c.supported]
    if not bad or not good:
        return float("nan")
    wins = sum((b < g) + 0.5 * (b == g) for b in bad for g in good)
    return round(wins / (len(bad) * len(good)), 4)


def sweep(cases: Sequence[Case], row: str, threshold: float) -> dict[str, float]:
    """`measures` at `threshold` on `cases`, with the balanced accuracy of its even and odd halves: a threshold
    that helps on both halves of two sets is not one fitted to a few sentences."""
    return {
        **measures(cases, row, threshold),
        "even": measures(cases[::2], row, threshold)["balanced_accuracy"],
        "odd": measures(cases[1::2], row, threshold)["balanced_accuracy"],
    }


def best_threshold(cases: Sequence[Case], row: str) -> float:
    """The threshold with the best balanced accuracy on `cases` (candidates: the scores themselves)."""
    candidates = sorted({c.scores[row] for c in cases} | {1.01})
    return max(candidates, key=lambda t: (measures(cases, row, t)["balanced_accuracy"], -abs(t - 0.5)))


def score_all(cases: list[Case], row: str, scorer: Callable[[Case], float]) -> None:
    for n, case in enumerate(cases, start=1):
        started = time.perf_counter()
        case.scores[row] = scorer(case)
        case.seconds[row] = time.perf_counter() - started
        if n % 25 == 0:
            print(f"  {row}: {n}/{len(cases)}", flush=True)


def settled_score(case: Case) -> float | None:
    """The score stage 1 settles a sentence with (0: a rule says unsupported, 1: quoted word for word), or None."""
    from rag.answering.judge import stage_one

    verdict = stage_one(case.sentence, case.passages)
    return None if verdict is None else verdict.score


def with_rules(cases: list[Case], alone: str, row: str) -> None:
    """Row `row`: the two stages, as answers are checked: the score stage 1 settles a case with (no time), else
    the model's score in row `alone` (and its time)."""
    for case in cases:
        settled = settled_score(case)
        case.scores[row] = case.scores[alone] if settled is None else settled
        case.seconds[row] = case.seconds[alone] if settled is None else 0.0


def model_scorer(judge: Any) -> Callable[[Case], float]:
    """The model's score alone (no rules) for a case: P(yes) / (P(yes) + P(no))."""
    from rag.answering.prompts import format_passages

    return lambda case: float(judge.score(format_passages(case.passages), case.sentence))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks support", description=__doc__)
    parser.add_argument(
        "--data",
        action="append",
        type=Path,
        help="a file (repeatable); default: QAGS-XSum, evals/support.yaml, FRANK and SummaC (held out)",
    )
    parser.add_argument(
        "--judge",
        choices=["lexical", "judge", "both", "checker", "all"],
        default="both",
        help="both: lexical and judge; checker: the trained checker and lexical beside it; all: every one",
    )
    parser.add_argument("--checker", type=Path, help="the checker's folder (default: the shipped one)")
    parser.add_argument("--model", choices=["bundled", "openai"], default="bundled", help="where the judge model runs")
    parser.add_argument(
        "--bundled-model", action="append", help="bundled model(s) to judge with (repeatable; default both)"
    )
    parser.add_argument("--limit", type=int, help="only the first N sentences of each file")
    parser.add_argument("--synthetic", action="store_true", help="also score one-change unsupported variants")
    parser.add_argument("--json", dest="json_out", type=Path, help="also write the totals here")
    parser.add_argument(
        "--scores", type=Path, help="also write every sentence's label, passages and scores here (JSON lines)"
    )
    args = parser.parse_args(argv)

    from rag.answering.judge import LexicalJudge, ModelJudge
    from rag.answering.models import Backend
    from rag.index.embeddings import configured_embeddings

    base = Settings(llm=args.model)
    embeddings = configured_embeddings(base)
    rows: dict[str, float] = {}  # judge row -> its shipped threshold
    datasets = {str(path): load_cases(path, base, embeddings, args.limit) for path in args.data or DEFAULTS}
    if args.synthetic:  # each variant right after its sentence: the same passages, so the model's cache is reused
        datasets = {name: [x for case in cases for x in [case, *synthetic([case])]] for name, cases in datasets.items()}
    everything = [c for cases in datasets.values() for c in cases]
    print(f"{len(everything)} sentences ({len(datasets)} file(s))", flush=True)

    if args.judge in ("lexical", "both", "checker", "all"):
        lexical = LexicalJudge(base.min_support)
        score_all(everything, "lexical", lambda c: lexical.judge([c.sentence], c.passages)[0].score)
        rows["lexical"] = base.min_support
    if args.judge in ("checker", "all"):
        from rag.answering.checker import FOLDER, Checker

        checker = Checker(args.checker or FOLDER)
        score_all(everything, "checker alone", lambda c: checker.score(c.sentence, [p.text for p in c.passages]))
        with_rules(everything, "checker alone", "checker")  # as answers use it (rag.answering.judge.CheckerJudge)
        rows["checker"] = rows["checker alone"] = checker.threshold
    judged = args.judge in ("judge", "both", "all")
    models = [] if not judged else (args.bundled_model or ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"])
    if args.model == "openai":
        models = models[:1]
    for name in models:
        settings = base.model_copy(update={"bundled_model": name})
        backend = Backend(settings, embeddings)
        label = backend.label
        judge = ModelJudge(backend.chat_model(), threshold=0.5)
        score_all(everything, f"{label} alone", model_scorer(judge))
        with_rules(everything, f"{label} alone", f"{label} + rules")
        rows[f"{label} alone"] = rows[f"{label} + rules"] = 0.5
        backend.close()

    results: dict[str, Any] = {"datasets": {}}
    header = (
        "judge",
        "threshold",
        "bal. acc.",
        "prec. unsup.",
        "rec. unsup.",
        "ROC AUC",
        "ms/sentence",
        "tuned t (even)",
        "bal. acc. (odd)",
        "n",
    )
    for name, cases in datasets.items():
        human = [c for c in cases if c.kind == "human"]
        even, odd = human[::2], human[1::2]
        table_rows: list[tuple[str, ...]] = []
        per_judge: dict[str, dict[str, Any]] = {}
        for row, shipped in rows.items():
            whole = measures(human, row, shipped)
            tuned = best_threshold(even, row)
            held_out = measures(odd, row, tuned)
            seconds = [c.seconds[row] for c in human]
            per_judge[row] = {
                **whole,
                "roc_auc": roc_auc(human, row),
                "threshold": shipped,
                "tuned_threshold_even": round(tuned, 4),
                "odd_at_tuned": held_out,
                "seconds_median": round(median(seconds), 4),
                "seconds_p95": round(p95(seconds), 4),
            }
            if args.synthetic:
                per_judge[row]["synthetic_recall"] = {
                    kind: measures([c for c in cases if c.kind == kind], row, shipped)["recall_unsupported"]
                    for kind in sorted({c.kind for c in cases} - {"human"})
                }
            table_rows.append(
                (
                    row,
                    f"{shipped:g}",
                    f"{whole['balanced_accuracy']:.3f}",
                    f"{whole['precision_unsupported']:.3f}",
                    f"{whole['recall_unsupported']:.3f}",
                    f"{per_judge[row]['roc_auc']:.3f}",
                    f"{1000 * median(seconds):.1f}",
                    f"{tuned:.3f}",
                    f"{held_out['balanced_accuracy']:.3f}",
                    str(whole["n"]),
                )
            )
        print(f"\n{name}: {len(human)} sentences, {sum(not c.supported for c in human)} unsupported by people")
        print(table(table_rows, header))
        sweep_rows = []
        for row in rows:
            per_judge[row]["sweep"] = {f"{t:g}": sweep(human, row, t) for t in SWEEP}
            for t, m in per_judge[row]["sweep"].items():
                split = f"{m['even']:.3f} / {m['odd']:.3f}"
                sweep_rows.append((row, t, f"{m['balanced_accuracy']:.3f}", f"{m['recall_unsupported']:.3f}", split))
        print("\nthe same judges at other thresholds (whole set, and its even / odd halves)")
        print(table(sweep_rows, ("judge", "threshold", "bal. acc.", "rec. unsup.", "even / odd")))
        if args.synthetic:
            kinds = sorted({c.kind for c in cases} - {"human"})
            counts = {k: sum(c.kind == k for c in cases) for k in kinds}
            synth_rows = [(row, *(f"{per_judge[row]['synthetic_recall'][k]:.2f}" for k in kinds)) for row in rows]
            print("\nrecall of unsupported on synthetic changes")
            print(table(synth_rows, ("judge", *(f"{k} ({counts[k]})" for k in kinds))))
        results["datasets"][name] = per_judge
    settled = sum(settled_score(c) is not None for c in everything)
    results["stage1_share"] = round(settled / len(everything), 4) if everything else 0.0
    print(f"\nstage 1 settles {results['stage1_share']:.1%} of the sentences without a model")
    path = write_json("support", results)
    if args.json_out:
        args.json_out.write_text(path.read_text(encoding="utf-8"))  # with the machine's context
    if args.scores:
        write_scores(args.scores, datasets)
    print(f"written: {path}")
    return 0


def write_scores(path: Path, datasets: dict[str, list[Case]]) -> None:
    """One JSON line per sentence, to study combinations of the judges without running the models again. It
    holds article text: keep it under benchmarks/results (not committed)."""
    with path.open("w", encoding="utf-8") as out:
        for name, cases in datasets.items():
            for n, case in enumerate(cases):
                row = {
                    "data": name,
                    "n": n,
                    "sentence": case.sentence,
                    "supported": case.supported,
                    "kind": case.kind,
                    "passages": [p.text for p in case.passages],
                    "scores": case.scores,
                }
                out.write(json.dumps(row) + "\n")
