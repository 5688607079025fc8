"""Summaries: the map-reduce path on a long synthetic article (a scripted model: the point is the plumbing),
the extractive summarizer on the seed articles (real MiniLM and Chroma), the cache, and the command line."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.runnables import RunnableLambda

from rag.answering.summarize import Summary, parse_bullets, tile
from rag.errors import RagError
from rag.pipeline import Pipeline
from rag.types import Dates

from .conftest import COMMENTARY, NEWS, run_cli

TOWNS = ["Arden", "Bexley", "Carlow", "Dunmore", "Elgin", "Fermoy", "Galway", "Hexham", "Ilkley", "Jarrow"]


def long_article() -> str:
    """Ten sections, each a distinct fact and padding: about 2,500 tokens, several prompts' worth. The padding
    repeats no two-word phrase (a repeated one is the article's subject to the summarizers: not this test's point)."""
    parts = []
    for n, town in enumerate(TOWNS):
        filler = " ".join(f"The council of {town} met on day {d} to discuss the harbour." for d in range(1, 13))
        parts.append(f"The harbour of {town} opened in {1900 + n} with {n + 3} cranes. {filler}")
    return "\n\n".join(parts) + "\n"


class ScriptedModel:
    """Stands in for the chat model: map prompts get one bullet per passage (its first sentence, cited);
    reduce prompts get one invented fact, then every other note; records every prompt."""

    def __init__(self) -> None:
        self.prompts: list[tuple[str, str]] = []  # (system prompt, human prompt)

    def __call__(self, prompt: ChatPromptValue, **options: object) -> AIMessage:
        system, human = (str(m.content) for m in prompt.messages)
        self.prompts.append((system, human))
        if "Passages from" in human:
            found = re.findall(r"^\[(\d+)\] \(\S+\) ([^.]*\.)", human, re.MULTILINE)
            return AIMessage("Here are the points:\n" + "\n".join(f"- {text} [{n}]" for n, text in found))
        notes = re.findall(r"^\[(\d+)\] (.*)$", human, re.MULTILINE)
        bullets = [f"- {text} [{n}]" for n, text in notes[::2]]
        return AIMessage("\n".join(["- The harbour of Arden closed in 1850 [1].", *bullets]))


@pytest.fixture
def long_corpus(corpus: Path) -> Path:
    for name in (NEWS, COMMENTARY):
        (corpus / name).unlink()
    (corpus / "harbours.txt").write_text(long_article(), encoding="utf-8")
    return corpus


def test_long_article_is_read_whole_in_sections_then_combined(
    long_corpus: Path, make_pipeline: Callable[..., Pipeline]
) -> None:
    model = ScriptedModel()
    pipeline = make_pipeline(  # the configured server is never contacted
        llm="openai", llm_base_url="http://127.0.0.1:9/v1", context_tokens=600, chat_model=RunnableLambda(model)
    )
    pipeline.ingest()
    steps: list[tuple[int, int, str]] = []
    summary = pipeline.summarize(["harbours.txt"], progress=lambda *step: steps.append(step))

    maps = [human for system, human in model.prompts if "Passages from" in human]
    assert len(maps) == summary.sections >= 4  # ~2,500 tokens in 600-token sections
    every_town_read = all(any(f"harbour of {town} opened" in h for h in maps) for town in TOWNS)
    assert every_town_read, "a section of the article never reached the model"
    assert any("sections of one news article" in system for system, _ in model.prompts)  # the reduce step ran
    assert [s[0] for s in steps] == list(range(1, len(steps) + 1))
    assert f"section 1 of {summary.sections}" in steps[0][2] and "combining" in steps[-1][2]

    text = long_article()
    assert 3 <= len(summary.bullets) <= 7
    assert summary.title == "Harbours"
    for citation in summary.citations:
        assert citation.source.endswith("harbours.txt") and text[citation.start : citation.end] == citation.quote
    cited_towns = {t for c in summary.citations for t in TOWNS if t in c.quote}
    assert len(cited_towns) >= 3, "the summary should draw on sections across the article"
    invented = [b for b in summary.bullets if "1850" in b.text]
    assert invented and not invented[0].supported  # marked, not silently kept as fact
    assert all(b.supported for b in summary.bullets if "1850" not in b.text)


def test_tile_cuts_chunk_overlap_so_passages_cover_the_text_once(
    long_corpus: Path, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = make_pipeline()
    pipeline.ingest()
    passages = tile(pipeline.index.chunks("harbours.txt"))
    text = long_article()
    assert passages[0].start == 0 and passages[-1].end == len(text.rstrip())
    for before, after in itertools.pairwise(passages):
        assert before.end <= after.start and not text[before.end : after.start].strip()  # no overlap, no gap
    assert all(text[p.start : p.end] == p.text for p in passages)


def test_parse_bullets() -> None:
    reply = "Summary:\n- First point [1].\n  continues here [2].\n* Second [3]\n2. Third [1]\n"
    assert parse_bullets(reply) == ["First point [1]. continues here [2].", "Second [3]", "Third [1]"]
    assert parse_bullets("One line.\nAnother line [2].") == ["One line.", "Another line [2]."]


def test_extractive_summaries_of_each_seed_article_and_both(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(llm="extractive")
    pipeline.ingest()
    texts = {
        name: pipeline.settings.corpus_dir.joinpath(name).read_text(encoding="utf-8") for name in (NEWS, COMMENTARY)
    }
    for name in (NEWS, COMMENTARY):
        summary = pipeline.summarize([name])
        assert 2 <= len(summary.bullets) <= 5 and all(b.supported and b.citations for b in summary.bullets)
        assert {Path(c.source).name for c in summary.citations} == {name}
        for c in summary.citations:
            assert texts[name][c.start : c.end] == c.quote  # article text, not just the chunk
    # the news report's lead is about the talks' length; its subject, rare earths, comes later and is still there
    news = pipeline.summarize([NEWS])
    assert any("rare earth" in b.text for b in news.bullets)
    assert "rare earth" not in " ".join(pipeline.library.article_text(NEWS).split(".")[:3])
    sizes = {size: pipeline.summarize([NEWS], length=size) for size in ("short", "medium", "long")}
    words = {size: sum(len(b.text.split()) for b in s.bullets) for size, s in sizes.items()}
    assert words["short"] <= words["medium"] < words["long"]
    assert len(sizes["short"].bullets) <= 3 and len(sizes["long"].bullets) >= 5
    both = pipeline.summarize(everything=True)
    assert both.title == "The whole corpus: 2 articles" and 3 <= len(both.bullets) <= 7
    assert {Path(c.source).name for c in both.citations} == {NEWS, COMMENTARY}
    agree = [b for b in both.bullets if b.kind == "agree"]
    assert agree and agree[0].text.startswith("Both articles report")
    cited = {Path(c.source).name for c in both.citations if c.id in agree[0].citations}
    assert cited == {NEWS, COMMENTARY}

    topic = pipeline.summarize(topic="rare earths")
    assert topic.title == "What the articles say about rare earths"
    assert all("rare earth" in b.text.lower() or "chip" in b.text.lower() for b in topic.bullets[:3])


def test_summaries_are_cached_until_the_article_changes(make_pipeline: Callable[..., Pipeline], corpus: Path) -> None:
    pipeline = make_pipeline(llm="extractive")
    pipeline.ingest()
    first = pipeline.summarize([COMMENTARY])
    again = pipeline.summarize([COMMENTARY])
    assert not first.cached and again.cached
    assert again.to_json()["bullets"] == first.to_json()["bullets"]
    assert pipeline.summarize([COMMENTARY], refresh=True).cached is False

    path = corpus / COMMENTARY
    path.write_text(path.read_text(encoding="utf-8") + "\nThe talks resumed on Wednesday morning in London.\n")
    pipeline.ingest()
    assert not pipeline.summarize([COMMENTARY]).cached


def test_a_failing_model_gives_the_extractive_summary_with_a_note(make_pipeline: Callable[..., Pipeline]) -> None:
    def down(prompt: ChatPromptValue, **options: object) -> AIMessage:
        raise ConnectionError("Connection refused")

    pipeline = make_pipeline(llm="openai", llm_base_url="http://127.0.0.1:9/v1", chat_model=RunnableLambda(down))
    pipeline.ingest()
    summary = pipeline.summarize([NEWS])
    assert summary.model == "extractive" and "model failed" in summary.note and summary.bullets
    assert not pipeline.summarize([NEWS]).cached  # a fallback is not what the model would say: not cached


def test_bad_requests_are_clear_errors(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(llm="extractive")
    with pytest.raises(RagError, match="index is empty"):
        pipeline.summarize(everything=True)
    pipeline.ingest()
    with pytest.raises(RagError, match="not an indexed file"):
        pipeline.summarize(["nope.txt"])
    with pytest.raises(RagError, match="only one of them"):
        pipeline.summarize([NEWS], everything=True)
    with pytest.raises(RagError, match="say what to summarize"):
        pipeline.summarize()
    nothing = pipeline.summarize(topic="the migration of arctic terns")
    assert nothing.bullets == [] and "nothing" in nothing.note


def test_cli_summarize_json_and_text(corpus: Path, tmp_path: Path) -> None:
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_LLM": "extractive"}
    assert run_cli("ingest", "--quiet", env=env, cwd=tmp_path)[0] == 0
    code, out, err = run_cli("summarize", str(corpus / NEWS), "--json", env=env, cwd=tmp_path)
    assert code == 0, err
    result = json.loads(out)
    assert {"title", "sources", "bullets", "citations", "model", "sections", "cached", "note"} <= set(result)
    assert {"text", "citations", "supported", "support", "kind"} <= set(result["bullets"][0])
    assert {"id", "source", "start", "end", "quote"} <= set(result["citations"][0])
    Summary.from_json(result)  # the JSON round-trips

    code, out, err = run_cli("summarize", "--all", env=env, cwd=tmp_path)
    assert code == 0 and out.splitlines()[0] == "The whole corpus: 2 articles" and "Sources:" in out
    assert "[1/1]" not in out and "reading" not in out  # progress goes to stderr

    code, _, err = run_cli("summarize", "missing.txt", env=env, cwd=tmp_path)
    assert code == 2 and "not an indexed file" in err and "Traceback" not in err


def test_extractive_summaries_state_the_facts_of_the_realtimeqa_cases(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    """16 real news articles (imported from ../shared; skipped without it): the extractive summaries' supported
    bullets state at least 80 % of the facts that evals/summaries-realtimeqa.yaml expects."""
    from benchmarks.realtimeqa import DATA, SUMMARY_CASES, summary_corpus
    from evals import dataset, metrics

    if not DATA.is_dir():
        pytest.skip(f"no RealTime QA data at {DATA}")
    pipeline = make_pipeline(llm="extractive", corpus_dir=summary_corpus())
    pipeline.ingest()
    cases = dataset.load(SUMMARY_CASES)
    scores = [metrics.score_summary(c, pipeline.summarize(c.summarize).to_json()) for c in cases]
    totals = metrics.summary_totals(scores)
    assert totals["summary_coverage"] >= 0.8 and totals["summary_words"] <= 90, totals
    assert all(not s.wrong_citations for s in scores)


class StreamingChat(GenericFakeChatModel):
    """A chat model that streams each scripted reply word by word (calling `on_llm_new_token`, as a real one
    does), `delay` seconds a word; counts the words it wrote."""

    delay: float = 0.0
    written: int = 0

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for chunk in super()._stream(*args, **kwargs):
            time.sleep(self.delay)
            self.written += 1
            yield chunk


def scripted(make_pipeline: Callable[..., Pipeline], reply: str) -> tuple[Pipeline, StreamingChat]:
    """A pipeline on the seed corpus, ingested, whose model streams `reply` to every prompt; and the model."""
    model = StreamingChat(messages=itertools.repeat(AIMessage(reply)))
    pipeline = make_pipeline(llm="openai", llm_base_url="http://127.0.0.1:9/v1", chat_model=model)
    pipeline.ingest()
    return pipeline, model


def test_bullets_are_shown_as_checked_and_the_model_stops_once_the_summary_is_full(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    facts = [
        "The first round of talks lasted for two days in London [1].",
        "Basant left London to attend a congressional hearing in Washington [1].",
        "The focus of the talks is export controls on chips and rare earths [1].",
        "Rutnick said the talks were going very very smoothly [1].",
        "Trump received good reports from the talks [1].",
        "US stock markets rose [1].",
    ]
    reply = "\n".join(f"- {f}" for f in facts)
    pipeline, model = scripted(make_pipeline, reply)
    shown: list[tuple[str, bool]] = []
    summary = pipeline.summarize([NEWS], length="short", on_note=lambda text, ok: shown.append((text, ok)))
    written = [f.removesuffix(" [1].") + "." for f in facts]
    assert [b.text for b in summary.bullets] == written[:3]  # short: at most 3 (and ~40 words), in the model's order
    assert [text for text, _ in shown] == written[:3]  # each as soon as it was checked
    assert model.written < len(reply.split()) * 2 - 10  # stopped at the fourth, well before the end (words, spaces)
    assert all(b.supported for b in summary.bullets) and not summary.note
    words = sum(len(b.text.split()) for b in pipeline.summarize([NEWS], length="medium").bullets)
    assert 3 <= len(pipeline.summarize([NEWS], length="medium").bullets) <= 5 and words <= 70 + 15


def test_the_prompts_example_copied_back_is_dropped_not_shown_as_a_point(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    from rag.answering.prompts import EXAMPLE_BULLETS, MAP, REDUCE

    prompts = " ".join(str(m.prompt.template) for t in (MAP, REDUCE) for m in t.messages)  # type: ignore[attr-defined]
    assert all(example.removesuffix(".") in prompts for example in EXAMPLE_BULLETS)  # the list follows the prompts
    reply = (
        "- The Elm Street bakery closed after 25 years [1].\n"  # what the bundled 1.5B did on a real article
        "- The first round of talks lasted for two days in London [1].\n"
        "- Basant left London to attend a congressional hearing in Washington [1].\n"
    )
    pipeline, _ = scripted(make_pipeline, reply)
    shown: list[str] = []
    summary = pipeline.summarize([NEWS], on_note=lambda text, ok: shown.append(text))
    texts = [b.text for b in summary.bullets]
    assert texts[0] == "The first round of talks lasted for two days in London."
    assert "Basant left London to attend a congressional hearing in Washington." in texts  # after the subject's quote
    assert not any("bakery" in text for text in shown + [b.text for b in summary.bullets])


def test_a_model_summary_short_of_supported_points_is_topped_up_with_quotes(
    make_pipeline: Callable[..., Pipeline], corpus: Path
) -> None:
    reply = (
        "- Rutnick said the talks were going very very smoothly [1].\n"
        "- The talks collapsed after Beijing walked out of the room [1].\n"  # not in the article
    )
    pipeline, _ = scripted(make_pipeline, reply)
    shown: list[tuple[str, bool]] = []
    bullets = pipeline.summarize([NEWS], on_note=lambda text, ok: shown.append((text, ok))).bullets  # medium: 3+
    assert bullets[0].text == "Rutnick said the talks were going very very smoothly." and bullets[0].supported
    article = " ".join((corpus / NEWS).read_text(encoding="utf-8").split())
    quotes = bullets[1:3]
    assert len(quotes) == 2 and all(b.supported and b.text in article for b in quotes)  # quoted, whole sentences
    # the unsupported point comes after them, shown (marked) only if the length has room: 70 words, not here
    assert len(bullets) == 3
    assert [text for text, _ in shown[-2:]] == [b.text for b in quotes]  # and shown as they were added


def test_a_model_summary_that_misses_what_the_article_keeps_repeating_gets_the_quote_that_has_it(
    make_pipeline: Callable[..., Pipeline], corpus: Path
) -> None:
    # what the bundled 1.5B does with the seed report: the occasion, not the subject (rare earths, five times)
    reply = (
        "- The first round of talks lasted for two days in London [1].\n"
        "- Basant left London to attend a congressional hearing in Washington [1].\n"
        "- Rutnick said the talks were going very very smoothly [1].\n"
        "- Trump received good reports from the talks [1].\n"
    )
    pipeline, _ = scripted(make_pipeline, reply)
    shown: list[str] = []
    bullets = pipeline.summarize([NEWS], on_note=lambda text, ok: shown.append(text)).bullets
    article = " ".join((corpus / NEWS).read_text(encoding="utf-8").split())
    assert bullets[0].text == "The first round of talks lasted for two days in London."  # the model's first point
    assert "rare earth" in bullets[1].text and bullets[1].text in article and bullets[1].supported  # then the quote
    points = [line.removeprefix("- ").removesuffix(" [1].") + "." for line in reply.splitlines()]
    assert [b.text for b in bullets[2:]] == points[1 : len(bullets) - 1]  # then the model's, while 70 words allow
    assert 3 <= len(bullets) <= 5 and sum(len(b.text.split()) for b in bullets) <= 70
    assert shown[-1] == bullets[1].text  # shown as it was added


def test_a_model_point_on_the_articles_subject_that_the_length_would_cut_comes_second(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    # what the bundled 1.5B did with the seed commentary: rare earths in its fourth point, past 70 words
    points = [
        "According to Bloomberg News reports, Basant left London on the evening of the 10th to attend a "
        "congressional hearing in Washington.",
        "US Commerce Secretary Rutnick, who did not participate in the Geneva talks, joined the London talks.",
        "On the 9th, Trump told reporters at the White House that he received good reports from the talks.",
        "The focus of these talks is how export controls on chips and rare earths can be relaxed.",
    ]
    reply = "".join(f"- {p.removesuffix('.')} [1].\n" for p in points)
    pipeline, _ = scripted(make_pipeline, reply)
    bullets = pipeline.summarize([NEWS]).bullets
    assert [b.text for b in bullets] == [points[0], points[3], points[1]]  # 70 words: the third point is cut


def test_a_summary_out_of_time_stops_with_what_it_read_and_says_so(
    long_corpus: Path, make_pipeline: Callable[..., Pipeline]
) -> None:
    model = StreamingChat(messages=itertools.repeat(AIMessage("- The harbour of Arden opened in 1900 [1].")))
    model.delay = 0.05  # about half a second a reply
    settings = {"llm": "openai", "llm_base_url": "http://127.0.0.1:9/v1", "context_tokens": 600}
    pipeline = make_pipeline(chat_model=model, summary_seconds=1.2, **settings)
    pipeline.ingest()
    summary = pipeline.summarize(["harbours.txt"])
    assert summary.sections >= 4 and "time budget (1 s, RAG_SUMMARY_SECONDS) ran out" in summary.note
    read = int(re.search(r"summary is of (\d+) of (\d+) sections", summary.note).group(1))  # type: ignore[union-attr]
    assert 1 <= read < summary.sections and summary.bullets and summary.bullets[0].text.startswith("The harbour")
    assert not pipeline.summarize(["harbours.txt"]).cached  # a partial summary is not kept


def dated(corpus: Path, name: str, title: str, date: str, outlet: str, text: str) -> None:
    front = f"---\ntitle: {title}\ndate: '{date}'\noutlet: {outlet}\n---\n# {title}\n\n"
    (corpus / name).write_text(front + text + "\n", encoding="utf-8")


def test_a_date_range_alone_gives_a_digest_a_bullet_per_story_most_covered_first(
    corpus: Path, make_pipeline: Callable[..., Pipeline]
) -> None:
    flood = (
        "Floodwater covered the harbour of Arden on {day} after the river burst its banks. The harbour master said "
        "forty boats were damaged and the quay will stay closed for a week. Volunteers filled sandbags overnight."
    )
    strike = (
        "Bakers in Bexley walked out on {day} over pay, closing eleven bakeries. The union asked for a raise of "
        "six percent and said the strike would last until the owners meet them."
    )
    for n, (outlet, day) in enumerate(
        [("arden.news", "Monday"), ("coast.example", "Monday"), ("wire.example", "Tuesday")]
    ):
        dated(
            corpus,
            f"flood-{n}.md",
            f"Arden harbour flooded ({outlet})",
            f"2024-03-0{4 + n}",
            outlet,
            flood.format(day=day),
        )
    for n, day in enumerate(["Wednesday", "Thursday"]):
        dated(
            corpus,
            f"strike-{n}.md",
            "Bexley bakers strike over pay",
            f"2024-03-0{6 + n}",
            "bexley.example",
            strike.format(day=day),
        )
    dated(corpus, "old.md", "Arden harbour flooded", "2023-01-02", "arden.news", flood.format(day="Monday"))
    pipeline = make_pipeline(llm="extractive")
    pipeline.ingest()
    shown: list[str] = []
    summary = pipeline.summarize(dates=Dates("2024-03-01", "2024-03-10"), on_note=lambda text, ok: shown.append(text))
    assert summary.title == "The articles dated from 2024-03-01 to 2024-03-10: 5 articles, 2 stories"
    flood_story, strike_story = summary.bullets
    assert flood_story.kind == "story" and "harbour" in flood_story.text and flood_story.supported
    assert flood_story.story is not None and flood_story.story["articles"] == 3
    assert flood_story.story["since"] == "2024-03-04" and flood_story.story["until"] == "2024-03-06"
    assert set(flood_story.story["outlets"]) == {"arden.news", "coast.example", "wire.example"}
    assert "Bakers" in strike_story.text and strike_story.story and strike_story.story["articles"] == 2
    heading = re.compile(
        r"2024-03-04 to 2024-03-06, [a-z.]+, [a-z.]+ and 1 more, 3 articles"
    )  # outlets: most central first
    assert heading.fullmatch(flood_story.heading())
    assert {Path(c.source).name for c in summary.citations} <= {f"flood-{n}.md" for n in range(3)} | {
        "strike-0.md",
        "strike-1.md",
    }
    assert shown == [b.text for b in summary.bullets] or not shown  # the extractive summarizer shows nothing early
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(pipeline.settings.data_dir), "RAG_LLM": "extractive"}
    code, out, _ = run_cli("summarize", "--since", "2024-03-01", "--until", "2024-03-10", "--quiet", env=env)
    assert code == 0 and re.search(rf"^- {heading.pattern}: .*harbour", out, re.MULTILINE)


def test_the_whole_of_a_corpus_of_many_articles_is_a_digest(
    corpus: Path, make_pipeline: Callable[..., Pipeline]
) -> None:
    stories = {
        "flood": "Floodwater covered the harbour of Arden after the river burst its banks, damaging {n} boats.",
        "strike": "Bakers in Bexley walked out over pay, closing {n} bakeries until the owners meet the union.",
        "bridge": "The new bridge over the Carlow estuary opened to traffic after {n} years of building work.",
    }
    for n in range(4):
        for name, text in stories.items():
            dated(corpus, f"{name}-{n}.md", name.title(), "", "", text.format(n=n + 3) + " It was the talk of the day.")
    pipeline = make_pipeline(llm="extractive")
    pipeline.ingest()
    summary = pipeline.summarize(everything=True)  # 14 articles: the 12 and the two seed ones
    assert summary.title.startswith("The whole corpus: 14 articles, ")  # and how many stories
    assert {b.kind for b in summary.bullets} == {"story"}
    assert [b.story["articles"] for b in summary.bullets if b.story][:3] == [4, 4, 4]  # then the seed ones
    assert all(b.supported for b in summary.bullets)
    for name in (NEWS, *(f"{name}-{n}.md" for name in ("flood", "strike") for n in range(4))):
        (corpus / name).unlink()
    pipeline.ingest()
    few = pipeline.summarize(everything=True)  # 5 articles: a summary of them
    assert few.bullets and not any(b.kind == "story" for b in few.bullets) and "stories" not in few.title
