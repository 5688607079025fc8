"""Near-duplicate groups in a year of news: `python -m benchmarks duplicates [--sample N]`.

The corpus is RealTime QA 2024 whole: every week's search results imported with `rag import` into one folder
(data/bench/realtimeqa/year/corpus, de-duplicated by URL as the importer does; never committed). Each file is
read and parsed as ingest does, signed (rag.index.duplicates.signature) and grouped (`groups`); the run reports
the time of both, how many groups there are and how large, how many pairs of articles fall in each band of
estimated similarity (so the threshold can be checked where it matters, just above and below it), and prints
pairs from the bands around the threshold, with titles, dates and addresses, for reading.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import BENCHDATA, ROOT, require, table, write_json
from rag.index import documents
from rag.index.duplicates import SIMILARITY, Signed, groups, signature
from rag.index.duplicates import pairs as near_pairs

YEAR = ROOT / "data" / "bench" / "realtimeqa" / "year" / "corpus"
BANDS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def year_corpus() -> Path:
    """Every week of RealTime QA 2024 in one folder, imported once."""
    from rag.importing import Fields, import_jsonl

    if not any(YEAR.glob("*.md")):
        for source in sorted(require(BENCHDATA / "realtimeqa" / "2024").glob("*_gcs.jsonl")):
            report = import_jsonl(source, YEAR, Fields(list_field="search_result"))
            print(f"{source.name}: {len(report.imported)} imported, {report.duplicates} already there", flush=True)
    return YEAR


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks duplicates", description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=6, help="pairs printed per band for reading (default 6)")
    args = parser.parse_args(argv)
    folder = year_corpus()
    files = sorted(folder.glob("*.md"))
    started = time.perf_counter()
    signed, titles, digests = {}, {}, {}
    for path in files:
        article = documents.parse(path, documents.read(path, 50_000_000))
        signed[path.name] = Signed(path.name, signature(article.text), article.date, len(article.text))
        titles[path.name] = f"{article.date} {article.outlet}: {article.title[:70]} <{article.url[:90]}>"
        digests[path.name] = hashlib.sha256(article.text.encode()).digest()
    sign_seconds = time.perf_counter() - started
    started = time.perf_counter()
    found = groups(signed.values())
    group_seconds = time.perf_counter() - started
    pairs = near_pairs(signed.values(), BANDS[0])
    identical = sum(1 for _, a, b in pairs if digests[a] == digests[b])

    sizes = Counter(len(g) for g in found)
    in_groups = sum(len(g) for g in found)
    rows = [
        ("articles", str(len(files))),
        (f"groups (similarity >= {SIMILARITY})", str(len(found))),
        ("articles in groups", str(in_groups)),
        ("articles search would pass over (copies)", str(in_groups - len(found))),
        ("group sizes", ", ".join(f"{n}: {c}" for n, c in sorted(sizes.items()))),
        ("sign, s (all articles; read and parse included)", f"{sign_seconds:.1f}"),
        ("group, s (all signatures)", f"{group_seconds:.2f}"),
    ]
    print(table(rows, ("duplicates", "value")))
    band_rows = []
    counts = {}
    for low, high in itertools.pairwise(BANDS):
        n = sum(1 for s, _, _ in pairs if low <= s < high or (high == 1.0 and s == 1.0))
        counts[f"{low:.1f}-{high:.1f}"] = n
        band_rows.append((f"{low:.1f}-{high:.1f}", str(n)))
    print()
    print(table(band_rows, ("similarity", "pairs")))
    print(f"({identical} of the {len(pairs)} pairs have the same text, at two addresses)")

    rng = random.Random(0)
    for low, high in [(0.9, 1.01), (0.8, 0.9), (0.7, 0.8), (0.6, 0.7)]:
        band = [p for p in pairs if low <= p[0] < high]
        print(f"\n-- pairs at {low:.1f}-{min(high, 1.0):.1f} ({len(band)}; {min(args.sample, len(band))} shown)")
        for s, a, b in rng.sample(band, min(args.sample, len(band))):
            print(f"{s:.2f}  {titles[a]}\n      {titles[b]}")
    payload: dict[str, Any] = {
        "articles": len(files),
        "threshold": SIMILARITY,
        "groups": len(found),
        "articles_in_groups": in_groups,
        "group_sizes": dict(sorted(sizes.items())),
        "pairs_by_similarity": counts,
        "sign_seconds": round(sign_seconds, 2),
        "group_seconds": round(group_seconds, 3),
        "identical_pairs": identical,
    }
    print(f"\nwrote {write_json('duplicates', payload)}")
    return 0
