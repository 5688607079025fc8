"""Text from articles, file names and models made safe to print on a terminal: shown, never obeyed.

Control characters (ANSI escapes, BEL, carriage returns) are shown as escapes (ESC as \\x1b), and so are the
invisible characters that change how a line reads without being seen: bidirectional overrides and isolates
(U+202E turns "txt.exe" around), zero-width spaces and joiners, the byte-order mark (shown as \\u202e ...).
`one_line` also shows line breaks and tabs as escapes, for a value that must stay on its line (a file name, a
title). Not handled: look-alike letters from other scripts (a Cyrillic letter a in a Latin word) print as themselves.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1
_INVISIBLE = re.compile("[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_BREAKS = re.compile(r"[\t\n]")


def visible(text: str) -> str:
    """`text` with its invisible characters (bidirectional controls, zero-width ones) shown as escapes; also for
    the page, where they would reorder or hide what is shown.

    >>> visible("invoice\\u202efdp.exe")
    'invoice\\\\u202efdp.exe'
    """
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def terminal_safe(text: str) -> str:
    """`text` with control and invisible characters shown as escapes; line breaks and tabs stay.

    >>> terminal_safe("a\\x1b[2Jb\\u202etxt.exe\\nnext")
    'a\\\\x1b[2Jb\\\\u202etxt.exe\\nnext'
    """
    return visible(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text))


def one_line(text: str) -> str:
    """`text` for a value that must stay on one line: as terminal_safe, and line breaks and tabs escaped too.

    >>> one_line("evil\\nname\\u200b.txt")
    'evil\\\\nname\\\\u200b.txt'
    """
    return terminal_safe(_BREAKS.sub(lambda m: "\\n" if m.group() == "\n" else "\\t", text))
