"""Answers and summaries as plain text: sentences with [n] markers, then the quoted sources; for a terminal (the
CLI prints it through rag.terminal) and for an assistant's tool results (rag.mcp)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag.answering.confidence import describe
from rag.terminal import one_line
from rag.text import also_in

if TYPE_CHECKING:
    from rag.answering.answer import Answer
    from rag.answering.citations import Citation
    from rag.answering.summarize import Summary


def render_summary(summary: Summary) -> str:
    """A summary: the title, cited bullets, then the quoted sources."""
    lines = [summary.title, ""]
    if not summary.bullets:
        lines.append("The articles say nothing about this." if summary.topic else "Nothing to summarize.")
    for b in summary.bullets:
        marks = "".join(f"[{c}]" for c in b.citations)
        story = f"{b.heading()}: " if b.story else ""
        lines.append(
            f"- {story}{b.text} {marks}".rstrip() + ("" if b.supported else "  (not supported by the sources)")
        )
    if summary.citations:
        lines += ["", "Sources:", *sources(summary.citations)]
    if summary.note:
        lines.append(f"note: {summary.note}")
    took = "cached" if summary.cached else f"{summary.timings.get('total_s', 0):.1f} s"
    what = "stories written" if any(b.story for b in summary.bullets) else "section(s) read"
    read = f"{summary.sections} {what}"
    lines.append(f"({summary.model}, {read}, {took})")
    return "\n".join(lines)


def render(answer: Answer) -> str:
    """The verified answer: sentences with [n] markers, then the quoted sources and the band."""
    if answer.refused:
        lines = [answer.answer, "", "Closest passages:"]
        lines += [
            f"- {one_line(h.source)}:{h.start}-{h.end}  {' '.join(h.text.split())[:200]}" for h in answer.passages
        ]
    else:
        lines = []
        for s in answer.sentences:
            marks = "".join(f"[{c}]" for c in s.citations)
            unsupported = f"  (not supported by the sources{': ' + s.reason if s.reason else ''})"
            lines.append(f"{s.text} {marks}".rstrip() + ("" if s.supported else unsupported))
            if s.flag:
                lines.append(f"  (warning: {s.flag})")
        lines += ["", "Sources:", *sources(answer.citations)]
    if answer.condensed_question != answer.question:
        lines.append(f"(searched for: {answer.condensed_question})")
    if answer.note:
        lines.append(f"note: {answer.note}")
    lines.append(one_line(describe(answer.band, answer.p_correct, answer.band_reason)))
    lines.append(f"({answer.confidence}; {answer.model}, {answer.timings.get('total_s', 0):.1f} s)")
    return "\n".join(lines)


def sources(citations: Sequence[Citation]) -> list[str]:
    return [
        f"[{c.id}] {one_line(c.about) + ' - ' if c.about else ''}{one_line(c.source)}:{c.start}-{c.end}\n"
        f'    "{" ".join(c.quote.split())}"' + (f"\n    {also_in(c.copies)}" if c.copies else "")
        for c in citations
    ]
