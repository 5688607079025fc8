"""Right answers, side by side: `python -m benchmarks qa [--systems ...] [--sets ...] [--limit N] [--offset N]
[--skip-judge] [--json OUT]`.

Sets: the RealTime QA 2024 dev set (evals/realtimeqa.yaml, weekly setting: each week's articles imported with
`rag import` into data/bench/realtimeqa/WEEK, the question's week as the reference date) and the seed set
(evals/seed.yaml over corpus/). Systems, each on the same corpora, questions and machine:

- `cited-1.5b`, `cited-0.5b`, `cited-extractive`: cited as shipped (Pipeline.ask) with that backend;
  `cited-chunks-1.5b` / `-0.5b` (not in the default run): with whole passages in the prompt instead of their
  sentences (RAG_CONTEXT=passages, the context before issue 39); `cited-evidence-1.5b` / `-0.5b`,
  `cited-pick-1.5b` / `-0.5b`: with evidence-first or pick-first answers;
- `langchain-1.5b`: a plain LangChain tutorial chain with the bundled 1.5B: the same files, split by
  RecursiveCharacterTextSplitter (1,000 / 200 characters) into Chroma with MiniLM, top-4 similarity search,
  the classic "use the following pieces of retrieved context ... if you don't know, say that you don't know"
  prompt, asked to cite its sources by number;
- `closed-1.5b`: the bundled 1.5B with no retrieval (told the date; allowed to say it does not know).

Graded alike for every system (evals.metrics): an answer is right when it is not a refusal and states the
right choice (RealTime QA: the choice it matches best by words and meaning, see evals.metrics.matched_choice)
or every expected fact (seed). A refusal is what cited marks refused, or for the other two an answer saying it
does not know. Columns: accuracy on answerable questions, refusal recall on unanswerable ones, wrong-refusal
rate, citation precision (of the sentences shown with a citation, answerable questions or not, the share whose
cited text the support judge, the bundled 1.5B, finds supports them: `judge_citations`; `--skip-judge` leaves it
out), right file (seed only: a right answer cites an expected file), median prompt tokens (cl100k counts of
the answer prompt; cited's from its trace), median seconds to the first token written (answers the model wrote),
median and p95 seconds per answer, and the machine's load average when each system started and ended.

Each row keeps the answer, cited's note and its answerability score (`trace.answerable`, the model's P(yes) that
the passages answer the question) and, for pick-first answers, the numbered sentences the model chose from
(`trace.pick`), so failures can be read and thresholds tried without asking again.

Run alone: two model jobs on 2 cores slow each other. Each system's rows are written to the JSON as it
finishes, so a long run that is stopped keeps what it measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import realtimeqa
from benchmarks.common import ROOT, median, p95, table, write_json
from evals import dataset, metrics

SYSTEMS = ("cited-extractive", "closed-1.5b", "cited-1.5b", "langchain-1.5b", "cited-0.5b")
# whole passages instead of sentences (RAG_CONTEXT=passages); evidence-first and pick-first answers
EXTRA = (
    "cited-chunks-1.5b",
    "cited-chunks-0.5b",
    "cited-evidence-1.5b",
    "cited-evidence-0.5b",
    "cited-pick-1.5b",
    "cited-pick-0.5b",
)
SETS = ("realtimeqa", "seed")
BENCH = realtimeqa.BENCH
MODELS = {"1.5b": "qwen2.5-coder-1.5b", "0.5b": "qwen2.5-coder-0.5b"}
DONT_KNOW = re.compile(
    r"\b(i don'?t know|i do not know|don'?t have (?:enough )?information|cannot answer|can'?t answer|"
    r"not (?:mentioned|stated|provided|specified) in|no information|(?:does|do) not (?:say|mention|provide))\b",
    re.IGNORECASE,
)
MARKER = re.compile(r"\[(\d+)\]")

TUTORIAL = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved context to answer "
    "the question. If you don't know the answer, just say that you don't know. Use three sentences maximum and "
    "keep the answer concise. Cite the pieces you use by their number in square brackets, like [1].\n\n"
    "Question: {question}\n\nContext:\n{context}\n\nAnswer:"
)
CLOSED = (
    "Today is {date}. Answer the question in one or two sentences. If you don't know the answer, just say that "
    "you don't know.\n\nQuestion: {question}\n\nAnswer:"
)


def seed_cases() -> list[dataset.Case]:
    return dataset.load(ROOT / "evals" / "seed.yaml")


def realtimeqa_cases(limit_per_week: int | None, offset: int = 0) -> dict[str, list[dataset.Case]]:
    """{week: cases} of the dev set, at most `limit_per_week` of each week, after the first `offset` (id order)."""
    by_week: dict[str, list[dataset.Case]] = {}
    for n, raw in enumerate(realtimeqa.cases(), start=1):
        case = dataset.parse_case(raw, n, realtimeqa.DEV_SET)
        by_week.setdefault(realtimeqa.week_of(case.id), []).append(case)
    chosen = {w: cs[offset:][:limit_per_week] if limit_per_week else cs[offset:] for w, cs in sorted(by_week.items())}
    return {w: cs for w, cs in chosen.items() if cs}


def corpus_settings(corpus: str, **overrides: Any) -> Any:
    """Settings for one corpus: a RealTime QA week (its own folders under data/bench) or "seed" (corpus/)."""
    from rag.config import Settings

    overrides.setdefault("models_dir", ROOT / "data" / "models")  # one joined copy of the bundled model, not one a week
    if corpus == "seed":
        return Settings(corpus_dir=ROOT / "corpus", data_dir=BENCH / "seed-data", **overrides)
    return Settings(corpus_dir=BENCH / corpus / "corpus", data_dir=BENCH / corpus / "data", **overrides)


def prepare(corpus: str, embeddings: Any) -> None:
    """Import a week's articles (once) and bring its index up to date."""
    from rag.pipeline import Pipeline

    if corpus != "seed":
        realtimeqa.imported(corpus)
    pipeline = Pipeline(corpus_settings(corpus, llm="extractive"), embeddings=embeddings)
    try:
        ingested = pipeline.ingest()
        print(f"{corpus}: index up to date ({ingested.summary()})", flush=True)
    finally:
        pipeline.close()


# --- the systems: each is (corpus, case) -> the answer as evals reads it (Answer.to_json()'s keys) ---


AnswerFn = Callable[[str, dataset.Case], dict[str, Any]]


@contextmanager
def cited(
    backend: str, embeddings: Any, chat_model: Any, style: str = "free", context: str = "sentences"
) -> Iterator[AnswerFn]:
    from rag.pipeline import Pipeline

    pipelines: dict[str, Pipeline] = {}
    overrides: dict[str, Any] = {"llm": "extractive"}
    if backend != "extractive":
        overrides = {"llm": "bundled", "bundled_model": backend, "answer_style": style, "context": context}

    def answer(corpus: str, case: dataset.Case) -> dict[str, Any]:
        if corpus not in pipelines:
            for old in pipelines.values():
                old.close()
            pipelines.clear()
            settings = corpus_settings(corpus, **overrides)
            pipelines[corpus] = Pipeline(settings, embeddings=embeddings, chat_model=chat_model)
        as_of = dt.date.fromisoformat(case.as_of) if case.as_of else None
        answer = pipelines[corpus].ask(case.question, as_of=as_of).to_json()
        for item in answer["citations"] + answer["passages"]:  # shown under the absolute folder; cases name corpus/...
            item["source"] = item["source"].removeprefix(f"{ROOT.as_posix()}/")
        return answer

    try:
        yield answer
    finally:
        for pipeline in pipelines.values():
            pipeline.close()


def _streamed(chat_model: Any, prompt: str, started: float) -> tuple[str, dict[str, Any]]:
    """The model's reply to `prompt`, streamed, with the prompt's size and the first token's time, measured as
    cited's are (cl100k counts as in rag.answering.prompts.prompt_tokens; seconds from `started`)."""
    from rag.text import count_tokens

    first, text = None, ""
    for chunk in chat_model.stream(prompt):
        first = first or time.perf_counter()
        text += str(chunk.content)
    timings = {"total_s": time.perf_counter() - started, "first_token_s": (first or time.perf_counter()) - started}
    return text, {"timings": timings, "trace": {"context": {"prompt_tokens": count_tokens(prompt) + 10}}}


def _plain(text: str, measured: dict[str, Any], citations: list[dict[str, Any]]) -> dict[str, Any]:
    refused = bool(DONT_KNOW.search(text)) or not text.strip()
    return {"answer": text.strip(), "refused": refused, "citations": [] if refused else citations, **measured}


@contextmanager
def tutorial(embeddings: Any, chat_model: Any) -> Iterator[AnswerFn]:
    """The LangChain tutorial chain, one Chroma collection per corpus (built once, kept under data/bench)."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.index.documents import SkipFile, load

    stores: dict[str, Any] = {}

    def store(corpus: str) -> Any:
        if corpus not in stores:
            settings = corpus_settings(corpus)
            folder = settings.data_dir / "tutorial-chroma"
            db = Chroma(collection_name="tutorial", embedding_function=embeddings, persist_directory=str(folder))
            if not db.get(limit=1)["ids"]:
                docs = []
                for path in sorted(settings.corpus_dir.rglob("*")):
                    try:
                        article = load(path) if path.is_file() else None
                    except SkipFile:
                        continue
                    if article is not None:
                        docs.append(Document(article.text, metadata={"source": str(path.relative_to(ROOT))}))
                chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
                for start in range(0, len(chunks), 1000):
                    db.add_documents(chunks[start : start + 1000])
            stores[corpus] = db
        return stores[corpus]

    def answer(corpus: str, case: dataset.Case) -> dict[str, Any]:
        db = store(corpus)  # built before the clock starts: a corpus's first question does not pay for it
        started = time.perf_counter()
        docs = db.similarity_search(case.question, k=4)
        context = "\n\n".join(f"[{n}] {d.page_content}" for n, d in enumerate(docs, start=1))
        text, measured = _streamed(chat_model, TUTORIAL.format(question=case.question, context=context), started)
        cited = {int(m) for m in MARKER.findall(text)}
        citations = [
            {"id": n, "source": docs[n - 1].metadata["source"], "quote": docs[n - 1].page_content}
            for n in sorted(cited)
            if 1 <= n <= len(docs)
        ]
        return _plain(text, measured, citations)

    yield answer


@contextmanager
def closed_book(chat_model: Any) -> Iterator[AnswerFn]:
    def answer(corpus: str, case: dataset.Case) -> dict[str, Any]:
        date = case.as_of or "2025-06-11"  # the seed articles' week
        text, measured = _streamed(chat_model, CLOSED.format(date=date, question=case.question), time.perf_counter())
        return _plain(text, measured, [])

    yield answer


# --- grading -------------------------------------------------------------------------------------------


def grade(case: dataset.Case, answer: dict[str, Any], similarity: metrics.Similarity) -> dict[str, Any]:
    """One answer, graded alike for every system."""
    score = metrics.score(case, answer, similarity=similarity)
    right = not answer["refused"] and all(score.facts_found) and score.choice_correct is not False
    return {
        "id": case.id,
        "answerable": not case.refuse,
        "refused": answer["refused"],
        "right": right,
        "cites_right_file": score.right_citation and not score.wrong_citations if case.sources else None,
        "choice": score.choice,
        "seconds": float(answer.get("timings", {}).get("total_s", 0.0)),
        "first_token_s": answer.get("timings", {}).get("first_token_s"),  # None: refused before the model wrote
        "timings": answer.get("timings", {}),  # cited's stages (retrieve_s, context_s, answerable_s, ...)
        "prompt_tokens": answer.get("trace", {}).get("context", {}).get("prompt_tokens"),
        "context": answer.get("trace", {}).get("context", {}).get("kind"),
        "answer": answer.get("answer", ""),
        "note": answer.get("note", ""),
        "answerable_p": answer.get("trace", {}).get("answerable"),
        "pick": answer.get("trace", {}).get("pick"),  # pick first: the numbered sentences and the model's choice
        "claims": claims(answer),
    }


def claims(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The sentences an answer shows that cite something, each with the text it cites: [{"sentence", "cited"}].
    cited's citations are spans of the passages it read, and the passage holding the span is what counts (the
    issue asks whether "the cited passage supports the sentence"); the tutorial chain's are its whole chunks.

    >>> tutorial = {"answer": "Talks ended [2]. Nobody knows why.", "refused": False,
    ...             "citations": [{"id": 2, "source": "a.txt", "quote": "The talks ended on Monday."}]}
    >>> claims(tutorial)
    [{'sentence': 'Talks ended.', 'cited': ['The talks ended on Monday.']}]
    """
    from rag.answering.citations import split_sentences

    if answer["refused"]:
        return []
    by_id = {c["id"]: c for c in answer.get("citations", []) if "id" in c}
    if "sentences" in answer:  # cited: sentences with citation ids
        pairs = [(s["text"], s["citations"]) for s in answer["sentences"]]
        passages = answer.get("passages", [])
        cited = {i: _holding(c, passages) for i, c in by_id.items()}
    else:  # markers in the text, numbering the chunks
        pairs = split_sentences(answer["answer"])
        cited = {i: c["quote"] for i, c in by_id.items()}
    return [
        {"sentence": text, "cited": [cited[i] for i in ids if i in cited]}
        for text, ids in pairs
        if any(i in cited for i in ids)
    ]


def _holding(citation: dict[str, Any], passages: list[dict[str, Any]]) -> str:
    """The text of the passage (of those the model read) that holds `citation`'s span; its quote if none does."""
    for p in passages:
        if p["source"] == citation["source"] and p["start"] <= citation["start"] and citation["end"] <= p["end"]:
            return str(p["text"])
    return str(citation["quote"])


def judge_citations(results: dict[str, dict[str, list[dict[str, Any]]]], embeddings: Any) -> None:
    """Each row's claims judged by the support judge (`rag.answering.judge.ModelJudge` with the bundled 1.5B, as
    `RAG_SUPPORT=judge` uses it: its rules, then the model's yes/no), each against the text it cites alone:
    `row["claims_supported"]`, one bool per claim. The judge is the one issue 19 measured (balanced accuracy
    0.71 on human labels), so the column is read beside a hand-checked sample (docs/benchmarks.md)."""
    from rag.answering.judge import ModelJudge
    from rag.answering.models import Backend
    from rag.types import Passage

    backend = Backend(corpus_settings("seed", llm="bundled", bundled_model=MODELS["1.5b"]), embeddings)
    try:
        judge = ModelJudge(backend.chat_model(), backend.settings.judge_threshold)
        for by_set in results.values():
            for rows in by_set.values():
                for row in rows:
                    row["claims_supported"] = [
                        judge.judge(
                            [claim["sentence"]],
                            [Passage(f"c{n}", "cited", 0, len(t), t, "", "") for n, t in enumerate(claim["cited"])],
                        )[0].supported
                        for claim in row.get("claims", [])
                    ]
    finally:
        backend.close()


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    right = [r for r in answerable if r["right"]]
    cites = [r["cites_right_file"] for r in right if r["cites_right_file"] is not None]
    seconds = [r["seconds"] for r in rows]
    first = [r["first_token_s"] for r in rows if r.get("first_token_s") is not None]
    tokens = [r["prompt_tokens"] for r in rows if r.get("prompt_tokens") is not None]
    judged = [ok for r in rows for ok in r.get("claims_supported", [])]
    return {
        "n": len(rows),
        "answerable": len(answerable),
        "accuracy": metrics.ratio(len(right), len(answerable)),
        "right": len(right),
        "refusal_recall": metrics.ratio(sum(r["refused"] for r in unanswerable), len(unanswerable)),
        "refused_unanswerable": sum(r["refused"] for r in unanswerable),
        "unanswerable": len(unanswerable),
        "wrong_refusals": metrics.ratio(sum(r["refused"] for r in answerable), len(answerable)) if answerable else 0.0,
        "citation": metrics.ratio(sum(cites), len(cites)) if cites else None,
        "citation_precision": metrics.ratio(sum(judged), len(judged)) if judged else None,
        "claims_judged": len(judged),
        "median_s": median(seconds),
        "p95_s": p95(seconds),
        "median_first_token_s": median(first),
        "median_prompt_tokens": median(tokens),
    }


def run_system(
    system: str, sets: dict[str, dict[str, list[dataset.Case]]], embeddings: Any, similarity: metrics.Similarity
) -> dict[str, list[dict[str, Any]]]:
    """{set: graded rows} for one system."""
    from rag.answering.models import Backend

    kind, *modifiers, size = system.split("-")
    backend = None
    chat_model = None
    if size in MODELS:
        backend = Backend(corpus_settings("seed", llm="bundled", bundled_model=MODELS[size]), embeddings)
        chat_model = backend.chat_model()
    if kind == "cited":
        style = next((m for m in modifiers if m in ("evidence", "pick")), "free")
        context = "passages" if "chunks" in modifiers else "sentences"
        runner = cited(MODELS.get(size, "extractive"), embeddings, chat_model, style, context)
    elif kind == "langchain":
        runner = tutorial(embeddings, chat_model)
    else:
        runner = closed_book(chat_model)
    out: dict[str, list[dict[str, Any]]] = {}
    try:
        with runner as answer:
            for name, corpora in sets.items():
                rows = out.setdefault(name, [])
                for corpus, cases in corpora.items():
                    for case in cases:
                        row = grade(case, answer(corpus, case), similarity)
                        rows.append(row)
                        mark = "refused" if row["refused"] else ("right" if row["right"] else "wrong")
                        print(f"{system:16} {case.id:12} {mark:8} {row['seconds']:6.1f}s", flush=True)
    finally:
        if backend is not None:
            backend.close()
    return out


def regrade(run: Path, out: Path | None) -> int:
    """Grade the answers kept in an earlier run again (after a change to the grader), without asking anything."""
    import json

    from rag.answering.answerer import similarity_to
    from rag.config import Settings
    from rag.index.embeddings import configured_embeddings

    similarity = similarity_to(configured_embeddings(Settings()))
    cases = {c.id: c for corpora in realtimeqa_cases(None).values() for c in corpora} | {c.id: c for c in seed_cases()}
    results = json.loads(run.read_text())["rows"]
    for by_set in results.values():
        for rows in by_set.values():
            for row in rows:
                answer = {"answer": row["answer"], "refused": row["refused"], "citations": []}
                graded = grade(cases[row["id"]], answer, similarity)
                row.update(right=graded["right"], choice=graded["choice"])
    payload = {"regraded": str(run), "totals": {s: {n: totals(r) for n, r in b.items()} for s, b in results.items()}}
    path = write_json("qa-regraded", {**payload, "rows": results})
    if out:
        out.write_text(path.read_text())
    print(render(results))
    return 0


def render(results: dict[str, dict[str, list[dict[str, Any]]]], loads: dict[str, str] | None = None) -> str:
    """The table per set; `loads`: the machine's load average when each system started and ended."""
    loads = loads or {}
    lines = []
    for name in SETS:
        rows = []
        for system, by_set in results.items():
            if name not in by_set:
                continue
            t = totals(by_set[name])
            rows.append(
                (
                    system,
                    f"{t['accuracy']:.3f} ({t['right']}/{t['answerable']})",
                    f"{t['refusal_recall']:.3f} ({t['refused_unanswerable']}/{t['unanswerable']})",
                    f"{t['wrong_refusals']:.3f}",
                    "-" if t["citation_precision"] is None else f"{t['citation_precision']:.3f} ({t['claims_judged']})",
                    "-" if t["citation"] is None else f"{t['citation']:.3f}",
                    f"{t['median_prompt_tokens']:.0f}",
                    f"{t['median_first_token_s']:.1f}",
                    f"{t['median_s']:.1f} / {t['p95_s']:.1f}",
                    loads.get(system, ""),
                )
            )
        if rows:
            header = (
                "system",
                "accuracy (answerable)",
                "refusal recall",
                "wrong refusals",
                "citation precision (judge)",
                "right file",
                "median prompt tokens",
                "median first token s",
                "median/p95 s",
                "load (1-min avg, start / end)",
            )
            lines += [f"\n{name}", table(rows, header)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks qa", description=__doc__)
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS + EXTRA, default=list(SYSTEMS))
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--limit", type=int, help="at most N RealTime QA questions per week")
    parser.add_argument(
        "--offset", type=int, default=0, help="skip each week's first N (e.g. those a rule was read on)"
    )
    parser.add_argument(
        "--skip-judge", action="store_true", help="leave out the citation-precision column (the judge's model calls)"
    )
    parser.add_argument("--json", dest="json_out", type=Path, help="also write the results here")
    parser.add_argument("--regrade", type=Path, metavar="RUN", help="grade the answers of an earlier run's JSON again")
    args = parser.parse_args(argv)
    if args.regrade:
        return regrade(args.regrade, args.json_out)

    from rag.answering.answerer import similarity_to
    from rag.config import Settings
    from rag.index.embeddings import configured_embeddings

    embeddings = configured_embeddings(Settings())
    similarity = similarity_to(embeddings)
    sets: dict[str, dict[str, list[dataset.Case]]] = {}
    if "realtimeqa" in args.sets:
        sets["realtimeqa"] = realtimeqa_cases(args.limit, args.offset)
    if "seed" in args.sets:
        sets["seed"] = {"seed": seed_cases()}
    for corpora in sets.values():
        for corpus in corpora:
            prepare(corpus, embeddings)

    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    loads: dict[str, str] = {}

    def save() -> None:
        payload = {
            "sets": {name: sum(len(c) for c in corpora.values()) for name, corpora in sets.items()},
            "load": loads,
            "totals": {s: {n: totals(rows) for n, rows in by_set.items()} for s, by_set in results.items()},
            "rows": results,
        }
        path = write_json("qa" if args.systems == list(SYSTEMS) else "qa-" + "+".join(args.systems), payload)
        if args.json_out:
            args.json_out.write_text(path.read_text())
        print(render(results, loads), flush=True)

    for system in args.systems:
        before = os.getloadavg()[0]
        results[system] = run_system(system, sets, embeddings, similarity)
        loads[system] = f"{before:.1f} / {os.getloadavg()[0]:.1f}"
        save()
    if not args.skip_judge:
        print("judging the cited sentences", flush=True)
        judge_citations(results, embeddings)
        save()
    return 0
