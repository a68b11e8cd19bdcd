"""Row numbers in console addresses (materials, rollouts, catalog versions).

The database keeps them as 32-bit INTEGERs (PostgreSQL's INTEGER; the REST rollout routes bound
theirs the same), so a larger number names no row. It is answered like an unknown one, before
the database, which would fail on it: PostgreSQL past 32 bits, SQLite past 64 (OverflowError).
"""

from __future__ import annotations

MAX_ROW_ID = 2**31 - 1


def possible(row_id: int) -> bool:
    """Whether a row may have this number (1 … MAX_ROW_ID)."""
    return 1 <= row_id <= MAX_ROW_ID
