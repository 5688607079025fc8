"""Errors meant for the user, and one way to describe any other error in a line."""

from __future__ import annotations


class RagError(Exception):
    """A problem the user can act on; the CLI prints the message without a traceback."""


class NotFound(RagError):
    """What the user named does not exist (an HTTP client gets 404)."""


class Conflict(RagError):
    """The request clashes with what is there or running: a file of that name, an ingest (HTTP 409)."""


class TooLarge(RagError):
    """More than a limit allows (HTTP 413)."""


class StateError(RagError):
    """The index's stored state cannot be used as it is; the message says how to repair it (HTTP 503)."""


class ReadOnlyError(StateError):
    """The data folder cannot be written: reading works, ingesting does not."""


class DataFolderGone(StateError):
    """The data folder was deleted or moved while in use: this process's open index is gone with it."""


def describe_error(error: Exception) -> str:
    """An error in one line: invalid settings as `RAG_NAME: what is wrong` (one per setting), anything else as
    its type and the first line of its message.

    >>> describe_error(ConnectionError("Connection refused\\n(details)"))
    'ConnectionError: Connection refused'
    """
    from pydantic import ValidationError  # deferred: pydantic is slow to import and `--help` needs none of it

    if isinstance(error, ValidationError):
        problems = []
        for err in error.errors():
            message = err["msg"].removeprefix("Value error, ")
            names = "_".join(map(str, err["loc"])).upper()
            if error.title == "Settings" and len(err["loc"]) == 1:
                from rag.config import allowed_range  # deferred: pydantic-settings, for this message only

                if allowed := allowed_range(str(err["loc"][0])):
                    message = f"{message} (allowed: {allowed})"
            problems.append(f"RAG_{names}: {message}" if names else message)
        return "; ".join(problems)
    return f"{type(error).__name__}: {str(error).splitlines()[0][:200]}" if str(error) else type(error).__name__
