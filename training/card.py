"""docs/checker.md, the support checker's model card, written from its checker.json and the benchmark's figures
(`python -m benchmarks support --judge checker`) by `python -m training.checker` (`make train-checker`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training import synthetic

DATASETS = {  # the benchmark's file -> what the card calls it
    "mturk_xsum.jsonl": "QAGS-XSum (BBC summary sentences, 3 people each)",
    "support.yaml": "evals/support.yaml (sentences the bundled models wrote, labelled by reading)",
    "frank.jsonl": "FRANK, held-out split",
    "summac_factcc.jsonl": "SummaC FactCC, held-out split",
    "summac_polytope.jsonl": "SummaC Polytope, held-out split",
    "summac_summeval.jsonl": "SummaC SummEval, held-out split",
    "summac_xsumfaith.jsonl": "SummaC XSumFaith, held-out split",
}


WEAK_KINDS = {"entity", "number", "date", "negation", "roles", "detail", "clause", "elsewhere", "other"}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join([_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)])


def _recipe() -> str:
    """The synthetic recipe, as training.synthetic's docstring states it (one source of truth)."""
    doc = (synthetic.__doc__ or "").strip()
    return doc.split("\n", 1)[1].strip() if "\n" in doc else doc


def people_rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per benchmark file: the checker as answers use it, the checker alone and the lexical check."""
    rows = []
    for path, judges in results.get("datasets", {}).items():
        name = DATASETS.get(Path(path).name, Path(path).name)
        for judge in ("checker", "checker alone", "lexical"):
            if judge in judges:
                m = judges[judge]
                rows.append(
                    [
                        name,
                        judge,
                        str(m["n"]),
                        f"{m['balanced_accuracy']:.3f}",
                        f"{m['precision_unsupported']:.3f}",
                        f"{m['recall_unsupported']:.3f}",
                        f"{m['roc_auc']:.3f}",
                        f"{1000 * m['seconds_median']:.1f}",
                    ]
                )
    return rows


def weakest(card: dict[str, Any], below: float = 0.7) -> list[str]:
    """A limits bullet naming the synthetic kinds of its own test split it mostly gets wrong, or none."""
    weak = [
        f"{kind} {v['balanced_accuracy']:.0%}"
        for kind, v in card["test"].items()
        if kind in WEAK_KINDS and v["balanced_accuracy"] < below
    ]
    if not weak:
        return []
    return [
        f"- Changes it mostly misses (share caught on its own test split): {', '.join(weak)}. The rules before it "
        "catch a name, number or date that the passages lack, but not one that they state in another role."
    ]


def markdown(card: dict[str, Any], people: dict[str, Any] | None) -> str:
    """The model card from the checker's card (checker.json) and the benchmark's results (or None)."""
    training = card["training"]
    caps = training["cap"]
    pair_rows = [
        [kind, *(f"{c[split][0]} ({c[split][1]})" for split in ("train", "val", "test")), str(caps.get(kind, "all"))]
        for kind, c in card["pairs"].items()
    ]
    score_rows = []
    for kind, test in card["test"].items():
        val = card["val"].get(kind, {"pairs": 0, "balanced_accuracy": float("nan")})
        score_rows.append(
            [
                kind,
                str(val["pairs"]),
                f"{val['balanced_accuracy']:.3f}",
                str(test["pairs"]),
                f"{test['balanced_accuracy']:.3f}",
            ]
        )
    sections = [
        "# The support checker: model card",
        "",
        "Written by `make train-checker` (training/checker.py, training/card.py); do not edit by hand.",
        "",
        "## What it is",
        "",
        f'A cross-encoder fine-tuned from {card["base"]}: "[CLS] claim [SEP] evidence [SEP]" -> P(the evidence '
        f"supports every part of the claim). The claim is cut to {card['claim_tokens']} tokens; the evidence is "
        f"the sentences of the cited passages that share most content words with the claim, about "
        f"{card['evidence_words']} words of them in their order ({card['max_length']} tokens in all at most). "
        "Shipped as int8 ONNX (rag/answering/checker_model/, run with onnxruntime), each file's sha256 checked "
        "when loaded. Answers and summary points use it with `RAG_SUPPORT=checker`, after the rules that settle "
        "a sentence without a model (a number or a name the passages lack, a restated question, a quote).",
        "",
        "## Training data",
        "",
        "Labelled pairs from ../shared/benchdata/consistency/ (FRANK, the SummaC subsets, WiCE, SNLI) and "
        "synthetic pairs from CNN/DailyMail and RealTime QA 2024 articles. Every source is split by article "
        "(a hash of its text) into train / val / test, so no article is on two sides. QAGS-XSum and "
        "evals/support.yaml are never read in training. Pairs per kind (supported in brackets), and how many "
        "of the training pairs one run reads (drawn with the seed):",
        "",
        _table(["kind", "train", "val", "test", "read in training"], pair_rows),
        "",
        "The synthetic recipe (training/synthetic.py):",
        "",
        _recipe(),
        "",
        "## Training",
        "",
        f"{training['pairs']} pairs, one pass ({training['steps']} of {training['of']} steps of 16"
        f"{', finished' if training['finished'] else ', stopped by the time budget'}), AdamW, learning rate "
        f"4e-5 with 5 % warm-up and linear decay, binary cross-entropy, seed {card['seed']}; "
        f"{training['minutes']} minutes on this machine's 2 cores. Last loss {training['last_loss']:.3f}.",
        "",
        "## Threshold",
        "",
        f"{card['threshold']}: the one (on a grid of 0.02) with the highest balanced accuracy on the val split, "
        "all kinds pooled. Never chosen on a test split, QAGS-XSum or evals/support.yaml.",
        "",
        "## Scores on its own splits (balanced accuracy at the threshold)",
        "",
        _table(["kind", "val pairs", "val", "test pairs", "test"], score_rows),
        "",
        "## Agreement with people (`python -m benchmarks support --judge checker`)",
        "",
    ]
    if people:
        where = people.get("context", {})
        sections += [
            "Unsupported is the positive class. `checker` is the rules, then the checker, as answers use it; "
            "`checker alone` the model without the rules; `lexical` the previous check. ms: median per sentence "
            "(one model input per sentence, however many passages).",
            "",
            _table(
                ["data", "judge", "n", "bal. acc.", "prec. unsup.", "rec. unsup.", "ROC AUC", "ms"], people_rows(people)
            ),
            "",
            f"Measured {where.get('date', '?')} on {where.get('machine', '?')}, load {where.get('load_average', '?')}.",
        ]
    else:
        sections.append("Not measured in this run (../shared/benchdata missing).")
    sections += [
        "",
        "## Known limits",
        "",
        "- Small: 6 layers, 22M parameters, trained for about an hour on 2 CPU cores; it agrees with people on "
        "news summary sentences far less often than on its own synthetic pairs (the tables above).",
        "- The evidence is the claim's nearest sentences by shared words: support that needs a sentence sharing no "
        "word with the claim (a pronoun's antecedent, a figure given earlier) or more sentences than fit is not "
        "seen, and the claim may be found unsupported.",
        *weakest(card),
        "- Claims are cut to their first 64 tokens; anything after is not checked.",
        "- The synthetic negatives are English patterns (names, numbers, dates, negation, roles, added details and "
        "clauses); errors of other shapes (a wrong cause, a wrong comparison) are learned only from the few "
        "labelled summaries.",
        "- English only.",
        "",
    ]
    return "\n".join(sections)
