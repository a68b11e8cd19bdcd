"""Row numbers in console addresses (materials, rollouts, catalog versions).

A number past the database's integers (`limits.MAX_ROW_ID`, as the REST routes bound theirs)
names no row: it is answered like an unknown one, before the database, which would fail on it.
"""

from __future__ import annotations

from ..limits import MAX_ROW_ID


def possible(row_id: int) -> bool:
    """Whether a row may have this number (1 … MAX_ROW_ID)."""
    return 1 <= row_id <= MAX_ROW_ID
