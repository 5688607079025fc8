"""The support checker's data: labelled pairs from ../shared/benchdata/consistency/ and synthetic news pairs
(training.synthetic) from cnn_dailymail/ and realtimeqa/, each split by article into train, val and test.

Every pair is (claim, evidence, label); the model reads of the evidence only the sentences nearest the claim
(rag.answering.checker.evidence_for), as the product does. A summary with a long premise (a FRANK or SummaC
article) labelled supported as a whole gives a pair per sentence (each sentence is supported); one labelled
unsupported stays whole (which of its sentences is wrong is not known). The split is by a hash of
the article, so no article is on two sides. QAGS-XSum and evals/support.yaml are never read here: they are
for validation by the benchmark (`python -m benchmarks support`).

Nothing read here is written into the project: pairs go to data/checker/ (not committed).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path

from training.synthetic import Article, Pair, corpus_pairs, sentences

ROOT = Path(__file__).resolve().parent.parent
BENCHDATA = Path(os.environ.get("BENCHDATA", ROOT.parent / "shared" / "benchdata"))
LABELLED = [
    "frank",
    "summac_factcc",
    "summac_polytope",
    "summac_summeval",
    "summac_xsumfaith",
    "wice_dev",
    "wice_test",
    "esnli_dev",
    "esnli_test",
]
SPLITS = ("train", "val", "test")
LONG_PREMISE_WORDS = 200  # a supported summary of a premise longer than this gives a pair per sentence


def split_of(group: str) -> str:
    """`test` for a tenth of the articles, `val` for another tenth, else `train`; by a hash of the article.

    >>> split_of("an article"), split_of("another article")
    ('train', 'train')
    """
    bucket = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) % 10
    return "test" if bucket == 0 else "val" if bucket == 1 else "train"


def labelled(path: Path) -> Iterator[Pair]:
    """Pairs from a consistency file (`{"source", "premise", "claim", "label"}` a line)."""
    kind = path.stem
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        premise, claim, label = " ".join(row["premise"].split()), " ".join(row["claim"].split()), int(row["label"])
        group = hashlib.sha256(premise.encode()).hexdigest()[:16]
        if len(premise.split()) <= LONG_PREMISE_WORDS:
            yield Pair(claim, premise, label, kind, group)
            continue
        parts = sentences(claim) if label == 1 else [claim]
        for part in parts or [claim]:
            yield Pair(part, premise, label, kind, group)


def cnn_articles(limit: int | None = None) -> list[Article]:
    path = BENCHDATA / "cnn_dailymail" / "cnn_dailymail_validation_subset.csv"
    csv.field_size_limit(1 << 30)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))[:limit]
    return [
        Article(f"cnn:{r['id']}", r["article"], tuple(h.strip() for h in r["highlights"].split("\n") if h.strip()))
        for r in rows
    ]


def news_articles(limit: int, seed: int) -> list[Article]:
    """`limit` distinct RealTime QA 2024 articles (by URL), drawn with `seed` from the whole year."""
    seen: dict[str, str] = {}
    for path in sorted((BENCHDATA / "realtimeqa" / "2024").glob("*_gcs.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            for found in json.loads(line)["search_result"] if line.strip() else []:
                text, url = found.get("text"), found.get("url") or found.get("title", "")
                if isinstance(text, str) and len(text.split()) >= 150 and url:
                    seen.setdefault(url, text[:20_000])
    urls = sorted(seen)
    random.Random(seed).shuffle(urls)
    return [Article(f"rtqa:{url}", seen[url]) for url in urls[:limit]]


def all_pairs(news: int, seed: int, cnn_limit: int | None = None) -> Iterator[Pair]:
    """Every pair: the labelled files, then synthetic pairs from CNN/DailyMail and `news` RealTime QA articles."""
    for name in LABELLED:
        yield from labelled(BENCHDATA / "consistency" / f"{name}.jsonl")
    yield from corpus_pairs(cnn_articles(cnn_limit), seed)
    yield from corpus_pairs(news_articles(news, seed), seed + 1)


def write_splits(pairs: Iterable[Pair], folder: Path) -> dict[str, dict[str, list[int]]]:
    """Pairs into folder/{train,val,test}.jsonl; returns the counts {kind: {split: [pairs, supported]}}."""
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, Counter[str]] = {}
    files = {split: (folder / f"{split}.jsonl").open("w", encoding="utf-8") for split in SPLITS}
    try:
        for pair in pairs:
            split = split_of(pair.group)
            files[split].write(json.dumps(asdict(pair), ensure_ascii=False) + "\n")
            counts.setdefault(pair.kind, Counter())[split] += 1
            counts[pair.kind][f"{split}+"] += pair.label
    finally:
        for f in files.values():
            f.close()
    table = {kind: {s: [c[s], c[f"{s}+"]] for s in SPLITS} for kind, c in sorted(counts.items())}
    (folder / "counts.json").write_text(json.dumps(table, indent=1), encoding="utf-8")
    return table


def read_split(folder: Path, split: str) -> list[Pair]:
    lines = (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [Pair(**json.loads(line)) for line in lines if line.strip()]
