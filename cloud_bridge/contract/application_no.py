"""Application numbers: `AH-{terminal}-{yyyymmdd}-{nnnn}`, made by the terminal that takes the
application, unique per terminal and never reused.

The number names the terminal that made it, and the backend holds each terminal to its own
numbers (a submission, a rating). Numbers are predictable: without that rule one terminal (or a
stolen terminal certificate) could send another terminal's next number first, and the citizen's
real submission would then be refused as a conflict, with the security alarm on the wrong
terminal.
"""

from __future__ import annotations

from datetime import date


def _part(terminal_id: str) -> str:
    return terminal_id.upper().replace("_", "-")


def make(terminal_id: str, day: date, n: int) -> str:
    """The `n`th number of `day` at `terminal_id`."""
    return f"AH-{_part(terminal_id)}-{day:%Y%m%d}-{n:04d}"


def made_by(application_no: str, terminal_id: str) -> bool:
    """Whether `application_no` is one that `terminal_id` makes."""
    return application_no.startswith(f"AH-{_part(terminal_id)}-")
