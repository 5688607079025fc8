"""Near-duplicate articles: syndicated copies, the same story at two addresses, updated versions.

Each indexed article gets a MinHash signature (datasketch, 128 permutations) of its 5-word shingles (lower-case
words, punctuation dropped). Two articles are copies when their estimated Jaccard similarity is at least
SIMILARITY, and copies of copies join one group. A group's main copy is the earliest dated, then the longest
(the fullest copy), then the first by path: search shows that one and says which others hold the same text.

Why 0.8: it is the threshold near-duplicate detection commonly uses with 5-word shingles (e.g. Lee et al. 2022,
"Deduplicating Training Data Makes Language Models Better"), and it holds on RealTime QA 2024's 8,819 articles
read pair by pair (`python -m benchmarks duplicates`): each of the 15 pairs at 0.8 or more held one text (at
two addresses, updated later, or a series whose scraped text stops at a shared introduction), while pairs at
0.7-0.8 included different CNN photo galleries and World Cup reports that share a page template. Limits: an
article quoted whole inside a longer one, or translated, is not a copy here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

SHINGLE_WORDS = 5
PERMUTATIONS = 128
SCHEME = "affine32"  # datasketch's hashing (2.0's default, named: stored signatures must stay comparable)
SIMILARITY = 0.8

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Signed:
    """What grouping needs of one indexed article (and, for lists of articles, its title and outlet)."""

    path: str
    signature: bytes
    date: str  # ISO date or ""
    chars: int
    title: str = ""
    outlet: str = ""


def signature(text: str) -> bytes:
    """The MinHash signature of `text`'s word shingles, as bytes to store (512 bytes)."""
    from datasketch import MinHash  # deferred: datasketch imports scipy (half a second)

    words = _WORD.findall(text.lower())
    n = min(SHINGLE_WORDS, len(words))
    shingles = {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)} if words else set()
    minhash = MinHash(num_perm=PERMUTATIONS, scheme=SCHEME)
    minhash.update_batch(list(shingles))
    return np.asarray(minhash.hashvalues, dtype=np.uint32).tobytes()


def similarity(a: bytes, b: bytes) -> float:
    """The estimated Jaccard similarity of two signatures' shingle sets."""
    return float(np.mean(np.frombuffer(a, dtype=np.uint32) == np.frombuffer(b, dtype=np.uint32)))


def pairs(articles: Iterable[Signed], threshold: float) -> list[tuple[float, str, str]]:
    """Pairs of articles (similarity, path, other path; path < other) whose estimated similarity is at least
    `threshold`, most similar first."""
    from datasketch import LeanMinHash, MinHashLSH  # deferred: it imports scipy (half a second)

    signed = {a.path: a for a in articles}
    # LSH finds candidates a little below the threshold (fewer copies missed by chance); each is then checked
    lsh = MinHashLSH(threshold=max(0.1, threshold - 0.1), num_perm=PERMUTATIONS)
    minhashes = {}
    for path, a in signed.items():
        values = np.frombuffer(a.signature, dtype=np.uint32)
        minhashes[path] = LeanMinHash(seed=1, hashvalues=values, scheme=SCHEME)
        lsh.insert(path, minhashes[path])
    found = []
    for path, minhash in minhashes.items():
        for other in lsh.query(minhash):
            if other > path and (s := similarity(signed[path].signature, signed[other].signature)) >= threshold:
                found.append((s, path, other))
    return sorted(found, reverse=True)


def groups(articles: Iterable[Signed], threshold: float = SIMILARITY) -> list[tuple[str, ...]]:
    """Groups of two or more copies, each as paths with the main copy first; sorted by main copy."""
    signed = {a.path: a for a in articles}
    parent = {path: path for path in signed}

    def root(path: str) -> str:
        while parent[path] != path:
            parent[path] = parent[parent[path]]
            path = parent[path]
        return path

    for _, path, other in pairs(signed.values(), threshold):
        parent[root(other)] = root(path)
    members: dict[str, list[Signed]] = {}
    for path, a in signed.items():
        members.setdefault(root(path), []).append(a)
    found = [tuple(a.path for a in sorted(group, key=_main_first)) for group in members.values() if len(group) > 1]
    return sorted(found)


def one_of_each(paths: list[str], copies: dict[str, tuple[str, ...]]) -> list[str]:
    """`paths` with one copy of each group (`copies`: path -> its group, main copy first): the first of the group
    in group order that `paths` holds, so the main copy where it is there (else the first by path).

    >>> one_of_each(["b.md", "a.md", "c.md"], {"a.md": ("a.md", "b.md"), "b.md": ("a.md", "b.md")})
    ['a.md', 'c.md']
    """
    present = set(paths)
    return [p for p in paths if p not in copies or next(q for q in copies[p] if q in present) == p]


def _main_first(a: Signed) -> tuple[str, int, str]:
    """Earliest dated first (undated last), then the longest, then by path."""
    return (a.date or "9999", -a.chars, a.path)
