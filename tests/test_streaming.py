"""Reading a streamed reply for what the server says besides its text (rag.answering.streaming)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessageChunk

from rag.answering.streaming import CutOff, ReplyStream


def chunk(text: str, **meta: object) -> AIMessageChunk:
    return AIMessageChunk(content=text, response_metadata={"model_provider": "openai", **meta})


def test_the_finish_reason_and_the_tokens_log_probabilities_are_kept() -> None:
    reply = ReplyStream()
    scored = {"content": [{"token": "Five", "logprob": -0.5}, {"token": " hours", "logprob": -1.5}]}
    chunks = [chunk("Five", logprobs=scored), chunk(" hours"), chunk("", finish_reason="stop")]
    assert "".join(reply.texts(chunks)) == "Five hours"
    assert reply.summary() == {"finish_reason": "stop", "tokens_scored": 2, "logprob_mean": -1.0, "logprob_min": -1.5}


def test_a_server_stream_without_a_finish_reason_was_cut_off() -> None:
    with pytest.raises(CutOff, match="ended before the reply did"):
        list(ReplyStream().texts([chunk("The talks "), chunk("lasted")]))


def test_text_and_chunks_without_server_metadata_pass_unchecked() -> None:
    reply = ReplyStream()
    assert list(reply.texts(["Five hours [1].", AIMessageChunk(content="")])) == ["Five hours [1]."]
    assert reply.summary()["finish_reason"] is None and reply.summary()["logprob_mean"] is None


def test_whatever_else_a_server_sends_as_logprobs_is_ignored() -> None:
    reply = ReplyStream()
    odd = [
        chunk("a", logprobs=[1]),
        chunk("b", logprobs={"content": [{"logprob": "x"}, None]}),
        chunk("", finish_reason="length"),
    ]
    assert "".join(reply.texts(odd)) == "ab" and reply.summary()["tokens_scored"] == 0
