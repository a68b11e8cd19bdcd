"""Log lines as operators read them: one record, one line, whatever text came from outside.

Records carry text nobody vetted: a request path (no sign-in needed), an MQTT topic a terminal
chose, an event's free-text detail. Written as they are, a newline in one of them starts a line
of the attacker's wording, `2026-05-09 10:00:00,000 INFO backend.auth: admin signed in`, that
reads as a record of its own. `OneLineFormatter`, which the backend's and the terminal's
processes log through (backend/__main__.py, allhours/cli.py), writes every control character of
a record's line (C0, DEL, C1 with NEL, and the Unicode line and paragraph separators) as a
visible escape: `\\n`, `\\r`, `\\t`, `\\x1b`, `\\x85`, `\\u2028`. The rest of the line is as it was.

A traceback or stack after the line is kept as Python wrote it, over several lines: it comes
from our code.

The standard library only, like the rest of `privacy/`.
"""

from __future__ import annotations

import logging
import re
from typing import TextIO

__all__ = ["LOG_FORMAT", "OneLineFormatter", "one_line", "one_line_handler"]

# The format of every log line of the backend and the terminal.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# C0 controls, DEL, C1 controls (NEL U+0085 among them), LINE and PARAGRAPH SEPARATOR: every
# character str.splitlines() breaks on, and the escapes a terminal would act on.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """``text`` with each control character written as a visible escape: one line, always."""
    return _CONTROL.sub(_escape, text)


class OneLineFormatter(logging.Formatter):
    """A formatter whose record line (message and arguments included) is always one line.

    Only the line is escaped; a traceback or stack appended below it is kept as written.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return one_line(super().formatMessage(record))


def one_line_handler(stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) writing LOG_FORMAT lines through OneLineFormatter."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter(LOG_FORMAT))
    return handler
