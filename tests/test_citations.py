"""The citation contract and the refusal rules, on hand-made passages: no index, no model, milliseconds."""

from __future__ import annotations

import pytest

from rag.answering.answer import refusal_reason, relevance_refusal
from rag.answering.citations import Sentence, verify
from rag.types import Hit, Passage

NEWS = "Tuesday's talks lasted five hours before pausing. They resumed at 8 PM local time in London."
OTHER = "Besant left London on the evening of the 10th to attend a congressional hearing in Washington."


def passage(text: str, source: str = "corpus/a.txt", start: int = 1000) -> Passage:
    return Passage(f"{source}-{start}", source, start, start + len(text), text, "", "")


def test_citations_are_exact_spans_numbered_in_order_of_use() -> None:
    passages = [passage(OTHER, "corpus/b.txt", 0), passage(NEWS)]
    checked = verify("The talks resumed at 8 PM in London [2]. Besant left for a hearing [1].", passages, 0.65)
    assert [(s.supported, s.citations) for s in checked.sentences] == [(True, [1]), (True, [2])]
    first, second = checked.citations
    assert (first.source, first.quote) == ("corpus/a.txt", "They resumed at 8 PM local time in London.")
    assert first.start == 1000 + NEWS.index("They") and first.end == 1000 + len(NEWS)
    assert second.source == "corpus/b.txt" and second.start == 0
    assert checked.text == "The talks resumed at 8 PM in London. [1] Besant left for a hearing. [2]"


def test_two_sentences_supported_by_one_passage_sentence_share_its_number() -> None:
    checked = verify("Talks lasted five hours [1]. The talks paused after five hours [1].", [passage(NEWS)], 0.65)
    assert [s.citations for s in checked.sentences] == [[1], [1]] and len(checked.citations) == 1


def test_a_wrong_or_missing_marker_gets_the_passage_that_clearly_supports_it() -> None:
    passages = [passage(OTHER, "corpus/b.txt", 0), passage(NEWS)]
    checked = verify("Tuesday's talks lasted five hours [1]. They resumed at 8 PM [7].", passages, 0.65)
    assert all(s.supported and s.citations for s in checked.sentences)
    assert {c.source for c in checked.citations} == {"corpus/a.txt"}


def test_invented_numbers_and_names_are_unsupported() -> None:
    checked = verify("Talks lasted 9 hours [1]. Li Chenggang resumed the talks at 8 PM [1].", [passage(NEWS)], 0.65)
    assert [s.supported for s in checked.sentences] == [False, False]


def test_restating_the_question_is_never_supported() -> None:
    question = "How long did Tuesday's talks last?"
    checked = verify("Tuesday's talks lasted [1].", [passage(NEWS)], 0.65, question)
    assert checked.sentences[0].support == 1.0 and not checked.sentences[0].supported


def test_a_date_phrase_echoed_from_the_question_is_not_checked_but_stays_in_the_answer() -> None:
    question = "Where did the talks resume in 2025?"  # the search kept to 2025's articles; the passage says no year
    checked = verify("The talks resumed in London in 2025 [1].", [passage(NEWS)], 0.65, question)
    assert checked.sentences[0].supported and checked.text == "The talks resumed in London in 2025. [1]"
    unasked = verify("The talks resumed in London in 2025 [1].", [passage(NEWS)], 0.65, "Where did talks resume?")
    assert not unasked.sentences[0].supported  # a year the answer adds on its own is still a number to check


def test_combine_lets_cited_passages_support_a_sentence_together() -> None:
    passages = [passage(NEWS), passage(OTHER, "corpus/b.txt", 0)]
    sentence = "Talks lasted five hours while Besant attended a congressional hearing [1][2]."
    assert not verify(sentence, passages, 0.65).sentences[0].supported
    assert verify(sentence, passages, 0.65, combine=True).sentences[0].supported


@pytest.mark.parametrize(
    ("text", "sentences", "reason"),
    [
        ("  ", [], "empty"),
        ("(a.txt) Talks lasted five hours [1].", [Sentence("Talks lasted five hours.", [1], True)], "repeated"),
        ("One. " * 7, [Sentence("One.", [1], True)] * 7, "repeated"),
        ("I don't know based on the articles.", [Sentence("I don't know based on the articles.")], "no answer"),
        ("Talks lasted nine hours [1].", [Sentence("Talks lasted nine hours.", [1], False)], "not supported"),
    ],
    ids=["empty", "echo", "too-long", "dont-know", "unsupported"],
)
def test_refusal_reasons(text: str, sentences: list[Sentence], reason: str) -> None:
    found = refusal_reason(text, sentences)
    assert found is not None and reason.split()[-1] in found


def test_an_answer_with_a_supported_sentence_is_shown_even_beside_a_dont_know() -> None:
    sentences = [Sentence("Talks lasted five hours.", [1], True), Sentence("I don't know why.", [], False)]
    assert refusal_reason("Talks lasted five hours [1]. I don't know why.", sentences) is None


def test_relevance_refusal() -> None:
    close = Hit.of(passage(NEWS), dense_score=0.5)
    far = Hit.of(passage(OTHER), dense_score=0.1)
    assert relevance_refusal([close, far], 0.2) is None
    reason = relevance_refusal([far], 0.2)
    assert reason is not None and "0.10" in reason
    assert relevance_refusal([Hit.of(passage(NEWS))], 0.2) is not None  # found by BM25 only: no similarity
