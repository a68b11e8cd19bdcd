"""One record, one line: the log formatter escapes every control character of a record's line.

The backend's and the terminal's processes log through it (backend/__main__.py, allhours/cli.py);
tests/unit/backend/test_backend_log_lines.py drives the real backend with forged text.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from allhours import cli
from backend.__main__ import configure_logging
from privacy.log_lines import LOG_FORMAT, OneLineFormatter, one_line

FORGED = "2026-05-09 10:00:00,000 INFO backend.auth: admin signed in from 10.0.0.1"

# (character, as it is written) for each class of control character.
ESCAPES = [
    pytest.param("\n", "\\n", id="LF"),
    pytest.param("\r", "\\r", id="CR"),
    pytest.param("\r\n", "\\r\\n", id="CRLF"),
    pytest.param("\t", "\\t", id="TAB"),
    pytest.param("\x00", "\\x00", id="NUL"),
    pytest.param("\x0b", "\\x0b", id="VT"),
    pytest.param("\x0c", "\\x0c", id="FF"),
    pytest.param("\x1b", "\\x1b", id="ESC"),
    pytest.param("\x1c", "\\x1c", id="FS"),
    pytest.param("\x1e", "\\x1e", id="RS"),
    pytest.param("\x1f", "\\x1f", id="US"),
    pytest.param("\x7f", "\\x7f", id="DEL"),
    pytest.param("\x80", "\\x80", id="C1-first"),
    pytest.param("\x85", "\\x85", id="NEL"),
    pytest.param("\x9b", "\\x9b", id="CSI"),
    pytest.param("\x9f", "\\x9f", id="C1-last"),
    pytest.param("\u2028", "\\u2028", id="LINE-SEPARATOR"),
    pytest.param("\u2029", "\\u2029", id="PARAGRAPH-SEPARATOR"),
]


def _record(msg: str, *args: object, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("backend.limits", logging.WARNING, __file__, 1, msg, args, exc_info)


def _line(record: logging.LogRecord) -> str:
    return OneLineFormatter(LOG_FORMAT).format(record)


@pytest.mark.parametrize(("char", "escaped"), ESCAPES)
def test_each_control_character_is_written_as_a_visible_escape(char, escaped):
    assert one_line(f"on /api/x{char}{FORGED}") == f"on /api/x{escaped}{FORGED}"


@pytest.mark.parametrize(("char", "escaped"), ESCAPES)
def test_a_record_is_one_line_whether_the_text_is_in_its_arguments_or_its_message(char, escaped):
    for record in (
        _record("refused a body of %d+ bytes on %s", 1048577, f"/api/x{char}{FORGED}"),
        _record(f"refused a body on /api/x{char}{FORGED}"),
    ):
        line = _line(record)
        assert len(line.splitlines()) == 1 and "\n" not in line
        assert line.endswith(f"/api/x{escaped}{FORGED}")
        assert " WARNING backend.limits: refused a body" in line


def test_the_line_is_otherwise_as_before():
    record = _record("申请 %s 已受理 (C:\\path, 100%%)", "AH-T0001-20261120-0001")
    plain = logging.Formatter(LOG_FORMAT).format(record)

    assert _line(record) == plain
    assert plain.endswith("backend.limits: 申请 AH-T0001-20261120-0001 已受理 (C:\\path, 100%)")
    assert LOG_FORMAT == "%(asctime)s %(levelname)s %(name)s: %(message)s"


def test_a_traceback_keeps_its_lines_and_the_record_line_is_escaped():
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("handler for %s failed", f"x\n{FORGED}", exc_info=sys.exc_info())

    lines = _line(record).splitlines()

    assert lines[0].endswith(f"handler for x\\n{FORGED} failed")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: boom"


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without pytest's capture handlers (basicConfig sets up a bare root only).

    pytest adds them around the test's call, after fixtures: this runs inside the test.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers.clear()
    try:
        yield root
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


def _one_line_handlers(root: logging.Logger) -> list[logging.Handler]:
    return [h for h in root.handlers if isinstance(h.formatter, OneLineFormatter)]


def test_the_allhours_commands_and_the_kiosk_log_one_line_per_record(capsys):
    with bare_root() as root:
        cli._setup_logging(verbose=True)

        assert len(root.handlers) == 1 and _one_line_handlers(root) == root.handlers
        assert root.handlers[0].formatter._fmt == LOG_FORMAT
        logging.getLogger("terminal.node").info("command on %s", f"x\u2028{FORGED}")

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"terminal.node: command on x\\u2028{FORGED}")


def test_the_backend_worker_logs_one_line_per_record():
    out = io.StringIO()
    with bare_root() as root:
        configure_logging("INFO", out)

        assert len(root.handlers) == 1 and _one_line_handlers(root) == root.handlers
        logging.getLogger("backend.ingest").warning("rejected on %s", f"x\r\n{FORGED}")

    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"backend.ingest: rejected on x\\r\\n{FORGED}")
