"""Errors meant for the user: the message says what went wrong and how to fix it."""


class RagError(Exception):
    """A problem the user can act on; the CLI prints the message without a traceback."""
