"""A conversation's history: built once from (role, text) turns, whichever door it came through (the chat
page's turns, the API's `history`, OpenAI messages), and written into the condense prompt.

Only "user" and "assistant" turns are kept: a system message is not part of what was said.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

SHOWN_MESSAGES = 6  # the condense prompt sees this many of the last messages


def history(turns: Iterable[tuple[str, str]]) -> list[BaseMessage]:
    """Chat messages from (role, text) turns; roles other than "user" and "assistant" are dropped.

    >>> [type(m).__name__ for m in history([("user", "Who?"), ("system", "Be brief."), ("assistant", "Ann [1].")])]
    ['HumanMessage', 'AIMessage']
    """
    kinds = {"user": HumanMessage, "assistant": AIMessage}
    return [kinds[role](text) for role, text in turns if role in kinds]


def as_text(messages: Sequence[BaseMessage]) -> str:
    """The last SHOWN_MESSAGES messages as "User: ..." / "Assistant: ..." lines, for a prompt."""
    return "\n".join(
        f"{'User' if isinstance(m, HumanMessage) else 'Assistant'}: {m.content}" for m in messages[-SHOWN_MESSAGES:]
    )
