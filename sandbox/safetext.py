"""Text is data: what users typed (PR titles and bodies, branch names, commit subjects)
is shown with its control characters escaped, so a title cannot move the cursor, recolour
a terminal, hide text or forge a line of output; and titles stay one line, so they cannot
add lines (trailers) to the commit messages they end up in.

One helper, :func:`shown`, is what the CLI and the TUI use wherever they print such text.
"""

from __future__ import annotations

import re

MAX_TITLE_CHARS = 256
MAX_BODY_CHARS = 64 * 1024

# C0 and C1 control characters, DEL, and the invisible characters that reorder or hide
# text on screen (bidirectional overrides and isolates, zero-width joiners, BOM).
_INVISIBLE = "\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff"
_CONTROL = re.compile(f"[\x00-\x1f{_INVISIBLE}]")
_CONTROL_BUT_LINES = re.compile(f"[\x00-\x08\x0b-\x1f{_INVISIBLE}]")  # keeps \t and \n
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: object, *, multiline: bool = False) -> str:
    """``text`` safe to print on a terminal: control characters written as escapes.

    ``multiline`` keeps line breaks and tabs (bodies, logs); everything else is escaped.
    """
    value = "" if text is None else str(text)
    return (_CONTROL_BUT_LINES if multiline else _CONTROL).sub(_escape, value)


def one_line(text: str) -> str:
    """``text`` folded to one line for a commit message: breaks become spaces, other
    control characters become escapes."""
    return shown(_BREAKS.sub(" ", text)).strip()


def title_problem(title: str) -> str | None:
    """Why ``title`` cannot be a pull request title, or None."""
    if _BREAKS.search(title):
        return (f"the title '{shown(title)}' has a line break: a title is one line of "
                "text; put details in the body (--body)")
    if len(title) > MAX_TITLE_CHARS:
        return f"the title is {len(title)} characters, over the limit of {MAX_TITLE_CHARS}"
    return None


def body_problem(body: str) -> str | None:
    if len(body) > MAX_BODY_CHARS:
        return f"the body is {len(body)} characters, over the limit of {MAX_BODY_CHARS}"
    return None
