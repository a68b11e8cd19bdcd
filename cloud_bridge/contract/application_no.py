"""Application numbers: `AH-{terminal}-{yyyymmdd}-{nnnn}`, made by the terminal that takes the
application, unique per terminal and never reused.

The number names the terminal that made it, and the backend holds each terminal to its own
numbers (a submission, a rating). Numbers are predictable: without that rule one terminal (or a
stolen terminal certificate) could send another terminal's next number first, and the citizen's
real submission would then be refused as a conflict, with the security alarm on the wrong
terminal.
"""

from __future__ import annotations

import re
from datetime import date


def _part(terminal_id: str) -> str:
    return terminal_id.upper().replace("_", "-")


def make(terminal_id: str, day: date, n: int) -> str:
    """The `n`th number of `day` at `terminal_id`."""
    return f"AH-{_part(terminal_id)}-{day:%Y%m%d}-{n:04d}"


def made_by(application_no: str, terminal_id: str) -> bool:
    """Whether `application_no` is one that `terminal_id` makes: all of it, not its start, so
    that terminal `T` does not own `T-01`'s numbers (`AH-T-01-…` starts with `AH-T-`)."""
    return (
        re.fullmatch(rf"AH-{re.escape(_part(terminal_id))}-\d{{8}}-\d{{4,}}", application_no)
        is not None
    )


def same_numbers(a: str, b: str) -> bool:
    """Whether two different terminal ids would make the same numbers (`t_01` and `T-01`): the
    registry refuses the second (provisioning/authority.py)."""
    return a != b and _part(a) == _part(b)
