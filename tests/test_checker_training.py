"""The support checker's training data (training.synthetic, training.pairs, training.checker's sampling):
synthetic pairs from a hand-written article, splits by article, capped sampling. No model is trained here."""

from __future__ import annotations

import random
from collections import Counter

from training.checker import CAP, DEFAULT_CAP, sample_train
from training.pairs import split_of
from training.synthetic import Article, Pair, add_detail, article_pairs, change_date, swap_entity

ARTICLE = Article(
    "a1",
    "The first round of trade talks between the two countries ended in London on Tuesday after two days. "
    "Treasury Secretary Scott Bessent left London for a congressional hearing in Washington. "
    "Commerce Secretary Howard Lutnick stayed behind with the trade representative Jamieson Greer. "
    "The talks were expected to resume in Geneva in 2025, according to officials familiar with the plans. "
    "Both delegations said export controls on chips and rare earth magnets were the main subject. "
    "China had approved 40 licences for rare earth exports before the meeting began, the ministry said. "
    "Markets in Shanghai rose slightly on Wednesday as traders welcomed the news from London. "
    "Analysts at several banks said a wider agreement was unlikely before the end of the year.",
    ("Talks in London ended after two days .",),
)


def test_an_article_gives_supported_sentences_and_changed_ones_that_are_not() -> None:
    pairs = article_pairs(ARTICLE, random.Random(3), claims=3)
    kinds = Counter(p.kind for p in pairs)
    assert kinds["sentence"] == 3 and kinds["highlight"] == 1 and {p.group for p in pairs} == {"a1"}
    for pair in pairs:
        if pair.kind == "sentence":
            assert pair.label == 1 and pair.claim in pair.evidence
        elif pair.label == 0:
            assert pair.claim not in pair.evidence, pair
    assert sum(p.label == 0 for p in pairs) >= 6


def test_each_change_is_one_the_window_does_not_support() -> None:
    window = "Scott Bessent left London on Tuesday for a hearing."
    claim = window
    assert add_detail(claim, window, random.Random(0)) not in (None, claim)
    assert change_date(claim, random.Random(0)) != claim and "Tuesday" not in (
        change_date(claim, random.Random(0)) or ""
    )
    swapped = swap_entity(
        "Bessent met Lutnick in London.", "Bessent met Lutnick in London.", ["Greer"], random.Random(0)
    )
    assert swapped is not None and "Greer" in swapped


def test_the_split_is_by_article_and_stable() -> None:
    groups = [f"article {n}" for n in range(2000)]
    splits = Counter(split_of(g) for g in groups)
    assert 150 < splits["test"] < 250 and 150 < splits["val"] < 250
    assert [split_of(g) for g in groups[:50]] == [split_of(g) for g in groups[:50]]


def test_sampling_caps_each_kind_and_is_fixed_by_the_seed() -> None:
    pairs = [Pair(f"c{n}", "e", n % 2, kind, f"g{n}") for kind in ("esnli_dev", "rare") for n in range(7000)]
    kept = sample_train(pairs)
    assert Counter(p.kind for p in kept) == {"esnli_dev": CAP["esnli_dev"], "rare": DEFAULT_CAP}
    assert kept == sample_train(pairs) and kept != sample_train(pairs, seed=1)
