"""Log lines as operators read them: one record, one line, whatever text came from outside.

Records carry text nobody vetted: a request path (no sign-in needed), an MQTT topic a terminal
chose, an event's free-text detail. Written as they are, a newline in one of them starts a line
of the attacker's wording, `2026-05-09 10:00:00,000 INFO backend.auth: admin signed in`, that
reads as a record of its own. `OneLineFormatter`, which the backend's and the terminal's
processes log through (backend/__main__.py, allhours/cli.py; uvicorn's loggers too, as the
backend starts uvicorn with no log config of its own), writes every control character of
a record's line (C0, DEL, C1 with NEL, and the Unicode line and paragraph separators) as a
visible escape: `\\n`, `\\r`, `\\t`, `\\x1b`, `\\x85`, `\\u2028`. The rest of the line is as it was.

A traceback after the line keeps its frames as Python wrote them, over several lines: they come
from our code. The text that closes each exception in it, `ValueError: <message>` (the
exception's str and any notes), need not: a message often quotes what was refused, a request
path or a topic, and its newlines would forge lines there as well. That text is written on one
line, escaped the same way, for every exception of the chain (cause, context, members of a
group). A stack (`stack_info`) is kept as written.

Some libraries log what they send and receive at DEBUG: httpcore every response header, a staff
session's `set-cookie` among them, httpx (and urllib3) each URL with its query. Both processes'
logging set-ups hold those loggers at WARNING (`quiet_wire_loggers`), whatever level the root
logger is at, so a debugging session writes no secret into the log.

The standard library only, like the rest of `privacy/`.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TextIO

__all__ = [
    "LOG_FORMAT",
    "WIRE_LOGGERS",
    "OneLineFormatter",
    "one_line",
    "one_line_handler",
    "quiet_wire_loggers",
]

# The format of every log line of the backend and the terminal.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Loggers that write what goes over the wire (headers with cookies and tokens, URLs with their
# queries) at DEBUG or INFO: httpx and its httpcore (used by the demo, the SMS provider, the
# terminal's update fetch, enrollment), hpack (httpx's HTTP/2 headers) and urllib3 (requests).
WIRE_LOGGERS = ("httpcore", "httpx", "hpack", "urllib3")

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


def _on_one_line(format_only: Callable[..., Iterator[str]]) -> Callable[..., Iterator[str]]:
    """TracebackException.format_exception_only, its text (type, message, notes) on one line."""

    def escaped(*args: object, **kwargs: object) -> Iterator[str]:
        yield one_line("".join(format_only(*args, **kwargs)).removesuffix("\n")) + "\n"

    return escaped


class OneLineFormatter(logging.Formatter):
    """A formatter whose record line (message and arguments included) is always one line.

    So is each exception's own text in a traceback below it; the traceback's frames and a stack
    are kept as written.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return one_line(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        # logging keeps the first handler's traceback text on the record and every formatter
        # reuses it: one written by a plain formatter would come out here unescaped.
        if record.exc_info:
            record.exc_text = None
        return super().format(record)

    def formatException(self, ei: tuple[object, BaseException | None, TracebackType | None]) -> str:
        """The traceback as `logging.Formatter` writes it, each exception's text on one line."""
        _, value, tb = ei
        top = traceback.TracebackException(type(value), value, tb, compact=True)
        found = [top]
        while found:
            exc = found.pop()
            # Set on the instance, where TracebackException.format() looks it up for each one.
            exc.format_exception_only = _on_one_line(exc.format_exception_only)
            found += [e for e in (exc.__cause__, exc.__context__, *(exc.exceptions or ())) if e]
        return "".join(top.format()).removesuffix("\n")


def one_line_handler(stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) writing LOG_FORMAT lines through OneLineFormatter."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter(LOG_FORMAT))
    return handler


def quiet_wire_loggers() -> None:
    """Hold the WIRE_LOGGERS at WARNING: their errors still show, never their traffic."""
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
